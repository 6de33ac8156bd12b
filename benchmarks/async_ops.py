"""agentdb's async API against SQLAlchemy asyncio (ORM and Core) and raw psycopg async.

Operations, at 1, 16 and 64 concurrent tasks on one event loop, per backend:

- ``get``: a job by id;
- ``create``: one new job;
- ``lifecycle``: create, claim the next pending job, save its result, complete it.

Ways: ``agentdb`` (``aio(JobStore)`` on ``connect_async``), ``core`` (SQLAlchemy asyncio
``text()`` of agentdb's SQL) and ``orm`` (SQLAlchemy asyncio ORM), over asyncpg, aiomysql and
aiosqlite; on PostgreSQL also ``psycopg`` (raw ``AsyncConnectionPool``, agentdb's SQL). Every
way gets a pool of min(tasks, 16) connections. Each (operation, tasks) cell runs every way in a
rotated order per round; a way's figure is the median over rounds of its ops/s, and the ratio
columns are medians of per-round ratios, so machine noise hits both sides alike. CPU per op is
this process's CPU (threads included) divided by ops.

Fair to the SQLAlchemy ways as their users would be: on MariaDB the engine runs READ COMMITTED
(agentdb's sessions do; REPEATABLE READ makes the ORM claim deadlock), and a unit the server
rolled back (deadlock, lock wait timeout, serialization failure) runs again up to 3 times with
jittered backoff, as agentdb's ``run_in_transaction`` would; the table counts those retries.

Stalls: during each 64-task run a probe task sleeps 1 ms at a time and counts wake-ups more
than 10 ms late (the event loop was blocked).

    python benchmarks/async_ops.py                        # sqlite + local servers that answer
    python benchmarks/async_ops.py --rounds 5 --ops 400 URL...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from compare import (
    BENCH_TOOL,
    LIFECYCLE_PRIORITY,
    PARAMS,
    Context,
    build_context,
    cleanup,
    seed,
)

import agentdb
from agentdb import JobStore, aio

OPS = ("get", "create", "lifecycle")
TARGET_ORM = 1.5
TARGET_CORE = 1.0
TARGET_PSYCOPG = 0.85
POOL_CAP = 16
AsyncOp = Callable[[int], Awaitable[Any]]
T = TypeVar("T")
RETRIES = 3  # as agentdb's run_in_transaction: a unit the server rolled back runs again
retried: Counter[str] = Counter()  # units run again, per way, in the current cell


class Way:
    name: str

    async def open(self, ctx: Context, size: int) -> None: ...

    def op(self, ctx: Context, op: str) -> AsyncOp: ...

    async def close(self) -> None: ...


class AgentDB(Way):
    name = "agentdb"

    async def open(self, ctx: Context, size: int) -> None:
        self.adb = await agentdb.connect_async(ctx.url, pool_size=size, max_overflow=0)
        self.jobs = aio(JobStore)(self.adb)

    def op(self, ctx: Context, op: str) -> AsyncOp:
        jobs = self.jobs
        ids = ctx.ids

        async def get(i: int) -> Any:
            return await jobs.get(ids[i % len(ids)])

        async def create(i: int) -> Any:
            return await jobs.create(BENCH_TOOL, PARAMS)

        async def lifecycle(i: int) -> Any:
            worker = f"agentdb-{i}"
            await jobs.create(BENCH_TOOL, PARAMS, priority=LIFECYCLE_PRIORITY)
            job = await jobs.claim_next(worker)
            if job is None:
                return None
            await jobs.save_result(job.id, stdout="done", stderr="", return_code=0,
                                   output_files=["out.txt"], worker_id=worker)
            return await jobs.complete(job.id, worker_id=worker)

        return {"get": get, "create": create, "lifecycle": lifecycle}[op]

    async def close(self) -> None:
        await self.adb.aclose()


class Psycopg(Way):
    """Raw psycopg AsyncConnectionPool running agentdb's SQL: the floor on PostgreSQL."""

    name = "psycopg"

    async def open(self, ctx: Context, size: int) -> None:
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        c = ctx.config
        self.pool = AsyncConnectionPool(
            kwargs={"host": c.host, "port": c.port, "user": c.username, "password": c.password,
                    "dbname": c.database, "autocommit": True, "row_factory": dict_row},
            min_size=size, max_size=size, open=False)
        await self.pool.open(wait=True)

    def op(self, ctx: Context, op: str) -> AsyncOp:
        from psycopg.types.json import Jsonb

        pool, sql, ids = self.pool, ctx.sql, ctx.ids

        async def insert(priority: int) -> None:
            async with pool.connection() as conn:
                await conn.execute(sql["insert_job"], {
                    "id": str(uuid.uuid4()), "tool_name": BENCH_TOOL, "status": "pending",
                    "priority": priority, "batch_id": None, "workflow_id": None,
                    "user_id": None, "parameters": Jsonb(PARAMS), "created_at": ctx.now(),
                    "run_at": ctx.now(), "max_attempts": 1, "dedupe_key": None})

        async def get(i: int) -> Any:
            async with pool.connection() as conn:
                cur = await conn.execute(sql["get_job"], {"id": ids[i % len(ids)]})
                return await cur.fetchone()

        async def create(i: int) -> Any:
            await insert(0)

        async def lifecycle(i: int) -> Any:
            await insert(LIFECYCLE_PRIORITY)
            async with pool.connection() as conn:
                worker = f"psycopg-{i}"
                cur = await conn.execute(sql["claim_due_jobs"], {
                    "worker_id": worker, "now": ctx.now(), "lease_until": ctx.now(30),
                    "limit": 1})
                row = await cur.fetchone()
                if row is None:
                    return None
                job_id = row["id"]
                await conn.execute(sql["save_result"], {
                    "job_id": job_id, "stdout": "done", "stderr": "", "return_code": 0,
                    "output_files": Jsonb(["out.txt"]), "now": ctx.now(),
                    "worker_id": worker, "anyone": False})
                await conn.execute(sql["finish_job"], {
                    "id": job_id, "status": "completed", "now": ctx.now(),
                    "error_message": None, "from_statuses_0": "running",
                    "worker_id": worker, "anyone": False})
                cur = await conn.execute(sql["get_job"], {"id": job_id})
                return await cur.fetchone()

        return {"get": get, "create": create, "lifecycle": lifecycle}[op]

    async def close(self) -> None:
        await self.pool.close()


def _sa_url(ctx: Context) -> Any:
    import sqlalchemy as sa

    c = ctx.config
    if ctx.dialect == "sqlite":
        return sa.URL.create("sqlite+aiosqlite", database=str(c.path))
    driver = "postgresql+asyncpg" if ctx.dialect == "postgresql" else "mysql+aiomysql"
    return sa.URL.create(driver, username=c.username, password=c.password, host=c.host,
                         port=c.port, database=c.database)


def _sa_engine(ctx: Context, size: int) -> Any:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    args: dict[str, Any] = {"charset": "utf8mb4"} if ctx.dialect == "mysql" else {}
    # MariaDB: READ COMMITTED, as agentdb's sessions (agentdb/pool/mysql.py); under the default
    # REPEATABLE READ the ORM's claim deadlocks (1213) on gap locks beside concurrent inserts.
    options: dict[str, Any] = {"isolation_level": "READ COMMITTED"} \
        if ctx.dialect == "mysql" else {}
    engine = create_async_engine(_sa_url(ctx), pool_size=size, max_overflow=0,
                                 connect_args=args, **options)
    if ctx.dialect == "sqlite":  # the same PRAGMAs and real transactions as agentdb's
        @sa.event.listens_for(engine.sync_engine, "connect")
        def pragmas(dbapi_conn: Any, record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            for pragma in ("busy_timeout = 30000", "synchronous = NORMAL", "foreign_keys = ON"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @sa.event.listens_for(engine.sync_engine, "begin")
        def begin(conn: Any) -> None:  # writers BEGIN IMMEDIATE, as agentdb's do
            writes = conn.get_execution_options().get("sqlite_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def _json(ctx: Context, value: Any) -> Any:
    return json.dumps(value)


def _rolled_back(exc: BaseException) -> bool:
    """The server rolled the whole unit back and it may simply run again: a deadlock or a lock
    wait timeout (MariaDB 1213 / 1205), a deadlock or serialization failure (PostgreSQL)."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    code = orig.args[0] if getattr(orig, "args", None) else None
    return code in (1213, 1205) or state in ("40P01", "40001")


async def _retrying(way: str, unit: Callable[[], Awaitable[T]]) -> T:
    """What a SQLAlchemy user writes around a unit of work (agentdb's ``run_in_transaction``
    does the same): run it again, up to RETRIES times with jittered backoff, when the server
    rolled it back; each retry is counted and printed."""
    from sqlalchemy.exc import DBAPIError

    attempt = 0
    while True:
        try:
            return await unit()
        except DBAPIError as exc:
            if attempt >= RETRIES or not _rolled_back(exc):
                raise
        retried[way] += 1
        await asyncio.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
        attempt += 1


class Core(Way):
    name = "core"

    async def open(self, ctx: Context, size: int) -> None:
        import sqlalchemy as sa

        self.engine = _sa_engine(ctx, size)
        self.writer = self.engine.execution_options(sqlite_write=True)  # same pool
        t = ctx.text_sql
        self.text = {name: sa.text(t[name]) for name in t}

    def op(self, ctx: Context, op: str) -> AsyncOp:
        engine, writer, text, ids = self.engine, self.writer, self.text, ctx.ids
        pg = ctx.dialect == "postgresql"

        def now(after: float = 0.0) -> Any:  # asyncpg binds aware datetimes, not text
            return datetime.now(UTC) + timedelta(seconds=after) if pg else ctx.now(after)

        async def write(statement: str, params: dict[str, Any]) -> None:
            async def unit() -> None:
                async with writer.begin() as conn:
                    await conn.execute(text[statement], params)

            await _retrying("core", unit)

        async def insert(priority: int) -> None:
            await write("insert_job", {
                "id": str(uuid.uuid4()), "tool_name": BENCH_TOOL, "status": "pending",
                "priority": priority, "batch_id": None, "workflow_id": None,
                "user_id": None, "parameters": _json(ctx, PARAMS), "created_at": now(),
                "run_at": now(), "max_attempts": 1, "dedupe_key": None})

        async def get(i: int) -> Any:
            async with engine.connect() as conn:
                return (await conn.execute(text["get_job"], {"id": ids[i % len(ids)]})).first()

        async def create(i: int) -> Any:
            await insert(0)

        async def claim_unit(worker: str) -> str | None:
            async with writer.begin() as conn:
                if ctx.dialect != "mysql":
                    row = (await conn.execute(text["claim_due_jobs"], {
                        "worker_id": worker, "now": now(), "lease_until": now(30),
                        "limit": 1})).first()
                    return None if row is None else str(row[0])
                row = (await conn.execute(text["lock_due_jobs"], {"now": now(),
                                                                  "limit": 1})).first()
                if row is not None:
                    await conn.execute(text["mark_claimed"], {
                        "ids_0": row[0], "worker_id": worker, "now": now(),
                        "lease_until": now(30)})
                return None if row is None else str(row[0])

        async def lifecycle(i: int) -> Any:
            await insert(LIFECYCLE_PRIORITY)
            worker = f"core-{i}"
            job_id = await _retrying("core", lambda: claim_unit(worker))
            if job_id is None:
                return None
            await write("save_result", {
                "job_id": job_id, "stdout": "done", "stderr": "", "return_code": 0,
                "output_files": _json(ctx, ["out.txt"]), "now": now(),
                "worker_id": worker, "anyone": False})
            await write("finish_job", {
                "id": job_id, "status": "completed", "now": now(), "error_message": None,
                "from_statuses_0": "running", "worker_id": worker, "anyone": False})
            async with engine.connect() as conn:
                return (await conn.execute(text["get_job"], {"id": job_id})).first()

        return {"get": get, "create": create, "lifecycle": lifecycle}[op]

    async def close(self) -> None:
        await self.engine.dispose()


class Orm(Way):
    name = "orm"

    async def open(self, ctx: Context, size: int) -> None:
        import sqlalchemy as sa
        from sqlalchemy.ext.asyncio import async_sessionmaker

        self.Job, self.Result = common.sqlalchemy_job_models()
        self.engine = _sa_engine(ctx, size)
        self.Session = async_sessionmaker(self.engine, expire_on_commit=False)
        self.Writer = async_sessionmaker(self.engine.execution_options(sqlite_write=True),
                                         expire_on_commit=False)
        Job = self.Job
        self.next_pending = (
            sa.select(Job).where(Job.status == "pending")
            .order_by(Job.priority.desc(), Job.created_at).limit(1)
            .with_for_update(skip_locked=True))

    def op(self, ctx: Context, op: str) -> AsyncOp:
        Session, Writer, Job, Result = self.Session, self.Writer, self.Job, self.Result
        ids = ctx.ids

        async def insert_unit(priority: int) -> None:
            now = datetime.now(UTC)
            async with Writer() as session, session.begin():
                session.add(Job(id=str(uuid.uuid4()), tool_name=BENCH_TOOL, status="pending",
                                priority=priority, parameters=PARAMS, created_at=now,
                                updated_at=now))

        async def insert(priority: int) -> None:
            await _retrying("orm", lambda: insert_unit(priority))

        async def get(i: int) -> Any:
            async with Session() as session:
                return await session.get(Job, ids[i % len(ids)])

        async def create(i: int) -> Any:
            await insert(0)

        async def claim(worker: str) -> str | None:
            async with Writer() as session, session.begin():
                job = (await session.scalars(self.next_pending)).first()
                if job is None:
                    return None
                now = datetime.now(UTC)
                job.status, job.worker_id, job.started_at, job.updated_at = (
                    "running", worker, now, now)
                return str(job.id)

        async def save(job_id: str) -> None:
            async with Writer() as session, session.begin():
                await session.merge(Result(job_id=job_id, stdout="done", stderr="",
                                           return_code=0, output_files=["out.txt"],
                                           created_at=datetime.now(UTC)))

        async def complete(job_id: str) -> Any:
            async with Writer() as session, session.begin():
                job = await session.get(Job, job_id)
                now = datetime.now(UTC)
                job.status, job.completed_at, job.updated_at = "completed", now, now
                if job.started_at is not None:
                    job.duration = (now - job.started_at).total_seconds()
            return job

        async def lifecycle(i: int) -> Any:
            await insert(LIFECYCLE_PRIORITY)
            job_id = await _retrying("orm", lambda: claim(f"orm-{i}"))
            if job_id is None:
                return None
            await _retrying("orm", lambda: save(job_id))
            return await _retrying("orm", lambda: complete(job_id))

        return {"get": get, "create": create, "lifecycle": lifecycle}[op]

    async def close(self) -> None:
        await self.engine.dispose()


WAYS: dict[str, type[Way]] = {"agentdb": AgentDB, "psycopg": Psycopg, "core": Core, "orm": Orm}


async def _stall_probe(stop: asyncio.Event, stalls: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(0.001)
        late = loop.time() - start - 0.001
        if late > 0.010:
            stalls.append(late)


async def _idle_stalls(seconds: float) -> int:
    """Stalls the machine alone causes (other processes, the scheduler): the baseline the
    64-task counts are read against."""
    stalls: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_stall_probe(stop, stalls))
    await asyncio.sleep(seconds)
    stop.set()
    await probe
    return len(stalls)


async def measure(way: Way, ctx: Context, op: str, tasks: int, ops: int,
                  stalls: list[float] | None) -> tuple[float, float]:
    """ops/s and CPU µs/op of ``ops`` operations shared by ``tasks`` tasks."""
    fn = way.op(ctx, op)
    per = max(ops // tasks, 1)

    async def worker(w: int) -> None:
        for i in range(per):
            await fn(w * 100_003 + i)

    stop = asyncio.Event()
    probe = asyncio.create_task(_stall_probe(stop, stalls)) if stalls is not None else None
    cpu, start = process_time(), perf_counter()
    async with asyncio.TaskGroup() as group:  # one failure cancels the rest: no task is left
        for w in range(tasks):               # holding a connection (or a lock) behind it
            group.create_task(worker(w))
    wall, cpu = perf_counter() - start, process_time() - cpu
    stop.set()
    if probe is not None:
        await probe
    return per * tasks / wall, cpu / (per * tasks) * 1e6


async def bench_backend(url: str, args: argparse.Namespace) -> list[list[Any]]:
    rows: list[list[Any]] = []
    with common.fresh_database(url) as fresh:
        ids = await asyncio.to_thread(seed, fresh, args.seed)
        ctx = build_context(fresh, ids)
        names = [w for w in args.ways if w != "psycopg" or ctx.dialect == "postgresql"]
        for tasks in args.tasks:
            size = min(tasks, POOL_CAP)
            for op in args.ops_list:
                figures: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
                stalls: dict[str, list[float]] = {n: [] for n in names}
                retried.clear()
                for rnd in range(args.rounds):
                    order = names[rnd % len(names):] + names[:rnd % len(names)]
                    for n in order:
                        # one way's pool open at a time: the shared servers have few slots
                        way = WAYS[n]()
                        await way.open(ctx, size)
                        try:
                            await measure(way, ctx, op, tasks, max(4 * tasks, 64), None)  # warm
                            figures[n].append(await measure(
                                way, ctx, op, tasks, args.ops,
                                stalls[n] if tasks == max(args.tasks) else None))
                        finally:
                            await way.close()
                        if op != "get":
                            await asyncio.to_thread(cleanup, ctx)
                rows.append(_row(ctx.dialect, op, tasks, names, figures, stalls,
                                 tasks == max(args.tasks)))
                rows[-1].append(", ".join(f"{n} {c}" for n, c in sorted(retried.items())))
                print(common.markdown_table(HEADERS, rows[-1:]), file=sys.stderr)
        if ctx.admin is not None:
            ctx.admin.close()
    return rows


HEADERS = ["backend", "op", "tasks", "agentdb ops/s", "orm ops/s", "core ops/s",
           "psycopg ops/s", "vs orm", "vs core", "vs psycopg", "agentdb CPU µs/op",
           "orm CPU", "core CPU", "psycopg CPU", "stalls >10ms (64 tasks)",
           "retried units"]


def _ratio(figures: dict[str, list[tuple[float, float]]], other: str, i: int) -> str | None:
    """Median of per-round ratios: ops/s agentdb/other (i=0), CPU per op other/agentdb (i=1):
    above 1 means agentdb is ahead either way."""
    if other not in figures or not figures[other]:
        return None
    pairs = zip(figures["agentdb"], figures[other], strict=True)
    values = [a[0] / b[0] if i == 0 else b[1] / a[1] for a, b in pairs]
    return f"{statistics.median(values):.2f}x"


def _row(dialect: str, op: str, tasks: int, names: list[str],
         figures: dict[str, list[tuple[float, float]]], stalls: dict[str, list[float]],
         last: bool) -> list[Any]:
    def med(n: str, i: int) -> float | None:
        return statistics.median(f[i] for f in figures[n]) if n in figures else None

    def cpu(n: str) -> str | None:
        value = med(n, 1)
        return None if value is None else f"{value:.0f} ({_ratio(figures, n, 1)})"

    stall = ", ".join(f"{n} {len(stalls[n])}" for n in names) if last else ""
    return [dialect, op, tasks, *(med(n, 0) for n in ("agentdb", "orm", "core", "psycopg")),
            *(_ratio(figures, o, 0) for o in ("orm", "core", "psycopg")),
            med("agentdb", 1), cpu("orm"), cpu("core"), cpu("psycopg"), stall]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("urls", nargs="*")
    parser.add_argument("--tasks", type=common.parse_int_list, default=[1, 16, 64])
    parser.add_argument("--ops", type=int, default=320, help="operations per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=500, help="jobs in the database first")
    parser.add_argument("--ways", type=lambda s: s.split(","), default=list(WAYS))
    parser.add_argument("--ops-list", type=lambda s: s.split(","), default=list(OPS))
    args = parser.parse_args(argv)
    urls = common.usable_urls(args.urls)
    if urls is None:
        return 2
    rows: list[list[Any]] = []
    baseline = asyncio.run(_idle_stalls(3.0))
    for url in urls:
        rows += asyncio.run(bench_backend(url, args))
    print(f"baseline: {baseline} stalls > 10 ms in 3 s of an idle event loop on this machine")
    print(f"targets: >= {TARGET_ORM}x orm, >= {TARGET_CORE}x core, "
          f">= {TARGET_PSYCOPG}x psycopg; ratios are medians of per-round ops/s ratios")
    print(common.markdown_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
