"""A user's program type-checks against agentdb with ``mypy --strict``, from outside the
repository, through the install README's test command makes (an editable install in
``editable_mode=compat``, which static checkers can follow): good calls pass, and the mistakes
typed parameters exist for are caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "orders"

GOOD = '''
from datetime import UTC, datetime

import agentdb
from agentdb import HealthReport, Job, JobStatus, MetricType, Permission


def main(db: agentdb.Database) -> float:
    jobs = agentdb.JobStore(db)
    recent: list[Job] = jobs.list(status="completed", sort_by="created_at", sort_order="asc",
                                  created_after="2024-01-01T00:00:00")
    jobs.list(status=JobStatus.FAILED, created_after=datetime.now(UTC))
    tasks = agentdb.TaskRepository(db)
    tasks.record_metric("pages", MetricType.COUNTER, 1)
    tasks.record_metric("latency", "gauge", 0.5)
    wf = agentdb.WorkflowRepository(db)
    wf.can_access("u", "w", Permission.WRITE)
    wf.can_access("u", "w", "read")
    report: HealthReport = db.health()
    return report["latency_ms"] + len(recent)
'''

BAD = '''
import agentdb


def main(db: agentdb.Database) -> None:
    jobs = agentdb.JobStore(db)
    jobs.list(status="complete")
    jobs.list(sort_by="createdAt")
    jobs.list(sort_order="down")
    jobs.add_log("id", "LOUD", "x")
    agentdb.TaskRepository(db).record_metric("m", "meter", 1)
    agentdb.WorkflowRepository(db).share("w", "u", "admin")
    agentdb.ExecutionRepository(db).list(status="done")
    latency: str = db.health()["latency_ms"]
'''


def _mypy(folder: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mypy is not installed beside this Python")
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "."],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_typed_user_program_passes_mypy_strict_outside_the_repo(tmp_path: Path) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    if EXAMPLE.is_dir():  # the "your own table" example is a typed user program too
        for path in EXAMPLE.glob("*.py"):
            shutil.copy(path, tmp_path / path.name)
    done = _mypy(tmp_path)
    assert "Cannot find implementation or library stub" not in done.stdout, (
        "agentdb is invisible to mypy: install it as README's test command does "
        "(pip install -e . --config-settings editable_mode=compat)\n" + done.stdout)
    assert done.returncode == 0, done.stdout


def test_mypy_catches_wrong_values_for_typed_parameters(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    done = _mypy(tmp_path)
    lines = sorted({int(line.split(":")[1]) for line in done.stdout.splitlines()
                    if line.startswith("bad.py:") and ": error:" in line})
    assert lines == [7, 8, 9, 10, 11, 12, 13, 14], done.stdout
