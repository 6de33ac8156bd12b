"""The async API (agentdb.aio) on every backend, through the same `db`/`make_db` fixtures as
the sync tests: repositories awaited, units of work per task, cancellation safety."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import random
import threading
from typing import Any

import pytest
from test_stream import SERIES, assert_clean

import agentdb
from agentdb import (
    AgentVersionRepository,
    AlertRepository,
    ArticleRepository,
    AsyncDatabase,
    ConfigError,
    Database,
    ExecutionRepository,
    JobStore,
    NotFound,
    PoolTimeout,
    Repository,
    TaskRepository,
    TransactionError,
    UserRepository,
    ValidationError,
    WorkflowRepository,
    aio,
)

pytestmark = pytest.mark.anyio

REPOSITORIES = (JobStore, UserRepository, WorkflowRepository, ExecutionRepository,
                AgentVersionRepository, ArticleRepository, AlertRepository, TaskRepository)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def adb(db: Database) -> AsyncDatabase:
    """The `db` fixture's Database (migrated, empty), for asyncio callers; same pool."""
    return AsyncDatabase(db, owned=False)


# -- proxies: every public method, nothing written twice -----------------------------------------


@pytest.mark.parametrize("cls", REPOSITORIES, ids=lambda c: c.__name__)
def test_every_public_method_is_awaitable(cls: type[Repository]) -> None:
    made = aio(cls)
    assert made is aio(cls) and made.__name__ == f"Async{cls.__name__}"
    public = {n for n in dir(cls) if not n.startswith("_")
              and inspect.isfunction(inspect.getattr_static(cls, n))}
    assert {"run", "run_many"} <= public
    for name in public:
        method = getattr(made, name)
        assert inspect.iscoroutinefunction(method), name
        assert method.__doc__ == getattr(cls, name).__doc__


def test_a_method_added_later_is_picked_up() -> None:
    class Mine(JobStore):
        def pending_total(self) -> int:
            return self.count(status="pending")

    assert inspect.iscoroutinefunction(aio(Mine).pending_total)


async def test_repositories_awaited(adb: AsyncDatabase) -> None:
    jobs = aio(JobStore)(adb)
    job = await jobs.create("echo", parameters={"text": "hi"})
    assert (await jobs.get(job.id)).status == "pending"
    assert (await jobs.start(job.id, worker_id="w")).status == "running"
    await jobs.add_log(job.id, "INFO", "started")
    await jobs.save_result(job.id, stdout="hi", return_code=0)
    assert (await jobs.complete(job.id)).status == "completed"
    assert [line.message for line in await jobs.get_logs(job.id)] == ["started"]
    assert await jobs.count(status="completed") == 1
    assert jobs.db is adb.sync  # attributes that are not methods come from the sync object
    with pytest.raises(NotFound):
        await jobs.get("00000000-0000-0000-0000-000000000000")
    with pytest.raises(ValidationError) as info:
        await jobs.create("")
    assert info.value.field == "tool_name"

    users = aio(UserRepository)(adb)
    user = await users.create("ada", "ada@example.com", "correct horse battery")
    assert (await users.authenticate("ada", "correct horse battery")) == user
    workflows = aio(WorkflowRepository)(adb)
    flow = await workflows.create(user.id, "nightly", {"steps": []})
    assert (await workflows.get(flow.id)).name == "nightly"
    executions = aio(ExecutionRepository)(adb)
    run = await executions.start(workflow_id=flow.id, user_id=user.id)
    assert (await executions.complete(run.id)).status == "completed"
    agents = aio(AgentVersionRepository)(adb)
    await agents.add_version("scout", "1.0.0", "print(1)", activate=True)
    assert (await agents.get_active("scout")) is not None
    articles = aio(ArticleRepository)(adb)
    article = await articles.insert("Title", "https://example.com/a")
    assert (await articles.get(article.id)).url == "https://example.com/a"
    alerts = aio(AlertRepository)(adb)
    alert = await alerts.create("disk", "almost full", "warning")
    assert (await alerts.get(alert.id)).severity == "warning"
    tasks = aio(TaskRepository)(adb)
    task = await tasks.create_task("crawl")
    assert (await tasks.get_task(task.id)).name == "crawl"
    typed: agentdb.Job = await adb.run(jobs.sync.get, job.id)  # the typed way
    assert typed.id == job.id


# -- connect_async: same URLs, options, errors ---------------------------------------------------


async def test_connect_async(make_db: Any, dialect: str) -> None:
    url = make_db.url(dialect)
    adb = await agentdb.connect_async(url, pool_size=2, max_overflow=1)
    try:
        assert adb.dialect == dialect and adb.config.max_size == 3
        report = await adb.health()
        assert report["status"] == "healthy" and report["error"] is None
        async with adb.acquire() as conn:
            assert conn is not None
            assert adb.stats().in_use == 1
        assert adb.stats().in_use == 0
    finally:
        await adb.aclose()
    with pytest.raises(agentdb.AgentDBError):
        adb.sync.backend  # noqa: B018 - closed
    with pytest.raises(ConfigError):
        await agentdb.connect_async("nosuch://x")


# -- units of work belong to the task ------------------------------------------------------------


async def test_units_per_task(adb: AsyncDatabase) -> None:
    seen: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    gate = asyncio.Event()

    def where() -> tuple[int, int]:
        with adb.sync.connection() as conn:
            return id(conn), threading.get_ident()

    async def unit(name: str) -> None:
        async with adb.transaction() as outer:
            async with adb.transaction() as inner:  # nested in the same task: the same one
                assert inner is outer
            for _ in range(4):
                seen[name].append(await adb.run(where))
                await asyncio.sleep(0)
            await gate.wait()

    tasks = [asyncio.create_task(unit("a")), asyncio.create_task(unit("b"))]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(*tasks)
    conns = {name: {c for c, _ in calls} for name, calls in seen.items()}
    assert len(conns["a"]) == 1 and len(conns["b"]) == 1  # one connection across awaits
    assert conns["a"] != conns["b"]  # two tasks never share a unit
    assert adb.stats().in_use == 0


async def test_unit_commits_or_rolls_back(adb: AsyncDatabase) -> None:
    jobs = aio(JobStore)(adb)
    async with adb.transaction():
        kept = await jobs.create("echo")
        await jobs.add_log(kept.id, "INFO", "queued")
    with pytest.raises(RuntimeError):
        async with adb.transaction():
            lost = await jobs.create("echo")
            raise RuntimeError("boom")
    assert await jobs.count() == 1 and (await jobs.get(kept.id)).id == kept.id
    with pytest.raises(NotFound):
        await jobs.get(lost.id)
    with pytest.raises(TransactionError):
        async with adb.transaction(readonly=True):
            await jobs.create("echo")
    assert await jobs.count() == 1


async def test_savepoint(adb: AsyncDatabase) -> None:
    jobs = aio(JobStore)(adb)
    async with adb.transaction():
        kept = await jobs.create("echo")
        with pytest.raises(RuntimeError):
            async with adb.transaction(savepoint=True):
                await jobs.create("echo")
                raise RuntimeError("undo only this block")
        await jobs.add_log(kept.id, "INFO", "still here")
    assert await jobs.count() == 1 and len(await jobs.get_logs(kept.id)) == 1


async def test_slots_bounded(make_db: Any) -> None:
    db = make_db("sqlite", pool_size=1, max_overflow=0, pool_timeout=0.2)
    adb = AsyncDatabase(db, owned=False)
    async with adb.acquire():
        # a task of its own (not a child of this unit, which would share it)
        other = asyncio.create_task(adb.health(), context=contextvars.Context())
        with pytest.raises(PoolTimeout):
            await other
        assert adb.stats().in_use == 1
    assert (await adb.health())["status"] == "healthy"


def _agentdb_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("agentdb_")}


async def test_threads_bounded_and_ended(make_db: Any) -> None:
    """The sync core runs in at most max_size threads of the AsyncDatabase's own, started as
    calls need them; a failing call's error reaches its caller; aclose() ends the threads."""
    before = _agentdb_threads()
    db = make_db("sqlite", pool_size=2, max_overflow=1)
    adb = AsyncDatabase(db, owned=False)
    seen: set[str] = set()

    def where() -> str:
        seen.add(threading.current_thread().name)
        return "ok"

    assert await adb.run(where) == "ok"
    assert len(_agentdb_threads() - before) == 1  # one call, one thread
    assert await asyncio.gather(*(adb.run(where) for _ in range(50))) == ["ok"] * 50
    assert 1 <= len(_agentdb_threads() - before) <= 3 and len(seen) <= 3

    def fails() -> None:
        raise ValueError("from the thread")

    with pytest.raises(ValueError, match="from the thread"):
        await adb.run(fails)
    assert adb.stats().in_use == 0
    await adb.aclose()
    for _ in range(100):
        if not _agentdb_threads() - before:
            break
        await asyncio.sleep(0.01)
    assert not _agentdb_threads() - before
    with pytest.raises(RuntimeError, match="closed"):
        await adb.run(where)


# -- cancellation safety -------------------------------------------------------------------------


def _open_transactions(db: Database) -> int:
    """Server-side count of sessions of this database left inside a transaction."""
    with db.connection() as conn:
        cur = conn.cursor()
        if db.dialect == "postgresql":
            cur.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = "
                        "current_database() AND state LIKE 'idle in transaction%'")
        elif db.dialect == "mysql":
            cur.execute("SELECT count(*) AS n FROM information_schema.innodb_trx t JOIN "
                        "information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
                        "WHERE p.db = DATABASE()")
        else:
            return int(db._write_lock is not None and db._write_lock.locked())
        return int(cur.fetchone()["n"])


async def test_cancel_1000_tasks_at_random_points(dialect: str, make_db: Any) -> None:
    """1,000 units (a job and two log lines each) cancelled at random points, 100 at a time
    under load: afterwards nothing half-written, no slot or connection leaked, no connection
    left in a transaction, and the pool still works. A pool of its own (8 connections, closed
    after), so the shared servers' connection slots are not held for the rest of the run."""
    adb = AsyncDatabase(make_db(dialect, migrated=True, pool_size=2, max_overflow=6))
    jobs = aio(JobStore)(adb)
    rng = random.Random(11)

    async def unit() -> None:
        async with adb.transaction():
            job = await jobs.create("echo")
            await jobs.add_log(job.id, "INFO", "one")
            await asyncio.sleep(rng.random() * 0.002)
            await jobs.add_log(job.id, "INFO", "two")

    async def cancelled(delay: float) -> None:
        async with asyncio.timeout(delay):  # cancels the task like a client disconnect
            await unit()

    outcomes = {"done": 0, "cancelled": 0}
    for _ in range(10):
        batch = [asyncio.create_task(cancelled(rng.random() * 0.1)) for _ in range(100)]
        for task in batch:
            try:
                await task
                outcomes["done"] += 1
            except TimeoutError:
                outcomes["cancelled"] += 1
    assert outcomes["cancelled"] > 100 and outcomes["done"] > 0, outcomes
    await asyncio.wait(list(adb._cleanups), timeout=10) if adb._cleanups else None
    stats = adb.stats()
    assert stats.in_use == 0 and stats.waiting == 0, stats
    assert _open_transactions(adb.sync) == 0
    every = await jobs.list(limit=1000)
    assert len(every) >= outcomes["done"]  # a unit cancelled while committing may commit
    counts = [len(await jobs.get_logs(j.id)) for j in every]
    assert all(n == 2 for n in counts), sorted(set(counts))  # nothing half-written
    async with adb.transaction():  # the pool still hands out clean connections
        await jobs.create("echo")


# -- streams: a connection held across pulls -----------------------------------------------------


class Series(Repository):
    queries = SERIES  # test_stream's generated series, no table needed


async def test_stream(dialect: str, make_db: Any) -> None:
    db = make_db(dialect, pool_size=1, max_overflow=0, pool_timeout=5)
    adb = AsyncDatabase(db, owned=False)
    series = aio(Series)(adb)
    rows = await series.stream("series", n=1000, batch_size=100)
    assert [r["n"] async for r in rows] == list(range(1, 1001))
    assert adb.stats().in_use == 0
    async with await series.stream("series", n=5000, batch_size=100) as rows:
        async for row in rows:
            if row["n"] == 10:
                break  # an early stop gives the connection back clean
    assert_clean(db)
    async with adb.transaction():
        rows = await series.stream("series", n=300)
        assert len([r async for r in rows]) == 300
        assert await series.run("one") == 1
    assert_clean(db)
