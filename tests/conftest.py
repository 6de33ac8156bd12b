"""Fixtures over real servers: every backend-facing test runs on sqlite, postgresql and mysql.

Server URLs come from ``AGENTDB_TEST_POSTGRES_URL`` / ``AGENTDB_TEST_MYSQL_URL`` (defaults: the
local servers). A server that does not answer skips its cases, with the reason, except under
``CI=true``, where it fails them. Each test database is created here and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

import agentdb
from agentdb import Database
from agentdb.config import parse_config

DIALECTS = ("sqlite", "postgresql", "mysql")
SERVER_URLS = {
    "postgresql": os.environ.get(
        "AGENTDB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
    "mysql": os.environ.get("AGENTDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}
IN_CI = os.environ.get("CI", "").lower() == "true"
_reachable: dict[str, str | None] = {}


def _admin(dialect: str) -> Any:
    """An autocommit driver connection to the server, for CREATE/DROP DATABASE."""
    c = parse_config(SERVER_URLS[dialect])
    if dialect == "postgresql":
        return psycopg.connect(
            host=c.host, port=c.port, user=c.username, password=c.password,
            dbname=c.database or "postgres", autocommit=True, connect_timeout=5,
        )
    return pymysql.connect(
        host=c.host, port=c.port or 3306, user=c.username, password=c.password or "",
        autocommit=True, connect_timeout=5, ssl_disabled=True,
    )


def require_server(dialect: str) -> None:
    """Skip (or, under CI=true, fail) when the dialect's server does not answer."""
    if dialect == "sqlite":
        return
    if dialect not in _reachable:
        try:
            _admin(dialect).close()
            _reachable[dialect] = None
        except Exception as exc:
            _reachable[dialect] = f"{dialect} server not reachable: {exc}"
    reason = _reachable[dialect]
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)


def server_url(dialect: str, database: str) -> str:
    """The test server's URL, pointed at another database."""
    base = SERVER_URLS[dialect]
    head, _, tail = base.rpartition("/")
    query = tail.partition("?")[2]
    return f"{head}/{database}" + (f"?{query}" if query else "")


class Databases:
    """Creates fresh databases on demand and drops them all at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.opened: list[Database] = []
        self.created: list[tuple[str, str]] = []

    def url(self, dialect: str) -> str:
        """The URL of a new, empty database of that dialect."""
        require_server(dialect)
        name = "agentdb_t_" + uuid.uuid4().hex[:10]
        if dialect == "sqlite":
            return f"sqlite:///{self.tmp / (name + '.db')}"
        admin = _admin(dialect)
        try:
            with admin.cursor() as cur:
                if dialect == "postgresql":
                    cur.execute(f'CREATE DATABASE "{name}"')
                else:
                    cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        finally:
            admin.close()
        self.created.append((dialect, name))
        return server_url(dialect, name)

    def __call__(self, dialect: str, migrated: bool = False, **options: Any) -> Database:
        db = agentdb.connect(self.url(dialect), **options)
        self.opened.append(db)
        if migrated:
            from agentdb.migrate import migrate

            migrate(db)
        return db

    def cleanup(self) -> None:
        for db in self.opened:
            db.close()
        for dialect, name in self.created:
            drop_database(dialect, name)


def drop_database(dialect: str, name: str) -> None:
    admin = _admin(dialect)
    try:
        with admin.cursor() as cur:
            if dialect == "postgresql":
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.close()


@pytest.fixture
def make_db(tmp_path: Path) -> Iterator[Databases]:
    """``make_db(dialect, migrated=False, **pool_options)`` -> a Database on a fresh database."""
    dbs = Databases(tmp_path)
    yield dbs
    dbs.cleanup()


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    require_server(request.param)
    return str(request.param)


# -- the migrated `db` fixture ------------------------------------------------------------------
# Migrating takes a while on the servers, so each dialect is migrated once per session and every
# test starts from emptied tables; SQLite copies a migrated template file instead.

_templates: dict[str, Any] = {}


def _empty_tables(db: Database) -> None:
    """The plugin users get (agentdb.testing) empties tables the same way."""
    from agentdb.testing import empty_tables

    empty_tables(db)


@pytest.fixture(scope="session")
def _session_dbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("session"))
    yield dbs
    dbs.cleanup()


def _migrated(dialect: str, dbs: Databases) -> Any:
    if dialect not in _templates:
        from agentdb.migrate import migrate

        if dialect == "sqlite":
            template = dbs.tmp / "template.db"
            db = agentdb.connect(f"sqlite:///{template}")
            migrate(db)
            with db.connection() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
            _templates[dialect] = template
        else:
            _templates[dialect] = dbs(dialect, migrated=True)
    return _templates[dialect]


@pytest.fixture
def db(dialect: str, _session_dbs: Databases, tmp_path: Path) -> Iterator[Database]:
    """A Database on a migrated schema with empty tables; one case per backend."""
    template = _migrated(dialect, _session_dbs)
    if dialect == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        database = agentdb.connect(f"sqlite:///{path}")
        yield database
        database.close()
    else:
        _empty_tables(template)
        yield template


# -- throwaway servers for fault tests (tests/servers.py) ---------------------------------------
# One server per kind per session (each starts in about a second); a test may stop, freeze or
# kill it, and the `server` fixture puts it back (thawed, running) afterwards.

SERVER_KINDS = ("postgresql", "mysql")
_throwaway: dict[str, Any] = {}


def throwaway_server(dialect: str) -> Any:
    """The session's throwaway server of that kind, made on first use; skips (fails under
    CI=true) when the machine cannot run one."""
    from servers import SERVER_CLASSES

    if dialect not in _throwaway:
        cls = SERVER_CLASSES[dialect]
        reason = cls.available()
        if reason:
            if IN_CI:
                pytest.fail(f"CI=true: {reason}")
            pytest.skip(reason)
        _throwaway[dialect] = cls.create()
    server = _throwaway[dialect]
    server.ensure_running()
    return server


@pytest.fixture(scope="session", autouse=True)
def _remove_throwaway_servers() -> Iterator[None]:
    yield
    for server in _throwaway.values():
        server.remove()
    _throwaway.clear()


@pytest.fixture(params=SERVER_KINDS)
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A throwaway PostgreSQL or MariaDB server (tests/servers.py) the test may stop, restart,
    freeze or kill backends of; running and thawed again after the test."""
    srv = throwaway_server(str(request.param))
    yield srv
    srv.ensure_running()
