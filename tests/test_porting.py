"""What a user porting from SQLAlchemy or the systems agentdb replaces reaches for first:
typed parameters (Literals beside the enums), ISO-8601 text in datetime filters, ``pooling``,
a typed ``health()``, and every record and enum at the top level."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from enum import Enum

import pytest
from conftest import Databases

import agentdb
from agentdb import Database, ValidationError
from agentdb.repositories import executions, jobs, tasks, workflows


@pytest.mark.parametrize(
    ("literal", "values"),
    [
        (jobs.JobStatusName, [s.value for s in jobs.JobStatus]),
        (jobs.SortColumn, list(jobs.SORT_COLUMNS)),
        (jobs.SortOrder, [*jobs.SORT_ORDERS, *(o.upper() for o in jobs.SORT_ORDERS)]),
        (jobs.LogLevel, [*jobs.LOG_LEVELS, *(x.lower() for x in jobs.LOG_LEVELS)]),
        (executions.ExecutionStatusName, [s.value for s in executions.ExecutionStatus]),
        (tasks.TaskStatusName, [s.value for s in tasks.TaskStatus]),
        (tasks.RunStatusName, [s.value for s in tasks.RunStatus]),
        (tasks.MetricTypeName, [s.value for s in tasks.MetricType]),
        (tasks.ArtifactTypeName, [s.value for s in tasks.ArtifactType]),
        (workflows.PermissionName, [s.value for s in workflows.Permission]),
    ],
)
def test_each_literal_lists_exactly_the_accepted_values(literal: object, values: list[str]) -> None:
    assert sorted(typing.get_args(literal)) == sorted(values)


def test_every_record_and_enum_is_exported_at_the_top_level() -> None:
    from agentdb import repositories
    from agentdb.records import Record

    for name in repositories.__all__:
        obj = getattr(repositories, name)
        if isinstance(obj, type) and issubclass(obj, Record | Enum):
            assert getattr(agentdb, name) is obj and name in agentdb.__all__, name
    from agentdb import Job, JobStatus, MetricType, Task  # noqa: F401  (what a porter types)


def test_datetime_filters_take_iso_text_naive_meaning_utc(db: Database) -> None:
    store = agentdb.JobStore(db)
    job = store.create("iso")
    before = (job.created_at - timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    after = (job.created_at + timedelta(seconds=1)).astimezone(UTC).isoformat()
    assert [j.id for j in store.list(created_after=before)] == [job.id]
    assert store.list(created_after=after) == []  # aware text, with its offset
    assert store.count(created_after="2000-01-01", created_before=after) == 1  # a date alone
    assert [j.id for j in store.list(created_after=before.replace("T", " ") + "Z")] == [job.id]
    with pytest.raises(ValidationError, match="created_after"):
        store.list(created_after="yesterday")
    ex = agentdb.ExecutionRepository(db)
    ex.start(workflow_name="w")
    assert len(ex.list(since="2000-01-01T00:00:00")) == 1
    assert ex.list(until="2000-01-01T00:00:00") == []
    with pytest.raises(ValidationError, match="timezone-aware"):
        store.list(created_after=datetime(2000, 1, 1))  # a naive datetime object stays refused


def test_pooling_false_keeps_no_connection(dialect: str, make_db: Databases) -> None:
    db = make_db(dialect, pooling=False)
    assert db.config.pooling is False
    for _ in range(3):
        with db.acquire() as conn:
            conn.cursor().execute("SELECT 1")
        assert db.health()["status"] == "healthy"
    assert db.stats().in_use == 0
    assert _open_connections(db) == 0
    pooled = make_db(dialect, pooling="true")  # from a URL's query string, as text
    with pooled.acquire() as conn:
        conn.cursor().execute("SELECT 1")
    assert pooled.config.pooling is True and _open_connections(pooled) >= 1


def _open_connections(db: Database) -> int:
    backend = db.backend
    if db.dialect == "postgresql":
        return int(backend.pool.get_stats()["pool_size"])  # type: ignore[attr-defined]
    if db.dialect == "mysql":
        return sum(1 for c in backend._conns if c.open)  # type: ignore[attr-defined]
    return len(backend._slots.idle)  # type: ignore[attr-defined]


def test_health_is_a_typed_dict(db: Database) -> None:
    report: agentdb.HealthReport = db.health()
    assert set(report) == agentdb.HealthReport.__required_keys__  # "replicas": only with them
    assert set(agentdb.HealthReport.__optional_keys__) == {"replicas"}
    assert report["status"] == "healthy" and report["error"] is None


def test_workflows_listed_by_is_public(db: Database) -> None:
    owner = agentdb.UserRepository(db).create("owner", "o@example.org", "a long password!")
    repo = agentdb.WorkflowRepository(db)
    public = repo.create(owner.id, "pub", {}, is_public=True)
    private = repo.create(owner.id, "priv", {})
    assert [w.id for w in repo.list(is_public=True)] == [public.id]
    assert [w.id for w in repo.list(is_public=False, owner_id=owner.id)] == [private.id]
    assert len(repo.list()) == 2
    with pytest.raises(ValidationError, match="is_public"):
        repo.list(is_public="yes")  # type: ignore[arg-type]


def test_max_rounds_is_enforced(db: Database) -> None:
    tasks = agentdb.TaskRepository(db)
    task = tasks.create_task("bounded", max_rounds=3)
    runs = [tasks.start_run(task.id) for _ in range(3)]
    assert [r.run_number for r in runs] == [1, 2, 3]
    with pytest.raises(agentdb.ConflictError, match="max_rounds=3"):
        tasks.start_run(task.id)
    assert tasks.get_task(task.id).total_runs == 3  # the refused start left no trace
    tasks.update_task(task.id, max_rounds=4)
    assert tasks.start_run(task.id).run_number == 4
    unbounded = tasks.create_task("free")
    assert [tasks.start_run(unbounded.id).run_number for _ in range(5)][-1] == 5


def test_metric_types_summary_and_histogram(db: Database) -> None:
    tasks = agentdb.TaskRepository(db)
    task = tasks.create_task("metrics")
    for kind in ("summary", agentdb.MetricType.HISTOGRAM):
        assert tasks.record_metric("latency", kind, 1.5, task_id=task.id).metric_type == kind
    kinds = [m.metric_type for m in tasks.metrics(task_id=task.id)]
    assert kinds == [agentdb.MetricType.SUMMARY, agentdb.MetricType.HISTOGRAM]


def test_artifacts_hold_bytes(db: Database) -> None:
    import hashlib

    tasks = agentdb.TaskRepository(db)
    task = tasks.create_task("blobs")
    payload = bytes(range(256)) * 40  # every byte value, invalid UTF-8 included
    made = tasks.add_artifact("blob.bin", "file", task_id=task.id, content=payload)
    got = tasks.get_artifact(made.id)
    assert got.data == payload and got.content is None and got == made
    assert (got.size_bytes, got.file_hash) == (len(payload), hashlib.sha256(payload).hexdigest())
    text = tasks.add_artifact("note.md", "text", task_id=task.id, content="# hi")
    assert tasks.get_artifact(text.id).data is None
    assert [a.data for a in tasks.list_artifacts(task_id=task.id)] == [payload, None]
    with pytest.raises(ValidationError, match="content"):
        tasks.add_artifact("big", "file", task_id=task.id, content=b"x" * (8 * 1024 * 1024 + 1))
