"""SQLite: a small pool of sqlite3 connections to one file in WAL mode.

sqlite3 has no pool, so this is the one we own: a LIFO list of idle connections under a
condition variable, with the same size, overflow, timeout and age rules as the other two.
WAL lets readers run beside one writer. Writers cannot deadlock on a lock upgrade: every write
transaction starts with ``BEGIN IMMEDIATE``, and writers of this process queue on one lock per
file before they start, so the busy handler (``busy_timeout``) only ever waits on *other*
processes. A local file cannot drop an idle connection, so pre-ping has nothing to do.

``synchronous=NORMAL`` (the default) is safe against a crash of the process but may lose the
last transactions on power loss; ``durability="full"`` (``synchronous=FULL``) does not.
After ``fork()`` the writer locks are made anew in the child: a lock that another thread of
the parent held at the fork would otherwise stay locked there forever.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from time import monotonic
from typing import Any

from ..errors import DatabaseUnavailable, PoolTimeout
from .base import Backend, Counts, Slots, causes

_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(path: str) -> threading.Lock:
    """The one lock that in-process writers of this file queue on."""
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


def reset_write_locks() -> None:
    """In a forked child: fresh, unlocked locks (only this thread exists here, and the
    parent's writers, whose transactions these locks guarded, are not in this process).
    The parent's open transactions copied into the child still hold SQLite's own in-process
    lock state for their file; they are rolled back (here only) before the child's first use."""
    global _WRITE_LOCKS_GUARD
    _WRITE_LOCKS_GUARD = threading.Lock()
    for key in _WRITE_LOCKS:
        _WRITE_LOCKS[key] = threading.Lock()
    _FORKED_TRANSACTIONS[:] = [c for c in list(_OPEN) if _in_transaction(c)]


def _in_transaction(conn: sqlite3.Connection) -> bool:
    """Whether ``conn`` is inside a transaction; a closed one is not (and raises on asking:
    it may still be in _OPEN, kept alive by the reference cycle with its reused cursor)."""
    try:
        return conn.in_transaction
    except sqlite3.ProgrammingError:
        return False


def _release_forked_transactions(timeout: float) -> None:
    """Roll back, in this child only, the transactions copied from the parent at the fork.
    In a daemon thread with a deadline: a connection that another thread of the parent was
    inside of at the fork may never answer, and the caller must not hang on it."""
    pending, _FORKED_TRANSACTIONS[:] = list(_FORKED_TRANSACTIONS), []

    def rollback() -> None:
        for conn in pending:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()

    worker = threading.Thread(target=rollback, daemon=True, name="agentdb-fork-cleanup")
    worker.start()
    worker.join(timeout)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: value for d, value in zip(cursor.description, row, strict=True)}


class SQLiteConnection(sqlite3.Connection):
    """A sqlite3 connection that opens its unit of work's transaction on first use."""

    born: float = 0.0
    write_lock: threading.Lock
    lock_timeout: float = 30.0
    pending: bool = False  # a unit of work started and has not run a statement yet
    pending_readonly: bool = False
    holds_lock: bool = False
    agentdb_cursor: sqlite3.Cursor  # tuple rows, reused by every query (agentdb.queries)

    def fresh_cursor(self) -> None:
        """Close the reused cursor (which ends a statement left mid-rows, so it pins no read
        snapshot while the connection sits idle) and start a new one."""
        old = self.__dict__.get("agentdb_cursor")
        try:
            if old is not None:
                old.close()
            cur = sqlite3.Connection.cursor(self)  # no lazy BEGIN: made outside any unit
        except sqlite3.Error:  # a closed connection: it is discarded anyway
            return
        cur.row_factory = None  # plain tuples, built in C
        self.agentdb_cursor = cur

    def _begin(self) -> None:
        self.pending = False
        if not self.pending_readonly:
            start = monotonic()
            if not self.write_lock.acquire(timeout=self.lock_timeout):
                raise PoolTimeout(monotonic() - start, 1, 1, 0)  # one writer at a time
            self.holds_lock = True
        try:
            super().execute("BEGIN" if self.pending_readonly else "BEGIN IMMEDIATE")
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self.holds_lock:
            self.holds_lock = False
            self.write_lock.release()

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        if self.pending:
            self._begin()
        return super().cursor(*args, **kwargs)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        if self.pending:
            self._begin()
        return super().execute(*args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        if self.pending:
            self._begin()
        return super().executemany(*args, **kwargs)


class SQLiteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.path = str(config.path)
        self.memory = bool(config.memory)
        self.write_lock = write_lock(self.path)
        self._slots = Slots(config)
        # In memory, the database lives as long as one connection to it is open: this one.
        self._anchor = self._open() if self.memory else None
        # Create the file now, as sqlite3 would; a file that cannot be opened yet (its
        # directory missing) fails its first use instead, like a server that is down.
        with contextlib.suppress(DatabaseUnavailable):
            self.putconn(self.getconn())

    def _open(self) -> SQLiteConnection:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            conn = sqlite3.connect(
                self.path,
                uri=self.memory,
                timeout=self.config.busy_timeout / 1000,
                isolation_level=None,  # autocommit; we issue BEGIN ourselves
                check_same_thread=False,  # the pool hands connections between threads
                factory=SQLiteConnection,
            )
            conn.row_factory = _dict_row
            conn.execute(f"PRAGMA busy_timeout = {int(self.config.busy_timeout)}")
            conn.execute("PRAGMA journal_mode = WAL")
            sync = "FULL" if self.config.durability == "full" else "NORMAL"
            conn.execute(f"PRAGMA synchronous = {sync}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            exc = error
            self._slots.failed()
            if not os.path.isdir(directory):
                exc = sqlite3.OperationalError(f"directory {directory} does not exist")
            raise self.unavailable(exc) from exc
        conn.born = monotonic()
        conn.fresh_cursor()
        _OPEN.add(conn)
        conn.write_lock = self.write_lock
        conn.lock_timeout = self.config.pool_timeout
        return conn

    def getconn(self, timeout: float | None = None) -> SQLiteConnection:
        if _FORKED_TRANSACTIONS:  # first use in a forked child
            _release_forked_transactions(self.config.pool_timeout)
        conn: SQLiteConnection | None = self._slots.take(timeout)
        try:
            if conn is None:
                conn = self._open()
            elif self.config.pool_recycle is not None and (
                monotonic() - conn.born > self.config.pool_recycle
            ):
                conn.close()
                conn = self._open()
        except BaseException:
            self._slots.give()
            raise
        return conn

    def putconn(self, conn: SQLiteConnection, broken: bool = False) -> None:
        if not self._slots.give(None if broken or not self.config.pooling else conn):
            conn.close()

    def start(self, conn: SQLiteConnection, readonly: bool) -> None:
        # in memory (shared cache) a reader beside a writer fails at once: readers queue too
        conn.pending, conn.pending_readonly = True, readonly and not self.memory

    def finish(self, conn: SQLiteConnection, commit: bool) -> None:
        conn.pending = False
        try:
            if conn.in_transaction:
                try:
                    conn.execute("COMMIT" if commit else "ROLLBACK")
                except sqlite3.Error:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        finally:
            conn.release()

    def counts(self) -> Counts:
        return self._slots.counts()

    def retryable(self, exc: BaseException) -> bool:
        return any(
            getattr(e, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
            for e in causes(exc)
        )

    def close(self) -> None:
        with self._slots.lock:
            idle, self._slots.idle = self._slots.idle, []
        for conn in idle:
            conn.close()
        anchor, self._anchor = self._anchor, None
        if anchor is not None:
            anchor.close()  # the in-memory database goes with its last connection

    def abandon(self) -> None:
        # SQLite connections must not cross fork(); keep the parent's objects referenced (never
        # closed) in the child so their finalizers do not run against the parent's file locks.
        _ORPHANS.extend(self._slots.idle)
        self._slots.idle = []
        if self._anchor is not None:
            _ORPHANS.append(self._anchor)
            self._anchor = None


_ORPHANS: list[sqlite3.Connection] = []
_OPEN: weakref.WeakSet[SQLiteConnection] = weakref.WeakSet()  # every connection this process made
_FORKED_TRANSACTIONS: list[SQLiteConnection] = []
