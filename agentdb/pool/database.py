"""``Database``: one pool, one way to get a connection, whatever the backend.

Units of work belong to the current context (a ``contextvars.ContextVar``, not a
``threading.local``): in plain threads that is one unit per thread, as before, and an asyncio
task's unit follows each of its statements into whichever executor thread runs it (see
:mod:`agentdb.aio`). A nested ``acquire()``/``transaction()`` in the same context reuses the
outer connection, so one unit can span several repositories, and a failure anywhere
in it rolls all of it back. Statements outside a unit run bare, in autocommit: one round trip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import random
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from threading import Lock
from time import monotonic, perf_counter
from types import TracebackType
from typing import Any, TypeVar, cast

from ..config import Config, parse_config
from ..errors import (
    AgentDBError,
    CommitUnknown,
    DatabaseUnavailable,
    PoolTimeout,
    TransactionError,
    ValidationError,
)
from .base import Backend, HealthReport, PoolStats
from .replicas import Router, direct_config

T = TypeVar("T")
# hook(tag, sql, duration_ms, rowcount, error): see Database.add_hook
QueryHook = Callable[[str, str, float, int, BaseException | None], object]


def _sqlite_write_lock(config: Config) -> Lock:
    from .sqlite import write_lock

    return write_lock(str(config.path))


def _backend_class(dialect: str) -> type[Backend]:
    if dialect == "postgresql":
        from .postgres import PostgresBackend

        return PostgresBackend
    if dialect == "mysql":
        from .mysql import MySQLBackend

        return MySQLBackend
    from .sqlite import SQLiteBackend

    return SQLiteBackend


class Database:
    """A pool of connections to one database, and the units of work run on it."""

    def __init__(self, config: Config) -> None:
        if config.memory and config.path == ":memory:":
            # One named shared-cache in-memory database per Database: every pooled connection
            # opens this URI and sees the same data; the backend keeps it alive while open.
            name = f"file:agentdb-memory-{uuid.uuid4().hex}?mode=memory&cache=shared"
            config = dataclasses.replace(config, path=name)
        self.config = config
        self.dialect = config.dialect
        self._backend: Backend | None = _backend_class(config.dialect)(config)
        self._unit: ContextVar[_Unit | None] = _unit_var()
        self._waits: deque[float] = deque(maxlen=1024)  # sampled checkout waits, seconds
        self._tick = itertools.count(1)  # checkouts; every WAIT_SAMPLE-th one is timed
        # SQLite: the per-file lock this process's writers queue on (see pool/sqlite.py)
        self._write_lock = _sqlite_write_lock(config) if config.dialect == "sqlite" else None
        # Shared cache locks tables, not the file, and answers a conflict at once (SQLITE_LOCKED,
        # no busy wait): in memory, reads queue on the writer lock too.
        self._lock_reads = config.memory
        self._closed = False
        self._replicas: Router | None = Router(self) if config.replicas else None
        # Observers of every statement (see add_hook); ``watch`` is the one flag a statement
        # reads when no hook is set and slow_query_ms is off, so not watching costs a test.
        self.hooks: tuple[QueryHook, ...] = ()
        self.watch = config.slow_query_ms is not None
        _LIVE.add(self)

    # -- seeing what runs ------------------------------------------------------------------------

    def add_hook(self, hook: QueryHook) -> None:
        """Call ``hook(tag, sql, duration_ms, rowcount, error)`` after every statement on this
        database (``tag`` like ``"jobs.get_job"``, ``error`` None or the exception raised),
        for metrics and tracing. Parameters are never passed. A hook that raises is logged
        and otherwise ignored: it cannot fail the statement."""
        if not callable(hook):
            raise ValidationError("hook", "must be callable")
        self.hooks = (*self.hooks, hook)
        self.watch = True

    def remove_hook(self, hook: QueryHook) -> None:
        """Stop calling ``hook`` (a hook never added is ignored)."""
        self.hooks = tuple(h for h in self.hooks if h != hook)
        self.watch = bool(self.hooks) or self.config.slow_query_ms is not None

    # -- units of work -------------------------------------------------------------------------

    def acquire(self, readonly: bool = False) -> _Unit:
        """A connection inside a unit of work: COMMIT on a clean exit, ROLLBACK on an exception,
        and back to the pool either way. BEGIN goes out with the first statement. Nested in the
        same thread it yields the outer unit's connection. ``readonly=True`` matters on SQLite,
        where a unit that will not write does not queue behind writers, and with replicas,
        where such a unit runs on one (pool/replicas.py).
        """
        if self._replicas is not None:
            stand_in = self._replicas.route() if readonly else self._replicas.writer
            return _Unit(cast(Database, stand_in), readonly)
        return _Unit(self, readonly)

    def transaction(self, readonly: bool = False, *, savepoint: bool = False) -> _Unit | _Savepoint:
        """A unit of work, as :meth:`acquire`. With ``savepoint=True`` inside a unit, the block
        is a savepoint: an exception out of it rolls back only the block (then propagates), and
        the outer unit goes on; the outer unit's own rollback still undoes all of it. Outside a
        unit, ``savepoint=True`` is an ordinary unit of work."""
        if savepoint and self._unit.get() is not None:
            return _Savepoint(self)
        return self.acquire(readonly)

    def run_in_transaction(
        self,
        fn: Callable[[Any], T],
        *,
        retries: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
    ) -> T:
        """Run ``fn(conn)`` in one unit of work, and run the whole unit again (up to
        ``retries`` times, after ``backoff * 2**n`` seconds with ±50 % jitter) when the server
        rolled it back for a deadlock (PostgreSQL 40P01, MySQL 1213), a serialization failure
        (40001), a lock wait timeout (MySQL 1205, SQLite busy), or when the connection was lost
        before COMMIT was sent. Never after ``CommitUnknown``: a COMMIT that may have arrived is
        the caller's to check. ``fn`` must be safe to run again (no side effects outside the
        database). Inside an outer unit it just runs: the outer unit owns the retry.
        """
        unit = self._unit.get()
        if unit is not None:
            return fn(unit.conn)
        attempt = 0
        while True:
            try:
                with self.transaction() as conn:
                    return fn(conn)
            except CommitUnknown:
                raise
            except (DatabaseUnavailable, AgentDBError) as exc:
                retry = isinstance(exc, DatabaseUnavailable) or self.backend.retryable(exc)
                if not retry or attempt >= retries:
                    raise
            except Exception as exc:  # a raw driver error from fn's own statements
                if not self.backend.retryable(exc) or attempt >= retries:
                    raise
            delay = min(max_backoff, backoff * 2**attempt) * random.uniform(0.5, 1.5)
            attempt += 1
            time.sleep(delay)

    def connection(self, write: bool = False) -> _Unit | _Borrow:
        """A connection for statements that need no unit of their own: the current unit's if
        this thread is in one, else an autocommit checkout (a lone statement = one round trip).
        On SQLite a write runs in its own short write transaction, so it queues like the rest.
        """
        unit = self._unit.get()
        if write and unit is not None and unit.readonly:
            raise TransactionError("cannot write inside a read-only unit of work")
        if unit is None and self._replicas is not None:  # reads to a replica, writes tracked
            stand_in = self._replicas.lone_writer if write else self._replicas.route()
            return _Borrow(cast(Database, stand_in), None)
        if unit is None and self._write_lock is not None and (write or self._lock_reads):
            # One SQLite statement in autocommit takes its write lock before it reads, and the
            # busy handler retries it whole: as safe as BEGIN IMMEDIATE, without two statements.
            return _Borrow(self, None, self._write_lock, True)
        return _Borrow(self, unit, None, write)

    @property
    def in_transaction(self) -> bool:
        return self._unit.get() is not None

    # -- pool ----------------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        backend = self._backend
        if backend is None:
            if self._closed:
                raise AgentDBError(f"database {self.config.target} is closed")
            backend = self._backend = _backend_class(self.dialect)(self.config)
        return backend

    def _checkout(self) -> Any:
        backend = self._backend or self.backend
        if next(self._tick) & _UNTIMED:  # most checkouts: no clock, no append
            return backend.getconn()
        start = perf_counter()
        conn = backend.getconn()
        self._waits.append(perf_counter() - start)
        return conn

    def stats(self) -> PoolStats:
        """This pool's figures; with replicas, also each replica pool's (``replicas``, each
        labelled ``replica="host:port"``) and where reads went (``routing``)."""
        c = self.backend.counts()
        waits = sorted(self._waits)
        extra: dict[str, Any] = {}
        if self._replicas is not None:
            extra = {"replicas": self._replicas.stats(), "routing": self._replicas.counters()}
        return PoolStats(
            dialect=self.dialect,
            pool_size=self.config.pool_size,
            max_size=self.config.max_size,
            size=c.size,
            in_use=c.in_use,
            idle=max(c.size - c.in_use, 0),
            waiting=c.waiting,
            acquired=c.acquired,
            timeouts=c.timeouts,
            errors=c.errors,
            wait_ms_p50=_percentile(waits, 0.50) * 1000,
            wait_ms_p95=_percentile(waits, 0.95) * 1000,
            **extra,
        )

    def health(self) -> HealthReport:
        """``{"status": "healthy"|"unhealthy", "latency_ms": ..., "error": ...}`` from one
        ``SELECT 1``; never raises, never shows the password, and answers within
        ``connect_timeout`` (plus a little) even when the server is down, frozen or every
        connection is busy. With replicas, ``"replicas"`` lists each one's status (healthy /
        lagging / down), lag and error."""
        start = perf_counter()
        error: str | None = None
        try:
            if self.in_transaction:
                with self.connection() as conn:
                    cur = conn.cursor()
                    cur.execute("SELECT 1")
                    cur.fetchall()
            else:
                self._probe()
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            if self.config.password:
                error = error.replace(self.config.password, "***")
        report: HealthReport = {
            "status": "unhealthy" if error else "healthy",
            "latency_ms": round((perf_counter() - start) * 1000, 3),
            "error": error,
        }
        if self._replicas is not None:
            report["replicas"] = self._replicas.health()
        return report

    # -- scaling out (pool/replicas.py) --------------------------------------------------------

    def read_token(self) -> str | None:
        """This context's read-your-writes position (None: it wrote nothing yet), to carry
        into another context, e.g. the client's next HTTP request; see :meth:`reading_after`."""
        return self._replicas.token() if self._replicas is not None else None

    def reading_after(self, token: str | None) -> AbstractContextManager[None]:
        """Within the block, reads see at least what the token's writes left (a replica that
        has not replayed that far is passed over for the primary)."""
        if self._replicas is None:
            return nullcontext()
        return self._replicas.reading_after(token)

    @property
    def pgbouncer(self) -> bool:
        """Whether this pool reaches PostgreSQL through PgBouncer: as configured, else as
        detected by the first connection (opened here if none was yet; PgBouncer refuses the
        `options` startup parameter a direct server is sent)."""
        if self.config.pgbouncer is not None or self.dialect != "postgresql":
            return bool(self.config.pgbouncer)
        backend = self.backend
        if not getattr(backend, "connected", True):
            with contextlib.suppress(AgentDBError), _Borrow(self, None):
                pass
        return bool(getattr(backend, "pgbouncer", False))

    def direct_config(self, purpose: str = "this") -> Config:
        """Where session-level work (migrations, LISTEN, session advisory locks) connects:
        ``direct_url=`` if given, else this database unless it sits behind PgBouncer, where
        it raises ConfigError naming ``purpose``."""
        return direct_config(self.config, self.pgbouncer, purpose)

    def _probe(self) -> None:
        """``SELECT 1`` on a pooled connection, every wait bounded by ``connect_timeout``."""
        backend = self.backend
        limit = self.config.connect_timeout
        conn = backend.getconn(timeout=limit)
        broken = False
        try:
            backend.set_read_timeout(conn, limit)
            cur = conn.cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
        except BaseException as exc:
            broken = backend.broken(conn, exc)
            raise
        finally:
            if not broken:
                backend.set_read_timeout(conn, None)
            backend.putconn(conn, broken)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the database answers, for at most ``timeout`` seconds (default:
        ``connect_timeout``); raise DatabaseUnavailable with the last reason otherwise. The
        fail-fast start: ``connect()`` itself never waits for the server."""
        limit = self.config.connect_timeout if timeout is None else timeout
        deadline = monotonic() + limit
        while True:
            report = self.health()
            if report["status"] == "healthy":
                return
            if monotonic() >= deadline:
                raise DatabaseUnavailable(
                    f"{self.dialect} at {self.config.target} did not answer within "
                    f"{limit:g}s: {report['error']}"
                )
            time.sleep(min(0.1, max(deadline - monotonic(), 0)))

    def close(self) -> None:
        """Close every pooled connection; the Database cannot be used afterwards."""
        self._closed = True
        if self._replicas is not None:
            self._replicas.close()
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()
        _LIVE.discard(self)

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connections; open fresh ones on next use."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.abandon()
            _ORPHANS.append(backend)  # never closed here, never collected mid-run
        self._unit = _unit_var()
        if self.dialect == "sqlite":
            self._write_lock = _sqlite_write_lock(self.config)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        c = self.config
        return f"<Database {c.url()} pool_size={c.pool_size} max_overflow={c.max_overflow}>"


class _Unit:
    """One ``with db.acquire()`` block; a plain class, because this is the hot path."""

    __slots__ = ("conn", "db", "doomed", "outer", "readonly")
    conn: Any
    doomed: bool
    outer: _Unit | None

    def __init__(self, db: Database, readonly: bool) -> None:
        self.db = db
        self.readonly = readonly

    def __enter__(self) -> Any:
        db = self.db
        outer = db._unit.get()
        self.outer = outer
        if outer is not None:
            if outer.readonly and not self.readonly:
                raise TransactionError("cannot open a writing unit of work inside a read-only one")
            return outer.conn
        conn = self.open()
        db._unit.set(self)
        return conn

    def open(self) -> Any:
        """Check a connection out and start the unit on it (no context change: the async
        unit calls this from an executor thread and sets its task's context itself)."""
        db = self.db
        backend = db._backend or db.backend
        if next(db._tick) & _UNTIMED:  # db._checkout() inlined: this is the hot path
            conn = backend.getconn()
        else:
            start = perf_counter()
            conn = backend.getconn()
            db._waits.append(perf_counter() - start)
        try:
            backend.start(conn, self.readonly)
        except BaseException:
            backend.putconn(conn, broken=True)
            raise
        self.conn = conn
        self.doomed = False
        self.outer = None
        return conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.outer is not None:
            if exc_type is not None:
                self.outer.doomed = True  # the whole unit rolls back, even if the error is caught
            return
        self.db._unit.set(None)
        self.close(exc_type, exc)

    def close(self, exc_type: type[BaseException] | None,
              exc: BaseException | None = None) -> None:
        """Commit (or roll back, after an exception or a failed inner block) and give the
        connection back: broken ones are discarded."""
        db = self.db
        backend = db._backend
        assert backend is not None
        conn = self.conn
        commit = exc_type is None and not self.doomed
        broken = False
        try:
            if commit and backend.is_closed(conn):
                broken = True  # known dead before COMMIT was sent: nothing was committed
                raise DatabaseUnavailable(
                    f"lost the connection to {db.dialect} at {db.config.target} before COMMIT; "
                    "the unit of work was not committed"
                )
            backend.finish(conn, commit)
        except Exception as err:
            broken = broken or backend.broken(conn, err)
            if exc_type is None:  # do not hide the error that is already on its way out
                if isinstance(err, AgentDBError):
                    raise
                if commit and broken:
                    raise CommitUnknown(
                        f"lost the connection to {db.dialect} at {db.config.target} after "
                        f"COMMIT was sent: the unit of work may or may not be committed ({err})"
                    ) from err
                raise TransactionError(
                    f"could not {'commit' if commit else 'roll back'}: {err}"
                ) from err
        finally:
            broken = broken or (exc_type is not None and backend.broken(conn, exc))
            backend.putconn(conn, broken)
        if broken and exc is not None and not isinstance(exc, AgentDBError):
            raise _lost(db, exc) from exc  # a raw driver error from the caller's own statement
        if exc_type is None and self.doomed:
            raise TransactionError("an inner block of this unit of work failed; all of it was "
                                   "rolled back")


class _Savepoint:
    """``db.transaction(savepoint=True)`` inside a unit: SAVEPOINT, then RELEASE on success or
    ROLLBACK TO on an exception, which undoes the block (and forgives failures inside it)."""

    __slots__ = ("doomed", "name", "unit")

    def __init__(self, db: Database) -> None:
        unit = db._unit.get()
        assert unit is not None
        self.unit: _Unit = unit

    def __enter__(self) -> Any:
        unit = self.unit
        self.name = f"agentdb_sp{next(_SAVEPOINT_IDS)}"
        self.doomed = unit.doomed  # what the unit was before the block; restored on rollback
        unit.conn.cursor().execute(f"SAVEPOINT {self.name}")  # opens the lazy BEGIN first
        return unit.conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        unit = self.unit
        try:
            cur = unit.conn.cursor()
            if exc_type is None:
                cur.execute(f"RELEASE SAVEPOINT {self.name}")
                return
            cur.execute(f"ROLLBACK TO SAVEPOINT {self.name}")
            cur.execute(f"RELEASE SAVEPOINT {self.name}")
            unit.doomed = self.doomed  # the block's failures are undone with it
        except Exception as err:
            unit.doomed = True  # the savepoint could not be ended: the whole unit rolls back
            if exc_type is None:
                raise TransactionError(f"could not release savepoint: {err}") from err


_SAVEPOINT_IDS = itertools.count(1)


class _Borrow:
    """A connection for bare statements: the current unit's, or an autocommit checkout (for a
    SQLite write, taken under the file's writer lock)."""

    __slots__ = ("conn", "db", "lock", "unit", "write")
    conn: Any

    def __init__(
        self, db: Database, unit: _Unit | None, lock: Lock | None = None, write: bool = False
    ) -> None:
        self.db = db
        self.unit = unit
        self.lock = lock
        self.write = write

    def __enter__(self) -> Any:
        if self.unit is not None:
            return self.unit.conn
        self.conn = conn = self.db._checkout()
        lock = self.lock
        # SQLite: the writer lock is taken after the checkout and let go before the return, so
        # it covers the statement alone, not the Python around it.
        if lock is not None and not lock.acquire(timeout=self.db.config.pool_timeout):
            self.db._backend.putconn(conn)  # type: ignore[union-attr]
            c = self.db.config
            raise PoolTimeout(c.pool_timeout, c.pool_size, c.max_size, 0)
        return conn

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.unit is not None:
            if exc_type is not None:
                self.unit.doomed = True
            return
        if self.lock is not None:
            self.lock.release()
        backend = self.db._backend
        assert backend is not None
        broken = exc_type is not None and backend.broken(self.conn, exc)
        backend.putconn(self.conn, broken)
        if not broken or exc is None or isinstance(exc, CommitUnknown):
            return
        if self.write and isinstance(exc, Exception) and (
            isinstance(exc, DatabaseUnavailable) or not isinstance(exc, AgentDBError)
        ):
            # A lone write in autocommit is its own COMMIT, and it was sent.
            raise CommitUnknown(f"{_lost(self.db, exc)}; the write may or may not have been "
                                "applied") from exc
        if not isinstance(exc, AgentDBError):
            raise _lost(self.db, exc) from exc


WAIT_SAMPLE = 16  # stats() percentiles come from every 16th checkout: unbiased, 1/16 the cost
_UNTIMED = WAIT_SAMPLE - 1


def _lost(db: Database, exc: BaseException) -> DatabaseUnavailable:
    """A typed error for a driver error that cost the connection."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if db.config.password:
        reason = reason.replace(db.config.password, "***")
    return DatabaseUnavailable(f"lost the connection to {db.dialect} at {db.config.target}: "
                               f"{reason}")



def _unit_var() -> ContextVar[_Unit | None]:
    """One variable per Database (and a fresh one after fork): the unit of work open in the
    current context, if any."""
    return ContextVar("agentdb_unit", default=None)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def connect(url: str | None = None, *, wait: bool | float = False, **options: Any) -> Database:
    """Open a pool. With no URL: ``DATABASE_URL``, else the ``DB_*`` variables, else
    ``sqlite:///agentdb.db``. Options (``pool_size=10``, ...) override the URL's.

    Never waits for the server: a database that is down now is used as soon as it answers
    (only a bad URL or option fails here, with ConfigError). ``wait=True`` (or a number of
    seconds) fails fast instead: it blocks until the database answers, up to
    ``connect_timeout`` (or that many seconds), and raises DatabaseUnavailable otherwise."""
    db = Database(parse_config(url, **options))
    if wait is not False:
        try:
            db.wait(None if wait is True else float(wait))
        except BaseException:
            db.close()
            raise
    return db


_LIVE: weakref.WeakSet[Database] = weakref.WeakSet()
_ORPHANS: list[Backend] = []


def _reset_after_fork() -> None:
    """In a forked child, every lock agentdb holds is made anew (another thread of the parent
    may have held it at the fork), then every Database forgets the parent's connections."""
    import sys

    sqlite = sys.modules.get(__package__ + ".sqlite")
    if sqlite is not None:
        sqlite.reset_write_locks()
    manager = sys.modules.get(__package__ + ".manager")
    if manager is not None:
        manager.reset_locks()
    for db in list(_LIVE):
        db._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
