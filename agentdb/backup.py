"""Back up a database to one file, and restore an SQLite database from one.

SQLite goes through its online backup API, which copies a consistent snapshot while other
connections keep writing (copying the file would tear a WAL database). PostgreSQL and MariaDB
go through the servers' own dump tools, the only complete and version-aware dumpers; their
password travels in the environment (``PGPASSWORD``, ``MYSQL_PWD``), never on the command line,
where any user of the machine could read it. Every backup is written to a temporary file
beside the target and renamed into place, so a failed run never leaves half a backup behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING

from .config import Config
from .errors import AgentDBError, ValidationError
from .queries import STREAM_BATCH, load

if TYPE_CHECKING:
    from .pool import Database

__all__ = ["BackupError", "BackupResult", "backup", "dump_tool", "export_jobs", "restore"]


class BackupError(AgentDBError):
    """A backup or restore could not be made: a missing dump tool, a failed dump, a bad file."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    """What a backup or restore did: the file, its size, the tool and how long it took."""

    path: str
    size_bytes: int
    tool: str
    seconds: float


def _config(db: Database | Config) -> Config:
    return db if isinstance(db, Config) else db.config


def backup(db: Database | Config, path: str | os.PathLike[str], *,
           overwrite: bool = False) -> BackupResult:
    """Write a full backup of the database to ``path``: an SQLite file for SQLite, a plain SQL
    script from ``pg_dump`` / ``mariadb-dump`` (or ``mysqldump``) for the servers."""
    config = _config(db)
    dest = _destination(path, overwrite)
    start = perf_counter()
    with _staged(dest) as tmp:
        if config.dialect == "sqlite":
            tool = "sqlite3 backup API"
            _backup_sqlite(config, tmp)
        else:
            tool = dump_tool(config.dialect)
            argv, env = _dump_command(config, tool, tmp)
            _run(argv, env, config, "backup")
    return BackupResult(str(dest), dest.stat().st_size, Path(tool).name,
                        perf_counter() - start)


def export_jobs(db: Database, path: str | os.PathLike[str], *, overwrite: bool = False,
                batch_size: int = STREAM_BATCH) -> BackupResult:
    """Write every job to ``path`` as JSON Lines (one job's ``to_dict()`` per line, oldest
    first), on any backend. The rows are streamed (``Queries.stream``: a server-side cursor on
    PostgreSQL, an unbuffered one on MariaDB), so memory stays flat whatever the table's size;
    the file appears only once it is complete."""
    from .repositories.jobs import Job, JobStore

    dest = _destination(path, overwrite)
    start = perf_counter()
    stream = JobStore.queries.stream(db, "export_jobs", batch_size=batch_size)
    with stream as rows, _staged(dest) as tmp, tmp.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(Job.from_row(row).to_dict(), default=_json_value))
            out.write("\n")
    return BackupResult(str(dest), dest.stat().st_size, "agentdb stream",
                        perf_counter() - start)


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # enums are str already; anything else by its text


def _destination(path: str | os.PathLike[str], overwrite: bool) -> Path:
    dest = Path(path)
    if dest.exists() and not overwrite:
        raise ValidationError("path", f"{dest} already exists; pass --force to overwrite it")
    if dest.is_dir():
        raise ValidationError("path", f"{dest} is a directory; name a file")
    if not dest.parent.is_dir():
        raise ValidationError("path", f"directory {dest.parent} does not exist")
    return dest


def restore(db: Database | Config, path: str | os.PathLike[str], *,
            overwrite: bool = False) -> BackupResult:
    """Replace an SQLite database with the backup at ``path``, through the backup API, so
    connections other processes hold see the restored data instead of a torn file.

    Refuses to replace a database that already has tables unless ``overwrite``. The servers
    restore with their own clients (``psql -f``, ``mariadb < file``), named in the error."""
    config = _config(db)
    if config.dialect != "sqlite":
        client = "psql -d DBNAME -f PATH" if config.dialect == "postgresql" else (
            "mariadb DBNAME < PATH")
        raise BackupError(f"restore supports SQLite only; restore a {config.dialect} dump with "
                          f"its own client: {client}")
    source = Path(path)
    if not source.is_file():
        raise ValidationError("path", f"no backup file at {source}")
    start = perf_counter()
    timeout = config.busy_timeout / 1000
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source}: {exc}") from exc
    with closing(src):
        try:
            verdict = src.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not an SQLite database ({exc})") from exc
        if verdict != "ok":
            raise BackupError(f"{source} is damaged: {verdict}")
        target = Path(str(config.path))
        dst = sqlite3.connect(str(target), timeout=timeout)
        with closing(dst):
            tables = dst.execute(load("admin").show("count_tables", "sqlite")).fetchone()[0]
            if tables and not overwrite:
                raise ValidationError(
                    "database", f"{target} already holds {tables} tables; pass --force to "
                    "replace them with the backup")
            try:
                src.backup(dst)
            except sqlite3.Error as exc:
                raise BackupError(f"restore into {target} failed: {exc}") from exc
    return BackupResult(str(target), target.stat().st_size, "sqlite3 backup API",
                        perf_counter() - start)


def dump_tool(dialect: str) -> str:
    """The dump program for a server dialect, from PATH; a BackupError naming it if absent."""
    names = ("pg_dump",) if dialect == "postgresql" else ("mariadb-dump", "mysqldump")
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    package = "postgresql-client" if dialect == "postgresql" else "mariadb-client"
    raise BackupError(f"backing up {dialect} needs {' or '.join(names)} on PATH; install it "
                      f"(e.g. apt-get install {package})")


# -- helpers -----------------------------------------------------------------------------------


@contextmanager
def _staged(dest: Path) -> Iterator[Path]:
    """A temporary file beside ``dest``, renamed onto it only if the block succeeds."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _backup_sqlite(config: Config, tmp: Path) -> None:
    source = Path(str(config.path))
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    timeout = config.busy_timeout / 1000
    try:
        with closing(sqlite3.connect(str(source), timeout=timeout)) as src, \
                closing(sqlite3.connect(str(tmp))) as dst:
            src.backup(dst)  # one step: a single read snapshot; WAL writers carry on meanwhile
            # A backup is one self-contained file: no -wal/-shm companions to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from exc


def _dump_command(config: Config, tool: str, out: Path) -> tuple[list[str], dict[str, str]]:
    """argv and environment for the dump; the password only ever in the environment."""
    env = dict(os.environ)
    host = config.host or "localhost"
    if config.dialect == "postgresql":
        argv = [tool, "--no-password", f"--host={host}", f"--port={config.port}",
                f"--file={out}", "--no-owner", "--no-privileges"]
        if config.username:
            argv.append(f"--username={config.username}")
        argv.append(f"--dbname={config.database or ''}")
        env.pop("PGPASSWORD", None)
        if config.password:
            env["PGPASSWORD"] = config.password
        env["PGSSLMODE"] = config.tls_enabled  # disable / prefer / require: libpq's own words
        env["PGCONNECT_TIMEOUT"] = str(max(1, int(config.connect_timeout)))
        return argv, env
    if not config.database:
        raise ValidationError("database", "the URL names no database to back up")
    argv = [tool, f"--host={host}", f"--port={config.port}", "--protocol=TCP",
            "--single-transaction", "--routines", "--triggers", "--hex-blob",
            f"--result-file={out}"]
    if config.username:
        argv.append(f"--user={config.username}")
    if config.tls_enabled == "disable":
        argv.append("--skip-ssl")  # as the pool does: no TLS to a loopback server
    elif config.tls_enabled == "require":
        argv.append("--ssl")
    argv += ["--", config.database]
    env.pop("MYSQL_PWD", None)
    if config.password:
        env["MYSQL_PWD"] = config.password
    return argv, env


def _run(argv: list[str], env: dict[str, str], config: Config, action: str) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise BackupError(f"{action} failed: cannot run {argv[0]}: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit status {done.returncode}"
        if config.password:
            reason = reason.replace(config.password, "***")
        raise BackupError(f"{action} of {config.dialect} {config.target} failed: "
                          f"{Path(argv[0]).name}: {reason}")
