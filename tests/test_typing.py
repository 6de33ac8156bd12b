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


ASYNC_GOOD = '''
import agentdb
from agentdb import Job, JobStatus, Permission
from agentdb.aio_types import AsyncJobStore


async def main(url: str) -> int:
    adb = await agentdb.connect_async(url, pool_size=4)
    jobs = agentdb.aio(agentdb.JobStore)(adb)
    job: Job = await jobs.create("word_count", {"text": "hi"}, priority=1)
    same: Job = await AsyncJobStore(adb).get(job.id)
    next_one: Job | None = await jobs.claim_next("w1", lease=30.0)
    recent: list[Job] = await jobs.list(status=JobStatus.PENDING, sort_by="created_at")
    async with adb.transaction():
        await jobs.add_log(job.id, "INFO", "started")
    allowed: bool = await agentdb.aio(agentdb.WorkflowRepository)(adb).can_access(
        "u", "w", Permission.READ)
    async with await jobs.stream("list_jobs", status="pending", limit=10) as rows:
        async for row in rows:
            assert isinstance(row["id"], str)
    await adb.aclose()
    return len(recent) + int(allowed) + (next_one is None) + len(same.id)
'''

ASYNC_BAD = '''
import agentdb


async def main(adb: agentdb.AsyncDatabase) -> None:
    jobs = agentdb.aio(agentdb.JobStore)(adb)
    await jobs.list(status="complete")
    await jobs.create(42)
    name: int = (await jobs.create("t")).tool_name
    print(jobs.get("id").status)
    await agentdb.aio(agentdb.TaskRepository)(adb).record_metric("m", "meter", 1)
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


def test_a_typed_async_user_program_passes_mypy_strict(tmp_path: Path) -> None:
    """aio(cls)'s methods are typed for the user's checker (agentdb/aio_types.pyi, generated
    from the sync signatures): awaited results have the sync method's return type."""
    (tmp_path / "good_async.py").write_text(ASYNC_GOOD)
    done = _mypy(tmp_path)
    assert done.returncode == 0, done.stdout


def test_mypy_catches_wrong_async_calls(tmp_path: Path) -> None:
    (tmp_path / "bad_async.py").write_text(ASYNC_BAD)
    done = _mypy(tmp_path)
    lines = sorted({int(line.split(":")[1]) for line in done.stdout.splitlines()
                    if line.startswith("bad_async.py:") and ": error:" in line})
    assert lines == [7, 8, 9, 10, 11], done.stdout


def test_generated_async_types_are_current() -> None:
    """CI check: agentdb/aio_types.py(i) are what tools/gen_async_types.py writes from today's
    repositories (a method added or changed without regenerating fails here)."""
    done = subprocess.run([sys.executable, str(REPO / "tools" / "gen_async_types.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
