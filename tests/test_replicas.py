"""Past one server: read replicas with read-your-writes, and PgBouncer in transaction mode.

Every test here runs on a real topology built by tests/servers.py on spare loopback ports: a
PostgreSQL primary with a streaming replica (``pg_basebackup -R``) and a PgBouncer 1.18 in
front (``pool_mode = transaction``, defaults otherwise); a MariaDB primary with a GTID replica.
The topologies are built once per module (about 10 s) and removed at the end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from conftest import IN_CI
from helpers import run_threads

import agentdb
from agentdb import (
    AgentVersionRepository,
    ArticleRepository,
    ConfigError,
    JobStore,
    MigrationError,
    NotFound,
    TaskRepository,
    UserRepository,
    ValidationError,
    WorkflowRepository,
)
from agentdb.config import parse_config
from agentdb.wakeup import Listener, Poller, wakeup_for

# -- topologies ----------------------------------------------------------------------------------


def _need(cls: Any) -> None:
    reason = cls.available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)


class Topology:
    """A primary, one replica of it, and (PostgreSQL) a PgBouncer in front of the primary."""

    def __init__(self, dialect: str, primary: Any, replica: Any, bouncer: Any = None) -> None:
        self.dialect = dialect
        self.primary = primary
        self.replica = replica
        self.bouncer = bouncer

    def lag(self) -> None:
        """Force replication lag: the replica receives changes and applies none."""
        if self.dialect == "postgresql":
            self.replica.pause_replay()
        else:
            self.replica.stop_sql_thread()

    def catch_up(self) -> None:
        if self.dialect == "postgresql":
            self.replica.resume_replay()
        else:
            self.replica.start_sql_thread()
        self.replica.wait_caught_up()

    def connect(self, **options: Any) -> agentdb.Database:
        return agentdb.connect(self.primary.url, replicas=[self.replica.url], **options)

    def remove(self) -> None:
        for server in (self.bouncer, self.replica, self.primary):
            if server is not None:
                server.remove()


@pytest.fixture(scope="module")
def pg_topology() -> Iterator[Topology]:
    from servers import PgBouncer, PostgresPrimary, PostgresReplica

    _need(PostgresPrimary)
    _need(PgBouncer)
    primary = PostgresPrimary.create()
    topology = Topology("postgresql", primary, None)
    try:
        db = agentdb.connect(primary.url)
        agentdb.migrate(db)
        db.close()
        topology.replica = PostgresReplica.create(upstream=primary)
        topology.bouncer = PgBouncer.create(upstream=primary)
        yield topology
    finally:
        topology.remove()


@pytest.fixture(scope="module")
def maria_topology() -> Iterator[Topology]:
    from servers import MariaDBReplica, MariaDBServer

    _need(MariaDBServer)
    primary = MariaDBServer.create(binlog=True)
    topology = Topology("mysql", primary, None)
    try:
        db = agentdb.connect(primary.url)
        agentdb.migrate(db)
        db.close()
        topology.replica = MariaDBReplica.create(upstream=primary)
        yield topology
    finally:
        topology.remove()


@pytest.fixture(params=["postgresql", "mysql"])
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """Each topology, with its replica running and caught up before and after the test."""
    name = "pg_topology" if request.param == "postgresql" else "maria_topology"
    topo: Topology = request.getfixturevalue(name)
    topo.replica.ensure_running()
    topo.catch_up()
    yield topo
    topo.replica.ensure_running()
    topo.catch_up()


@pytest.fixture
def rdb(topology: Topology) -> Iterator[agentdb.Database]:
    db = topology.connect(pool_size=2, max_overflow=14)
    yield db
    db.close()


# -- configuration -------------------------------------------------------------------------------


def test_replicas_come_from_keywords_the_url_or_the_environment() -> None:
    by_kw = parse_config("postgresql://app:s3cret@db1:5432/app?pool_size=7",
                         replicas=["db2:5433", "postgresql://ro:pw@db3/app?pool_size=2"])
    assert [(r.host, r.port, r.username, r.pool_size) for r in by_kw.replicas] == [
        ("db2", 5433, "app", 7), ("db3", 5432, "ro", 2)]
    assert by_kw.replicas[0].password == "s3cret"  # host:port keeps the primary's login
    by_url = parse_config("mysql://root@db1/app?replicas=db2:3307,db3&max_replica_lag=2")
    assert [r.target for r in by_url.replicas] == ["db2:3307/app", "db3:3306/app"]
    assert by_url.max_replica_lag == 2.0
    by_env = parse_config(env={"DATABASE_URL": "postgresql://u:pw@db1/app",
                               "DATABASE_REPLICA_URLS": "db2,db3:6000",
                               "DATABASE_DIRECT_URL": "postgresql://u:pw@db1:5433/app",
                               "DB_PGBOUNCER": "true"})
    assert [r.target for r in by_env.replicas] == ["db2:5432/app", "db3:6000/app"]
    assert by_env.pgbouncer is True and by_env.direct is not None
    assert by_env.direct.port == 5433 and by_env.direct.pgbouncer is False
    assert "s3cret" not in repr(by_kw) and "pw" not in repr(by_env)


@pytest.mark.parametrize("bad", [
    {"replicas": ["sqlite:///x.db"]},
    {"replicas": ["db2:notaport"]},
    {"replicas": [42]},
    {"pgbouncer": "maybe"},
])
def test_bad_replica_options_are_config_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_config("postgresql://u@db1/app", **bad)


def test_sqlite_has_no_replicas(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="replicas"):
        parse_config(f"sqlite:///{tmp_path}/x.db", replicas=["db2"])


# -- routing -------------------------------------------------------------------------------------


def test_read_only_work_goes_to_a_replica_and_writes_to_the_primary(
        topology: Topology, rdb: agentdb.Database) -> None:
    jobs = JobStore(rdb)
    job = jobs.create("route")
    topology.replica.wait_caught_up()
    before = rdb.stats().routing
    assert before is not None

    def fresh_context() -> None:  # a new thread: no writes of its own to wait for
        assert jobs.get(job.id).tool_name == "route"
        assert jobs.count() >= 1
        with rdb.acquire(readonly=True):
            assert jobs.get(job.id).id == job.id  # the unit's reads share one replica session

    run_threads(1, lambda i: fresh_context())
    after = rdb.stats().routing
    assert after is not None
    assert after["replica_reads"] - before["replica_reads"] == 3
    stats = rdb.stats()
    assert [s.replica for s in stats.replicas] == [topology.replica.url.split("@")[1].split("/")[0]]
    assert stats.replicas[0].acquired >= 3 and stats.replica is None


def test_read_your_writes_with_forced_lag_returns_the_fresh_row(
        topology: Topology, rdb: agentdb.Database) -> None:
    jobs = JobStore(rdb)
    jobs.get_logs(str(uuid.uuid4()))  # the replica's pool is open and checked
    topology.lag()
    try:
        job = jobs.create("fresh")
        jobs.add_log(job.id, "INFO", "written under lag")
        # the same context reads its writes: the lagging replica is passed over
        assert jobs.get(job.id).tool_name == "fresh"
        assert [log.message for log in jobs.get_logs(job.id)] == ["written under lag"]
        token = rdb.read_token()
        assert token is not None

        seen: dict[str, Any] = {}

        def next_request() -> None:  # another context: the token crosses over, like HTTP
            try:
                jobs.get(job.id)
                seen["without token"] = "found"
            except NotFound:
                seen["without token"] = "stale"  # proof that the replica really lags
            with rdb.reading_after(token):
                seen["with token"] = jobs.get(job.id).tool_name
            with pytest.raises(ValidationError, match="token"), rdb.reading_after("nonsense"):
                pass

        run_threads(1, lambda i: next_request())
        assert seen == {"without token": "stale", "with token": "fresh"}
    finally:
        topology.catch_up()
    # caught up: the token's position is reached and the replica serves the read again
    routing = rdb.stats().routing
    assert routing is not None
    replica_reads = routing["replica_reads"]
    assert jobs.get(job.id).tool_name == "fresh"
    routing = rdb.stats().routing
    assert routing is not None and routing["replica_reads"] == replica_reads + 1


def test_a_replica_lagging_past_max_replica_lag_is_skipped(topology: Topology) -> None:
    db = topology.connect(max_replica_lag=0.3, pool_size=1)
    try:
        jobs = JobStore(db)
        jobs.count()
        topology.lag()
        JobStore(agentdb.connect(topology.primary.url, pool_size=1)).create("behind")
        time.sleep(1.2)  # past max_replica_lag and the once-a-second check

        def fresh_context() -> int:
            return jobs.count()  # no write of its own, yet not from the lagging replica

        assert run_threads(1, lambda i: fresh_context()) == [jobs.count()]
        health = db.health()
        assert health["status"] == "healthy"
        assert health["replicas"][0]["status"] == "lagging"
        routing = db.stats().routing
        assert routing is not None and routing["skipped"] >= 1
    finally:
        topology.catch_up()
        db.close()


def test_a_replica_killed_mid_load_causes_zero_failed_reads(
        topology: Topology, rdb: agentdb.Database) -> None:
    jobs = JobStore(rdb)
    ids = [jobs.create(f"load{i}").id for i in range(20)]
    topology.replica.wait_caught_up()
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = [0] * 8

    def reader(i: int) -> None:
        while not stop.is_set():
            try:
                assert jobs.get(ids[reads[i] % len(ids)]).tool_name.startswith("load")
                reads[i] += 1
            except BaseException as exc:
                failures.append(exc)
                return

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        replica_reads = rdb.stats().routing["replica_reads"]  # type: ignore[index]
        assert replica_reads > 0
        topology.replica.stop("immediate")  # killed under load
        time.sleep(1.0)
        health = rdb.health()
        assert health["status"] == "healthy"
        assert health["replicas"][0]["status"] == "down"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == []
    assert sum(reads) > 100

    # back: a health check sees it at once (reads would after their back-off, <= 30 s)
    topology.replica.start()
    topology.replica.wait_caught_up()
    assert rdb.health()["replicas"][0]["status"] == "healthy"
    before = rdb.stats().routing["replica_reads"]  # type: ignore[index]
    run_threads(1, lambda i: jobs.get(ids[0]))
    assert rdb.stats().routing["replica_reads"] == before + 1  # type: ignore[index]


def test_a_replica_down_at_connect_leaves_every_read_working(topology: Topology) -> None:
    from servers import free_port

    db = agentdb.connect(topology.primary.url, replicas=[f"127.0.0.1:{free_port()}"],
                         connect_timeout=2)
    try:
        jobs = JobStore(db)
        job = jobs.create("alone")
        assert run_threads(4, lambda i: jobs.get(job.id).tool_name) == ["alone"] * 4
        nodes = db.health()["replicas"]
        assert nodes[0]["status"] == "down" and nodes[0]["error"]
    finally:
        db.close()


# -- PgBouncer -----------------------------------------------------------------------------------


def _workload(db: agentdb.Database, owner_id: str, i: int, rounds: int) -> int:
    """The repositories' operations, reads and writes, as one client would run them."""
    jobs, tasks = JobStore(db), TaskRepository(db)
    workflows, agents = WorkflowRepository(db), AgentVersionRepository(db)
    articles = ArticleRepository(db)
    done = 0
    for r in range(rounds):
        tag = f"{i}-{r}-{uuid.uuid4().hex[:6]}"
        job = jobs.create("bouncer", {"i": i, "r": r}, priority=r % 3)
        jobs.add_log(job.id, "INFO", "queued")
        claimed = jobs.claim_next(worker_id=f"w{i}", tool_name="bouncer")
        if claimed is not None:
            jobs.save_result(claimed.id, stdout="ok", return_code=0, worker_id=f"w{i}")
            jobs.complete(claimed.id, worker_id=f"w{i}")
        got = jobs.get(job.id)
        assert got.created_at.tzinfo is UTC  # the server's zone is America/New_York
        jobs.get_logs(job.id)
        jobs.list(limit=5)
        jobs.count()
        wf = workflows.create(owner_id, f"wf {tag}", {"steps": [r]})
        workflows.save_version(wf.id, {"steps": [r, r]})
        workflows.update(wf.id, name=f"wf {tag} v2")
        workflows.list_versions(wf.id)
        task = tasks.create_task(f"task {tag}")
        run = tasks.start_run(task.id)
        tasks.record_metric("score", "gauge", float(r), task_id=task.id, task_run_id=run.id)
        tasks.complete_run(run.id, {"ok": True})
        tasks.list_runs(task.id)
        agents.add_version(f"agent-{i}", f"1.{r}", "print(1)")
        agents.activate(f"agent-{i}", f"1.{r}")
        agents.get_active(f"agent-{i}")
        articles.insert(f"title {tag}", f"https://example.com/{tag}")
        articles.recent(limit=3)
        done += 1
    return done


def test_pgbouncer_transaction_mode_16_threads_zero_errors(pg_topology: Topology) -> None:
    bouncer = pg_topology.bouncer
    # PgBouncer keeps its defaults: what agentdb sends a direct server is refused there
    strict = agentdb.connect(bouncer.url, pgbouncer=False, pool_size=1)
    try:
        with pytest.raises(agentdb.DatabaseUnavailable, match="unsupported startup parameter"):
            JobStore(strict).count()
    finally:
        strict.close()
    db = agentdb.connect(bouncer.url, pool_size=4, max_overflow=12)  # detected
    try:
        owner = UserRepository(db, bcrypt_rounds=4).create(f"owner{uuid.uuid4().hex[:8]}",
                                                           None, "correct horse")
        assert db.pgbouncer  # detected on the first connection
        done = run_threads(16, lambda i: _workload(db, owner.id, i, rounds=4))
        assert done == [4] * 16  # run_threads re-raises the first error: there was none
        stats = db.stats()
        assert stats.errors == 0 and stats.timeouts == 0
    finally:
        db.close()


def test_pgbouncer_explicit_mode_sends_no_session_state(pg_topology: Topology) -> None:
    db = agentdb.connect(pg_topology.bouncer.url, pgbouncer=True, pool_size=1)
    try:
        with db.connection() as conn:
            assert conn.prepare_threshold is None  # no automatic prepared statements
            row = conn.execute("SELECT current_setting('TimeZone') AS tz").fetchone()
        assert row["tz"] == "America/New_York"  # no `options`: the server's zone; UTC in Python
    finally:
        db.close()


def test_migrations_through_pgbouncer_are_refused_or_use_direct_url(
        pg_topology: Topology) -> None:
    bouncer, primary = pg_topology.bouncer, pg_topology.primary
    db = agentdb.connect(bouncer.url, pool_size=1)
    try:
        with pytest.raises(MigrationError, match="direct_url"):
            agentdb.migrate(db)
        with pytest.raises(ConfigError, match=r"LISTEN.*direct_url"):
            db.direct_config("LISTEN")
        assert isinstance(wakeup_for(db, 0.5), Poller)  # the worker polls instead of LISTEN
    finally:
        db.close()
    db = agentdb.connect(bouncer.url, direct_url=primary.url, pool_size=1)
    try:
        assert agentdb.migrate(db) == []  # ran on the primary itself: nothing pending
        assert db.direct_config("LISTEN").port == primary.port
        listener = wakeup_for(db, 0.5)  # the queue's LISTEN goes to the primary itself
        try:
            assert isinstance(listener, Listener)
            JobStore(db).create("woken")  # NOTIFY from the insert, through PgBouncer
            assert listener.wait(5.0)
        finally:
            listener.close()
    finally:
        db.close()
