"""The ``agentdb`` command line, every command on every backend.

Commands run in-process through ``agentdb.cli.main`` (fast, output captured), and a few through
``python -m agentdb`` in a subprocess, where "no traceback, no password" is what a user sees.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

import agentdb
from agentdb.backup import _dump_command, dump_tool
from agentdb.cli import Progress, main
from agentdb.config import parse_config
from agentdb.repositories.jobs import JobStore
from agentdb.seed import TABLES

SERVERS = ("postgresql", "mysql")
ALL = ("sqlite", *SERVERS)


def url_of(db: agentdb.Database) -> str:
    return db.config.url(hide_password=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert out, f"no JSON on stdout; stderr: {err}"
    return code, json.loads(out)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Commands must not pick up a developer's DATABASE_URL, nor write to the checkout."""
    for name in ("DATABASE_URL", "DB_DIALECT", "DB_PATH", "DB_PASSWORD", "AGENTDB_TRACEBACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


# -- migrate -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL)
def test_migrate_status_apply_rollback(dialect: str, make_db: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(make_db(dialect))
    code, doc = run_json(capsys, "migrate", "--status", "--database", url)
    assert code == 0
    ids = [m["id"] for m in doc["migrations"]]
    assert ids and not any(m["applied"] for m in doc["migrations"])

    code, out, _ = run(capsys, "--database", url, "migrate")  # --database before the command
    assert code == 0 and f"applied {len(ids)} migration(s)" in out
    code, out, _ = run(capsys, "migrate", "-d", url)
    assert code == 0 and "up to date" in out

    code, out, _ = run(capsys, "migrate", "--status", "-d", url)
    assert code == 0 and f"{len(ids)} applied, 0 pending" in out

    code, doc = run_json(capsys, "migrate", "--rollback", "1", "-d", url)
    assert code == 0 and doc["rolled_back"] == [ids[-1]]
    code, doc = run_json(capsys, "migrate", "--status", "-d", url)
    assert [m["id"] for m in doc["migrations"] if not m["applied"]] == [ids[-1]]
    code, _, err = run(capsys, "check", "-d", url)
    assert code == 1 and ids[-1] in err  # a pending migration is not ready

    code, doc = run_json(capsys, "migrate", "-d", url)
    assert doc["applied"] == [ids[-1]]


def test_migrate_status_does_not_create_the_sqlite_file(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "migrate", "--status")  # the default: ./agentdb.db
    assert code == 0 and "0 applied" in out and "sqlite agentdb.db" in out
    assert not (tmp_path / "agentdb.db").exists()


def test_migrate_options_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["migrate", "--status", "--rollback", "1"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


# -- check -------------------------------------------------------------------------------------


def test_check_healthy_is_exit_zero(db: agentdb.Database,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    dialect, url = db.dialect, url_of(db)
    code, doc = run_json(capsys, "check", "-d", url)
    assert code == 0
    assert doc["status"] == "healthy" and doc["problems"] == []
    assert doc["connection"]["status"] == "healthy" and doc["connection"]["latency_ms"] >= 0
    assert doc["migrations"]["pending"] == [] and doc["migrations"]["applied"] > 0
    assert doc["pool"]["dialect"] == dialect
    code, out, err = run(capsys, "check", "-d", url)
    assert code == 0 and "status      healthy" in out and err == ""


@pytest.mark.parametrize("dialect", SERVERS)
def test_check_unreachable_server_hides_the_password(
        dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"{dialect}://someone:Sup3r%2Fsecret@127.0.0.1:1/app?connect_timeout=1&pool_timeout=2"
    code, out, err = run(capsys, "check", "-d", url)
    assert code == 1
    assert "unhealthy" in out and "cannot reach the database" in err
    for text in (out, err):
        assert "Sup3r" not in text and "secret" not in text


def test_check_missing_sqlite_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, doc = run_json(capsys, "check")
    assert code == 1 and doc["status"] == "unhealthy"
    assert "no SQLite database" in doc["connection"]["error"]
    assert not (tmp_path / "agentdb.db").exists()


# -- seed and stats ----------------------------------------------------------------------------


def test_seed_covers_every_table_and_stats_agree(db: agentdb.Database,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    dialect, url = db.dialect, url_of(db)
    code, seeded = run_json(capsys, "seed", "--scale", "1", "--seed", "7", "-d", url)
    assert code == 0, seeded["errors"]
    assert seeded["failed"] == 0 and seeded["success_rate"] == 1.0
    assert set(seeded["created"]) == set(TABLES)  # every aggregate, every table
    assert all(n > 0 for n in seeded["created"].values())

    code, stats = run_json(capsys, "stats", "-d", url)
    assert code == 0
    assert stats["tables"] == seeded["created"]
    assert stats["jobs"]["total"] == seeded["created"]["jobs"]
    assert sum(stats["jobs"]["by_status"].values()) == stats["jobs"]["total"]
    assert stats["tasks"]["total"] == seeded["created"]["tasks"]
    assert stats["tasks"]["runs"] == seeded["created"]["task_runs"]
    assert 0 <= stats["tasks"]["run_success_rate"] <= 1
    assert stats["pool"]["dialect"] == dialect

    code, out, _ = run(capsys, "stats", "-d", url)
    assert code == 0 and "workflow_versions" in out and "success rate" in out

    # Seeding again reuses the unique rows (users, agent versions, articles) and adds the rest.
    code, again = run_json(capsys, "seed", "--seed", "7", "-d", url)
    assert code == 0 and again["failed"] == 0
    assert again["reused"]["users"] == seeded["created"]["users"]
    assert "users" not in again["created"]
    assert again["created"]["jobs"] == seeded["created"]["jobs"]


def test_seed_is_reproducible(make_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    def seeded(seed: int) -> dict[str, Any]:
        url = url_of(make_db("sqlite", migrated=True))
        assert run_json(capsys, "seed", "--seed", str(seed), "-d", url)[0] == 0
        stats = run_json(capsys, "stats", "-d", url)[1]
        return {"tables": stats["tables"], "jobs": stats["jobs"]["by_status"],
                "tools": stats["jobs"]["top_tools"], "runs": stats["tasks"]["runs_by_status"]}

    assert seeded(3) == seeded(3)
    assert seeded(3) != seeded(4)


def test_seed_scale_multiplies(make_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(make_db("sqlite", migrated=True))
    code, doc = run_json(capsys, "seed", "--scale", "3", "-d", url)
    assert code == 0 and doc["created"]["users"] == 24 and doc["created"]["jobs"] == 90


def test_seed_and_stats_need_a_migrated_database(make_db: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(make_db("sqlite"))
    for command in ("seed", "stats"):
        code, out, err = run(capsys, command, "-d", url)
        assert code == 1 and out == ""
        assert "pending migration" in err and "agentdb migrate" in err
        assert len(err.strip().splitlines()) == 1


def test_seed_progress_bar(make_db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(make_db("sqlite", migrated=True))
    code, _, err = run(capsys, "seed", "--progress", "-d", url)
    assert code == 0 and "100%" in err and "[####" in err


def test_progress_is_silent_off_a_terminal() -> None:
    stream = StringIO()
    bar = Progress(3, stream=stream)  # StringIO is not a tty
    bar.advance("users")
    bar.close()
    assert stream.getvalue() == ""
    bar = Progress(2, stream=stream, enabled=True)
    bar.advance("users")
    bar.advance("jobs")
    assert " 50% users" in stream.getvalue() and "100% jobs" in stream.getvalue()


# -- cleanup -----------------------------------------------------------------------------------


def test_cleanup_deletes_old_finished_jobs(db: agentdb.Database,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    jobs = JobStore(db)
    done = [jobs.create("t") for _ in range(3)]
    for job in done:
        jobs.start(job.id)
        jobs.add_log(job.id, "INFO", "x")
        jobs.save_result(job.id, "out")
        jobs.complete(job.id)
    jobs.fail(jobs.create("t").id, "boom")
    pending = jobs.create("t")
    url = url_of(db)

    code, out, _ = run(capsys, "cleanup", "--days", "30", "-d", url)
    assert code == 0 and "deleted 0 job(s)" in out
    code, doc = run_json(capsys, "cleanup", "--days", "0", "-d", url)
    assert code == 0 and doc["deleted_jobs"] == 4
    assert [j.id for j in jobs.list()] == [pending.id]


def test_cleanup_requires_days(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["cleanup"], ["cleanup", "--days", "-1"], ["cleanup", "--days", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--days" in capsys.readouterr().err


# -- demo --------------------------------------------------------------------------------------


def test_demo_on_a_fresh_sqlite_file(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    code, out, err = run(capsys, "demo")
    assert code == 0, err
    assert (tmp_path / "agentdb-demo.db").is_file()
    assert "(fresh)" in out and "completed/failed" in out
    assert "job_logs" in out and "success rate" in out and "pool" in out
    first = _counts(tmp_path / "agentdb-demo.db")
    assert all(first[t] > 0 for t in TABLES)

    code, out, _ = run(capsys, "demo")  # recreated, not added to
    assert code == 0 and _counts(tmp_path / "agentdb-demo.db") == first
    assert not (tmp_path / "agentdb.db").exists()


def test_demo_ignores_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'production.db'}")
    assert run(capsys, "demo", "--path", "other.db")[0] == 0
    assert (tmp_path / "other.db").is_file() and not (tmp_path / "production.db").exists()


def test_demo_on_an_explicit_empty_database(db: agentdb.Database,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(db)  # migrated and empty: demo only adds its data
    code, out, err = run(capsys, "demo", "-d", url)
    assert code == 0, err
    assert "ran 4 jobs" in out
    code, doc = run_json(capsys, "stats", "-d", url)
    assert doc["jobs"]["by_status"]["failed"] >= 1
    code, out, err = run(capsys, "demo", "-d", url)  # not empty any more: refused
    assert code == 1 and "demo needs an empty database" in err


@pytest.mark.parametrize("dialect", ALL)
def test_demo_on_an_explicit_blank_database(dialect: str, make_db: Any,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(make_db(dialect))  # no tables at all: the demo migrates it
    code, out, err = run(capsys, "demo", "-d", url)
    assert code == 0, err
    assert "migrate  " in out and " 0 migration(s)" not in out  # 10 contains 0


def test_demo_refuses_a_partly_migrated_database(make_db: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = url_of(make_db("sqlite", migrated=True))
    assert run(capsys, "migrate", "--rollback", "2", "-d", url)[0] == 0
    code, out, err = run(capsys, "demo", "-d", url)
    assert code == 1 and out == "" and "2 pending migration(s)" in err
    assert run_json(capsys, "migrate", "--status", "-d", url)[1]["migrations"][-1][
        "applied"] is False  # left as it was


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}


# -- backup / restore --------------------------------------------------------------------------


def test_backup_and_restore_sqlite(make_db: Any, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    db = make_db("sqlite", migrated=True)
    url = url_of(db)
    assert run(capsys, "seed", "-d", url)[0] == 0
    before = _counts(Path(str(db.config.path)))
    backup = tmp_path / "backup.db"

    code, out, _ = run(capsys, "backup", str(backup), "-d", url)
    assert code == 0 and "backed up" in out
    assert _counts(backup) == before
    assert not list(tmp_path.glob(".backup.db.*"))  # no temporary file left behind
    code, _, err = run(capsys, "backup", str(backup), "-d", url)
    assert code == 1 and "--force" in err and len(err.strip().splitlines()) == 1
    assert run(capsys, "backup", str(backup), "--force", "-d", url)[0] == 0

    jobs = JobStore(db)
    for job in jobs.list(limit=1000):
        jobs.delete(job.id)
    assert _counts(Path(str(db.config.path)))["jobs"] == 0

    code, _, err = run(capsys, "restore", str(backup), "-d", url)
    assert code == 1 and "--force" in err  # will not silently replace a database
    code, out, _ = run(capsys, "restore", str(backup), "--force", "-d", url)
    assert code == 0 and "restored" in out
    assert _counts(Path(str(db.config.path))) == before
    assert jobs.count() == before["jobs"]  # the open pool sees the restored data

    code, doc = run_json(capsys, "check", "-d", url)
    assert code == 0 and doc["status"] == "healthy"


def test_restore_into_a_new_sqlite_file(make_db: Any, capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    url = url_of(make_db("sqlite", migrated=True))
    assert run(capsys, "seed", "-d", url)[0] == 0
    assert run(capsys, "backup", "b.db", "-d", url)[0] == 0
    code, _, err = run(capsys, "restore", "b.db", "-d", "sqlite:///copy.db")
    assert code == 0, err
    assert _counts(tmp_path / "copy.db") == _counts(tmp_path / "b.db")


def test_restore_refuses_a_file_that_is_not_a_database(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_text("not a database" * 100)
    code, _, err = run(capsys, "restore", "junk.db", "-d", "sqlite:///target.db")
    assert code == 1 and "not an SQLite database" in err
    code, _, err = run(capsys, "restore", "missing.db", "-d", "sqlite:///target.db")
    assert code == 1 and "no backup file" in err


def test_sqlite_backup_is_consistent_while_writers_run(
        make_db: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Every job is written with its log line in one transaction; a torn copy would show a
    job without its line (or the reverse)."""
    db = make_db("sqlite", migrated=True)
    jobs = JobStore(db)
    stop = threading.Event()
    written = [0]

    def writer() -> None:
        while not stop.is_set():
            with db.transaction():
                job = jobs.create("w")
                jobs.add_log(job.id, "INFO", "x" * 2000)
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written[0] < 50:
            threading.Event().wait(0.01)
        for n in range(3):
            assert run(capsys, "backup", f"b{n}.db", "-d", url_of(db))[0] == 0
    finally:
        stop.set()
        thread.join()
    for n in range(3):
        with sqlite3.connect(tmp_path / f"b{n}.db") as conn:
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            counts = _counts(tmp_path / f"b{n}.db")
        assert counts["jobs"] == counts["job_logs"] > 0


@pytest.mark.parametrize("dialect", SERVERS, indirect=True)
def test_backup_server_with_dump_tool(db: agentdb.Database,
                                      capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    try:
        tool = dump_tool(db.dialect)
    except agentdb.AgentDBError as exc:
        pytest.skip(str(exc))
    url = url_of(db)
    assert run(capsys, "seed", "-d", url)[0] == 0
    code, out, err = run(capsys, "backup", "dump.sql", "-d", url)
    assert code == 0, err
    assert Path(tool).name in out
    text = (tmp_path / "dump.sql").read_text()
    assert "CREATE TABLE" in text and "workflow_versions" in text and "ada@example.com" in text

    code, _, err = run(capsys, "restore", "dump.sql", "-d", url)
    assert code == 1 and "SQLite only" in err


@pytest.mark.parametrize("dialect", SERVERS)
def test_backup_names_the_missing_tool(dialect: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, out, err = run(capsys, "backup", "x.sql", "-d",
                         f"{dialect}://u:pw@127.0.0.1:1/app")
    assert code == 1 and out == ""
    assert ("pg_dump" if dialect == "postgresql" else "mysqldump") in err
    assert not (tmp_path / "x.sql").exists()


@pytest.mark.parametrize("dialect", SERVERS)
def test_dump_password_goes_through_the_environment(dialect: str, tmp_path: Path) -> None:
    config = parse_config(f"{dialect}://app:Pa55word@db.internal:4000/appdb")
    argv, env = _dump_command(config, "dumptool", tmp_path / "out.sql")
    assert not any("Pa55word" in a for a in argv)
    assert env["PGPASSWORD" if dialect == "postgresql" else "MYSQL_PWD"] == "Pa55word"
    assert any("db.internal" in a for a in argv) and any("4000" in a for a in argv)
    assert "appdb" in argv[-1]


@pytest.mark.parametrize("dialect", SERVERS)
def test_failed_dump_is_one_line_without_password(
        dialect: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        dump_tool(dialect)
    except agentdb.AgentDBError as exc:
        pytest.skip(str(exc))
    code, _, err = run(capsys, "backup", "x.sql", "-d",
                       f"{dialect}://nobody:Hunter2pw@127.0.0.1:1/app?connect_timeout=1")
    assert code == 1 and "backup" in err and "Hunter2pw" not in err
    assert len(err.strip().splitlines()) == 1


# -- errors and help ---------------------------------------------------------------------------


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = ("demo", "migrate", "seed", "stats", "check", "cleanup", "backup", "restore")
    for command in (None, *commands):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"] if command else ["--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert "usage: agentdb" in out and "--database" in out


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_bad_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "stats", "-d", "oracle://scott:tiger@db/x")
    assert code == 1 and out == ""
    assert err.startswith("agentdb stats: error: unsupported URL scheme")
    assert "tiger" not in err and len(err.strip().splitlines()) == 1


def test_missing_sqlite_file_is_not_created(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    for command in ("stats", "seed", "cleanup --days 1", "backup out.db"):
        code, _, err = run(capsys, *command.split())
        assert code == 1 and "no SQLite database at agentdb.db" in err, command
    assert not (tmp_path / "agentdb.db").exists()


def test_database_url_from_the_environment(monkeypatch: pytest.MonkeyPatch, make_db: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    db = make_db("sqlite", migrated=True)
    monkeypatch.setenv("DATABASE_URL", url_of(db))
    code, doc = run_json(capsys, "check")
    assert code == 0 and str(db.config.path) in doc["database"]


def test_module_entry_point_prints_no_traceback_and_no_password(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AGENTDB_TRACEBACK")}
    env["DATABASE_URL"] = "postgresql://admin:TopS3cretPw@127.0.0.1:1/app?connect_timeout=1"
    for argv in (["stats"], ["seed"], ["migrate"], ["check"], ["cleanup", "--days", "1"]):
        done = subprocess.run([sys.executable, "-m", "agentdb", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, (argv, done.stderr)
        assert "Traceback" not in done.stderr and "TopS3cretPw" not in done.stderr + done.stdout
        assert done.stderr.strip().startswith("agentdb"), done.stderr


def test_console_script_is_installed() -> None:
    script = shutil.which("agentdb", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("agentdb is not installed as a console script in this environment")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and agentdb.__version__ in done.stdout
