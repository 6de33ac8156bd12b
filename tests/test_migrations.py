"""The schema, as yoyo migrations on three dialects, and the Python migrate API over yoyo.

Every server test runs on a throwaway database of its own (created here, dropped afterwards):
applying, rolling back and re-applying must leave the same schema; two processes migrating one
fresh database at once must both succeed with the schema built exactly once; and the documented
``yoyo`` command lines must work as written.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import signal
import sqlite3
import sqlite3.dbapi2
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from conftest import DIALECTS, SERVER_URLS, Databases
from yoyo.connections import parse_uri
from yoyo.migrations import read_sql_migration

import agentdb
from agentdb.config import Config, parse_config
from agentdb.errors import MigrationError, ValidationError
from agentdb.migrate import (
    MigrationState,
    migrate,
    migration_status,
    migrations_dir,
    rollback,
    yoyo_url,
)

REPO = Path(__file__).resolve().parent.parent

# yoyo's MySQL backend passes PyMySQL the old "db" and "passwd" keywords; nothing of ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:'(db|passwd)' is deprecated:DeprecationWarning")

MIGRATION_IDS = [
    "0001_jobs",
    "0002_users",
    "0003_workflows",
    "0004_executions",
    "0005_agents",
    "0006_content",
    "0007_tasks",
    "0008_list_indexes",
    "0009_queue",
    "0010_metric_summary_artifact_data",
    "0011_keyset_indexes",
]
TABLES = {
    "jobs", "job_results", "job_logs",
    "users", "settings",
    "workflows", "workflow_versions", "workflow_shares",
    "executions", "execution_history",
    "agent_versions",
    "articles", "alerts",
    "tasks", "task_runs", "metric_snapshots", "artifacts",
}  # fmt: skip


# -- throwaway databases: conftest's `make_db` creates and drops them ----------------------------


@pytest.fixture
def new_database(make_db: Databases) -> Callable[[str], Config]:
    """``new_database(dialect)`` -> the Config of a fresh, empty database, dropped afterwards."""
    return lambda dialect: parse_config(make_db.url(dialect))


@pytest.fixture
def config(dialect: str, new_database: Callable[[str], Config]) -> Config:
    """A fresh, empty database of each dialect (conftest's `dialect` fixture skips or fails
    when a server does not answer)."""
    return new_database(dialect)


# -- talking to a database directly (no pool: these tests check the schema, not the pool) ------


def connect(config: Config) -> Any:
    if config.dialect == "postgresql":
        return psycopg.connect(
            host=config.host, port=config.port, user=config.username, password=config.password,
            dbname=config.database, autocommit=True,
        )  # fmt: skip
    if config.dialect == "mysql":
        return pymysql.connect(
            host=config.host, port=config.port or 3306, user=config.username,
            password=config.password or "", database=config.database, autocommit=True,
            ssl_disabled=True,
        )  # fmt: skip
    conn = sqlite3.connect(str(config.path), isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def run(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement with ``?`` placeholders on any of the three drivers; rows as tuples."""
    if not isinstance(conn, sqlite3.Connection):
        sql = sql.replace("?", "%s")
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []
    finally:
        cur.close()


def tables(config: Config) -> set[str]:
    conn = connect(config)
    try:
        if config.dialect == "sqlite":
            rows = run(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
        elif config.dialect == "postgresql":
            rows = run(conn, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        else:
            rows = run(
                conn,
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = DATABASE()",
            )
    finally:
        conn.close()
    return {r[0] for r in rows if "yoyo" not in r[0] and r[0] != "sqlite_sequence"}


_SCHEMA_QUERIES = {
    "postgresql": [
        "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,"
        " numeric_precision, is_nullable, column_default, is_identity, is_generated"
        " FROM information_schema.columns WHERE table_schema = current_schema()",
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema()",
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace",
    ],
    "mysql": [
        "SELECT table_name, column_name, ordinal_position, column_type, is_nullable,"
        " column_default, extra, character_set_name, collation_name, generation_expression"
        " FROM information_schema.columns WHERE table_schema = DATABASE()",
        "SELECT table_name, index_name, seq_in_index, column_name, non_unique, sub_part,"
        " collation FROM information_schema.statistics WHERE table_schema = DATABASE()",
        "SELECT table_name, constraint_name, constraint_type"
        " FROM information_schema.table_constraints WHERE constraint_schema = DATABASE()",
        "SELECT table_name, constraint_name, check_clause"
        " FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()",
        "SELECT table_name, constraint_name, referenced_table_name, update_rule, delete_rule"
        " FROM information_schema.referential_constraints"
        " WHERE constraint_schema = DATABASE()",
        "SELECT table_name, engine, table_collation FROM information_schema.tables"
        " WHERE table_schema = DATABASE()",
    ],
    "sqlite": ["SELECT type, name, tbl_name, sql FROM sqlite_master"],
}


def schema(config: Config) -> list[tuple[str, ...]]:
    """A sorted dump of the application schema (yoyo's own tables left out)."""
    conn = connect(config)
    try:
        rows = [
            tuple(str(v) for v in row)
            for sql in _SCHEMA_QUERIES[config.dialect]
            for row in run(conn, sql)
        ]
    finally:
        conn.close()
    internal = ("yoyo", "sqlite_sequence")  # sqlite_sequence outlives the tables that made it
    return sorted(r for r in rows if not any(n in v for n in internal for v in r[:3]))


def now_param(dialect: str) -> Any:
    """A timestamp as the application writes it: aware UTC (PG), naive UTC (MySQL), ISO text."""
    now = datetime.now(UTC)
    if dialect == "sqlite":
        return now.isoformat(timespec="microseconds")
    return now if dialect == "postgresql" else now.replace(tzinfo=None)


def integrity_errors(dialect: str) -> tuple[type[BaseException], ...]:
    if dialect == "postgresql":  # invalid JSON text is a DataError on PostgreSQL
        return (psycopg.IntegrityError, psycopg.DataError)
    if dialect == "mysql":  # MariaDB reports a failed CHECK as OperationalError 4025
        return (pymysql.err.IntegrityError, pymysql.err.OperationalError)
    return (sqlite3.IntegrityError,)


# -- the migration files -------------------------------------------------------------------------


def _files(dialect: str) -> list[str]:
    return sorted(p.name for p in migrations_dir(dialect).iterdir() if p.suffix == ".sql")


def test_each_dialect_has_the_same_migrations_each_with_its_rollback() -> None:
    names = _files("postgresql")
    assert names == _files("mysql") == _files("sqlite")
    ids = [n.removesuffix(".sql") for n in names if not n.endswith(".rollback.sql")]
    assert ids == MIGRATION_IDS
    assert sorted(names) == sorted([f"{i}.sql" for i in ids] + [f"{i}.rollback.sql" for i in ids])


def _objects(statement: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The (kind, name) objects a DDL statement creates or adds, and those it drops."""
    made = {(k.upper(), n) for k, n in re.findall(
        r"\b(?:CREATE|ADD)(?: UNIQUE)? (TABLE|INDEX|COLUMN) (\w+)", statement, re.IGNORECASE)}
    made |= {("COLUMN", n) for n in re.findall(r"\bADD (?!COLUMN\b|UNIQUE\b|INDEX\b|CONSTRAINT\b)"
                                                r"(\w+)", statement, re.IGNORECASE)}
    gone = {(k.upper(), n) for k, n in re.findall(
        r"\bDROP (TABLE|INDEX|COLUMN) (?:IF EXISTS )?(\w+)", statement, re.IGNORECASE)}
    return made, gone


@pytest.mark.parametrize("name", DIALECTS)
@pytest.mark.parametrize("mid", MIGRATION_IDS)
def test_each_statement_has_its_inverse_and_the_chain_is_linear(name: str, mid: str) -> None:
    """yoyo pairs apply and rollback statements one to one (the rollback file in reverse); on
    MySQL, whose DDL is not transactional, that pairing is what undoes a half-applied file."""
    folder = migrations_dir(name)
    directives, _, apply = read_sql_migration(str(folder / f"{mid}.sql"))
    _, _, undo = read_sql_migration(str(folder / f"{mid}.rollback.sql"))
    assert len(apply) == len(undo), f"{name}/{mid}: {len(apply)} statements, {len(undo)} undos"
    for forward, backward in zip(apply, reversed(undo), strict=True):
        # What one statement adds must be what its inverse takes away, and the other way round
        # (a statement that adds and drops nothing, like a data UPDATE, pairs with a no-op).
        made, gone = _objects(forward)
        assert (made, gone) == _objects(backward)[::-1], f"{forward!r} <-> {backward!r}"
        assert not re.match(r"\s*DROP (TABLE|INDEX) (?!IF EXISTS)", backward, re.IGNORECASE) or (
            not made
        ), f"{name}/{mid}: undo a CREATE with DROP ... IF EXISTS"
    previous = MIGRATION_IDS.index(mid) - 1
    expected = MIGRATION_IDS[previous] if previous >= 0 else ""
    assert directives.get("depends", "").strip() == expected
    if name != "sqlite":  # yoyo runs them with a (empty) parameter dict: a % would break them
        text = (folder / f"{mid}.sql").read_text() + (folder / f"{mid}.rollback.sql").read_text()
        assert "%" not in text


def test_migrations_dir_is_the_source_checkout_folder() -> None:
    for name in DIALECTS:
        assert migrations_dir(name) == REPO / "migrations" / name
        assert (migrations_dir(name) / "0001_jobs.sql").is_file()


# -- the yoyo URL --------------------------------------------------------------------------------


def test_yoyo_url_per_dialect_and_password_masked() -> None:
    pg = parse_config("postgresql://app:p%40ss%2Fw@db.example:5433/app?application_name=x")
    assert yoyo_url(pg) == (
        "postgresql+psycopg://app:***@db.example:5433/app?connect_timeout=10&application_name=x"
    )
    assert parse_uri(yoyo_url(pg, hide_password=False)).password == "p@ss/w"
    local = parse_config("postgresql://postgres@127.0.0.1/app")
    assert yoyo_url(local) == (
        "postgresql+psycopg://postgres@127.0.0.1:5432/app?connect_timeout=10&sslmode=disable"
    )
    my = parse_config("mysql://root:s3cret@127.0.0.1/app")
    assert yoyo_url(my) == "mysql://root:***@127.0.0.1:3306/app?ssl_disabled=1"
    assert "s3cret" in yoyo_url(my, hide_password=False)
    required = parse_config("mysql://root@db.example/app?tls=require&ssl_ca=/etc/ca.pem")
    assert parse_uri(yoyo_url(required)).args == {
        "ssl_verify_cert": "false", "ssl_ca": "/etc/ca.pem",
    }  # fmt: skip
    assert parse_uri(yoyo_url(parse_config("mysql://root@db.example/app"))).args == {}
    assert yoyo_url(parse_config("sqlite:////tmp/a b.db")) == "sqlite:////tmp/a%20b.db"
    assert yoyo_url(parse_config("sqlite:///rel.db")) == "sqlite:///rel.db"
    with pytest.raises(MigrationError, match="no database"):
        yoyo_url(parse_config("mysql://root@127.0.0.1"))


def test_migrating_sqlite_leaves_the_sqlite3_module_as_it_was(tmp_path: Path) -> None:
    """yoyo swaps sqlite3's datetime adapter during a migration and leaves its own behind."""
    adapters, converters = dict(sqlite3.dbapi2.adapters), dict(sqlite3.dbapi2.converters)
    config = parse_config(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(config)
    rollback(config)
    migration_status(config)
    assert sqlite3.dbapi2.adapters == adapters and sqlite3.dbapi2.converters == converters
    assert sqlite3.adapters is sqlite3.dbapi2.adapters
    assert sqlite3.converters is sqlite3.dbapi2.converters


def test_sqlite_path_with_special_characters(tmp_path: Path) -> None:
    path = tmp_path / "odd name #1?.db"
    config = parse_config("sqlite:///x.db", path=str(path))
    assert migrate(config) == MIGRATION_IDS
    assert path.is_file()
    assert tables(config) == TABLES


# -- applying, rolling back, status -------------------------------------------------------------


def test_apply_all_creates_the_tables_and_twice_is_a_noop(config: Config) -> None:
    assert tables(config) == set()
    assert migrate(config) == MIGRATION_IDS
    assert tables(config) == TABLES
    before = schema(config)
    assert migrate(config) == []
    assert schema(config) == before


def test_status_lists_applied_and_pending(config: Config) -> None:
    fresh = migration_status(config)
    assert fresh == [MigrationState(i, False, None) for i in MIGRATION_IDS]
    start = datetime.now(UTC).replace(microsecond=0)
    migrate(config)
    rollback(config, steps=2)
    status = migration_status(config)
    assert [s.id for s in status] == MIGRATION_IDS
    kept = len(MIGRATION_IDS) - 2
    assert [s.applied for s in status] == [True] * kept + [False] * 2
    for s in status[:kept]:
        assert s.applied_at is not None and s.applied_at.tzinfo is not None
        assert start <= s.applied_at <= datetime.now(UTC)
    assert all(s.applied_at is None for s in status[kept:])


def test_rollback_one_step_then_all(config: Config) -> None:
    migrate(config)
    assert rollback(config) == [MIGRATION_IDS[-1]]
    assert tables(config) == TABLES  # 0011 only replaces indexes: no new tables
    assert rollback(config, steps=0) == []
    assert rollback(config, steps=None) == MIGRATION_IDS[-2::-1]
    assert tables(config) == set()
    assert rollback(config, steps=None) == []
    assert migrate(config) == MIGRATION_IDS


def test_migrate_rollback_all_migrate_gives_the_same_schema(config: Config) -> None:
    migrate(config)
    first = schema(config)
    assert len(first) > 60
    rollback(config, steps=None)
    assert schema(config) == []
    migrate(config)
    assert schema(config) == first


def test_rollback_steps_must_be_a_count(config: Config) -> None:
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValidationError, match="steps"):
            rollback(config, steps=bad)  # type: ignore[arg-type]


def test_accepts_a_database_as_well_as_a_config(config: Config) -> None:
    db = agentdb.connect(config.url(hide_password=False))
    try:
        assert migrate(db) == MIGRATION_IDS
        assert all(s.applied for s in migration_status(db))
        assert rollback(db) == [MIGRATION_IDS[-1]]
    finally:
        db.close()
    with pytest.raises(TypeError):
        migrate(object())  # type: ignore[arg-type]


# -- what the schema promises --------------------------------------------------------------------


def test_constraints_hold_on_every_backend(config: Config) -> None:
    migrate(config)
    now, bad = now_param(config.dialect), integrity_errors(config.dialect)
    conn = connect(config)
    try:
        add_agent = (
            "INSERT INTO agent_versions (id, agent_name, version, code, is_active, created_at)"
            " VALUES (?, ?, ?, 'code', ?, ?)"
        )
        run(conn, add_agent, ("a1", "agent", "1", True, now))
        run(conn, add_agent, ("a2", "agent", "2", False, now))
        run(conn, add_agent, ("b1", "other", "1", True, now))
        with pytest.raises(bad):  # a second active version of one agent
            run(conn, add_agent, ("a3", "agent", "3", True, now))
        with pytest.raises(bad):  # (agent_name, version) is unique
            run(conn, add_agent, ("a4", "agent", "1", False, now))
        run(conn, "UPDATE agent_versions SET is_active = ? WHERE agent_name = 'agent'", (False,))
        run(conn, "UPDATE agent_versions SET is_active = ? WHERE id = 'a2'", (True,))
        active = run(conn, "SELECT id FROM agent_versions WHERE is_active = ? ORDER BY id", (True,))
        assert active == [("a2",), ("b1",)]

        url = "https://example.com/" + "x" * 2020  # 2040 characters: within the 2048 limit
        add_article = (
            "INSERT INTO articles (id, title, url, fetched_at, created_at) VALUES (?, 't', ?, ?, ?)"
        )
        run(conn, add_article, ("r1", url, now, now))
        run(conn, add_article, ("r2", url + "y", now, now))
        run(conn, add_article, ("r3", url.upper(), now, now))  # exact, case-sensitive compare
        with pytest.raises(bad):
            run(conn, add_article, ("r4", url, now, now))

        with pytest.raises(bad):
            run(conn, "INSERT INTO jobs (id, tool_name, status, created_at, updated_at)"
                      " VALUES ('j0', 't', 'bogus', ?, ?)", (now, now))  # fmt: skip
        with pytest.raises(bad):
            run(conn, "INSERT INTO jobs (id, tool_name, parameters, created_at, updated_at)"
                      " VALUES ('j0', 't', '{not json', ?, ?)", (now, now))  # fmt: skip

        # Deleting a user takes their workflows (and those workflows' versions and shares),
        # detaches executions and authored versions, and keeps the denormalised name.
        add_user = (
            "INSERT INTO users (id, username, email, password_hash, created_at, updated_at)"
            " VALUES (?, ?, ?, 'h', ?, ?)"
        )
        run(conn, add_user, ("u1", "bob", None, now, now))
        run(conn, add_user, ("u2", "Bob", None, now, now))  # NULL emails never collide
        with pytest.raises(bad):
            run(conn, add_user, ("u3", "bob", "b@example.com", now, now))
        run(conn, "INSERT INTO workflows (id, name, owner_id, definition, created_at, updated_at)"
                  " VALUES ('w1', 'flow', 'u1', '{}', ?, ?)", (now, now))  # fmt: skip
        run(conn, "INSERT INTO workflows (id, name, owner_id, definition, created_at, updated_at)"
                  " VALUES ('w2', 'kept', 'u2', '{}', ?, ?)", (now, now))  # fmt: skip
        run(conn, "INSERT INTO workflow_versions (id, workflow_id, version_number, definition,"
                  " created_by, created_at) VALUES ('v1', 'w1', 1, '{}', 'u1', ?)", (now,))
        run(conn, "INSERT INTO workflow_versions (id, workflow_id, version_number, definition,"
                  " created_by, created_at) VALUES ('v2', 'w2', 1, '{}', 'u1', ?)", (now,))
        with pytest.raises(bad):
            run(conn, "INSERT INTO workflow_versions (id, workflow_id, version_number,"
                      " definition, created_at) VALUES ('v3', 'w2', 1, '{}', ?)", (now,))
        run(conn, "INSERT INTO workflow_shares (workflow_id, user_id, permission, created_at)"
                  " VALUES ('w2', 'u1', 'write', ?)", (now,))  # fmt: skip
        with pytest.raises(bad):
            run(conn, "INSERT INTO workflow_shares (workflow_id, user_id, permission, created_at)"
                      " VALUES ('w1', 'u2', 'admin', ?)", (now,))  # fmt: skip
        run(conn, "INSERT INTO executions (id, workflow_id, workflow_name, user_id, started_at,"
                  " updated_at) VALUES ('e1', 'w1', 'flow', 'u2', ?, ?)", (now, now))
        run(conn, "INSERT INTO execution_history (execution_id, event, created_at)"
                  " VALUES ('e1', 'started', ?)", (now,))  # fmt: skip
        run(conn, "DELETE FROM users WHERE id = 'u1'")
        assert run(conn, "SELECT id FROM workflows") == [("w2",)]
        assert run(conn, "SELECT id, created_by FROM workflow_versions") == [("v2", None)]
        assert run(conn, "SELECT COUNT(*) FROM workflow_shares") == [(0,)]
        assert run(conn, "SELECT workflow_id, workflow_name, user_id FROM executions") == [
            (None, "flow", "u2")
        ]
        run(conn, "DELETE FROM executions")
        assert run(conn, "SELECT COUNT(*) FROM execution_history") == [(0,)]

        # Jobs take their result and logs with them; runs, metrics and artifacts go with tasks.
        run(conn, "INSERT INTO jobs (id, tool_name, created_at, updated_at)"
                  " VALUES ('j1', 't', ?, ?)", (now, now))  # fmt: skip
        run(conn, "INSERT INTO job_results (job_id, created_at) VALUES ('j1', ?)", (now,))
        run(conn, "INSERT INTO job_logs (job_id, level, message, created_at)"
                  " VALUES ('j1', 'INFO', 'hi', ?)", (now,))  # fmt: skip
        run(conn, "INSERT INTO tasks (id, name, created_at, updated_at)"
                  " VALUES ('t1', 'task', ?, ?)", (now, now))  # fmt: skip
        run(conn, "INSERT INTO task_runs (id, task_id, run_number) VALUES ('tr1', 't1', 1)")
        with pytest.raises(bad):
            run(conn, "INSERT INTO task_runs (id, task_id, run_number) VALUES ('tr2', 't1', 1)")
        run(conn, "INSERT INTO metric_snapshots (task_run_id, name, metric_type, value,"
                  " recorded_at) VALUES ('tr1', 'latency', 'timer', 1.5, ?)", (now,))
        run(conn, "INSERT INTO metric_snapshots (name, metric_type, value, recorded_at)"
                  " VALUES ('free', 'gauge', 2, ?)", (now,))  # fmt: skip
        run(conn, "INSERT INTO artifacts (id, task_id, name, artifact_type, created_at)"
                  " VALUES ('a1', 't1', 'out', 'text', ?)", (now,))  # fmt: skip
        with pytest.raises(bad):
            run(conn, "INSERT INTO artifacts (id, name, artifact_type, created_at)"
                      " VALUES ('a2', 'out', 'video', ?)", (now,))  # fmt: skip
        run(conn, "DELETE FROM jobs")
        run(conn, "DELETE FROM tasks")
        for table in ("job_results", "job_logs", "task_runs", "artifacts"):
            assert run(conn, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
        assert run(conn, "SELECT name FROM metric_snapshots") == [("free",)]
    finally:
        conn.close()


def test_what_each_driver_returns(config: Config) -> None:
    """Pins down what repositories must normalise: booleans, JSON, timestamps, generated ids."""
    migrate(config)
    d, now = config.dialect, now_param(config.dialect)
    conn = connect(config)
    try:
        run(conn, "INSERT INTO users (id, username, password_hash, created_at, updated_at)"
                  " VALUES ('u1', 'ann', 'h', ?, ?)", (now, now))  # fmt: skip
        run(conn, "INSERT INTO settings (user_id, data, updated_at) VALUES ('u1', ?, ?)",
            (json.dumps({"theme": "dark", "n": [1, 2]}), now))  # fmt: skip
        run(conn, "INSERT INTO jobs (id, tool_name, created_at, updated_at)"
                  " VALUES ('j1', 't', ?, ?)", (now, now))  # fmt: skip
        for _ in range(2):
            run(conn, "INSERT INTO job_logs (job_id, level, message, created_at)"
                      " VALUES ('j1', 'INFO', 'm', ?)", (now,))  # fmt: skip
        [(active, created)] = run(conn, "SELECT is_active, created_at FROM users")
        [(data,)] = run(conn, "SELECT data FROM settings")
        [(status, priority)] = run(conn, "SELECT status, priority FROM jobs")
        ids = [r[0] for r in run(conn, "SELECT id FROM job_logs ORDER BY id")]
    finally:
        conn.close()
    assert (status, priority) == ("pending", 0)  # column defaults
    assert ids == [1, 2]
    if d == "postgresql":
        assert active is True
        assert data == {"theme": "dark", "n": [1, 2]}  # jsonb comes back parsed
        assert created == now and created.tzinfo is not None
    elif d == "mysql":
        assert active == 1 and not isinstance(active, bool)
        assert json.loads(data) == {"theme": "dark", "n": [1, 2]}  # JSON comes back as text
        assert created == now and created.tzinfo is None  # naive, holding UTC
    else:
        assert active == 1 and not isinstance(active, bool)
        assert json.loads(data) == {"theme": "dark", "n": [1, 2]}
        assert created == now  # the ISO-8601 text the application wrote


# -- errors --------------------------------------------------------------------------------------


def test_errors_are_migration_errors_without_the_password(dialect: str) -> None:
    if dialect == "sqlite":
        config = parse_config("sqlite:////nonexistent-dir/hunter2/x.db")
    else:
        base = parse_config(SERVER_URLS[dialect])
        config = parse_config(
            f"{dialect}://{base.username}:hunter2@{base.host}:{base.port}/agentdb_no_such_db"
        )
    with pytest.raises(MigrationError) as info:
        migrate(config)
    assert config.target in str(info.value)
    assert "hunter2" not in str(info.value) or dialect == "sqlite"
    assert info.value.__cause__ is not None  # the driver's error, chained


def test_a_lock_held_by_a_live_process_times_out_as_a_migration_error(config: Config) -> None:
    migrate(config)  # creates yoyo's tables, lock table included
    holder = subprocess.Popen(["sleep", "60"])  # a live process, as a `yoyo apply` would be
    conn = connect(config)
    try:
        run(conn, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, ?, ?)",
            (datetime(2024, 1, 1), holder.pid))  # fmt: skip
        with pytest.raises(MigrationError, match=f"{holder.pid} has locked"):
            rollback(config, steps=None, lock_timeout=1)
        assert tables(config) == TABLES
        run(conn, "DELETE FROM yoyo_lock")
    finally:
        conn.close()
        holder.kill()
        holder.wait()
    assert len(rollback(config, steps=None)) == len(MIGRATION_IDS)


def test_a_lock_row_of_a_dead_process_is_broken(config: Config) -> None:
    migrate(config)
    dead = subprocess.Popen(["true"])
    dead.wait()
    conn = connect(config)
    try:
        run(conn, "INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, ?, ?)",
            (datetime(2024, 1, 1), dead.pid))  # fmt: skip
    finally:
        conn.close()
    started = time.monotonic()
    assert len(rollback(config, steps=None, lock_timeout=30)) == len(MIGRATION_IDS)
    assert time.monotonic() - started < 10


_CRASHING_MIGRATOR = """
import sys, time
import yoyo.backends.base
import agentdb

def hang(self, migrations, *args, **kwargs):
    print("locked", flush=True)
    time.sleep(120)

yoyo.backends.base.DatabaseBackend.apply_migrations = hang
agentdb.migrate(agentdb.config.parse_config(sys.argv[1]))
"""


def test_a_migrator_killed_holding_the_lock_does_not_block_the_next(config: Config) -> None:
    """SIGKILL a real migrator inside yoyo's lock: its row stays, but its session lock dies
    with it, so the next migrate() breaks the row and goes on at once."""
    child = subprocess.Popen([sys.executable, "-c", _CRASHING_MIGRATOR, _url(config)],
                             stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert child.stdout is not None and child.stdout.readline() == "locked\n"
        with pytest.raises(MigrationError, match="migrated by another process"):
            migrate(config, lock_timeout=0.5)  # alive: it is waited for, not broken
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.wait()
    conn = connect(config)
    try:
        assert run(conn, "SELECT pid FROM yoyo_lock") == [(child.pid,)]  # left behind
    finally:
        conn.close()
    started = time.monotonic()
    assert migrate(config, lock_timeout=60) == MIGRATION_IDS
    assert time.monotonic() - started < 10
    assert tables(config) == TABLES


# -- two processes at once ----------------------------------------------------------------------


def _migrate_in_child(url: str, start: Any, results: Any) -> None:
    start.wait(60)
    began = time.monotonic()
    try:
        results.put(("ok", migrate(parse_config(url)), began, time.monotonic()))
    except BaseException as exc:
        results.put(("error", repr(exc), began, time.monotonic()))


def _url(config: Config) -> str:
    return config.url(hide_password=False)


def test_two_processes_migrating_at_once_both_succeed(config: Config) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()  # both children set off at the same moment
    children = [
        ctx.Process(target=_migrate_in_child, args=(_url(config), start, results))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    assert max(o[2] for o in outcomes) < min(o[3] for o in outcomes)  # they really overlapped
    applied = sorted(mid for o in outcomes for mid in o[1])
    assert applied == MIGRATION_IDS  # each migration applied exactly once, by one of them
    assert tables(config) == TABLES
    conn = connect(config)
    try:
        logged = run(conn, "SELECT migration_id FROM _yoyo_log WHERE operation = 'apply'")
        assert sorted(r[0] for r in logged) == MIGRATION_IDS
        assert run(conn, "SELECT COUNT(*) FROM yoyo_lock") == [(0,)]
    finally:
        conn.close()
    assert all(s.applied for s in migration_status(config))


# -- the yoyo command line, exactly as README documents it ---------------------------------------


def cli_url(config: Config) -> str:
    """The documented URL forms: postgresql+psycopg://, mysql://...?ssl_disabled=1, sqlite:///."""
    if config.dialect == "sqlite":
        return f"sqlite:///{config.path}"
    auth = config.username or ""
    if config.dialect == "postgresql":
        return f"postgresql+psycopg://{auth}@{config.host}:{config.port}/{config.database}"
    return f"mysql://{auth}@{config.host}:{config.port}/{config.database}?ssl_disabled=1"


def test_yoyo_command_line(config: Config) -> None:
    yoyo = Path(sys.executable).parent / "yoyo"
    if not yoyo.exists():
        pytest.skip(f"no yoyo script beside {sys.executable}")
    if config.password:
        pytest.skip("the documented command lines are for password-less local servers")
    folder = f"migrations/{config.dialect}"

    def cli(*args: str) -> None:
        done = subprocess.run(
            [str(yoyo), *args, "--batch", "--database", cli_url(config), folder],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    cli("apply")
    assert tables(config) == TABLES
    assert all(s.applied for s in migration_status(config))  # the same bookkeeping
    assert migrate(config) == []
    cli("rollback")  # --batch rolls back one migration
    assert [s.applied for s in migration_status(config)][-1] is False
    cli("rollback", "--all")
    assert tables(config) == set()
    assert migrate(config) == MIGRATION_IDS
