"""TaskRepository on sqlite, postgresql and mysql: tasks, numbered runs and their counters
(under concurrency too), metrics, artifacts, and what deleting a task takes with it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from helpers import run_threads

from agentdb import ConflictError, Database, NotFound, ValidationError
from agentdb.repositories.tasks import (
    ArtifactType,
    MetricType,
    RunStatus,
    Task,
    TaskRepository,
    TaskStatus,
)

MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def tasks(db: Database) -> TaskRepository:
    return TaskRepository(db)


@pytest.fixture
def task(tasks: TaskRepository) -> Task:
    return tasks.create_task("crawl", "crawl the web", {"depth": 2, "seeds": ["a"]},
                             max_rounds=5, memory_size=0)


# -- tasks ----------------------------------------------------------------------------------


def test_create_get_list_update(tasks: TaskRepository, task: Task) -> None:
    assert task.status is TaskStatus.ACTIVE and task.total_runs == 0
    assert task.success_rate == 0.0 and task.created_at.tzinfo is UTC
    assert tasks.get_task(task.id) == task  # the same values back, on every backend
    paused = tasks.create_task("other", status="paused")
    assert [t.id for t in tasks.list_tasks()] == [paused.id, task.id]
    assert [t.id for t in tasks.list_tasks(status=TaskStatus.PAUSED)] == [paused.id]

    changed = tasks.update_task(task.id, name="crawl2", config={"depth": 3}, max_rounds=None)
    assert (changed.name, changed.config, changed.max_rounds) == ("crawl2", {"depth": 3}, None)
    assert changed.description == "crawl the web" and changed.memory_size == 0  # kept
    assert tasks.set_status(task.id, "completed").status is TaskStatus.COMPLETED
    assert tasks.update_task(task.id, description=None).description is None
    with pytest.raises(NotFound):
        tasks.update_task(MISSING, name="x")
    with pytest.raises(NotFound):
        tasks.get_task(MISSING)


def test_task_validation_names_the_field(tasks: TaskRepository) -> None:
    cases = [
        (lambda: tasks.create_task(""), "name"),
        (lambda: tasks.create_task("t", max_rounds=0), "max_rounds"),
        (lambda: tasks.create_task("t", memory_size=-1), "memory_size"),
        (lambda: tasks.create_task("t", config="{}"), "config"),
        (lambda: tasks.create_task("t", status="running"), "status"),
        (lambda: tasks.list_tasks(status="nope"), "status"),
        (lambda: tasks.start_run(None), "task_id"),
        (lambda: tasks.fail_run(MISSING, ""), "error_message"),
        (lambda: tasks.get_run_by_number(MISSING, 0), "run_number"),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as err:
            call()
        assert err.value.field == field


# -- runs -----------------------------------------------------------------------------------


def test_runs_are_numbered_and_counted(tasks: TaskRepository, task: Task) -> None:
    first = tasks.start_run(task.id, plan={"steps": ["fetch", "parse"]})
    second = tasks.start_run(task.id)
    assert (first.run_number, second.run_number) == (1, 2)
    assert first.status is RunStatus.RUNNING and first.started_at is not None
    assert tasks.get_run(first.id) == first

    done = tasks.complete_run(first.id, results={"pages": 10})
    assert done.status is RunStatus.COMPLETED and done.results == {"pages": 10}
    assert done.completed_at is not None and done.duration is not None and done.duration >= 0
    assert done.completed_at - first.started_at == timedelta(seconds=done.duration)
    failed = tasks.fail_run(second.id, "timeout", {"after": 30})
    assert failed.error_message == "timeout" and failed.error_details == {"after": 30}
    assert tasks.get_run(first.id) == done and tasks.get_run(second.id) == failed

    counted = tasks.get_task(task.id)
    assert (counted.total_runs, counted.successful_runs, counted.failed_runs) == (2, 1, 1)
    assert counted.success_rate == 0.5 and counted.to_dict()["success_rate"] == 0.5
    assert tasks.get_run_by_number(task.id, 2) == failed
    assert [r.run_number for r in tasks.list_runs(task.id)] == [1, 2]
    assert [r.id for r in tasks.list_runs(task.id, status="failed")] == [second.id]


def test_a_finished_run_is_counted_once(tasks: TaskRepository, task: Task) -> None:
    run = tasks.complete_run(tasks.start_run(task.id).id)
    with pytest.raises(ConflictError):
        tasks.complete_run(run.id)
    with pytest.raises(ConflictError):
        tasks.fail_run(run.id, "late")
    cancelled = tasks.cancel_run(tasks.start_run(task.id).id)
    assert cancelled.status is RunStatus.CANCELLED
    counted = tasks.get_task(task.id)
    assert (counted.total_runs, counted.successful_runs, counted.failed_runs) == (2, 1, 0)
    assert tasks.get_run(run.id) == run
    with pytest.raises(NotFound):
        tasks.complete_run(MISSING)
    with pytest.raises(NotFound):
        tasks.start_run(MISSING)


def test_concurrent_starts_number_runs_1_to_16(tasks: TaskRepository, task: Task) -> None:
    tasks.update_task(task.id, max_rounds=16)  # the fixture's 5 rounds would refuse run 6
    runs = run_threads(16, lambda i: tasks.start_run(task.id, plan={"thread": i}))
    assert sorted(r.run_number for r in runs) == list(range(1, 17))
    assert tasks.get_task(task.id).total_runs == 16
    assert [r.run_number for r in tasks.list_runs(task.id)] == list(range(1, 17))

    # ... and finishing them concurrently keeps the counters equal to the runs themselves.
    run_threads(16, lambda i: tasks.complete_run(runs[i].id) if i % 4 else
                tasks.fail_run(runs[i].id, "boom"))
    counted = tasks.get_task(task.id)
    assert (counted.total_runs, counted.successful_runs, counted.failed_runs) == (16, 12, 4)
    assert counted.success_rate == 0.75
    statuses = [r.status for r in tasks.list_runs(task.id)]
    assert statuses.count(RunStatus.COMPLETED) == 12 and statuses.count(RunStatus.FAILED) == 4


def test_racing_finishes_of_one_run_count_it_once(tasks: TaskRepository, task: Task) -> None:
    run = tasks.start_run(task.id)

    def finish(i: int) -> bool:
        try:
            if i % 2:
                tasks.complete_run(run.id)
            else:
                tasks.fail_run(run.id, "x")
            return True
        except ConflictError:
            return False

    assert sum(run_threads(8, finish)) == 1
    counted = tasks.get_task(task.id)
    assert counted.successful_runs + counted.failed_runs == 1


# -- metrics --------------------------------------------------------------------------------


def test_metrics(tasks: TaskRepository, task: Task) -> None:
    run = tasks.start_run(task.id)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    m1 = tasks.record_metric("latency", MetricType.TIMER, 1.5, "s", {"host": "a"}, task.id,
                             recorded_at=t0)
    m2 = tasks.record_metric("latency", "timer", 2.5, "s", task_run_id=run.id,
                             recorded_at=t0 + timedelta(minutes=1))
    m3 = tasks.record_metric("pages", "counter", 7, task_id=task.id,
                             recorded_at=t0 + timedelta(minutes=2))
    loose = tasks.record_metric("cpu", "gauge", 0.25)  # belongs to no task
    assert m2.task_id == task.id  # a run's metric belongs to its task too
    assert loose.task_id is None and loose.recorded_at.tzinfo is UTC
    assert m1.id < m2.id < m3.id

    assert tasks.metrics(task_id=task.id) == [m1, m2, m3]  # same values back everywhere
    assert tasks.metrics(task_run_id=run.id) == [m2]
    assert tasks.metrics(name="latency") == [m1, m2]
    assert tasks.metrics(since=t0 + timedelta(minutes=1), until=t0 + timedelta(minutes=2)) == [m2]
    assert tasks.metrics(task_id=task.id, limit=1, offset=2) == [m3]

    summary = tasks.summarize_metric("latency", task_id=task.id)
    assert (summary.count, summary.min, summary.max, summary.avg, summary.sum) == (
        2, 1.5, 2.5, 2.0, 4.0)
    empty = tasks.summarize_metric("nothing")
    assert (empty.count, empty.avg) == (0, None)
    with pytest.raises(NotFound) as missing:
        tasks.record_metric("m", "gauge", 1, task_id=MISSING)
    assert missing.value.entity == "task"
    with pytest.raises(NotFound) as missing:
        tasks.record_metric("m", "gauge", 1, task_run_id=MISSING)
    assert missing.value.entity == "task run"


def test_metric_validation_names_the_field(tasks: TaskRepository) -> None:
    cases = [
        (lambda: tasks.record_metric("m", "meter", 1), "metric_type"),
        (lambda: tasks.record_metric("m", "gauge", float("nan")), "value"),
        (lambda: tasks.record_metric("m", "gauge", "1"), "value"),
        (lambda: tasks.record_metric("", "gauge", 1), "name"),
        (lambda: tasks.record_metric("m", "gauge", 1, labels=["x"]), "labels"),
        (lambda: tasks.record_metric("m", "gauge", 1, recorded_at=datetime(2024, 1, 1)),
         "recorded_at"),
        (lambda: tasks.metrics(until=datetime(2024, 1, 1)), "until"),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as err:
            call()
        assert err.value.field == field


# -- artifacts ------------------------------------------------------------------------------


def test_artifacts(tasks: TaskRepository, task: Task) -> None:
    run = tasks.start_run(task.id)
    text = "résumé of the crawl\n"
    report = tasks.add_artifact("report.md", ArtifactType.TEXT, task_run_id=run.id,
                                content=text, metadata={"lang": "en"})
    assert report.file_hash == hashlib.sha256(text.encode()).hexdigest()
    assert report.size_bytes == len(text.encode()) == 22 and report.task_id == task.id
    image = tasks.add_artifact("shot.png", "image", task.id, path="/data/shot.png",
                               file_hash="ab" * 32, size_bytes=1024)
    assert image.content is None and image.file_hash == "ab" * 32

    assert tasks.get_artifact(report.id) == report  # the same values back, on every backend
    assert tasks.list_artifacts(task_id=task.id) == [report, image]
    assert tasks.list_artifacts(task_run_id=run.id) == [report]
    assert tasks.list_artifacts(task_id=task.id, artifact_type="image") == [image]
    with pytest.raises(NotFound):
        tasks.add_artifact("x", "log", task_run_id=MISSING)
    tasks.delete_artifact(image.id)
    with pytest.raises(NotFound):
        tasks.get_artifact(image.id)

    for call, field in [
        (lambda: tasks.add_artifact("x", "blob"), "artifact_type"),
        (lambda: tasks.add_artifact("x", "text", content="a", file_hash="f"), "file_hash"),
        (lambda: tasks.add_artifact("x", "file", size_bytes=-1), "size_bytes"),
    ]:
        with pytest.raises(ValidationError) as err:
            call()
        assert err.value.field == field


# -- deleting -------------------------------------------------------------------------------


def test_deleting_a_task_removes_everything_that_belongs_to_it(
    tasks: TaskRepository, task: Task
) -> None:
    keep = tasks.create_task("keep")
    run = tasks.start_run(task.id)
    tasks.record_metric("m", "gauge", 1, task_run_id=run.id)
    tasks.record_metric("m", "gauge", 2, task_id=task.id)
    tasks.add_artifact("a", "log", task_run_id=run.id, content="x")
    tasks.add_artifact("b", "log", task.id, content="y")
    kept_metric = tasks.record_metric("m", "gauge", 3, task_id=keep.id)
    loose_metric = tasks.record_metric("m", "gauge", 4)

    tasks.delete_task(task.id)
    with pytest.raises(NotFound):
        tasks.get_run(run.id)
    assert tasks.list_runs(task.id) == []
    assert tasks.metrics(task_run_id=run.id) == [] and tasks.metrics(task_id=task.id) == []
    assert tasks.list_artifacts(task_id=task.id) == []
    assert tasks.list_artifacts(task_run_id=run.id) == []
    assert tasks.metrics(name="m") == [kept_metric, loose_metric]  # nothing else touched
    with pytest.raises(NotFound):
        tasks.delete_task(task.id)
