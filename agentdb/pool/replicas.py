"""Read replicas with read-your-writes, measured rather than guessed.

A :class:`Router` sits beside the primary's pool when ``replicas=`` is given. Read-only work
(``db.acquire(readonly=True)`` and every statement that does not write, run outside a unit of
work: what the repositories' read methods are) is served by a replica, in turn; everything else
goes to the primary, as before.

Read-your-writes: after a unit of work (or a lone write) commits on the primary, the router
records the primary's position on that connection — PostgreSQL ``pg_current_wal_lsn()``,
MariaDB ``@@last_gtid`` — in the current context (a ``ContextVar``: the thread, or the asyncio
task). A later read in that context uses a replica only once the replica has replayed that far
(``pg_last_wal_replay_lsn()``; ``MASTER_GTID_WAIT(pos, 0)``), else it reads from the primary.
The position can leave the context as a token (``db.read_token()``) and come back in another
one, e.g. the next HTTP request (``with db.reading_after(token):``).

Failures: a replica that cannot be reached, or whose connection breaks, is skipped for a
back-off (doubling from 0.5 s to 30 s) and then tried again; one that lags past
``max_replica_lag`` seconds is skipped until its next check (once a second). A read that fails
because its replica went away is run again elsewhere (it wrote nothing, so that is safe): while
the primary is up, no read fails because a replica is down.

Only the ``Database`` hooks in ``pool/database.py`` call into this module. The same module
holds the one rule for session-level work behind PgBouncer (:func:`direct_config`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import count
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..errors import AgentDBError, ConfigError, DatabaseUnavailable, PoolTimeout, ReplicaUnavailable

if TYPE_CHECKING:
    from .base import Backend, PoolStats
    from .database import Database

log = logging.getLogger("agentdb.replicas")

CHECK_EVERY = 1.0  # seconds between lag checks of one replica
BACKOFF_FIRST = 0.5  # seconds a failed replica is skipped, doubling per failure in a row
BACKOFF_MAX = 30.0
UNKNOWN_FOR = 5.0  # seconds a context reads from the primary when its write position is unknown


# -- positions: one small class per dialect ------------------------------------------------------


class _PostgreSQL:
    """WAL positions (LSN ``X/Y``) as integers."""

    prefix = "pg:"
    current_sql = "SELECT pg_current_wal_lsn()::text AS pos"
    # Lag in seconds: 0 when everything received is replayed (an idle primary is not lag),
    # else the age of the last transaction replayed. NULL received: not streaming (yet).
    status_sql = (
        "SELECT pg_last_wal_replay_lsn()::text AS pos, CASE "
        "WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() "
        "<= pg_last_wal_replay_lsn() THEN 0 ELSE "
        "COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END AS lag"
    )
    replay_sql = "SELECT pg_last_wal_replay_lsn()::text AS pos"

    @staticmethod
    def parse(text: str | None) -> Any:
        if not text:
            return None
        high, _, low = text.partition("/")
        return (int(high, 16) << 32) | int(low, 16)

    @staticmethod
    def format(pos: Any) -> str:
        return f"{pos >> 32:X}/{pos & 0xFFFFFFFF:X}"

    @staticmethod
    def covers(have: Any, want: Any) -> bool:
        return have is not None and have >= want

    @staticmethod
    def merge(a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else max(a, b)

    def status(self, cur: Any) -> tuple[Any, float | None]:
        cur.execute(self.status_sql)
        row = cur.fetchone()
        return self.parse(row["pos"]), float(row["lag"])

    def reached(self, cur: Any, want: Any) -> Any:
        """The replica's replay position now (a node not in recovery has none: never used
        for read-your-writes, since it may be another primary)."""
        cur.execute(self.replay_sql)
        return self.parse(cur.fetchone()["pos"])


class _MariaDB:
    """GTID positions as ``{domain: seq}``; text form ``domain-server-seq,...``."""

    prefix = "gtid:"
    current_sql = "SELECT @@last_gtid AS pos"

    @staticmethod
    def parse(text: str | None) -> Any:
        if not text:
            return None
        out: dict[int, tuple[int, int]] = {}
        for part in str(text).split(","):
            domain, server, seq = (int(x) for x in part.strip().split("-"))
            out[domain] = (server, seq)
        return out

    @staticmethod
    def format(pos: Any) -> str:
        return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(pos.items()))

    @staticmethod
    def covers(have: Any, want: Any) -> bool:
        return have is not None and all(
            d in have and have[d][1] >= n for d, (_, n) in want.items()
        )

    @staticmethod
    def merge(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return b if a is None else a
        out = dict(a)
        for d, (s, n) in b.items():
            if d not in out or out[d][1] < n:
                out[d] = (s, n)
        return out

    def status(self, cur: Any) -> tuple[Any, float | None]:
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
        cur.execute("SELECT @@gtid_slave_pos AS pos")
        pos = self.parse(cur.fetchone()["pos"])
        if row is None:
            return pos, None  # not a replica: no lag to speak of, but never trusted for RYW
        if row.get("Slave_SQL_Running") != "Yes" or row.get("Seconds_Behind_Master") is None:
            return pos, float("inf")  # not applying: as far behind as it will get
        return pos, float(row["Seconds_Behind_Master"])

    def reached(self, cur: Any, want: Any) -> Any:
        # MASTER_GTID_WAIT with a zero timeout: 0 if applied, -1 if not, without waiting
        cur.execute("SELECT MASTER_GTID_WAIT(%s, 0) AS ok, @@gtid_slave_pos AS pos",
                    (self.format(want),))
        row = cur.fetchone()
        return self.parse(row["pos"]) if row["ok"] == 0 else None


_DIALECTS: dict[str, Any] = {"postgresql": _PostgreSQL(), "mysql": _MariaDB()}


@dataclass(frozen=True, slots=True)
class _Unknown:
    """A context whose last write position could not be read: primary only, for a while."""

    until: float


# -- replicas ------------------------------------------------------------------------------------


class Node:
    """One replica: its pool (opened on first use, reopened after a failure), its health."""

    def __init__(self, config: Config, router: Router) -> None:
        self.config = config
        self.label = f"{config.host}:{config.port}"
        self.router = router
        self.db: Database | None = None
        self.lock = threading.Lock()
        self.down_until = 0.0  # skipped until then after a failure
        self.backoff = 0.0
        self.lagging_until = 0.0
        self.checked_at = float("-inf")
        self.position: Any = None  # last replay position seen (only moves forward)
        self.lag: float | None = None
        self.error: str | None = None
        self.reads = 0  # served here

    def database(self) -> Database | None:
        """The replica's pool, opening it if needed; None (and skipped) when that fails."""
        db = self.db
        if db is not None:
            return db
        with self.lock:
            if self.db is None:
                from .database import Database

                try:
                    self.db = Database(self.config)
                except AgentDBError as exc:
                    self.failed(exc)
                    return None
            return self.db

    def failed(self, exc: BaseException) -> None:
        """Skip this replica for a back-off. Its pool is closed (in the background: in-flight
        reads still give their connections back) and a new one opened on the next try; a pool
        whose server vanished would otherwise wait out its own reconnect backoff."""
        now = monotonic()
        if self.down_until <= now:  # a new failure, not one more in-flight read of the last
            self.backoff = min(BACKOFF_MAX, self.backoff * 2 or BACKOFF_FIRST)
            self.down_until = now + self.backoff
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if self.config.password:
            error = error.replace(self.config.password, "***")
        self.error = error
        self.position = None
        db, self.db = self.db, None
        if db is not None:
            threading.Thread(target=db.close, name="agentdb-replica-close", daemon=True).start()
        log.warning("replica %s skipped for %.1f s: %s", self.label, self.backoff, self.error)

    def usable(self, conn: Any, want: Any) -> bool:
        """Whether this connection may serve the read: the lag check when due (one thread
        does it, once a second), then read-your-writes against the context's position."""
        dialect = self.router.positions
        now = monotonic()
        if now - self.checked_at >= CHECK_EVERY:
            self.checked_at = now  # a benign race: at worst two threads check at once
            pos, lag = dialect.status(conn.cursor())
            self.position = dialect.merge(self.position, pos)
            self.lag = lag
            self.backoff, self.error = 0.0, None
            limit = self.router.primary.config.max_replica_lag
            if limit is not None and lag is not None and lag > limit:
                self.lagging_until = now + CHECK_EVERY
                self.router.skipped += 1
                return False
        if want is None:
            return True
        if isinstance(want, _Unknown):
            return False
        if dialect.covers(self.position, want):
            return True
        reached = dialect.reached(conn.cursor(), want)
        self.position = dialect.merge(self.position, reached)
        return bool(dialect.covers(self.position, want))

    def stats(self) -> PoolStats | None:
        from dataclasses import replace

        db = self.db
        if db is None:
            return None
        return replace(db.stats(), replica=self.label)

    def health(self) -> dict[str, Any]:
        """This replica's status, from a probe made now even during a back-off: an explicit
        health check is how an operator learns that a replica is back, and brings it back."""
        db = self.db
        if db is None:
            self.down_until = 0.0  # let database() try now
            db = self.database()
        if db is None:
            return {"replica": self.label, "status": "down", "lag_s": None,
                    "retry_in_s": round(max(self.down_until - monotonic(), 0), 3),
                    "error": self.error, "reads": self.reads}
        report = db.health()
        status: str = "healthy"
        try:
            if report["error"] is not None:
                raise DatabaseUnavailable(report["error"])
            with db.connection() as conn:
                self.checked_at = float("-inf")
                self.usable(conn, None)  # refreshes lag and position
            self.down_until = 0.0
        except Exception as exc:
            self.failed(exc)
            status = "down"
        limit = self.router.primary.config.max_replica_lag
        if status == "healthy" and limit is not None and (self.lag or 0) > limit:
            status = "lagging"
        return {"replica": self.label, "status": status, "latency_ms": report["latency_ms"],
                "lag_s": self.lag, "error": self.error, "reads": self.reads}

    def close(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            db.close()


class Router:
    """Chooses the server for each read; records each write's position per context."""

    def __init__(self, primary: Database) -> None:
        if primary.dialect not in _DIALECTS:
            raise ConfigError(f"replicas are not supported on {primary.dialect}")
        self.primary = primary
        self.positions = _DIALECTS[primary.dialect]
        self.nodes = [Node(c, self) for c in primary.config.replicas]
        self.seen: ContextVar[Any] = ContextVar(f"agentdb_seen_{id(self)}", default=None)
        self._turn = count()
        self.writer = _Writer(self, in_unit=True)  # stands in for the primary in write units
        self.lone_writer = _Writer(self, in_unit=False)  # ... and for lone writes
        # counters (approximate under threads: plain += on ints, no lock on the hot path)
        self.primary_reads = 0  # reads that went to the primary
        self.fallbacks = 0  # ... because no replica had replayed this context's writes
        self.skipped = 0  # replicas passed over as lagging
        self.failovers = 0  # reads run again elsewhere after their replica failed

    # -- reads ---------------------------------------------------------------------------------

    def route(self) -> _Route:
        return _Route(self)

    def checkout(self) -> tuple[Node | None, Backend, Any]:
        """A connection for a read: from the next usable replica, else from the primary."""
        want = self.seen.get()
        if isinstance(want, _Unknown) and want.until <= monotonic():
            self.seen.set(want := None)
        nodes = self.nodes
        n = len(nodes)
        first = next(self._turn)
        behind = False
        for i in range(n):
            node = nodes[(first + i) % n]
            now = monotonic()
            if node.down_until > now or node.lagging_until > now:
                continue
            db = node.database()
            if db is None:
                continue
            try:
                backend = db.backend
                conn = db._checkout()
            except PoolTimeout:
                continue  # busy, not broken: the primary takes this read
            except AgentDBError as exc:
                node.failed(exc)
                continue
            try:
                ok = node.usable(conn, want)
            except Exception as exc:
                backend.putconn(conn, broken=True)
                node.failed(exc)
                continue
            if ok:
                node.reads += 1
                return node, backend, conn
            backend.putconn(conn)
            behind = behind or want is not None
        self.primary_reads += 1
        if behind:
            self.fallbacks += 1
        primary = self.primary
        return None, primary._backend or primary.backend, primary._checkout()

    def replica_failed(self, node: Node, exc: BaseException | None) -> ReplicaUnavailable:
        node.failed(exc or DatabaseUnavailable("connection lost"))
        self.failovers += 1
        return ReplicaUnavailable(f"replica {node.label} failed during a read; it is skipped "
                                  f"for {node.backoff:.1f} s: {node.error}")

    # -- writes --------------------------------------------------------------------------------

    def committed(self, conn: Any) -> None:
        """Record, for this context, the primary's position after a commit on ``conn``."""
        try:
            cur = conn.cursor()
            cur.execute(self.positions.current_sql)
            pos = self.positions.parse(cur.fetchone()["pos"])
        except Exception as exc:  # the commit stands; only this context's reads pay
            log.warning("could not read the primary's position after a commit: %s", exc)
            self.seen.set(_Unknown(monotonic() + UNKNOWN_FOR))
            return
        if pos is not None:
            seen = self.seen.get()
            if isinstance(seen, _Unknown):
                seen = None
            self.seen.set(self.positions.merge(seen, pos))

    # -- tokens --------------------------------------------------------------------------------

    def token(self) -> str | None:
        seen = self.seen.get()
        if seen is None:
            return None
        if isinstance(seen, _Unknown):
            return "primary"
        return str(self.positions.prefix + self.positions.format(seen))

    @contextmanager
    def reading_after(self, token: str | None) -> Iterator[None]:
        pos = self.parse_token(token)
        previous = self.seen.get()
        merged: Any
        if isinstance(pos, _Unknown) or isinstance(previous, _Unknown):
            merged = pos if isinstance(pos, _Unknown) else previous
        else:
            merged = self.positions.merge(previous, pos)
        reset = self.seen.set(merged)
        try:
            yield
        finally:
            self.seen.reset(reset)

    def parse_token(self, token: str | None) -> Any:
        if not token:
            return None
        if token == "primary":
            return _Unknown(monotonic() + UNKNOWN_FOR)
        prefix = self.positions.prefix
        try:
            if not token.startswith(prefix):
                raise ValueError
            return self.positions.parse(token[len(prefix):])
        except (ValueError, TypeError):
            from ..errors import ValidationError

            raise ValidationError("token", f"is not a {self.primary.dialect} read token "
                                           f"(expected {prefix}...)") from None

    # -- reporting -----------------------------------------------------------------------------

    def stats(self) -> tuple[PoolStats, ...]:
        return tuple(s for s in (node.stats() for node in self.nodes) if s is not None)

    def counters(self) -> dict[str, int]:
        return {
            "replica_reads": sum(node.reads for node in self.nodes),
            "primary_reads": self.primary_reads,
            "fallbacks": self.fallbacks,
            "skipped": self.skipped,
            "failovers": self.failovers,
        }

    def health(self) -> list[dict[str, Any]]:
        return [node.health() for node in self.nodes]

    def close(self) -> None:
        for node in self.nodes:
            node.close()


class _StandIn:
    """What a stand-in shares with the primary Database it replaces inside ``_Unit`` and
    ``_Borrow``: the context's unit of work and the checkout-wait samples."""

    __slots__ = ("router",)

    def __init__(self, router: Router) -> None:
        self.router = router

    @property
    def _unit(self) -> Any:
        return self.router.primary._unit

    @property
    def _waits(self) -> Any:
        return self.router.primary._waits

    @property
    def _tick(self) -> Any:
        return self.router.primary._tick


class _Route(_StandIn):
    """Stands in for the Database inside one read's ``_Unit``/``_Borrow``: same thread-local
    (nesting works as always), connection from the router, and, when that connection was a
    replica's and broke, a ReplicaUnavailable that says "run it again" (``Queries.run`` does)."""

    __slots__ = ("chosen", "node")
    chosen: Backend
    node: Node | None

    # what _Unit and _Borrow use of a Database (the rest comes from _StandIn)
    @property
    def _backend(self) -> _Route:
        return self

    def _checkout(self) -> Any:
        return self.getconn()

    # what _Unit and _Borrow use of a Backend
    def getconn(self, timeout: float | None = None) -> Any:
        self.node, self.chosen, conn = self.router.checkout()
        return conn

    def broken(self, conn: Any, exc: BaseException | None) -> bool:
        return self.chosen.broken(conn, exc)

    def start(self, conn: Any, readonly: bool) -> None:
        self.chosen.start(conn, readonly)

    def finish(self, conn: Any, commit: bool) -> None:
        self.chosen.finish(conn, commit)

    def is_closed(self, conn: Any) -> bool:
        return self.chosen.is_closed(conn)

    def putconn(self, conn: Any, broken: bool = False) -> None:
        self.chosen.putconn(conn, broken)
        if broken and self.node is not None:
            raise self.router.replica_failed(self.node, None)


class _Writer(_StandIn):
    """Stands in for the primary in a writing ``_Unit`` or lone write: the same pool, and
    after a commit the context's read-your-writes position is recorded on the connection
    (``@@last_gtid`` is per session), before it goes back to the pool."""

    __slots__ = ("in_unit",)

    def __init__(self, router: Router, in_unit: bool) -> None:
        super().__init__(router)
        self.in_unit = in_unit

    @property
    def _backend(self) -> _Writer:
        return self

    def _checkout(self) -> Any:
        return self.router.primary._checkout()

    @property
    def _primary(self) -> Backend:
        primary = self.router.primary
        return primary._backend or primary.backend

    def getconn(self, timeout: float | None = None) -> Any:
        return self._primary.getconn(timeout)

    def broken(self, conn: Any, exc: BaseException | None) -> bool:
        return self._primary.broken(conn, exc)

    def start(self, conn: Any, readonly: bool) -> None:
        self._primary.start(conn, readonly)

    def finish(self, conn: Any, commit: bool) -> None:
        ran = not conn.begin_pending  # BEGIN went out: something ran in this unit
        self._primary.finish(conn, commit)
        if commit and ran:
            self.router.committed(conn)

    def is_closed(self, conn: Any) -> bool:
        return self._primary.is_closed(conn)

    def putconn(self, conn: Any, broken: bool = False) -> None:
        if not self.in_unit and not broken:
            self.router.committed(conn)  # a lone write, in autocommit: committed already
        self._primary.putconn(conn, broken)


def direct_config(config: Config, pgbouncer: bool, purpose: str) -> Config:
    """Where session-level work must connect: ``direct_url=`` if given, else the database
    itself unless it sits behind PgBouncer in transaction mode, where a session (LISTEN, a
    migration's lock and DDL, a session advisory lock) does not survive the transaction."""
    if config.direct is not None:
        return config.direct
    if pgbouncer:
        raise ConfigError(
            f"{purpose} cannot run through PgBouncer in transaction mode ({config.target}): "
            "each transaction may land on another server session; pass direct_url= (the "
            "PostgreSQL server itself) for it"
        )
    return config
