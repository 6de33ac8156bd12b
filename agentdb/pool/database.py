"""``Database``: one pool, one way to get a connection, whatever the backend.

Units of work are thread-bound: a nested ``acquire()``/``transaction()`` in the same thread
reuses the outer connection, so one unit can span several repositories, and a failure anywhere
in it rolls all of it back. Statements outside a unit run bare, in autocommit: one round trip.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import uuid
import weakref
from collections import deque
from threading import Lock
from time import perf_counter
from types import TracebackType
from typing import Any

from ..config import Config, parse_config
from ..errors import AgentDBError, PoolTimeout, TransactionError
from .base import Backend, HealthReport, PoolStats


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
        self._local = threading.local()
        self._waits: deque[float] = deque(maxlen=4096)  # recent checkout waits, seconds
        # SQLite: the per-file lock this process's writers queue on (see pool/sqlite.py)
        self._write_lock = _sqlite_write_lock(config) if config.dialect == "sqlite" else None
        # Shared cache locks tables, not the file, and answers a conflict at once (SQLITE_LOCKED,
        # no busy wait): in memory, reads queue on the writer lock too.
        self._lock_reads = config.memory
        self._closed = False
        _LIVE.add(self)

    # -- units of work -------------------------------------------------------------------------

    def acquire(self, readonly: bool = False) -> _Unit:
        """A connection inside a unit of work: COMMIT on a clean exit, ROLLBACK on an exception,
        and back to the pool either way. BEGIN goes out with the first statement. Nested in the
        same thread it yields the outer unit's connection. ``readonly=True`` matters on SQLite,
        where a unit that will not write does not queue behind writers.
        """
        return _Unit(self, readonly)

    def transaction(self, readonly: bool = False, *, savepoint: bool = False) -> _Unit | _Savepoint:
        """A unit of work, as :meth:`acquire`. With ``savepoint=True`` inside a unit, the block
        is a savepoint: an exception out of it rolls back only the block (then propagates), and
        the outer unit goes on; the outer unit's own rollback still undoes all of it. Outside a
        unit, ``savepoint=True`` is an ordinary unit of work."""
        if savepoint and getattr(self._local, "unit", None) is not None:
            return _Savepoint(self)
        return _Unit(self, readonly)

    def connection(self, write: bool = False) -> _Unit | _Borrow:
        """A connection for statements that need no unit of their own: the current unit's if
        this thread is in one, else an autocommit checkout (a lone statement = one round trip).
        On SQLite a write runs in its own short write transaction, so it queues like the rest.
        """
        unit: _Unit | None = getattr(self._local, "unit", None)
        if write and unit is not None and unit.readonly:
            raise TransactionError("cannot write inside a read-only unit of work")
        if unit is None and self._write_lock is not None and (write or self._lock_reads):
            # One SQLite statement in autocommit takes its write lock before it reads, and the
            # busy handler retries it whole: as safe as BEGIN IMMEDIATE, without two statements.
            return _Borrow(self, None, self._write_lock)
        return _Borrow(self, unit)

    @property
    def in_transaction(self) -> bool:
        return getattr(self._local, "unit", None) is not None

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
        start = perf_counter()
        conn = backend.getconn()
        self._waits.append(perf_counter() - start)
        return conn

    def stats(self) -> PoolStats:
        c = self.backend.counts()
        waits = sorted(self._waits)
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
        )

    def health(self) -> HealthReport:
        """``{"status": "healthy"|"unhealthy", "latency_ms": ..., "error": ...}`` from one
        ``SELECT 1``; never raises, never shows the password."""
        start = perf_counter()
        error: str | None = None
        try:
            with self.connection() as conn:
                cur = conn.cursor()
                cur.execute("SELECT 1")
                cur.fetchall()
        except Exception as exc:
            error = str(exc) or type(exc).__name__
            if self.config.password:
                error = error.replace(self.config.password, "***")
        return {
            "status": "unhealthy" if error else "healthy",
            "latency_ms": round((perf_counter() - start) * 1000, 3),
            "error": error,
        }

    def close(self) -> None:
        """Close every pooled connection; the Database cannot be used afterwards."""
        self._closed = True
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
        self._local = threading.local()

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
        outer: _Unit | None = getattr(db._local, "unit", None)
        self.outer = outer
        if outer is not None:
            if outer.readonly and not self.readonly:
                raise TransactionError("cannot open a writing unit of work inside a read-only one")
            return outer.conn
        backend = db._backend or db.backend
        start = perf_counter()  # db._checkout() inlined: this is the hot path
        conn = backend.getconn()
        db._waits.append(perf_counter() - start)
        try:
            backend.start(conn, self.readonly)
        except BaseException:
            backend.putconn(conn, broken=True)
            raise
        self.conn = conn
        self.doomed = False
        db._local.unit = self
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
        db = self.db
        db._local.unit = None
        backend = db._backend
        assert backend is not None
        commit = exc_type is None and not self.doomed
        broken = False
        try:
            backend.finish(self.conn, commit)
        except Exception as err:
            broken = backend.is_closed(self.conn)
            if exc_type is None:  # do not hide the error that is already on its way out
                if isinstance(err, AgentDBError):
                    raise
                raise TransactionError(
                    f"could not {'commit' if commit else 'roll back'}: {err}"
                ) from err
        finally:
            broken = broken or (exc_type is not None and backend.is_closed(self.conn))
            backend.putconn(self.conn, broken)
        if exc_type is None and self.doomed:
            raise TransactionError("an inner block of this unit of work failed; all of it was "
                                   "rolled back")


class _Savepoint:
    """``db.transaction(savepoint=True)`` inside a unit: SAVEPOINT, then RELEASE on success or
    ROLLBACK TO on an exception, which undoes the block (and forgives failures inside it)."""

    __slots__ = ("doomed", "name", "unit")

    def __init__(self, db: Database) -> None:
        self.unit: _Unit = db._local.unit

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

    __slots__ = ("conn", "db", "lock", "unit")
    conn: Any

    def __init__(self, db: Database, unit: _Unit | None, lock: Lock | None = None) -> None:
        self.db = db
        self.unit = unit
        self.lock = lock

    def __enter__(self) -> Any:
        if self.unit is not None:
            return self.unit.conn
        lock = self.lock
        if lock is not None:
            start = perf_counter()
            if not lock.acquire(timeout=self.db.config.pool_timeout):
                c = self.db.config
                raise PoolTimeout(perf_counter() - start, c.pool_size, c.max_size, 0)
        try:
            self.conn = self.db._checkout()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return self.conn

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
        backend = self.db._backend
        assert backend is not None
        try:
            broken = exc_type is not None and backend.is_closed(self.conn)
            backend.putconn(self.conn, broken)
        finally:
            if self.lock is not None:
                self.lock.release()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def connect(url: str | None = None, **options: Any) -> Database:
    """Open a pool. With no URL: ``DATABASE_URL``, else the ``DB_*`` variables, else
    ``sqlite:///agentdb.db``. Options (``pool_size=10``, ...) override the URL's."""
    return Database(parse_config(url, **options))


_LIVE: weakref.WeakSet[Database] = weakref.WeakSet()
_ORPHANS: list[Backend] = []


def _reset_after_fork() -> None:
    for db in list(_LIVE):
        db._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)
