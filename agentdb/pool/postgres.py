"""PostgreSQL through ``psycopg_pool.ConnectionPool``.

The pool keeps connections, hands them out, replaces them past ``max_lifetime``, opens them in
its worker threads and counts its own stats; we configure it and put a small gate in front:

- ``Slots`` admit at most ``max_size`` callers (FIFO, ``pool_timeout``), so the pool's own queue
  never waits for an exhausted pool, only for a connection being opened. A ``PoolTimeout`` is
  then always real exhaustion, and ``stats()`` never counts callers who have gone.
- A caller waiting for a connection being opened gives up with ``DatabaseUnavailable`` (and the
  driver's reason) as soon as an attempt fails, or after ``connect_timeout``: never after the
  whole ``pool_timeout``.
- ``reconnect_timeout=0``: a failed background attempt is retried once, then left to the next
  caller, who asks the pool to grow again at once. psycopg_pool's default backs off 1, 2, 4 ...
  seconds, which kept the pool failing for up to 28 s after the server came back.
- Checkout checks the idle connection itself, with a non-blocking poll of its socket (~1 µs):
  a server that closed it (restart, kill, failover) has sent FIN. The pool's ``check`` hook is
  not used: after a failed check it sleeps 1, 2, 4 ... seconds before trying the next one.
- ``Connection.wait`` gets a deadline (``statement_timeout``), so a frozen server fails a call.
"""

from __future__ import annotations

import logging
import weakref
from time import monotonic
from typing import Any, ClassVar

import psycopg
import psycopg_pool
from psycopg import errors as pe
from psycopg.connection import _WAIT_INTERVAL
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

from ..convert import pg_context
from ..errors import DatabaseUnavailable, TransactionError
from .base import Backend, Counts, Slots, causes, watch

# psycopg_pool logs each failed background attempt as a WARNING; without a handler Python
# prints those to stderr (CLI output, test logs). A NullHandler leaves them to the app's logging.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

_NEVER = 10 * 365 * 24 * 3600.0  # psycopg_pool wants a number for "no max lifetime"
_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})  # admin shutdown, crash, cannot connect
_RETRY_STATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
_BAD_STATUS = (TransactionStatus.ACTIVE, TransactionStatus.UNKNOWN)


class PGCursor(psycopg.Cursor[DictRow]):
    """Sends the unit of work's BEGIN just before its first statement."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> PGCursor:
        conn: PGConnection = self._conn  # type: ignore[assignment]
        if conn.begin_pending:
            conn.begin_pending = False
            super().execute("BEGIN")
        return super().execute(query, params, **kwargs)

    def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
        conn: PGConnection = self._conn  # type: ignore[assignment]
        if conn.begin_pending:
            conn.begin_pending = False
            super().execute("BEGIN")
        super().executemany(query, params_seq, **kwargs)

    def copy(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        conn: PGConnection = self._conn  # type: ignore[assignment]
        if conn.begin_pending:  # COPY inside a unit of work belongs to its transaction
            conn.begin_pending = False
            super().execute("BEGIN")
        return super().copy(statement, params, **kwargs)


_REFUSED_OPTIONS = "unsupported startup parameter: options"  # PgBouncer's words


class NoReply(psycopg.OperationalError):
    """The server did not answer within the deadline (frozen, or partitioned away)."""


class PGConnection(psycopg.Connection[DictRow]):
    """A psycopg connection that knows its age, its last use, its socket's poll object, and
    how long it may wait for a reply."""

    backend: ClassVar[weakref.ref[PostgresBackend] | None] = None  # set per backend subclass
    born: float = 0.0
    last_used: float = 0.0
    begin_pending = False  # a unit of work started and has not run a statement yet
    read_timeout: float | None = None
    poller: Any = None

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> PGConnection:
        """psycopg_pool opens connections here: remember how the last attempt went."""
        backend = cls.backend() if cls.backend is not None else None
        try:
            try:
                conn: PGConnection = super().connect(conninfo, **kwargs)
            except psycopg.OperationalError as exc:
                if not (backend is not None and backend.detect_pgbouncer
                        and _REFUSED_OPTIONS in str(exc)):
                    raise
                backend.use_pgbouncer()  # PgBouncer in front: connect again as it needs
                kwargs = {k: v for k, v in kwargs.items() if k != "options"}
                kwargs["prepare_threshold"] = None
                conn = super().connect(conninfo, **kwargs)
        except psycopg.Error as exc:
            if backend is not None:
                backend.failed(exc)
            raise
        if backend is not None:
            backend.down = None
            backend.connected = True
        return conn

    def wait(self, gen: Any, interval: float = _WAIT_INTERVAL, timeout: float | None = None) -> Any:
        """psycopg's wait for a reply, with a deadline: past it the connection is closed (it
        is mid-protocol) and the call fails like a lost connection."""
        if timeout is None:
            timeout = self.read_timeout
        try:
            return super().wait(gen, interval, timeout)
        except pe._WaitTimeout:
            self.close()
            raise NoReply(
                f"no reply from the server within {timeout:g}s (statement_timeout)"
            ) from None


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        c = self.config
        kwargs: dict[str, Any] = {
            "host": c.host,
            "port": c.port,
            "user": c.username,
            "dbname": c.database,
            "connect_timeout": max(2, round(c.connect_timeout)),  # libpq's minimum is 2
            "autocommit": True,
            "row_factory": dict_row,
            "cursor_factory": PGCursor,
            "context": pg_context(),  # json/jsonb as text: convert.from_json parses them
            "prepare_threshold": c.prepare_threshold,
        }
        if c.password:
            kwargs["password"] = c.password
        if c.tls_enabled != "prefer":
            kwargs["sslmode"] = c.tls_enabled
        kwargs.update(c.driver_args)
        self.pgbouncer = bool(c.pgbouncer)
        self.detect_pgbouncer = c.pgbouncer is None
        self.connected = False  # once a connection opened, `pgbouncer` is known
        self._given = kwargs
        self._kwargs = self._connect_args(kwargs)
        self._recycle = c.pool_recycle
        self._slots = Slots(c)
        self.down: DatabaseUnavailable | None = None  # why the last connection attempt failed
        self.failed_at = 0.0
        self.errors = 0
        # A subclass per backend, so connect() can tell this backend how attempts go.
        conn_class = type("PGConnection", (PGConnection,), {"backend": weakref.ref(self)})
        # pooling=False: psycopg_pool's NullConnectionPool opens a connection per checkout and
        # closes it on return, still capping concurrent connections at max_size.
        pool_class = psycopg_pool.ConnectionPool if c.pooling else psycopg_pool.NullConnectionPool
        self.pool: psycopg_pool.ConnectionPool[PGConnection] = pool_class(
            connection_class=conn_class,
            kwargs=self._kwargs,
            min_size=c.pool_size if c.pooling else 0,
            max_size=c.max_size,
            timeout=c.pool_timeout,
            max_lifetime=c.pool_recycle or _NEVER,
            reconnect_timeout=0,
            configure=self._configure,
            name=f"agentdb:{c.target}",
            open=False,
        )
        # Lazy start: the workers open connections in the background, and a server that is
        # down now is picked up whenever it answers; nothing here waits or raises.
        self.pool.open(wait=False)

    def failed(self, exc: psycopg.Error) -> None:
        self.down = self.unavailable(exc)
        self.failed_at = monotonic()
        self.errors += 1

    def _connect_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The driver's keywords, for a direct server or (``self.pgbouncer``) for PgBouncer in
        transaction mode, where each transaction may run on another server connection: no
        automatic prepared statements (one prepared on one server connection is missing on the
        next: PgBouncer 1.18, Debian 12's, does not track them), and no `options` startup
        parameter, which PgBouncer refuses. Timestamps still come back
        in UTC: records convert whatever zone the server session uses (``convert.to_utc``)."""
        kwargs = dict(kwargs)
        options = str(kwargs.get("options", ""))
        if self.pgbouncer:
            kwargs["prepare_threshold"] = None
        elif "timezone" not in options.lower():
            # Timestamps come back in UTC (as datetime.timezone.utc, which records pass
            # through untouched) whatever the server's zone; a user's own `options` are kept.
            kwargs["options"] = f"{options} -c TimeZone=UTC".strip()
        keep = {"prepare_threshold"}  # None means "never prepare" there, not "unset"
        return {k: v for k, v in kwargs.items() if v is not None or k in keep}

    def use_pgbouncer(self) -> None:
        """Detected: PgBouncer refused the `options` startup parameter. From now on every
        connection is opened for it (psycopg_pool reads this same dict on each attempt)."""
        if not self.pgbouncer:
            self.pgbouncer = True
            fitted = self._connect_args(self._given)
            self._kwargs.clear()
            self._kwargs.update(fitted)

    def _configure(self, conn: PGConnection) -> None:
        conn.born = conn.last_used = monotonic()
        conn.read_timeout = self.config.statement_timeout
        conn.poller = watch(conn.pgconn.socket)

    def getconn(self, timeout: float | None = None) -> PGConnection:
        self._slots.take(timeout)
        try:
            return self._checkout()
        except BaseException:
            self._slots.give()
            raise

    def _checkout(self) -> PGConnection:
        """A live connection for a caller that holds a slot, so the pool has one idle or is
        opening one: wait for that, and no longer than the attempt takes to fail."""
        pool = self.pool
        if self.down is not None and not pool.get_stats().get("pool_available", 0):
            self._probe()  # known down and nothing idle: one direct attempt, no queueing
        start = monotonic()
        limit = start + self.config.connect_timeout + 0.5
        # Waits are long enough for a normal connect: a waiter psycopg_pool gives up on stays
        # in its queue and makes it open more connections than anyone needs.
        wait = min(1.0, self.config.connect_timeout) if self.config.pooling else limit - start
        while True:
            try:
                conn = pool.getconn(wait)
            except psycopg_pool.PoolTimeout:
                now = monotonic()
                if self.failed_at > start or now >= limit:
                    raise self._unavailable() from None
                wait = max(min(0.25, limit - now), 0.001)
                continue
            except psycopg.Error as exc:  # NullConnectionPool: our own attempt failed
                raise self.unavailable(exc) from exc
            if self._usable(conn):
                return conn
            if not conn.closed:
                conn.close()  # psycopg_pool discards a closed connection and opens another
            pool.putconn(conn)
            if self.down is not None and self.failed_at > start:
                raise self._unavailable()

    def _probe(self) -> None:
        """While the server is known to be down: fail at once with the driver's reason, or
        find it back (then the pool opens connections as usual)."""
        try:
            self.pool.connection_class.connect(**self._kwargs).close()
        except psycopg.Error as exc:
            raise self.unavailable(exc) from exc

    def _unavailable(self) -> DatabaseUnavailable:
        return self.down or self.unavailable(
            TimeoutError(f"no connection within connect_timeout={self.config.connect_timeout:g}s")
        )

    def _usable(self, conn: PGConnection) -> bool:
        """No round trip unless the socket says something happened or the connection sat idle
        past ``ping_interval``; a ping gets ``connect_timeout`` to answer."""
        now = monotonic()  # (a closed connection never sits idle: psycopg_pool drops it)
        if self._recycle is not None and now - conn.born > self._recycle:
            return False
        if conn.poller.poll(0) or (
            self.config.pre_ping and now - conn.last_used > self.config.ping_interval
        ):
            try:
                conn.read_timeout = self.config.connect_timeout
                psycopg_pool.ConnectionPool.check_connection(conn)
            except NoReply as exc:  # frozen: the next connection would hang the same way
                self.failed(exc)
                return False
            except psycopg.Error:
                return False
            finally:
                conn.read_timeout = self.config.statement_timeout
            # data on an idle socket that was not a goodbye (a notice): still fine
        return True

    def putconn(self, conn: PGConnection, broken: bool = False) -> None:
        conn.last_used = monotonic()
        if broken and not conn.closed:
            conn.close()  # psycopg_pool discards closed connections and opens a new one
        try:
            self.pool.putconn(conn)
        finally:
            self._slots.give()

    def set_read_timeout(self, conn: PGConnection, seconds: float | None) -> None:
        conn.read_timeout = self.config.statement_timeout if seconds is None else seconds

    def start(self, conn: PGConnection, readonly: bool) -> None:
        conn.begin_pending = True

    def finish(self, conn: PGConnection, commit: bool) -> None:
        if conn.begin_pending:  # nothing ran: nothing to end
            conn.begin_pending = False
            return
        status = conn.pgconn.transaction_status
        if status == TransactionStatus.INERROR:
            conn.rollback()
            if commit:
                raise TransactionError(
                    "a statement in this unit of work failed; the unit was rolled back"
                )
        elif status != TransactionStatus.IDLE:
            conn.commit() if commit else conn.rollback()

    def is_closed(self, conn: PGConnection) -> bool:
        return conn.closed or conn.broken

    def broken(self, conn: PGConnection, exc: BaseException | None) -> bool:
        if conn.closed or conn.broken or conn.pgconn.transaction_status in _BAD_STATUS:
            return True
        for e in causes(exc):
            if isinstance(e, psycopg.OperationalError) and (
                e.sqlstate is None or e.sqlstate[:2] == "08" or e.sqlstate in _GONE_STATES
            ):
                return True
        return False

    def retryable(self, exc: BaseException) -> bool:
        return any(
            isinstance(e, psycopg.Error) and e.sqlstate in _RETRY_STATES for e in causes(exc)
        )

    def counts(self) -> Counts:
        available = self.pool.get_stats().get("pool_available", 0)
        c = self._slots.counts()
        return Counts(c.in_use + available, c.in_use, c.waiting, c.acquired, c.timeouts,
                      self.errors)

    def close(self) -> None:
        self.pool.close()

    def abandon(self) -> None:
        # psycopg never sends Terminate from a forked child (libpq objects check their pid),
        # and the parent's worker threads do not exist here: dropping the pool is enough.
        pass
