"""MySQL/MariaDB through DBUtils ``PooledDB`` with PyMySQL.

PooledDB keeps, caches and recreates connections; it lacks a wait timeout, an age limit and
stats, so those sit in front of it: a semaphore bounds checkouts with ``pool_timeout``, and the
ping hook PooledDB documents (a callable given the raw connection) applies our rules — refuse a
connection past ``pool_recycle`` and ping only one idle past ``ping_interval`` — so PooledDB
itself reopens what fails them. ``reset=False``: connections are autocommit and every
transaction we open we also end, so PooledDB need not send a ROLLBACK on each return.

Outages: nothing is opened at start (a server that is down is picked up when it answers);
``read_timeout``/``write_timeout`` are ``statement_timeout`` (kept by the kernel: SO_RCVTIMEO /
SO_SNDTIMEO, see ``MySQLConnection.deadline``), so a frozen server fails a call;
the ping hook also polls the idle socket (~1 µs), so a connection the server closed (restart,
KILL, a packet too large) is replaced at checkout, before any statement is sent; and a driver
error that may leave a connection unusable (client errors 2000+, packet too large, protocol
errors) discards it instead of pooling it.

We run statements on the raw PyMySQL connection, not through PooledDB's "steady" cursor: that
cursor transparently reconnects and *re-runs* a statement that failed on a lost connection,
and a statement that may already have run must never be retried.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import threading
import weakref
from datetime import datetime
from time import monotonic
from typing import Any

import pymysql
import pymysql.constants.CLIENT
import pymysql.converters
import pymysql.cursors
from dbutils.pooled_db import PooledDB
from pymysql.constants import FIELD_TYPE

from ..errors import DatabaseUnavailable
from .base import Backend, Counts, Slots, causes, watch

# Server errors after which the session is gone or out of step: shutdown, packet too large,
# killed, and the idle/wait timeout goodbye (4031). Client errors (2000+) are all of that kind.
_BREAKING_CODES = frozenset({1053, 1153, 1927, 4031})
_RETRY_CODES = frozenset({1213, 1205})  # deadlock, lock wait timeout
# What a receive past its kernel deadline (SO_RCVTIMEO) reports: EAGAIN, in PyMySQL's message.
_TIMED_OUT = os.strerror(errno.EAGAIN)


class LazyBeginTupleCursor(pymysql.cursors.Cursor):  # type: ignore[misc]
    """Tuple rows (what agentdb's queries fetch: PyMySQL's cheapest cursor), and the unit of
    work's BEGIN sent just before its first statement."""

    def execute(self, query: Any, args: Any = None) -> int:
        conn = self.connection
        if conn.begin_pending:
            conn.begin_pending = False
            conn.begin()
        return super().execute(query, args)  # type: ignore[no-any-return]


class LazyBeginCursor(pymysql.cursors.DictCursorMixin, LazyBeginTupleCursor):  # type: ignore[misc]
    """Dict rows (the connection's default, for users of ``db.acquire()``), lazy BEGIN."""


def _datetime(text: Any) -> Any:
    """DATETIME/TIMESTAMP text as a naive datetime: ``datetime.fromisoformat`` in C, about 5x
    cheaper than PyMySQL's regex parser, which stays the fallback for what it cannot read
    (zero dates, which PyMySQL returns as text)."""
    try:
        return datetime.fromisoformat(text if type(text) is str else text.decode("ascii"))
    except ValueError:
        return pymysql.converters.convert_datetime(text)


_CONVERSIONS = dict(pymysql.converters.conversions)
_CONVERSIONS[FIELD_TYPE.DATETIME] = _datetime
_CONVERSIONS[FIELD_TYPE.TIMESTAMP] = _datetime


class _DeadlineIO(socket.SocketIO):
    """The socket reader under PyMySQL's buffered ``_rfile``. Past the kernel deadline
    (SO_RCVTIMEO, see :meth:`MySQLConnection.deadline`) a receive fails with EAGAIN, which
    ``socket.SocketIO`` reports as None, "no data yet", and PyMySQL would then fail on
    ``len(None)``. Raised as an OSError instead, PyMySQL closes the connection and reports
    2013 "Lost connection" naming the timeout. Checked once per receive (a buffer refill),
    not once per packet field as a ``_read_bytes`` override would be (~8 µs a get, measured)."""

    def readinto(self, b: Any) -> int | None:
        got = super().readinto(b)
        if got is None:
            raise OSError(errno.EAGAIN, f"{_TIMED_OUT}: no reply within the timeout")
        return got


class MySQLConnection(pymysql.connections.Connection):  # type: ignore[misc]
    """A PyMySQL connection that knows its age, its last use, and the process that opened it."""

    born: float = 0.0
    last_used: float = 0.0
    pid: int = 0
    begin_pending = False  # a unit of work started and has not run a statement yet
    pooled: Any = None  # PooledDB's proxy while checked out: dropping it returns the connection
    poller: Any = None  # poll object on the socket: see base.watch

    def connect(self, sock: Any = None) -> None:
        super().connect(sock)
        self.born = self.last_used = monotonic()
        self.pid = os.getpid()
        self.poller = watch(self._sock.fileno())
        raw = self._rfile.raw
        if type(raw) is socket.SocketIO:  # what makefile("rb") builds: see _DeadlineIO
            raw.__class__ = _DeadlineIO
        self.deadline(self._read_timeout)

    def deadline(self, seconds: float | None) -> None:
        """Bound each send and receive on the socket to ``seconds``, in the kernel
        (SO_RCVTIMEO/SO_SNDTIMEO on a blocking socket): the same per-call deadline as PyMySQL's
        ``read_timeout``/``write_timeout``, without the poll() CPython makes before every send
        and every receive on a socket with a Python timeout (two system calls a statement,
        strace). PyMySQL then sees no timeout of its own and never calls settimeout."""
        sock = self._sock
        if sock is None:
            return
        whole = int(seconds or 0)
        value = struct.pack("ll", whole, int(((seconds or 0) - whole) * 1_000_000))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        sock.settimeout(None)
        self._read_timeout = self._write_timeout = self._current_timeout = None

    def close(self) -> None:
        if self.pid != os.getpid():
            # A child after fork shares the parent's socket: close our copy silently, never
            # send COM_QUIT, which would end the parent's session.
            self._closed = True
            self._force_close()
            return
        super().close()


class _Creator:
    """What PooledDB calls to open a connection; names PyMySQL as the DB-API module."""

    dbapi = pymysql
    threadsafety = pymysql.threadsafety

    def __init__(self, backend: MySQLBackend) -> None:
        self.connect = backend._connect


class MySQLBackend(Backend):
    dialect = "mysql"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        c = self.config
        kwargs: dict[str, Any] = {
            "host": c.host or "localhost",
            "port": c.port,
            "user": c.username,
            "password": c.password or "",
            "database": c.database,
            "charset": "utf8mb4",
            "connect_timeout": c.connect_timeout,
            "read_timeout": c.statement_timeout,
            "write_timeout": c.statement_timeout,
            "autocommit": True,
            "cursorclass": LazyBeginCursor,
            "conv": _CONVERSIONS,
            # rowcount = rows matched, not rows changed: what PostgreSQL and SQLite report
            "client_flag": pymysql.constants.CLIENT.FOUND_ROWS,
            # PostgreSQL's default isolation: a locking read then MAX()+1 sees the latest rows,
            # and InnoDB takes no gap locks that make unrelated writers deadlock. Sent once
            # per connect; pass init_command yourself to choose otherwise.
            "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        }
        if c.tls_enabled == "disable":
            kwargs["ssl_disabled"] = True  # PyMySQL otherwise builds a TLS context per connect
        elif c.tls_enabled == "require":
            kwargs["ssl_verify_cert"] = False  # any ssl_* option makes PyMySQL require TLS
        kwargs.update(c.driver_args)
        self._slots = Slots(c)  # PooledDB's own blocking wait has no timeout
        self.down: DatabaseUnavailable | None = None  # why the last connection attempt failed
        self._local = threading.local()
        self._conns: weakref.WeakSet[MySQLConnection] = weakref.WeakSet()
        self.pool = PooledDB(
            creator=_Creator(self),
            mincached=0,
            maxcached=c.pool_size,
            maxconnections=c.max_size,
            blocking=True,  # never waits: Slots admits at most max_size callers
            reset=False,
            ping=(1, self._alive),
            **kwargs,
        )
        # Lazy start: nothing is opened here; the first checkout opens (or fails) in its turn.

    def _connect(self, **kwargs: Any) -> MySQLConnection:
        if getattr(self._local, "skip_connect", False):
            self._local.skip_connect = False
            assert self.down is not None
            raise self.down
        try:
            conn = MySQLConnection(**kwargs)
        except pymysql.err.OperationalError as exc:
            self._slots.failed()
            self.down = self.unavailable(exc)
            raise self.down from exc
        self.down = None
        self._conns.add(conn)
        return conn

    def _alive(self, conn: MySQLConnection) -> bool:
        """PooledDB's ping hook: False makes it replace the connection."""
        now = monotonic()
        if not conn.open or conn.poller.poll(0):  # closed, or the server said goodbye
            return False
        recycle = self.config.pool_recycle
        if recycle is not None and now - conn.born > recycle:
            return False
        if self.config.pre_ping and now - conn.last_used > self.config.ping_interval:
            conn.deadline(self.config.connect_timeout)  # a frozen server: bounded
            try:
                conn.ping(reconnect=False)
            except pymysql.err.Error as exc:
                if _TIMED_OUT in str(exc):  # frozen: PooledDB's reconnect would hang as long
                    self.down = self.unavailable(exc)
                    self._local.skip_connect = True
                return False
            finally:
                conn.deadline(self.config.statement_timeout)
        return True

    def getconn(self, timeout: float | None = None) -> MySQLConnection:
        self._slots.take(timeout)
        try:
            pooled = self.pool.connection(shareable=False)
        except BaseException:
            self._slots.give()
            raise
        # PooledDB's proxy -> steady connection -> PyMySQL connection; the public
        # `dbapi_connection` goes through a __getattr__ fallback that costs 0.7 µs a checkout.
        raw: MySQLConnection = pooled._con._con
        raw.pooled = pooled
        if not raw.open:  # PooledDB could not reopen it: the server is gone
            self.putconn(raw, broken=True)
            raise self.down or self.unavailable(ConnectionError("connection lost"))
        return raw

    def putconn(self, conn: MySQLConnection, broken: bool = False) -> None:
        conn.last_used = monotonic()
        pooled, conn.pooled = conn.pooled, None
        if (broken or not self.config.pooling) and conn.open:  # pooling=False keeps none open
            conn._force_close()  # the ping hook then sees it closed and PooledDB reopens it
        try:
            pooled.close()
        finally:
            self._slots.give()

    def is_closed(self, conn: MySQLConnection) -> bool:
        return not conn.open

    def broken(self, conn: MySQLConnection, exc: BaseException | None) -> bool:
        if not conn.open:
            return True
        for e in causes(exc):
            if isinstance(e, pymysql.err.Error):
                code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
                if code < 1000 or code >= 2000 or code in _BREAKING_CODES:
                    return True
            elif not isinstance(e, Exception):  # interrupted mid-read: out of step
                return True
        return False

    def retryable(self, exc: BaseException) -> bool:
        return any(
            isinstance(e, pymysql.err.Error) and e.args and e.args[0] in _RETRY_CODES
            for e in causes(exc)
        )

    def set_read_timeout(self, conn: MySQLConnection, seconds: float | None) -> None:
        conn.deadline(self.config.statement_timeout if seconds is None else seconds)

    def start(self, conn: MySQLConnection, readonly: bool) -> None:
        conn.begin_pending = True

    def finish(self, conn: MySQLConnection, commit: bool) -> None:
        began, conn.begin_pending = not conn.begin_pending, False
        if began:
            conn.commit() if commit else conn.rollback()

    def counts(self) -> Counts:
        return self._slots.counts(size=sum(1 for conn in list(self._conns) if conn.open))

    def close(self) -> None:
        self.pool.close()

    def abandon(self) -> None:
        pass  # MySQLConnection.close() in the child never touches the parent's session
