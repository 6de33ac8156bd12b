"""The exceptions agentdb raises.

Every error subclasses :class:`AgentDBError`, so callers can catch one type. Driver exceptions
are wrapped (``raise ... from exc``) so the original stays available as ``__cause__`` while the
message stays free of passwords and driver noise.
"""

from __future__ import annotations


class AgentDBError(Exception):
    """Base class of every agentdb error."""


class ConfigError(AgentDBError, ValueError):
    """A bad URL, option name or option value; the message names it."""


class DatabaseUnavailable(AgentDBError):
    """The server cannot be reached; names host:port, never the password."""


class CommitUnknown(DatabaseUnavailable):
    """The connection was lost after a COMMIT (or a lone write in autocommit) was sent: it may
    or may not have been applied. Never retried silently; the caller must check (idempotency
    key, unique constraint, or a read) before doing it again."""


class ReplicaUnavailable(DatabaseUnavailable):
    """A read replica failed mid-read. It is skipped from now on; the read wrote nothing, so
    running it again is safe (repository reads do so, on another replica or the primary)."""


class PoolTimeout(AgentDBError):
    """No connection became free within ``pool_timeout``."""

    def __init__(self, waited: float, pool_size: int, max_size: int, waiting: int) -> None:
        self.waited = waited
        self.pool_size = pool_size
        self.max_size = max_size
        self.waiting = waiting
        super().__init__(
            f"no connection available after {waited:.2f}s "
            f"(pool_size={pool_size}, max_size={max_size}, {waiting} other caller(s) waiting)"
        )


class NotFound(AgentDBError, LookupError):
    """The record asked for does not exist."""

    def __init__(self, entity: str, key: object) -> None:
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key!r} not found")


class ValidationError(AgentDBError, ValueError):
    """Bad input, caught before any SQL runs; names the field and the rule it broke."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.rule = message
        super().__init__(f"{field}: {message}")


class ConflictError(AgentDBError):
    """A unique constraint refused the write (e.g. a taken username)."""


class LeaseLost(AgentDBError):
    """The caller does not hold the job's lease (it expired and the job was rescued, claimed
    again or finished), so it may not finish, fail, heartbeat or save results for it."""

    def __init__(self, job_id: str, worker_id: str | None, detail: str) -> None:
        self.job_id = job_id
        self.worker_id = worker_id
        super().__init__(f"job {job_id!r}: worker {worker_id!r} does not hold its lease "
                         f"({detail})")


class PermissionDenied(AgentDBError):
    """The acting user lacks the permission the operation needs."""


class MigrationError(AgentDBError):
    """Applying or rolling back a schema migration failed."""


class QueryError(AgentDBError):
    """A malformed SQL file, an unknown query or a missing parameter; names file, line, query."""


class TransactionError(AgentDBError):
    """A unit of work cannot go on (an inner block failed, or a write in a read-only unit)."""


__all__ = [
    "AgentDBError",
    "CommitUnknown",
    "ConfigError",
    "ConflictError",
    "DatabaseUnavailable",
    "LeaseLost",
    "MigrationError",
    "NotFound",
    "PermissionDenied",
    "PoolTimeout",
    "QueryError",
    "ReplicaUnavailable",
    "TransactionError",
    "ValidationError",
]
