"""PostgreSQL through ``psycopg_pool.ConnectionPool``.

The pool already queues waiters, times them out, replaces connections past ``max_lifetime``,
resets connections on return and counts its own stats; we only configure it. Its ``check``
hook is where our pre-ping rule lives: ping a connection only when it sat idle longer than
``ping_interval`` (servers drop idle connections, not busy ones), and refuse one older than
``pool_recycle`` at checkout (psycopg_pool only looks at age when a connection comes back).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

import psycopg
import psycopg_pool
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row

from ..errors import PoolTimeout, TransactionError
from .base import Backend, Counts

_NEVER = 10 * 365 * 24 * 3600.0  # psycopg_pool wants a number for "no max lifetime"


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


class PGConnection(psycopg.Connection[DictRow]):
    """A psycopg connection that remembers when it was born and last given back."""

    born: float = 0.0
    last_used: float = 0.0
    begin_pending = False  # a unit of work started and has not run a statement yet


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
            "connect_timeout": max(2, round(c.connect_timeout)),
            "autocommit": True,
            "row_factory": dict_row,
            "cursor_factory": PGCursor,
            "prepare_threshold": c.prepare_threshold,
        }
        if c.password:
            kwargs["password"] = c.password
        if c.tls_enabled != "prefer":
            kwargs["sslmode"] = c.tls_enabled
        # Timestamps come back in UTC (as datetime.timezone.utc, which records pass through
        # untouched) whatever the server's default zone; a user's own `options` are kept.
        options = str(c.driver_args.get("options", ""))
        kwargs.update(c.driver_args)
        if "timezone" not in options.lower():
            kwargs["options"] = f"{options} -c TimeZone=UTC".strip()
        keep = {"prepare_threshold"}  # None means "never prepare" there, not "unset"
        self._kwargs = {k: v for k, v in kwargs.items() if v is not None or k in keep}
        self._recycle = c.pool_recycle
        # pooling=False: psycopg_pool's NullConnectionPool opens a connection per checkout and
        # closes it on return, still capping concurrent connections at max_size.
        pool_class = psycopg_pool.ConnectionPool if c.pooling else psycopg_pool.NullConnectionPool
        self.pool: psycopg_pool.ConnectionPool[PGConnection] = pool_class(
            connection_class=PGConnection,
            kwargs=self._kwargs,
            min_size=c.pool_size if c.pooling else 0,
            max_size=c.max_size,
            timeout=c.pool_timeout,
            max_lifetime=c.pool_recycle or _NEVER,
            configure=self._configure,
            check=self._check,
            name=f"agentdb:{c.target}",
            open=False,
        )
        if (error := self._why_unavailable()) is not None:
            raise error  # fail now, with the driver's reason, rather than after pool_timeout
        try:
            self.pool.open(wait=True, timeout=c.connect_timeout)
        except psycopg_pool.PoolTimeout:
            self.pool.close(timeout=0)
            error = self._why_unavailable() or self.unavailable(TimeoutError("pool not filled"))
            raise error from None

    def _why_unavailable(self) -> Exception | None:
        """The pool only says it timed out; one direct attempt gives the driver's reason."""
        try:
            psycopg.connect(**self._kwargs).close()
        except psycopg.Error as exc:
            return self.unavailable(exc)
        return None

    @staticmethod
    def _configure(conn: PGConnection) -> None:
        conn.born = conn.last_used = monotonic()

    def _check(self, conn: PGConnection) -> None:
        now = monotonic()
        if self._recycle is not None and now - conn.born > self._recycle:
            raise psycopg.OperationalError("connection older than pool_recycle")
        if self.config.pre_ping and now - conn.last_used > self.config.ping_interval:
            psycopg_pool.ConnectionPool.check_connection(conn)

    def getconn(self) -> PGConnection:
        try:
            return self.pool.getconn()
        except psycopg_pool.PoolTimeout:
            stats = self.pool.get_stats()
            if stats["pool_size"] - stats["pool_available"] <= 0:
                # Nobody holds a connection, yet none came: the server is the problem.
                error = self._why_unavailable()
                if error is not None:
                    raise error from None
            raise PoolTimeout(
                self.config.pool_timeout,
                self.config.pool_size,
                self.config.max_size,
                stats.get("requests_waiting", 0),
            ) from None

    def putconn(self, conn: PGConnection, broken: bool = False) -> None:
        conn.last_used = monotonic()
        if broken and not conn.closed:
            conn.close()  # psycopg_pool discards closed connections and opens a new one
        self.pool.putconn(conn)

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

    def counts(self) -> Counts:
        s = self.pool.get_stats()
        size = s.get("pool_size", 0)
        return Counts(
            size=size,
            in_use=size - s.get("pool_available", 0),
            waiting=s.get("requests_waiting", 0),
            acquired=s.get("requests_num", 0),
            timeouts=s.get("requests_errors", 0),
            errors=s.get("connections_errors", 0),
        )

    def close(self) -> None:
        self.pool.close()

    def abandon(self) -> None:
        # psycopg never sends Terminate from a forked child (libpq objects check their pid),
        # and the parent's worker threads do not exist here: dropping the pool is enough.
        pass
