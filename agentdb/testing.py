"""A pytest plugin for users' own test suites: a migrated agentdb ``Database`` per test.

Enable it in a ``conftest.py`` with ``pytest_plugins = ["agentdb.testing"]`` (or run
``pytest -p agentdb.testing``), then ask for the ``agentdb_db`` fixture::

    def test_orders(agentdb_db):
        orders = OrderRepository(agentdb_db)
        ...

Where the database lives: ``--agentdb-url URL``, else the ``agentdb_url`` ini option, else
``AGENTDB_TEST_URL``, else ``sqlite:///:memory:``. In memory, every test gets its own database,
copied from one migrated at the start of the session (a copy costs far less than migrating).
On a file or a server, the database is migrated once per session and every table but yoyo's is
emptied after each test: point it at a database you can wipe. The application's own migration
folders come from the ``agentdb_migrations`` ini option (paths relative to the ini file), or
override the ``agentdb_migrations`` fixture.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .migrate import migrate
from .pool import Database, connect

__all__ = ["DEFAULT_URL", "agentdb_db", "agentdb_migrations", "agentdb_url", "empty_tables"]

DEFAULT_URL = "sqlite:///:memory:"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentdb")
    group.addoption("--agentdb-url", default=None, metavar="URL",
                    help="database for the agentdb_db fixture (default: AGENTDB_TEST_URL, "
                         f"else {DEFAULT_URL}); its tables are emptied after each test")
    parser.addini("agentdb_url", "database URL for the agentdb_db fixture", default=None)
    parser.addini("agentdb_migrations", "the application's own migration folders",
                  type="paths", default=[])


@pytest.fixture(scope="session")
def agentdb_url(request: pytest.FixtureRequest) -> str:
    """The URL the ``agentdb_db`` fixture uses."""
    config = request.config
    url = (config.getoption("--agentdb-url") or config.getini("agentdb_url")
           or os.environ.get("AGENTDB_TEST_URL") or DEFAULT_URL)
    return str(url)


@pytest.fixture(scope="session")
def agentdb_migrations(request: pytest.FixtureRequest) -> list[str | os.PathLike[str]]:
    """The application's migration folders, applied after agentdb's; override to change."""
    return [Path(p) for p in request.config.getini("agentdb_migrations")]


@pytest.fixture(scope="session")
def _agentdb_session_db(
    agentdb_url: str, agentdb_migrations: list[str | os.PathLike[str]]
) -> Iterator[Database]:
    db = connect(agentdb_url)
    try:
        migrate(db, extra=agentdb_migrations)
        yield db
    finally:
        db.close()


@pytest.fixture
def agentdb_db(_agentdb_session_db: Database) -> Iterator[Database]:
    """A migrated Database, clean for this test."""
    template = _agentdb_session_db
    if template.config.memory:
        db = connect(DEFAULT_URL, pool_size=template.config.pool_size)
        try:
            _copy_memory(template, db)
            yield db
        finally:
            db.close()
        return
    try:
        yield template
    finally:
        empty_tables(template)


def _copy_memory(source: Database, target: Database) -> None:
    """The migrated template, copied page by page into the new in-memory database."""
    src = sqlite3.connect(str(source.config.path), uri=True)
    dst = sqlite3.connect(str(target.config.path), uri=True)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def empty_tables(db: Database) -> None:
    """Delete every row of every table except yoyo's, whatever foreign keys join them: on
    PostgreSQL children before parents in one transaction (DELETE takes milliseconds where
    TRUNCATE takes a tenth of a second), on MySQL and SQLite with key checks off."""
    with db.connection(write=True) as conn:
        cur = conn.cursor()
        if db.dialect == "postgresql":
            _empty_postgresql(cur)
        elif db.dialect == "mysql":
            cur.execute("SELECT table_name AS t FROM information_schema.tables WHERE "
                        "table_schema = DATABASE() AND table_type = 'BASE TABLE'")
            tables = [_text(r["t"]) for r in cur.fetchall() if "yoyo" not in _text(r["t"])]
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for t in tables:
                    cur.execute(f"DELETE FROM `{t}`")
            finally:
                cur.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%yoyo%'")
            tables = [r["name"] for r in cur.fetchall()]
            cur.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, as SQLite needs
            try:
                for t in tables:
                    cur.execute(f'DELETE FROM "{t}"')
            finally:
                cur.execute("PRAGMA foreign_keys = ON")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _empty_postgresql(cur: Any) -> None:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename NOT LIKE '%yoyo%'")
    tables = {r["tablename"] for r in cur.fetchall()}
    cur.execute("SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k "
                "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
                "WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace")
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for r in cur.fetchall():
        if r["child"] in tables and r["parent"] in tables and r["child"] != r["parent"]:
            parents[r["child"]].add(r["parent"])
    order: list[str] = []  # children first: a table goes once nothing left refers to it
    left = set(tables)
    while left:
        ready = sorted(t for t in left if not any(t in parents[o] for o in left if o != t))
        if not ready:  # a cycle of foreign keys: TRUNCATE handles it whole
            cur.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in sorted(left)) + " CASCADE")
            left.clear()
            break
        order += ready
        left -= set(ready)
    cur.execute("BEGIN")
    try:
        for t in order:
            cur.execute(f'DELETE FROM "{t}"')
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
