"""Apply and roll back the schema: yoyo migrations in ``migrations/<dialect>/``.

yoyo owns the schema and its bookkeeping (``_yoyo_migration``, ``_yoyo_log``, ``yoyo_lock``), so
this module only points yoyo's own API at the right folders and database: the same tables and
the same lock whether the schema is migrated from Python or with the ``yoyo`` command line.
Every failure comes out as :class:`MigrationError` naming the database, never the password.

A user's own migrations (``extra=["app/migrations"]``) are read in the same yoyo run, after the
bundled ones: one lock, one bookkeeping table, one status listing. Each extra folder either has
per-dialect subfolders (``app/migrations/postgresql/`` ...) or holds one dialect's files itself.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import math
import os
import sqlite3
import sqlite3.dbapi2
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import yoyo

import agentdb

from .config import Config
from .errors import AgentDBError, ConfigError, MigrationError, ValidationError
from .pool.replicas import direct_config

if TYPE_CHECKING:
    from .pool import Database

__all__ = [
    "DIALECTS",
    "MigrationState",
    "migrate",
    "migration_sources",
    "migration_status",
    "migrations_dir",
    "rollback",
    "yoyo_url",
]

log = logging.getLogger(__name__)

DIALECTS = ("postgresql", "mysql", "sqlite")

#: Folders of a user's own migrations, applied after the bundled ones.
Folders = Iterable[str | os.PathLike[str]]

#: Seconds to wait for another process's migration lock before giving up. yoyo's own default
#: (10 s) is shorter than a full migration of a MariaDB schema on a slow disk.
LOCK_TIMEOUT = 60.0

# yoyo keeps every Migration it reads in one class-level dict keyed by id, and resolves a
# migration's ``-- depends:`` lazily through it. Our three folders share ids, so migrations are
# read and loaded under this lock, before another folder's can take their place.
_READ_LOCK = threading.Lock()
_SQLITE_REGISTRY_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True)
class MigrationState:
    """One migration as the database sees it; ``applied_at`` is timezone-aware UTC."""

    id: str
    applied: bool
    applied_at: datetime | None


def migrations_dir(dialect: str) -> Path:
    """The folder of ``dialect``'s migrations: inside the package when installed from a wheel
    (setuptools maps the top-level ``migrations/`` to ``agentdb/migrations``), else beside the
    package in a source checkout."""
    package = Path(agentdb.__file__).parent
    installed = package / "migrations" / dialect
    if installed.is_dir():
        return installed
    return package.parent / "migrations" / dialect


def yoyo_url(db: Database | Config, *, hide_password: bool = True) -> str:
    """The URL yoyo (and the ``yoyo`` command line) needs for this database.

    ``postgresql+psycopg://`` selects yoyo's psycopg 3 backend (plain ``postgresql://`` would
    want psycopg2); ``mysql://`` is yoyo's PyMySQL backend. TLS follows the pool's choice. The
    password is masked unless ``hide_password=False``.
    """
    config = _config(db)
    if config.dialect == "sqlite":
        # yoyo opens "file:<path>?cache=shared" as an SQLite URI, which decodes %XX escapes.
        return "sqlite:///" + quote(str(config.path), safe="/")
    if not config.database:
        raise MigrationError(f"cannot migrate {config.target}: the URL names no database")
    scheme = "postgresql+psycopg" if config.dialect == "postgresql" else "mysql"
    args = _pg_args(config) if config.dialect == "postgresql" else _mysql_args(config)
    url = config.url(hide_password=hide_password, scheme=scheme)
    return f"{url}?{urlencode(args)}" if args else url


def migrate(
    db: Database | Config, *, extra: Folders = (), lock_timeout: float = LOCK_TIMEOUT
) -> list[str]:
    """Apply every pending migration for the database's dialect, then those of the ``extra``
    folders (the application's own, in the order given); return the ids applied.

    Idempotent: with nothing pending it applies nothing and returns ``[]``. yoyo's lock makes
    processes that migrate the same database at once take turns; the later ones find nothing
    left to do. Each migration commits on its own, so a failing user migration leaves the
    bundled schema (and the user migrations before it) applied. ``db`` may be a ``Database`` or
    a plain ``Config`` (before any pool exists).
    """
    config = _config(db)
    migrations = _read(config, extra)
    with _guard(config, "migrate") as backend, _locked(config, backend, lock_timeout):
        ids = [str(m.id) for m in backend.to_apply(migrations)]
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            pending = backend.to_apply(migrations)
            if not pending:
                break
            log.info("applying %s to %s", ", ".join(str(m.id) for m in pending), config.target)
            try:
                backend.apply_migrations(pending)
                break
            except Exception as exc:
                if attempt == DEADLOCK_ATTEMPTS or not _deadlock_victim(config, exc):
                    raise
                # PostgreSQL rolled the whole migration back (its DDL is transactional) to
                # break a deadlock with the application's own traffic (a claim, say):
                # the migrations before it stay applied, and this one simply runs again.
                log.warning("a migration of %s was a deadlock victim; retrying (attempt %d)",
                            config.target, attempt + 1)
                sleep(0.05 * attempt)
    return ids


DEADLOCK_ATTEMPTS = 3


def _deadlock_victim(config: Config, exc: BaseException) -> bool:
    """Whether ``exc`` says PostgreSQL cancelled the migration's transaction to break a
    deadlock. Only there: a MariaDB migration's DDL commits implicitly, so re-running one
    that failed half-way is not safe, and SQLite waits for locks instead of deadlocking."""
    if config.dialect != "postgresql":
        return False
    import psycopg.errors

    return isinstance(exc, psycopg.errors.DeadlockDetected)


def rollback(
    db: Database | Config,
    steps: int | None = 1,
    *,
    extra: Folders = (),
    lock_timeout: float = LOCK_TIMEOUT,
) -> list[str]:
    """Roll back the last ``steps`` applied migrations (``None``: all); return their ids, newest
    first. Rolling back drops tables and the data in them. Pass the same ``extra`` folders as
    to :func:`migrate`, so the application's migrations go first."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
        raise ValidationError("steps", f"must be a non-negative integer or None; got {steps!r}")
    config = _config(db)
    migrations = _read(config, extra)
    with _guard(config, "rollback") as backend, _locked(config, backend, lock_timeout):
        applied = backend.to_rollback(migrations)  # newest first
        chosen = applied if steps is None else applied[:steps]
        ids = [str(m.id) for m in chosen]
        if ids:
            log.info("rolling back %s on %s", ", ".join(ids), config.target)
            backend.rollback_migrations(chosen)
    return ids


def migration_status(db: Database | Config, *, extra: Folders = ()) -> list[MigrationState]:
    """Every migration of the dialect's folder, then of the ``extra`` folders, in order, applied
    or not; then any migration the database records that none of them holds (a database ahead
    of the code, or an application migration whose folder was not passed)."""
    config = _config(db)
    migrations = _read(config, extra)
    # SQLite: read the time as text. yoyo wrote it with whichever datetime adapter was live,
    # and sqlite3's default "timestamp" converter cannot parse yoyo's (ISO "T") form.
    when = "CAST({quoted.applied_at_utc} AS TEXT)" if config.dialect == "sqlite" else (
        "{quoted.applied_at_utc}"
    )
    with _guard(config, "migration status") as backend:
        backend.ensure_internal_schema_updated()  # yoyo's bookkeeping tables, on a fresh db
        sql = backend.format_sql(
            "SELECT {quoted.migration_hash}, {quoted.migration_id}, " + when + " "
            "FROM {0.migration_table_quoted} ORDER BY {quoted.applied_at_utc}"
        )
        rows: list[tuple[Any, ...]] = list(backend.execute(sql).fetchall())
    recorded = {str(r[0]): (str(r[1]), _utc(r[2])) for r in rows}
    states = []
    for m in migrations:
        found = recorded.pop(str(m.hash), None)
        states.append(MigrationState(str(m.id), found is not None, found[1] if found else None))
    states.extend(MigrationState(mid, True, at) for mid, at in recorded.values())
    return states


# -- the lock that dies with its process -------------------------------------------------------

#: PostgreSQL advisory lock key of migrations (advisory locks are per database).
PG_LOCK_KEY = int.from_bytes(b"agentdbM", "big")
_POLL = 0.1  # seconds between tries of the session lock


@contextmanager
def _locked(config: Config, backend: Any, timeout: float) -> Iterator[None]:
    """The session lock, then yoyo's lock row (broken first if its holder is dead), waiting
    at most ``timeout`` seconds in all."""
    deadline = monotonic() + timeout
    with _session_lock(config, backend, deadline):
        _break_stale_lock(config, backend)
        remaining = max(deadline - monotonic(), _POLL)  # yoyo waits for ever on 0
        with backend.lock(timeout=remaining):  # LockTimeout becomes MigrationError in _guard
            yield


@contextmanager
def _session_lock(config: Config, backend: Any, deadline: float) -> Iterator[None]:
    """A lock the server (or, for SQLite, the kernel) drops when this process dies."""
    if config.memory:  # one process only: yoyo's lock row is enough
        yield
        return
    if config.dialect == "sqlite":
        with _directory_lock(config, deadline):
            yield
        return
    if config.dialect == "postgresql":
        take = f"SELECT pg_try_advisory_lock({PG_LOCK_KEY})"
        release = f"SELECT pg_advisory_unlock({PG_LOCK_KEY})"
    else:  # GET_LOCK names are server-wide (at most 64 characters): one per database
        name = "agentdb_migrate_" + hashlib.sha1(str(config.database).encode()).hexdigest()
        take, release = f"SELECT GET_LOCK('{name}', 0)", f"SELECT RELEASE_LOCK('{name}')"
    while not _scalar(backend, take):
        if monotonic() >= deadline:
            raise MigrationError(f"{config.target} is being migrated by another process "
                                 "(it holds the migration lock); gave up waiting")
        sleep(_POLL)
    try:
        yield
    finally:
        try:
            _scalar(backend, release)
        except Exception:  # the connection is closed next anyway, which releases it too
            log.debug("releasing the migration session lock failed", exc_info=True)


@contextmanager
def _directory_lock(config: Config, deadline: float) -> Iterator[None]:
    """SQLite: ``flock`` on the database file's directory (never on the file itself: closing
    any descriptor of it would drop the POSIX locks SQLite holds in this process)."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): yoyo's lock row alone
        yield
        return
    directory = os.path.dirname(os.path.abspath(str(config.path)))
    fd = os.open(directory, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if monotonic() >= deadline:
                    raise MigrationError(
                        f"{config.target} is being migrated by another process (it holds "
                        f"the migration lock on {directory}); gave up waiting"
                    ) from None
                sleep(_POLL)
        yield
    finally:
        os.close(fd)  # releases the flock


def _scalar(backend: Any, sql: str) -> Any:
    with backend.transaction():
        row = backend.execute(sql).fetchone()
    return row[0] if row else None


def _break_stale_lock(config: Config, backend: Any) -> None:
    """Delete yoyo's lock row if its holder is dead. We hold the session lock, so no migrator
    of ours holds the row; only a live ``yoyo`` command on this host still may."""
    with backend.transaction():
        row = backend.execute(
            backend.format_sql("SELECT pid, ctime FROM {0.lock_table_quoted}")
        ).fetchone()
    if row is None:
        return
    pid = int(row[0])
    if _alive(pid):
        log.info("the migration lock of %s is held by live process %d; waiting for it",
                 config.target, pid)
        return
    log.warning("breaking the migration lock of %s left by process %d (dead) at %s",
                config.target, pid, row[1])
    backend.break_lock()


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process on this host."""
    if pid <= 0 or pid == os.getpid():
        return False  # ours: a lock row of this process outside a migration is left over
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True


# -- helpers -----------------------------------------------------------------------------------


def _config(db: Database | Config) -> Config:
    """Where yoyo connects: the database, or its ``direct_url=`` when there is one; refused
    through PgBouncer (yoyo's lock and a migration's DDL need one server session)."""
    config = db if isinstance(db, Config) else getattr(db, "config", None)
    if not isinstance(config, Config):
        raise TypeError(f"expected an agentdb Database or Config, got {type(db).__name__}")
    pgbouncer = bool(config.pgbouncer or getattr(db, "pgbouncer", False))
    try:
        return direct_config(config, pgbouncer, "migrations")
    except ConfigError as exc:
        raise MigrationError(str(exc)) from None


def _pg_args(config: Config) -> dict[str, str]:
    """libpq keywords for yoyo's psycopg connection; all text, as libpq takes them."""
    args = {"connect_timeout": str(max(1, math.ceil(config.connect_timeout)))}
    if config.tls_enabled != "prefer":
        args["sslmode"] = config.tls_enabled
    for key, value in config.driver_args.items():
        args[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return args


def _mysql_args(config: Config) -> dict[str, str]:
    """PyMySQL keywords for yoyo's connection. yoyo hands query values to PyMySQL as strings,
    so only options that work as text get through: TLS switches and string options
    (``ssl_ca``, ``unix_socket``, ``charset``...); numeric ones such as ``read_timeout`` stay
    with the pool."""
    args: dict[str, str] = {}
    if config.tls_enabled == "disable":
        args["ssl_disabled"] = "1"  # else PyMySQL builds a TLS context on every connect
    elif config.tls_enabled == "require":
        args["ssl_verify_cert"] = "false"  # any ssl_* option makes PyMySQL insist on TLS
    for key, value in config.driver_args.items():
        if isinstance(value, str):
            args[key] = value
        elif value is True:
            args[key] = "1"
        elif value is not False and value is not None:
            log.debug("option %s is not passed to the migration connection (not text)", key)
    return args


def migration_sources(dialect: str, extra: Folders = ()) -> list[Path]:
    """The folders one yoyo run reads for ``dialect``: the bundled one, then each extra folder's
    ``<dialect>/`` subfolder, or the folder itself when it has no per-dialect subfolders (a
    folder with subfolders for other dialects only adds nothing)."""
    if isinstance(extra, str | os.PathLike):
        extra = [extra]  # one folder given bare: not a string to iterate letter by letter
    bundled = migrations_dir(dialect)
    if not bundled.is_dir():
        raise MigrationError(f"no migrations for {dialect}: {bundled} is not a directory")
    sources = [bundled]
    for folder in extra:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise MigrationError(f"migration folder {folder} is not a directory")
        if (path / dialect).is_dir():
            sources.append(path / dialect)
        elif not any((path / d).is_dir() for d in DIALECTS):
            sources.append(path)
    return sources


def _read(config: Config, extra: Folders = ()) -> Any:
    """The migrations of one yoyo run, loaded now so a bad file fails here rather than being
    skipped (``apply_migrations`` silently passes over a migration that fails to load)."""
    sources = migration_sources(config.dialect, extra)
    where = ", ".join(map(str, sources))
    try:
        with _READ_LOCK:
            migrations = yoyo.read_migrations(*(glob.escape(str(s)) for s in sources))
            for m in migrations:
                m.load()
    except yoyo.exceptions.MigrationConflict as exc:
        raise MigrationError(f"migration id {exc} appears twice in {where}; rename the "
                             "application's file (ids are file names without .sql)") from exc
    except Exception as exc:
        raise MigrationError(f"cannot read migrations in {where}: {exc}") from exc
    return migrations


def _backend(config: Config) -> Any:
    """yoyo's backend for the database. An in-memory SQLite database is reached only through
    its shared-cache URI (yoyo would open a file of that name), so there yoyo's SQLite backend
    gets that connection instead."""
    if not config.memory:
        return yoyo.get_backend(yoyo_url(config, hide_password=False))
    if config.path == ":memory:":
        raise MigrationError("cannot migrate sqlite:///:memory: from a Config: each Database "
                             "has its own in-memory database; pass the Database")
    from yoyo.backends.core.sqlite3 import SQLiteBackend
    from yoyo.connections import parse_uri

    uri = str(config.path)

    class MemoryBackend(SQLiteBackend):  # type: ignore[misc]
        def connect(self, dburi: Any) -> Any:
            conn = sqlite3.connect(uri, uri=True, detect_types=sqlite3.PARSE_DECLTYPES)
            conn.isolation_level = None
            return conn

    backend = MemoryBackend(parse_uri("sqlite:///agentdb-memory"), "_yoyo_migration")
    backend.init_database()
    return backend


@contextmanager
def _guard(config: Config, action: str) -> Iterator[Any]:
    """A yoyo backend on its own connection, closed afterwards; any error from yoyo or the
    driver comes out as MigrationError, chained, with the password masked."""
    backend = None
    try:
        with _sqlite3_registry_kept() if config.dialect == "sqlite" else nullcontext():
            backend = _backend(config)
            yield backend
    except AgentDBError:
        raise
    except Exception as exc:
        message, leaked = _describe(config, exc)
        error = MigrationError(f"{action} failed on {config.dialect} {config.target}: {message}")
        if leaked:  # the driver's own message held the password: do not chain it
            raise error from None
        raise error from exc
    finally:
        if backend is not None:
            try:
                backend.connection.close()
            except Exception:  # the connection may already be dead; nothing to release
                log.debug("closing the migration connection failed", exc_info=True)


@contextmanager
def _sqlite3_registry_kept() -> Iterator[None]:
    """Leave the sqlite3 module as yoyo found it.

    Around each migration step yoyo's SQLite backend registers its own datetime adapter and
    "timestamp" converter, then "restores" them by rebinding ``sqlite3.adapters`` and
    ``sqlite3.converters`` to copies, which leaves its functions in the registries sqlite3
    really uses: afterwards every sqlite3 connection in the process would turn datetimes into
    different text. Put the live registries back as they were. SQLite migrations in one process
    take turns on a lock so that one cannot save another's half-changed state.
    """
    live_adapters, live_converters = sqlite3.dbapi2.adapters, sqlite3.dbapi2.converters
    with _SQLITE_REGISTRY_LOCK:
        adapters, converters = dict(live_adapters), dict(live_converters)
        try:
            yield
        finally:
            live_adapters.clear()
            live_adapters.update(adapters)
            live_converters.clear()
            live_converters.update(converters)
            sqlite3.adapters = live_adapters
            sqlite3.converters = live_converters


def _describe(config: Config, exc: BaseException) -> tuple[str, bool]:
    text = f"{type(exc).__name__}: {exc}"
    leaked = False
    if config.password:
        for secret in {config.password, quote(config.password, safe="")}:
            if secret in text:
                text = text.replace(secret, "***")
                leaked = True
    return text, leaked


def _utc(value: Any) -> datetime | None:
    """yoyo stores naive UTC; drivers return it as datetime (or text from SQLite)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
