"""The failure model, on real throwaway servers (tests/servers.py) that we stop, restart in
immediate mode, freeze with SIGSTOP and kill sessions of: every wait bounded, typed errors,
recovery within a second, nothing acknowledged lost, and no broken connection pooled."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import agentdb
from agentdb import CommitUnknown, Database, DatabaseUnavailable, PoolTimeout

FAST = {"connect_timeout": 2, "statement_timeout": 1, "pool_timeout": 5}


def fresh_table(db: Database, name: str) -> None:
    with db.connection(write=True) as conn:
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, who VARCHAR(20))")


def insert(db: Database, table: str, item: int) -> None:
    with db.connection(write=True) as conn:
        conn.cursor().execute(f"INSERT INTO {table} (id, who) VALUES (%s, 'x')", (item,))


def found(db: Database, table: str) -> set[int]:
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT id FROM {table}")
        return {row["id"] for row in cur.fetchall()}


def select_one(db: Database) -> None:
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()


def first_success_after(db: Database, limit: float = 10) -> float:
    """Seconds until a call succeeds, calling as fast as errors come back."""
    start = time.monotonic()
    while True:
        try:
            select_one(db)
            return time.monotonic() - start
        except DatabaseUnavailable:
            assert time.monotonic() - start < limit, "never recovered"
            time.sleep(0.01)


def test_start_while_down_fail_fast_then_work_when_back(server: Any) -> None:
    server.stop("immediate")
    db = agentdb.connect(server.url, **FAST)  # lazy: never fails because the server is down
    try:
        for _ in range(3):
            start = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as info:
                select_one(db)
            assert time.monotonic() - start < FAST["connect_timeout"] + 1
            assert f"127.0.0.1:{server.port}" in str(info.value)
        start = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            db.wait(0.5)
        assert time.monotonic() - start < FAST["connect_timeout"] + 1
        health = db.health()
        assert health["status"] == "unhealthy" and str(server.port) in health["error"]
        stats = db.stats()
        assert (stats.in_use, stats.waiting) == (0, 0)  # the callers who gave up are gone
        server.start()
        assert first_success_after(db) < 1.0  # the same Database, within a second
        assert db.health()["status"] == "healthy"
    finally:
        db.close()


def test_recovery_after_a_long_outage_takes_under_a_second(server: Any) -> None:
    db = agentdb.connect(server.url, **FAST)
    try:
        select_one(db)
        server.stop("immediate")
        deadline = time.monotonic() + 6  # long enough for psycopg_pool's backoff to reach 4 s
        while time.monotonic() < deadline:
            with pytest.raises(DatabaseUnavailable):
                select_one(db)
            time.sleep(0.2)
        server.start()
        assert first_success_after(db) < 1.0
    finally:
        db.close()


def test_killed_idle_connections_are_replaced_unseen(server: Any) -> None:
    # ping_interval is long: only the socket poll at checkout can notice the kill
    db = agentdb.connect(server.url, pool_size=4, ping_interval=3600, **FAST)
    try:
        conns = [db.backend.getconn() for _ in range(4)]  # four idle connections in the pool
        for conn in conns:
            conn.cursor().execute("SELECT 1")
            db.backend.putconn(conn)
        assert server.kill_backends() >= 4
        time.sleep(0.2)
        for _ in range(8):
            select_one(db)  # never an error
        assert db.stats().in_use == 0
    finally:
        db.close()


def test_restart_under_8_writing_threads_loses_nothing_acknowledged(server: Any) -> None:
    db = agentdb.connect(server.url, pool_size=8, **FAST)
    fresh_table(db, "restart_items")
    acknowledged: set[int] = set()
    unknown: set[int] = set()
    errors: list[BaseException] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            item = n * 1_000_000 + i
            i += 1
            try:
                insert(db, "restart_items", item)
                with lock:
                    acknowledged.add(item)
            except CommitUnknown:
                with lock:
                    unknown.add(item)
            except DatabaseUnavailable:
                time.sleep(0.01)
            except BaseException as exc:  # anything untyped fails the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            time.sleep(0.7)
            server.restart("immediate")
            before = len(acknowledged)
            time.sleep(1.0)  # writes resume within a second of the server's return
            assert len(acknowledged) > before, "writers did not recover within 1 s"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    assert not errors, errors[:3]
    rows = found(db, "restart_items")
    assert acknowledged <= rows  # nothing acknowledged was lost
    assert rows <= acknowledged | unknown  # anything else was reported as CommitUnknown
    stats = db.stats()
    assert (stats.in_use, stats.waiting) == (0, 0)
    db.close()


def test_a_frozen_server_fails_calls_within_the_timeouts(server: Any) -> None:
    db = agentdb.connect(server.url, pool_size=2, **FAST)
    try:
        select_one(db)
        server.freeze()
        start = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            select_one(db)  # the idle connection looks fine; its statement times out
        assert time.monotonic() - start < FAST["statement_timeout"] + 1
        start = time.monotonic()
        assert db.health()["status"] == "unhealthy"
        assert time.monotonic() - start < FAST["connect_timeout"] + 1.5
        start = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            select_one(db)  # a new connection: the handshake times out
        assert time.monotonic() - start < FAST["connect_timeout"] + 1.5
        assert db.stats().in_use == 0
        server.thaw()
        assert first_success_after(db) < 1.0
    finally:
        server.thaw()
        db.close()


def test_a_commit_without_reply_is_commit_unknown(server: Any) -> None:
    db = agentdb.connect(server.url, **FAST)
    fresh_table(db, "ambiguous")
    conns = [db.backend.getconn() for _ in range(2)]  # two idle connections: one per write
    for conn in conns:
        db.backend.putconn(conn)
    try:
        with pytest.raises(CommitUnknown), db.transaction() as conn:
            conn.cursor().execute("INSERT INTO ambiguous (id, who) VALUES (1, 'unit')")
            server.freeze()  # COMMIT goes out on exit, and no reply comes
        with pytest.raises(CommitUnknown):
            insert(db, "ambiguous", 2)  # a lone write is its own COMMIT
        server.thaw()
        assert first_success_after(db) < 1.0
        assert found(db, "ambiguous") <= {1, 2}  # either way: the caller was told it may be
    finally:
        server.thaw()
        db.close()


def test_a_unit_that_loses_its_connection_is_retried_whole(server: Any) -> None:
    db = agentdb.connect(server.url, **FAST)
    fresh_table(db, "retried")
    attempts: list[int] = []

    def unit(conn: Any) -> None:
        attempts.append(1)
        cur = conn.cursor()
        cur.execute("INSERT INTO retried (id, who) VALUES (%s, 'unit')", (len(attempts),))
        if len(attempts) == 1:
            server.kill_backends()  # lost before COMMIT was sent: safe to run again
            time.sleep(0.1)
            cur.execute("SELECT 1")

    try:
        db.run_in_transaction(unit)
        assert len(attempts) == 2
        assert found(db, "retried") == {2}  # the first attempt was rolled back, not committed
        stats = db.stats()
        assert stats.in_use == 0
    finally:
        db.close()


def test_pool_timeout_only_for_real_exhaustion_with_the_waiting_count(server: Any) -> None:
    db = agentdb.connect(server.url, pool_size=1, max_overflow=0, connect_timeout=2,
                         pool_timeout=0.5)
    try:
        holder = db.acquire()
        holder.__enter__().cursor().execute("SELECT 1")
        results: list[BaseException] = []

        def wait(_: int) -> None:
            try:
                db.acquire().__enter__()
            except BaseException as exc:
                results.append(exc)

        threads = [threading.Thread(target=wait, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        assert db.stats().waiting == 3
        for t in threads:
            t.join()
        assert all(isinstance(e, PoolTimeout) for e in results)
        assert sorted(e.waiting for e in results if isinstance(e, PoolTimeout)) == [0, 1, 2]
        assert db.stats().waiting == 0  # gone callers are not counted
        holder.__exit__(None, None, None)
        assert db.stats().in_use == 0
    finally:
        db.close()


# -- on the shared servers: deadlocks, poisoned connections, fork, durability -------------------


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_run_in_transaction_survives_a_real_deadlock(make_db: Any, dialect: str) -> None:
    from conftest import require_server

    require_server(dialect)
    db = make_db(dialect, pool_size=2)
    fresh_table(db, "locks")
    insert(db, "locks", 1)
    insert(db, "locks", 2)
    barrier = threading.Barrier(2, timeout=10)
    attempts = [0, 0]

    def lock_both(n: int) -> None:
        first, second = (1, 2) if n == 0 else (2, 1)

        def unit(conn: Any) -> None:
            attempts[n] += 1
            cur = conn.cursor()
            cur.execute("UPDATE locks SET who = %s WHERE id = %s", (f"t{n}", first))
            if attempts[n] == 1:
                barrier.wait()  # both hold their first row: opposite orders deadlock
            cur.execute("UPDATE locks SET who = %s WHERE id = %s", (f"t{n}", second))

        db.run_in_transaction(unit, retries=3, backoff=0.01)

    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            lock_both(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(attempts) == [1, 2]  # the server picked a victim; it ran again, whole
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT who FROM locks ORDER BY id")
        whos = [r["who"] for r in cur.fetchall()]
    assert whos[0] == whos[1]  # one unit's both updates won: none half-applied


def test_run_in_transaction_does_not_retry_other_errors(db: Database) -> None:
    calls = []

    def unit(conn: Any) -> None:
        calls.append(1)
        raise ValueError("not retryable")

    with pytest.raises(ValueError):
        db.run_in_transaction(unit)
    assert calls == [1]


def test_a_packet_too_large_never_poisons_the_pool(make_db: Any) -> None:
    from conftest import require_server

    require_server("mysql")
    db = make_db("mysql", pool_size=1, max_overflow=0)
    fresh_table(db, "big")
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT @@max_allowed_packet AS m")
        limit = cur.fetchone()["m"]
    with pytest.raises(agentdb.AgentDBError), db.connection(write=True) as conn:
        conn.cursor().execute("INSERT INTO big (id, who) VALUES (1, %s)", ("x" * limit,))
    for _ in range(3):
        select_one(db)  # the next unrelated call works: the dead connection was discarded


def test_a_child_forked_while_another_thread_writes_can_write(tmp_path: Any) -> None:
    import os

    db = agentdb.connect(f"sqlite:///{tmp_path}/fork.db", pool_timeout=3)
    with db.connection(write=True) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
    inside = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with db.transaction() as conn:
            conn.execute("INSERT INTO t (who) VALUES ('parent')")  # holds the writer lock
            inside.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    assert inside.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: the parent's writer lock must not be held here
        code = 1
        try:
            with db.connection(write=True) as conn:
                conn.execute("INSERT INTO t (who) VALUES ('child')")
            code = 0
        except BaseException as exc:
            (tmp_path / "child-error").write_text(repr(exc))
        finally:
            os._exit(code)
    release.set()
    t.join()
    _, status = os.waitpid(pid, 0)
    error = tmp_path / "child-error"
    assert os.waitstatus_to_exitcode(status) == 0, error.read_text() if error.exists() else ""
    with db.connection() as conn:
        assert sorted(r["who"] for r in conn.execute("SELECT who FROM t")) == ["child", "parent"]
    db.close()


def test_sqlite_durability_option(tmp_path: Any) -> None:
    for option, expected in (("normal", 1), ("full", 2)):
        db = agentdb.connect(f"sqlite:///{tmp_path}/{option}.db", durability=option)
        with db.connection() as conn:
            assert conn.execute("PRAGMA synchronous").fetchone() == {"synchronous": expected}
        db.close()
    with pytest.raises(agentdb.ConfigError, match="durability"):
        agentdb.connect(f"sqlite:///{tmp_path}/x.db", durability="sometimes")
