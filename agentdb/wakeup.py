"""How an idle worker learns that a job was enqueued.

PostgreSQL: every INSERT into ``jobs`` sends ``NOTIFY agentdb_jobs`` (a statement trigger from
migration 0009, so it goes out at commit and costs the enqueuer no round trip), and
:class:`Listener` waits for it with ``LISTEN`` on a dedicated connection of its own -- never one
of the pool's, which a LISTEN would tie up and whose resets would drop the subscription.
MariaDB and SQLite have no such channel: :class:`Poller` waits with a short backoff instead.
Either way a worker still claims once per ``poll_interval`` while idle, so jobs that become due
later (``run_at``, retries, rescued leases) are never missed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol

from .errors import ConfigError

if TYPE_CHECKING:
    from .pool import Database

CHANNEL = "agentdb_jobs"
log = logging.getLogger("agentdb.worker")


class Wakeup(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block until there may be new work, at most ``timeout`` seconds; True if woken."""

    def wake(self) -> None:
        """End the current (or next) wait early."""

    def close(self) -> None: ...


class Poller:
    """No notifications: each idle wait is longer than the last (``poll_min`` doubling up to
    ``poll_max``), and work resets it, so a busy queue is polled fast and an idle one rarely."""

    def __init__(self, poll_min: float = 0.01, poll_max: float = 0.5) -> None:
        self.poll_min, self.poll_max = poll_min, poll_max
        self._next = poll_min
        self._woken = threading.Event()

    def wait(self, timeout: float) -> bool:
        delay = min(self._next, timeout)
        self._next = min(self._next * 2, self.poll_max)
        woken = self._woken.wait(delay)
        self._woken.clear()
        return woken

    def reset(self) -> None:
        """Work was found: poll fast again."""
        self._next = self.poll_min

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._woken.set()


class Listener:
    """``LISTEN agentdb_jobs`` on a dedicated autocommit connection, read by a daemon thread
    that sets an event per notification. If the connection drops, it reconnects (after a
    pause); waits meanwhile just time out, and the worker's periodic claim covers the gap."""

    def __init__(self, db: Database, retry_after: float = 1.0) -> None:
        self._kwargs = _connect_kwargs(db)
        self._event = threading.Event()
        self._closed = threading.Event()
        self._conn: Any = None
        self._retry_after = retry_after
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="agentdb-listen", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10)  # subscribed (or failed once) before the first claim

    def _listen(self) -> None:
        import psycopg

        while not self._closed.is_set():
            try:
                with psycopg.connect(**self._kwargs) as conn:
                    self._conn = conn
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._event.set()
            except Exception as exc:
                self._ready.set()
                if self._closed.is_set():
                    return
                log.warning("agentdb worker: LISTEN connection failed (%s); polling until it "
                            "is back", type(exc).__name__)
                self._closed.wait(self._retry_after)
            finally:
                self._conn = None

    def wait(self, timeout: float) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def reset(self) -> None:
        """Nothing to do: notifications, not backoff, end a Listener's waits."""

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self._closed.set()
        self._event.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.cancel_safe(timeout=1.0)
        self._thread.join(timeout=5)


def _connect_kwargs(db: Database) -> dict[str, Any]:
    """psycopg.connect() arguments for the database's server itself: ``direct_url=`` when
    given, since a LISTEN through PgBouncer in transaction mode would never hear anything
    (ConfigError there without one)."""
    c = db.direct_config("LISTEN")
    kwargs: dict[str, Any] = {**c.driver_args, "host": c.host, "port": c.port,
                              "user": c.username, "dbname": c.database, "autocommit": True,
                              "connect_timeout": max(2, round(c.connect_timeout))}
    if c.password:
        kwargs["password"] = c.password
    if c.tls_enabled != "prefer":
        kwargs["sslmode"] = c.tls_enabled
    return {k: v for k, v in kwargs.items() if v is not None}


def wakeup_for(db: Database, poll_max: float) -> Listener | Poller:
    """LISTEN on PostgreSQL, a backing-off poll elsewhere."""
    if db.dialect == "postgresql":
        try:
            return Listener(db)
        except ConfigError as exc:  # behind PgBouncer with no direct_url=: poll instead
            log.warning("agentdb worker: no LISTEN (%s); polling every %.2f s at most", exc,
                        poll_max)
    return Poller(poll_max=poll_max)


__all__ = ["CHANNEL", "Listener", "Poller", "Wakeup", "wakeup_for"]
