"""``sqlite:///:memory:`` (one shared-cache in-memory database per Database, alive while it is
open, the same data on every pooled connection) and the ``agentdb.testing`` pytest plugin, run
as a user's own suite would run it: from a directory outside the repository."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import Databases, require_server

import agentdb
from agentdb.errors import AgentDBError, MigrationError
from agentdb.testing import empty_tables

REPO = Path(__file__).resolve().parent.parent


def test_memory_database_is_shared_by_every_pooled_connection() -> None:
    db = agentdb.connect("sqlite:///:memory:", pool_size=4)
    try:
        assert db.config.memory and "mode=memory" in str(db.config.path)
        agentdb.migrate(db)
        jobs = agentdb.JobStore(db)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(25):
                    jobs.create("t")
                    with db.acquire(readonly=True) as conn:  # another connection, same data
                        conn.cursor().execute("SELECT COUNT(*) AS n FROM jobs")
                    jobs.list(limit=5)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert jobs.count() == 150 and db.stats().size > 1
        other = agentdb.connect("sqlite:///:memory:")  # another Database: its own database
        try:
            assert other.config.path != db.config.path
            with pytest.raises(AgentDBError):
                agentdb.JobStore(other).count()  # no tables there
        finally:
            other.close()
    finally:
        db.close()
    # closed, the in-memory database is gone with its last connection
    again = sqlite3.connect(str(db.config.path), uri=True)
    try:
        assert again.execute("SELECT name FROM sqlite_master").fetchall() == []
    finally:
        again.close()


def test_memory_config_alone_cannot_be_migrated() -> None:
    with pytest.raises(MigrationError, match="pass the Database"):
        agentdb.migrate(agentdb.parse_config("sqlite:///:memory:"))


def test_empty_tables_respects_foreign_keys(dialect: str, make_db: Databases) -> None:
    db = make_db(dialect, migrated=True)
    user = agentdb.UserRepository(db).create("keeper", "k@example.org", "a long password!")
    wf = agentdb.WorkflowRepository(db).create(user.id, "wf", {"steps": []})
    agentdb.ExecutionRepository(db).start(workflow_id=wf.id, user_id=user.id)
    empty_tables(db)
    assert agentdb.UserRepository(db).list() == [] and agentdb.WorkflowRepository(db).list() == []
    assert all(s.applied for s in agentdb.migration_status(db))  # yoyo's own tables kept


USER_SUITE = '''
import agentdb

def test_one(agentdb_db):
    agentdb.UserRepository(agentdb_db).create("alice", "a@example.org", "a long password!")
    assert len(agentdb.UserRepository(agentdb_db).list()) == 1

def test_two_starts_clean(agentdb_db):
    assert agentdb.UserRepository(agentdb_db).list() == []
    agentdb.UserRepository(agentdb_db).create("alice", "a@example.org", "a long password!")

def test_app_migrations_applied(agentdb_db):
    with agentdb_db.connection() as conn:
        conn.cursor().execute("SELECT COUNT(*) AS n FROM orders")
'''


@pytest.mark.parametrize("where", ["memory", "sqlite", "postgresql", "mysql"])
def test_plugin_gives_each_test_a_clean_migrated_database(
    where: str, make_db: Databases, tmp_path: Path
) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text('pytest_plugins = ["agentdb.testing"]\n')
    (suite / "test_app.py").write_text(USER_SUITE)
    (suite / "pytest.ini").write_text(
        f"[pytest]\nagentdb_migrations = {REPO / 'examples' / 'orders' / 'migrations'}\n")
    args = []
    if where != "memory":
        require_server(where)
        args = ["--agentdb-url", make_db.url(where)]
    env = {k: v for k, v in os.environ.items() if k != "AGENTDB_TEST_URL"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=suite, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
