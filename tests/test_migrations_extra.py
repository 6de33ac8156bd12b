"""The application's own migrations, applied after agentdb's in one yoyo run.

One lock, one bookkeeping table, one status listing; rollback, status and the CLI take the same
folders; a user table may reference agentdb's tables; a failing user migration leaves the
bundled schema applied. Runs on all three backends with examples/orders' migrations.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Databases
from test_migrations import MIGRATION_IDS, TABLES, tables

from agentdb.cli import main
from agentdb.config import Config, parse_config
from agentdb.errors import MigrationError
from agentdb.migrate import migrate, migration_sources, migration_status, rollback

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "examples" / "orders" / "migrations"
APP_IDS = ["app_0001_orders"]

pytestmark = pytest.mark.filterwarnings("ignore:'(db|passwd)' is deprecated:DeprecationWarning")


@pytest.fixture
def config(dialect: str, make_db: Databases) -> Config:
    return parse_config(make_db.url(dialect))


def _bundled_ids(config: Config) -> list[str]:
    return [s.id for s in migration_status(config)][: len(MIGRATION_IDS)]


def test_sources_per_dialect_subfolder_or_single_folder(tmp_path: Path) -> None:
    assert migration_sources("mysql", [APP])[1:] == [APP / "mysql"]
    single = tmp_path / "only_sqlite"
    single.mkdir()
    assert migration_sources("sqlite", [single])[1:] == [single]
    assert migration_sources("sqlite", str(single))[1:] == [single]  # one folder given bare
    other = tmp_path / "pg_only"
    (other / "postgresql").mkdir(parents=True)
    assert migration_sources("sqlite", [other])[1:] == []  # nothing for this dialect
    with pytest.raises(MigrationError, match="not a directory"):
        migration_sources("sqlite", [tmp_path / "missing"])


def test_user_migrations_apply_after_bundled_in_one_run(config: Config) -> None:
    applied = migrate(config, extra=[APP])
    assert applied[: len(MIGRATION_IDS)] == MIGRATION_IDS and applied[-1:] == APP_IDS
    assert tables(config) == TABLES | {"orders"}
    states = migration_status(config, extra=[APP])  # one listing, both sets, in order
    assert [s.id for s in states][-1:] == APP_IDS and all(s.applied for s in states)
    assert migrate(config, extra=[APP]) == []
    # without the folder, the user's migration still shows: recorded, not shipped by agentdb
    assert migration_status(config)[-1].id == "app_0001_orders"
    # rollback takes the same folders and goes newest (the application's) first
    assert rollback(config, 1, extra=[APP]) == APP_IDS
    assert "orders" not in tables(config) and tables(config) >= TABLES
    assert migrate(config, extra=[APP]) == APP_IDS
    assert rollback(config, None, extra=[APP])[0] == "app_0001_orders"
    assert tables(config) == set()


def test_user_table_references_agentdb_users(config: Config) -> None:
    import agentdb

    migrate(config, extra=[APP])
    db = agentdb.connect(config.url(hide_password=False))
    try:
        user = agentdb.UserRepository(db).create("fkuser", "fk@example.org", "a long password!")
        q = agentdb.Queries.from_text(
            "-- name: add :exec\n"
            "INSERT INTO orders (id, user_id, item, quantity, total_cents, created_at)\n"
            "VALUES (:id, :user_id, 'book', 1, 100, :at);\n"
        )
        from datetime import UTC, datetime

        q.run(db, "add", id="o1", user_id=user.id, at=datetime.now(UTC))
        with pytest.raises(agentdb.ValidationError):  # the foreign key holds
            q.run(db, "add", id="o2", user_id="no-such-user", at=datetime.now(UTC))
    finally:
        db.close()


def test_a_failing_user_migration_leaves_the_bundled_schema(
    config: Config, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    bad = app / config.dialect / "app_0002_broken.sql"
    bad.write_text("-- depends: app_0001_orders\nCREATE TABLE broken (id INTEGER);\n\n"
                   "INSERT INTO no_such_table (id) VALUES (1);\n")
    with pytest.raises(MigrationError, match="migrate failed"):
        migrate(config, extra=[app])
    left = tables(config)
    assert TABLES | {"orders"} <= left  # earlier migrations committed one by one
    if config.dialect != "mysql":  # MySQL commits DDL at once; the others undo the failed one
        assert "broken" not in left
    states = {s.id: s.applied for s in migration_status(config, extra=[app])}
    assert all(states[i] for i in [*MIGRATION_IDS, *APP_IDS]) and not states["app_0002_broken"]
    bad.write_text("-- depends: app_0001_orders\nCREATE TABLE IF NOT EXISTS broken (id INTEGER);\n")
    assert migrate(config, extra=[app]) == ["app_0002_broken"]  # fixed, it goes on


def test_duplicate_ids_are_refused_by_name(config: Config, tmp_path: Path) -> None:
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "0002_users.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="0002_users appears twice"):
        migrate(config, extra=[clash])


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_cli_dir_applies_lists_and_rolls_back(
    dialect: str, make_db: Databases, cli_json: Callable[..., object]
) -> None:
    url = make_db.url(dialect)
    out = cli_json("--database", url, "migrate", "--dir", str(APP), "--json")
    assert isinstance(out, dict) and out["applied"][-1] == "app_0001_orders"
    out = cli_json("--database", url, "migrate", "--dir", str(APP), "--status", "--json")
    assert isinstance(out, dict) and [m["id"] for m in out["migrations"]][-1] == "app_0001_orders"
    out = cli_json("--database", url, "migrate", "--dir", str(APP), "--rollback", "1", "--json")
    assert isinstance(out, dict) and out["rolled_back"] == APP_IDS


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_cli_check_dir_counts_the_applications_migrations(
    dialect: str, make_db: Databases, capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_db.url(dialect)
    config = parse_config(url)
    migrate(config)  # agentdb's own only: the application's are pending

    def check(*dirs: str) -> tuple[int, dict[str, Any]]:
        code = main(["check", "-d", url, *(a for d in dirs for a in ("--dir", d)), "--json"])
        return code, json.loads(capsys.readouterr().out)

    code, doc = check()
    assert code == 0 and doc["migrations"]["pending"] == []
    code, doc = check(str(APP))
    assert code == 1 and doc["migrations"]["pending"] == APP_IDS
    assert f"migrate --dir {APP}" in doc["problems"][0]
    migrate(config, extra=[APP])
    code, doc = check(str(APP))
    assert code == 0 and doc["migrations"]["pending"] == []
    assert doc["migrations"]["applied"] == len(MIGRATION_IDS) + len(APP_IDS)


@pytest.fixture
def cli_json() -> Callable[..., object]:
    def run(*args: str) -> object:
        done = subprocess.run([sys.executable, "-m", "agentdb", *args], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def test_yoyo_command_line_applies_both(config: Config) -> None:
    from test_migrations import cli_url

    yoyo = Path(sys.executable).parent / "yoyo"
    if not yoyo.exists():
        pytest.skip(f"no yoyo script beside {sys.executable}")
    if config.password:
        pytest.skip("the documented command lines are for password-less local servers")
    done = subprocess.run(
        [str(yoyo), "apply", "--batch", "--database", cli_url(config),
         f"migrations/{config.dialect}", str(APP / config.dialect)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert tables(config) == TABLES | {"orders"}
    assert all(s.applied for s in migration_status(config, extra=[APP]))


def test_a_migration_chosen_as_deadlock_victim_runs_again(make_db: Databases,
                                                          tmp_path: Path) -> None:
    """PostgreSQL breaks a deadlock between a migration and the application's own traffic by
    rolling one side back. When that is the migration (its DDL and DML are one transaction),
    migrate() runs it again instead of failing the deploy. The application's session waits
    10 s before checking for a deadlock, the migration 1 s, so the migration is the victim."""
    import threading
    import time

    import psycopg

    url = make_db.url("postgresql")
    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE first_t (n int); INSERT INTO first_t VALUES (1);"
                      "CREATE TABLE second_t (n int); INSERT INTO second_t VALUES (1)")
    folder = tmp_path / "app_migrations"
    folder.mkdir()
    (folder / "app_0001_touch_both.sql").write_text(
        "UPDATE first_t SET n = n + 10;\n"
        "SELECT pg_sleep(0.5);\n"
        "UPDATE second_t SET n = n + 10;\n")
    app = psycopg.connect(url)
    app.execute("SET deadlock_timeout = '10s'")
    app.execute("UPDATE second_t SET n = n + 1")  # holds second_t's row until it commits

    def then_take_first() -> None:
        with psycopg.connect(url, autocommit=True) as watch:  # the migration is in pg_sleep:
            deadline = time.monotonic() + 20                 # it holds first_t's row
            while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                    "wait_event = 'PgSleep' AND datname = current_database()"
                                    ).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline
                time.sleep(0.01)
        app.execute("UPDATE first_t SET n = n + 1")  # waits for the migration: a cycle
        app.commit()

    side = threading.Thread(target=then_take_first)
    side.start()
    try:
        config = parse_config(url)
        applied = migrate(config, extra=[folder])
    finally:
        side.join(timeout=30)
        app.close()
    assert applied[-1] == "app_0001_touch_both"
    with psycopg.connect(url) as check:
        first = check.execute("SELECT n FROM first_t").fetchone()
        second = check.execute("SELECT n FROM second_t").fetchone()
    assert (first, second) == ((12,), (12,))  # each side's change exactly once
