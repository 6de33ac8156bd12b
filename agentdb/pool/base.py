"""What every backend pool provides to :class:`~agentdb.pool.database.Database`.

A backend wraps one real pool (psycopg_pool, DBUtils PooledDB, or a small sqlite3 pool) and adds
only what that pool lacks. Connections are kept in autocommit mode; the Database opens explicit
transactions itself, so a lone statement costs one round trip.
"""

from __future__ import annotations

import select
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import asdict, dataclass
from time import monotonic
from typing import Any, ClassVar, Literal, TypedDict

from ..config import Config
from ..errors import DatabaseUnavailable, PoolTimeout

# What an idle connection's socket must not show: data, urgent data, or the peer's close.
_POLL_EVENTS = select.POLLIN | select.POLLPRI | getattr(select, "POLLRDHUP", 0)


def watch(fd: int) -> Any:
    """A poll object on one connection's socket, made once per connection. ``.poll(0)`` costs
    under a microsecond and is empty while an idle connection is quiet; anything else (the
    server's FIN after a restart or a kill, an error packet before it) means it is going away,
    and it is noticed at checkout without a round trip."""
    poller = select.poll()
    poller.register(fd, _POLL_EVENTS)
    return poller


def causes(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (the driver's error behind ours)."""
    out: list[BaseException] = []
    while exc is not None and len(out) < 8:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


class _HealthCore(TypedDict):
    status: Literal["healthy", "unhealthy"]
    latency_ms: float
    error: str | None


class HealthReport(_HealthCore, total=False):
    """What ``Database.health()`` returns: a dict (JSON-ready for a health endpoint), typed.
    ``replicas`` (each one's status, lag and error) is there only when replicas are set."""

    replicas: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A snapshot of one pool; the same fields on every backend."""

    dialect: str
    pool_size: int  # connections kept open
    max_size: int  # pool_size + max_overflow
    size: int  # connections open now
    in_use: int  # checked out now
    idle: int  # open and free
    waiting: int  # callers waiting for a connection
    acquired: int  # checkouts so far
    timeouts: int  # PoolTimeouts so far
    errors: int  # failed connection attempts so far
    wait_ms_p50: float  # median wait for a connection (recent checkouts)
    wait_ms_p95: float
    replica: str | None = None  # host:port of a read replica's pool; None for the primary
    replicas: tuple[PoolStats, ...] = ()  # the primary's: one per replica pool open now
    routing: dict[str, int] | None = None  # the primary's, with replicas: where reads went

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Counts:
    """What a backend knows of itself; the Database adds the wait percentiles."""

    size: int
    in_use: int
    waiting: int
    acquired: int
    timeouts: int
    errors: int


class Backend(ABC):
    """One real pool of driver connections, in autocommit mode, returning dict rows."""

    dialect: ClassVar[str]

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def getconn(self, timeout: float | None = None) -> Any:
        """A live connection. Waits at most ``timeout`` (default ``pool_timeout``) for a free
        slot, then raises PoolTimeout (every connection held by a live caller); raises
        DatabaseUnavailable, within ``connect_timeout`` plus a little, when none can be opened.
        """

    @abstractmethod
    def putconn(self, conn: Any, broken: bool = False) -> None:
        """Give a connection back; ``broken`` ones are closed instead of kept."""

    @abstractmethod
    def counts(self) -> Counts: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def abandon(self) -> None:
        """Forget every connection without touching its socket (used in a forked child)."""

    @abstractmethod
    def start(self, conn: Any, readonly: bool) -> None:
        """Open a transaction lazily: BEGIN goes out just before the first statement, so a
        unit of work that runs nothing costs no round trip."""

    @abstractmethod
    def finish(self, conn: Any, commit: bool) -> None:
        """COMMIT (or ROLLBACK) what :meth:`start` opened, if anything ran; back to autocommit."""

    def is_closed(self, conn: Any) -> bool:
        """Whether the driver knows the connection is dead (no round trip)."""
        return False

    def broken(self, conn: Any, exc: BaseException | None) -> bool:
        """Whether ``conn`` may be unusable after ``exc``: closed, mid-protocol, or a driver
        error of the kind that leaves it so. Such a connection is discarded, never pooled."""
        return self.is_closed(conn)

    def set_read_timeout(self, conn: Any, seconds: float | None) -> None:
        """Bound the wait for the server's replies on ``conn`` (None: back to
        ``statement_timeout``); a frozen server then fails the call instead of hanging it."""
        return None  # SQLite: a local file has no server to wait for

    def retryable(self, exc: BaseException) -> bool:
        """A deadlock, serialization failure or lock wait timeout: the whole unit of work was
        rolled back by the server and may run again."""
        return False

    def unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        """A DatabaseUnavailable naming host:port, with the driver's reason but no password."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self.config.password:
            reason = reason.replace(self.config.password, "***")
        return DatabaseUnavailable(
            f"cannot connect to {self.dialect} at {self.config.target}: {reason}"
        )


class _Waiter:
    """One caller queued for a slot; ``granted`` is set by the caller that hands it over."""

    __slots__ = ("cond", "granted")

    def __init__(self, lock: threading.Lock) -> None:
        self.cond = threading.Condition(lock)
        self.granted = False


class Slots:
    """At most ``max_size`` checkouts at once, waiting up to ``pool_timeout`` for one, with the
    counters stats() reports; for the pools that have no such limit (PooledDB) or no pool at
    all (sqlite3, whose idle connections are kept here too).

    Fair under contention, like psycopg_pool: a freed slot is handed to the longest waiter,
    and newcomers queue behind waiters instead of grabbing it first (without that, threads that
    just gave a connection back took it again and a few waiters starved into PoolTimeout).
    The uncontended path is a single lock round."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.max_size = config.max_size
        self.lock = threading.Lock()  # taken directly: a C-level lock round
        self.queue: deque[_Waiter] = deque()  # FIFO of callers waiting for a slot
        self.idle: list[Any] = []  # LIFO: the most recently used connection is the warmest
        self.in_use = 0
        self.acquired = 0
        self.timeouts = 0
        self.errors = 0

    @property
    def waiting(self) -> int:
        return len(self.queue)

    def take(self, timeout: float | None = None) -> Any | None:
        """Take a slot; return an idle connection kept here, or None (then open one)."""
        with self.lock:
            if self.in_use < self.max_size and not self.queue:
                self.in_use += 1
            else:
                self._wait(timeout)  # returns holding a slot handed over by give()
            self.acquired += 1
            return self.idle.pop() if self.idle else None

    def _wait(self, timeout: float | None) -> None:
        start = monotonic()
        deadline = start + (self.config.pool_timeout if timeout is None else timeout)
        waiter = _Waiter(self.lock)
        self.queue.append(waiter)
        while not waiter.granted:
            remaining = deadline - monotonic()
            if remaining <= 0:
                self.queue.remove(waiter)
                self.timeouts += 1
                raise PoolTimeout(
                    monotonic() - start, self.config.pool_size, self.max_size, len(self.queue)
                )
            waiter.cond.wait(remaining)

    def give(self, conn: Any = None) -> bool:
        """Free a slot (or hand it to the longest waiter); keep ``conn`` as idle if there is
        room. Returns whether it was kept."""
        with self.lock:
            kept = conn is not None and len(self.idle) < self.config.pool_size
            if kept:
                self.idle.append(conn)
            if self.queue:
                waiter = self.queue.popleft()  # the slot passes on: in_use stays the same
                waiter.granted = True
                waiter.cond.notify()
            else:
                self.in_use -= 1
            return kept

    def failed(self) -> None:
        with self.lock:
            self.errors += 1

    def counts(self, size: int | None = None) -> Counts:
        with self.lock:
            if size is None:
                size = self.in_use + len(self.idle)
            return Counts(
                max(size, self.in_use),
                self.in_use,
                self.waiting,
                self.acquired,
                self.timeouts,
                self.errors,
            )
