"""The pool promises, checked on real servers: the same test for sqlite, postgresql and mysql."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

import pytest
from conftest import _admin, require_server
from helpers import run_threads

import agentdb
from agentdb import (
    Database,
    DatabaseUnavailable,
    PoolManager,
    PoolTimeout,
    TransactionError,
)

SERVERS = ("postgresql", "mysql")


def execute(db: Database, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Run one statement bare, in the driver's own placeholder style."""
    mark = "?" if db.dialect == "sqlite" else "%s"
    with db.connection(write=not sql.lstrip().upper().startswith("SELECT")) as conn:
        cur = conn.cursor()
        cur.execute(sql.replace("?", mark), params)
        return list(cur.fetchall()) if cur.description else []


def make_table(db: Database) -> None:
    execute(db, "CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR(50))")


def insert(conn: Any, db: Database, item_id: int, label: str = "x") -> None:
    mark = "?" if db.dialect == "sqlite" else "%s"
    sql = f"INSERT INTO items (id, label) VALUES ({mark}, {mark})"
    conn.cursor().execute(sql, (item_id, label))


def ids(db: Database) -> list[int]:
    return [r["id"] for r in execute(db, "SELECT id FROM items ORDER BY id")]


def backend_id(db: Database, conn: Any) -> Any:
    """Which server session (or SQLite connection object) this is."""
    sql = {"postgresql": "SELECT pg_backend_pid() AS pid", "mysql": "SELECT CONNECTION_ID() AS pid"}
    if db.dialect == "sqlite":
        return conn
    cur = conn.cursor()
    cur.execute(sql[db.dialect])
    return cur.fetchone()["pid"]


def test_rows_are_dicts(make_db: Any, dialect: str) -> None:
    db = make_db(dialect)
    with db.acquire() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1 AS one, 'two' AS two")
        assert cur.fetchall() == [{"one": 1, "two": "two"}]


def test_commit_on_success_and_rollback_on_exception(make_db: Any, dialect: str) -> None:
    db = make_db(dialect)
    make_table(db)
    with db.acquire() as conn:
        insert(conn, db, 1)
    with pytest.raises(RuntimeError), db.acquire() as conn:
        insert(conn, db, 2)
        raise RuntimeError("boom")
    assert ids(db) == [1]
    stats = db.stats()
    assert stats.in_use == 0 and stats.idle == stats.size


def test_uncommitted_work_is_invisible_to_other_connections(make_db: Any, dialect: str) -> None:
    db = make_db(dialect)
    make_table(db)
    seen: list[list[int]] = []
    with db.acquire() as conn:
        insert(conn, db, 1)
        t = threading.Thread(target=lambda: seen.append(ids(db)))
        t.start()
        t.join()
    assert seen == [[]]
    assert ids(db) == [1]


def test_nested_units_share_one_connection_and_roll_back_together(
    make_db: Any, dialect: str
) -> None:
    db = make_db(dialect)
    make_table(db)
    with db.transaction() as outer:
        insert(outer, db, 1)
        with db.acquire() as inner:
            assert inner is outer
            insert(inner, db, 2)
        assert db.stats().in_use == 1
    assert ids(db) == [1, 2]

    with pytest.raises(ValueError), db.transaction() as outer:
        insert(outer, db, 3)
        with db.transaction() as inner:
            insert(inner, db, 4)
            raise ValueError("inner fails")
    assert ids(db) == [1, 2]


def test_a_swallowed_inner_failure_still_rolls_back_the_unit(make_db: Any, dialect: str) -> None:
    db = make_db(dialect)
    make_table(db)
    with pytest.raises(TransactionError), db.transaction() as conn:
        insert(conn, db, 1)
        try:
            with db.transaction():
                raise KeyError("swallowed")
        except KeyError:
            pass
    assert ids(db) == []
    assert db.stats().in_use == 0


def test_exhausted_pool_raises_pool_timeout_in_bounded_time(make_db: Any, dialect: str) -> None:
    db = make_db(dialect, pool_size=1, max_overflow=0, pool_timeout=0.5)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with db.acquire():
            held.set()
            release.wait(10)

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    start = time.monotonic()
    try:
        with pytest.raises(PoolTimeout) as info:
            run_threads(1, lambda _: db.acquire().__enter__())
    finally:
        release.set()
        t.join()
    assert 0.4 < time.monotonic() - start < 3
    assert "pool_size=1" in str(info.value)
    assert db.stats().timeouts == 1
    with db.acquire():  # the pool recovers
        pass


def test_32_threads_x_200_acquires_on_a_pool_of_4(make_db: Any, dialect: str) -> None:
    db = make_db(dialect, pool_size=4, max_overflow=0)
    before = db.stats().acquired
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, db.stats().in_use)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()

    def work(_: int) -> int:
        for _ in range(200):
            with db.acquire() as conn:
                cur = conn.cursor()
                cur.execute("SELECT 1 AS one")
                assert cur.fetchone() == {"one": 1}
        return 200

    try:
        done = sum(run_threads(32, work))
    finally:
        stop.set()
        watcher.join()
    stats = db.stats()
    assert done == 6400
    assert 1 <= peak <= 4
    assert stats.acquired - before == 6400
    assert stats.in_use == 0 and stats.timeouts == 0 and stats.size <= 4
    assert stats.wait_ms_p95 >= stats.wait_ms_p50 >= 0


def test_connections_older_than_pool_recycle_are_replaced(make_db: Any, dialect: str) -> None:
    db = make_db(dialect, pool_size=1, max_overflow=0, pool_recycle=0.3)
    with db.acquire() as conn:
        first = backend_id(db, conn)
    with db.acquire() as conn:
        assert backend_id(db, conn) == first  # young: kept
    time.sleep(0.5)
    with db.acquire() as conn:
        assert backend_id(db, conn) != first


@pytest.mark.parametrize("server", SERVERS)
def test_a_backend_killed_while_idle_is_replaced_unseen(make_db: Any, server: str) -> None:
    db = make_db(server, pool_size=1, max_overflow=0, ping_interval=0.05)
    with db.acquire() as conn:
        victim = backend_id(db, conn)
    admin = _admin(server)
    with admin.cursor() as cur:
        if server == "postgresql":
            cur.execute("SELECT pg_terminate_backend(%s)", (victim,))
        else:
            cur.execute(f"KILL {int(victim)}")
    admin.close()
    time.sleep(0.2)  # idle past ping_interval: the next checkout pings first
    with db.acquire() as conn:
        assert backend_id(db, conn) != victim
    assert db.health()["status"] == "healthy"


@pytest.mark.parametrize("server", SERVERS)
def test_unreachable_server_is_database_unavailable_without_password(server: str) -> None:
    require_server(server)
    url = f"{server}://someone:s3cr3t-pw@127.0.0.1:1/nowhere"
    db = agentdb.connect(url, connect_timeout=2)  # lazy: connect() never waits for a server
    try:
        for use in (lambda: db.acquire().__enter__(), lambda: agentdb.connect(url, wait=1)):
            start = time.monotonic()
            with pytest.raises(DatabaseUnavailable) as info:
                use()
            assert time.monotonic() - start < 2.5
            text = str(info.value) + repr(info.value)
            assert "127.0.0.1:1" in text and "refused" in text  # where, and the driver's reason
            assert "s3cr3t-pw" not in text
        assert db.stats().in_use == 0 and db.stats().waiting == 0
        assert db.health()["status"] == "unhealthy"
    finally:
        db.close()


def test_sqlite_in_a_missing_directory_is_database_unavailable(tmp_path: Any) -> None:
    db = agentdb.connect(f"sqlite:///{tmp_path}/missing/x.db")
    with pytest.raises(DatabaseUnavailable, match="does not exist"):
        db.wait()
    (tmp_path / "missing").mkdir()  # the same Database works once the directory is there
    db.wait()
    db.close()


def test_sqlite_connection_settings(make_db: Any) -> None:
    db = make_db("sqlite")
    with db.connection() as conn:
        pragmas = {
            name: conn.execute(f"PRAGMA {name}").fetchone()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas["journal_mode"] == {"journal_mode": "wal"}
    assert pragmas["synchronous"] == {"synchronous": 1}  # NORMAL
    assert pragmas["foreign_keys"] == {"foreign_keys": 1}
    assert pragmas["busy_timeout"]["timeout"] > 0


def test_16_sqlite_writers_never_see_database_is_locked(make_db: Any) -> None:
    db = make_db("sqlite", pool_size=4, max_overflow=12)
    execute(db, "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, writer INT, n INT)")
    deadline = time.monotonic() + 3

    def writer(i: int) -> int:
        n = 0
        while time.monotonic() < deadline:
            with db.transaction() as conn:  # read, then write: the upgrade that deadlocks
                conn.execute("SELECT COUNT(*) FROM log WHERE writer = ?", (i,)).fetchone()
                conn.execute("INSERT INTO log (writer, n) VALUES (?, ?)", (i, n))
            n += 1
            if n % 3 == 0:  # and bare single-statement writes beside them
                execute(db, "INSERT INTO log (writer, n) VALUES (?, ?)", i, -n)
        return n

    try:
        written = run_threads(16, writer)
    except sqlite3.OperationalError as exc:  # pragma: no cover - the failure being tested
        pytest.fail(f"lock error under contention: {exc}")
    expected = sum(n + n // 3 for n in written)
    total = execute(db, "SELECT COUNT(*) AS c FROM log")[0]["c"]
    assert total == expected and min(written) > 0


def test_sqlite_writer_lock_is_not_held_while_waiting_for_a_connection(make_db: Any) -> None:
    """The writer lock covers the statement, not the checkout around it: a bare write that
    waits for a connection leaves the lock free for writers that already have one."""
    db = make_db("sqlite", pool_size=1, max_overflow=0)
    make_table(db)
    lock = db._write_lock
    assert lock is not None
    wrote: list[int] = []
    with db.acquire(readonly=True):  # holds the only connection
        t = threading.Thread(target=lambda: wrote.append(insert_bare(db, 1)))
        t.start()
        time.sleep(0.3)  # the writer is now queued for a connection
        assert t.is_alive() and not lock.locked()
    t.join(5)
    assert wrote and ids(db) == [1] and not lock.locked()


def insert_bare(db: Database, i: int) -> int:
    with db.connection(write=True) as conn:
        insert(conn, db, i)
    return i


def test_read_only_unit_on_sqlite_does_not_wait_for_writers(make_db: Any) -> None:
    db = make_db("sqlite")
    make_table(db)
    with db.transaction() as writing:
        insert(writing, db, 1)
        got: list[list[int]] = []

        def reader() -> None:
            with db.acquire(readonly=True) as conn:
                got.append([r["id"] for r in conn.execute("SELECT id FROM items")])

        t = threading.Thread(target=reader)
        t.start()
        t.join(5)
        assert got == [[]]  # finished while the writer still held its transaction
        with db.transaction(readonly=True) as nested:  # reading inside a writing unit is fine
            assert nested is writing
    assert ids(db) == [1]


def test_writing_inside_a_read_only_unit_is_refused(make_db: Any, dialect: str) -> None:
    db = make_db(dialect)
    with db.acquire(readonly=True), pytest.raises(TransactionError, match="read-only"):
        db.connection(write=True)
    with (
        db.acquire(readonly=True),
        pytest.raises(TransactionError, match="read-only"),
        db.transaction(),
    ):
        pass


def test_forked_child_opens_its_own_connections(make_db: Any, dialect: str) -> None:
    db = make_db(dialect, pool_size=1, max_overflow=0)
    with db.acquire() as conn:
        parent = backend_id(db, conn)
        parent_key = parent if dialect != "sqlite" else id(parent)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: use the inherited Database
        code = 1
        try:
            with db.acquire() as conn:
                child = backend_id(db, conn)
                key = child if dialect != "sqlite" else id(child)
                os.write(write, str(key).encode())
                code = 0 if key != parent_key else 2
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    reported = os.read(read, 100).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0, reported
    with db.acquire() as conn:  # the parent's connection survived the child
        assert backend_id(db, conn) == parent


def test_health_and_stats(make_db: Any, dialect: str) -> None:
    db = make_db(dialect)
    health = db.health()
    assert health["status"] == "healthy" and health["error"] is None
    assert health["latency_ms"] >= 0
    stats = db.stats().to_dict()
    assert stats["dialect"] == dialect and stats["pool_size"] == 5 and stats["max_size"] == 15
    assert set(stats) >= {"size", "in_use", "idle", "waiting", "acquired", "timeouts", "errors",
                          "wait_ms_p50", "wait_ms_p95"}
    db.close()
    assert db.health()["status"] == "unhealthy"


def test_pool_manager_hands_out_one_pool_per_name(tmp_path: Any) -> None:
    with PoolManager(pool_size=2) as manager:
        a = manager.get(str(tmp_path / "workflow.db"))
        assert manager.get(str(tmp_path / "workflow.db")) is a
        b = manager.get(f"sqlite:///{tmp_path}/jobs.db")
        assert b is not a and b.config.pool_size == 2 and len(manager) == 2
    assert len(manager) == 0
    with pytest.raises(agentdb.AgentDBError, match="closed"), a.acquire():
        pass


def test_waiters_are_served_in_turn_so_none_starves(make_db: Any, dialect: str) -> None:
    # 32 threads hammer one connection for 2.5 s with a 1.5 s pool_timeout: a pool that lets a
    # returning thread take its connection straight back starves some waiter into PoolTimeout.
    db = make_db(dialect, pool_size=1, max_overflow=0, pool_timeout=1.5)
    deadline = time.monotonic() + 2.5

    def hammer(_: int) -> int:
        n = 0
        while time.monotonic() < deadline:
            with db.acquire() as conn:
                conn.cursor().execute("SELECT 1")
            n += 1
        return n

    served = run_threads(32, hammer)
    assert db.stats().timeouts == 0
    assert min(served) > 0


def test_mysql_deadlines_are_kept_by_the_kernel(make_db: Any) -> None:
    """statement_timeout bounds each send and receive through SO_RCVTIMEO/SO_SNDTIMEO on a
    blocking socket (no poll() before each one); a shorter deadline for a ping or a probe is
    set there too, and put back. test_outage proves a frozen server still fails in time."""
    import socket
    import struct

    def deadlines(conn: Any) -> tuple[float, float]:
        sock = conn._sock
        assert sock.gettimeout() is None
        out = []
        for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            sec, usec = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, option, 16))
            out.append(sec + usec / 1e6)
        return out[0], out[1]

    db = make_db("mysql", statement_timeout=7.5)
    with db.acquire() as conn:
        near = pytest.approx  # the kernel keeps the value in scheduler ticks
        assert deadlines(conn) == (near(7.5, abs=0.02), near(7.5, abs=0.02))
        db.backend.set_read_timeout(conn, 2.25)
        assert deadlines(conn) == (near(2.25, abs=0.02), near(2.25, abs=0.02))
        db.backend.set_read_timeout(conn, None)
        assert deadlines(conn) == (near(7.5, abs=0.02), near(7.5, abs=0.02))
        cur = conn.cursor()
        cur.execute("SELECT 1 AS one")
        assert cur.fetchone() == {"one": 1}
        # PyMySQL set no timeout of its own
        assert deadlines(conn) == (near(7.5, abs=0.02), near(7.5, abs=0.02))
