"""JobStore's promises, each checked on sqlite, postgresql and mysql (the ``db`` fixture)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import run_threads

import agentdb
from agentdb import ConflictError, Database, NotFound, ValidationError
from agentdb import validate as validate_module
from agentdb.queries import CHUNK_SIZE
from agentdb.repositories import Job, JobLog, JobStatus, JobStore
from agentdb.repositories import jobs as jobs_module

TRICKY = [
    "plain",
    "unicode: 日本語 Ελληνικά émoji 🚀",
    "quotes: O'Reilly said \"hi\" `tick`",
    "percent: 100% %s %(name)s %%",
    "colon: :x :name ::text",
    "semicolon-comment: ;-- DROP TABLE jobs; /* x */ #",
    "backslash: \\ \\' \\n",
    "dollar: $1 $$ $tag$",
    "whitespace:\n\tnew line and tab",
]
LARGE_JSON: dict[str, Any] = {
    "text": "x" * 300_000,
    "items": [{"i": i, "name": f"item {i} ü", "ratio": i / 8} for i in range(2000)],
    "nested": {"deep": {"deeper": [[1, 2], {"k": None, "b": True}]}},
    "big": 2**70,
}


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


def clock_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make every timestamp JobStore writes from now on read ``when``."""
    monkeypatch.setattr(validate_module, "utcnow", lambda: when)


# -- create / get / delete -------------------------------------------------------------------------


def test_create_returns_what_get_reads_back(jobs: JobStore) -> None:
    job = jobs.create("ingest", {"path": "/data", "n": 3, "f": 0.25}, priority=7,
                      workflow_id="wf-1", user_id="user-1", batch_id="batch-1")
    assert job == jobs.get(job.id)
    assert isinstance(job.id, str) and len(job.id) == 36
    assert job.status is JobStatus.PENDING and job.priority == 7
    assert job.created_at.tzinfo is UTC and job.created_at == job.updated_at
    assert job.started_at is None and job.completed_at is None
    assert job.duration is None and job.worker_id is None
    assert job.to_dict()["status"] == "pending"


def test_defaults_and_null_parameters(jobs: JobStore) -> None:
    job = jobs.get(jobs.create("t").id)
    assert job.parameters is None and job.priority == 0
    assert job.workflow_id is job.user_id is job.batch_id is None


def test_get_missing_is_not_found(jobs: JobStore) -> None:
    with pytest.raises(NotFound):
        jobs.get("00000000-0000-0000-0000-000000000000")


def test_delete_removes_job_result_and_logs(jobs: JobStore) -> None:
    job = jobs.create("t")
    jobs.save_result(job.id, "out", "err", 0, ["f"])
    jobs.add_log(job.id, "INFO", "x")
    jobs.delete(job.id)
    with pytest.raises(NotFound):
        jobs.get(job.id)
    assert jobs.get_result(job.id) is None and jobs.get_logs(job.id) == []
    with pytest.raises(NotFound):
        jobs.delete(job.id)


def test_text_round_trips_exactly(jobs: JobStore) -> None:
    for value in TRICKY:
        job = jobs.create(value, {value: value, "list": [value]})
        assert jobs.get(job.id).tool_name == value
        assert jobs.get(job.id).parameters == {value: value, "list": [value]}
        assert jobs.list(tool_name=value) == [jobs.get(job.id)]
        saved = jobs.save_result(job.id, value, value, 1, [value])
        assert jobs.get_result(job.id) == saved
        assert saved.stdout == saved.stderr == value and saved.output_files == [value]
        jobs.add_log(job.id, "info", value)
        assert [log.message for log in jobs.get_logs(job.id)] == [value]
        assert jobs.fail(job.id, value).error_message == value


def test_large_json_round_trips(jobs: JobStore) -> None:
    job = jobs.create("big", LARGE_JSON)
    assert jobs.get(job.id).parameters == LARGE_JSON
    jobs.save_result(job.id, "o" * 200_000, None, None, LARGE_JSON["items"])
    result = jobs.get_result(job.id)
    assert result is not None and result.output_files == LARGE_JSON["items"]
    assert result.stdout == "o" * 200_000 and result.stderr is None


# -- status changes ----------------------------------------------------------------------------


def test_lifecycle_stamps_times_and_duration(jobs: JobStore) -> None:
    job = jobs.create("t")
    running = jobs.start(job.id, worker_id="w-1")
    assert running.status is JobStatus.RUNNING and running.worker_id == "w-1"
    assert running.started_at is not None and running.started_at >= job.created_at
    assert running.updated_at == running.started_at
    done = jobs.complete(job.id)
    assert done.status is JobStatus.COMPLETED and done.status.finished
    assert done.completed_at is not None and done.updated_at == done.completed_at
    assert done.duration == (done.completed_at - running.started_at).total_seconds()
    assert done.error_message is None and done == jobs.get(job.id)


def test_fail_and_cancel(jobs: JobStore) -> None:
    failed = jobs.fail(jobs.start(jobs.create("t").id).id, "boom")
    assert failed.status is JobStatus.FAILED and failed.error_message == "boom"
    assert failed.duration is not None and failed.duration >= 0
    cancelled = jobs.cancel(jobs.create("t").id, "not needed")
    assert cancelled.status is JobStatus.CANCELLED and cancelled.duration is None
    assert cancelled.started_at is None and cancelled.completed_at is not None
    assert jobs.update_status(jobs.create("t").id, "failed").status is JobStatus.FAILED


IMPOSSIBLE = [
    ([], "completed"),  # pending -> completed: it never ran
    (["running", "completed"], "running"),
    (["running", "completed"], "failed"),
    (["cancelled"], "running"),
    (["failed"], "cancelled"),
    (["running"], "running"),
    (["running"], "pending"),
]


def test_impossible_transitions_are_refused(jobs: JobStore) -> None:
    for path, target in IMPOSSIBLE:
        job = jobs.create("t")
        for status in path:
            jobs.update_status(job.id, status)
        before = jobs.get(job.id)
        with pytest.raises(ValidationError) as info:
            jobs.update_status(job.id, target)
        assert info.value.field == "status", (path, target)
        assert jobs.get(job.id) == before, (path, target)


def test_status_change_of_missing_job_is_not_found(jobs: JobStore) -> None:
    with pytest.raises(NotFound):
        jobs.complete("00000000-0000-0000-0000-000000000000")


# -- list / count ---------------------------------------------------------------------------------


def test_list_and_count_filters(jobs: JobStore) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    made: list[Job] = []
    for i in range(12):
        validate_at = t0 + timedelta(minutes=i)
        with pytest.MonkeyPatch.context() as mp:
            clock_at(mp, validate_at)
            made.append(jobs.create(f"tool{i % 3}", priority=i % 4,
                                    workflow_id=f"wf{i % 2}", batch_id="b" if i < 4 else None))
    jobs.start(made[0].id)
    jobs.start(made[1].id)

    def ids(found: list[Job]) -> set[str]:
        return {j.id for j in found}

    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({}, ids(made)),
        ({"status": "running"}, ids(made[:2])),
        ({"status": JobStatus.PENDING}, ids(made[2:])),
        ({"tool_name": "tool1"}, ids(made[1::3])),
        ({"workflow_id": "wf1"}, ids(made[1::2])),
        ({"batch_id": "b"}, ids(made[:4])),
        ({"created_after": t0 + timedelta(minutes=10)}, ids(made[10:])),
        ({"created_before": t0 + timedelta(minutes=2)}, ids(made[:2])),
        ({"created_after": t0 + timedelta(minutes=3),
          "created_before": t0 + timedelta(minutes=6), "tool_name": "tool0"}, ids([made[3]])),
        ({"status": "pending", "workflow_id": "wf0", "tool_name": "tool2"},
         ids([made[2], made[8]])),
        ({"status": "completed"}, set()),
    ]
    for filters, expected in cases:
        assert ids(jobs.list(**filters)) == expected, filters
        assert jobs.count(**filters) == len(expected), filters


def test_list_sorts_and_pages(jobs: JobStore) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(9):
        with pytest.MonkeyPatch.context() as mp:
            clock_at(mp, t0 + timedelta(seconds=(i * 7) % 9))
            job = jobs.create(f"tool{(i * 5) % 4}", priority=(i * 2) % 3)
        if i % 3 == 0:
            with pytest.MonkeyPatch.context() as mp:
                clock_at(mp, t0 + timedelta(seconds=30 + (i * 5) % 9))
                jobs.start(job.id)
    for sort_by in jobs_module.SORT_COLUMNS:
        for order in ("asc", "DESC"):
            listed = jobs.list(sort_by=sort_by, sort_order=order)
            key = [(getattr(j, sort_by), j.id) for j in listed]
            assert len(key) == 9 and key == sorted(key, reverse=order == "DESC"), sort_by
            pages = [jobs.list(sort_by=sort_by, sort_order=order, limit=4, offset=o)
                     for o in (0, 4, 8)]
            assert [j for page in pages for j in page] == listed, sort_by


# -- batches ------------------------------------------------------------------------------------


def test_batch_creates_every_job_in_chunks(jobs: JobStore) -> None:
    n = CHUNK_SIZE * 2 + 7  # three chunks
    specs = [{"tool_name": f"t{i % 5}", "parameters": {"i": i}, "priority": i % 3}
             for i in range(n)]
    batch_id = jobs.create_job_batch(specs)
    found = jobs.get_batch_jobs(batch_id)
    assert len(found) == n == jobs.count(batch_id=batch_id)
    assert sorted(j.parameters["i"] for j in found if j.parameters) == list(range(n))
    assert {j.batch_id for j in found} == {batch_id}
    assert {j.status for j in found} == {JobStatus.PENDING}
    assert jobs.get_batch_jobs("no-such-batch") == []


def test_batch_failing_half_way_leaves_nothing(jobs: JobStore,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses a row in the second chunk (a duplicate id): the first chunk,
    already sent, is rolled back with it."""
    fixed = "11111111-1111-1111-1111-111111111111"
    ids = iter(range(10**6))

    def new_id() -> str:
        i = next(ids)
        return fixed if i in (1, CHUNK_SIZE + 10) else f"00000000-0000-0000-0000-{i:012d}"

    monkeypatch.setattr(validate_module, "new_id", new_id)
    with pytest.raises(ConflictError):
        jobs.create_job_batch([{"tool_name": "t"}] * (CHUNK_SIZE + 50))
    monkeypatch.undo()
    assert jobs.count() == 0
    assert jobs.create("still works").status is JobStatus.PENDING


def test_batch_inside_a_unit_of_work_rolls_back_with_it(jobs: JobStore, db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        jobs.create("single")
        jobs.create_job_batch([{"tool_name": "t"}] * 3)
        raise RuntimeError("caller changed its mind")
    assert jobs.count() == 0


@pytest.mark.parametrize(
    ("specs", "field"),
    [
        ([], "jobs"),
        ([{"tool_name": "ok"}, {"tool_name": ""}], "jobs[1].tool_name"),
        ([{"tool_name": "ok", "priority": 1.5}], "jobs[0].priority"),
        ([{"tool_name": "ok", "parameters": [1, 2]}], "jobs[0].parameters"),
        ([{"tool_name": "ok", "parameters": {"when": datetime.now(UTC)}}], "jobs[0].parameters"),
        ([{"tool_name": "ok", "batch_id": "mine"}], "jobs[0]"),
        (["ok"], "jobs[0]"),
    ],
)
def test_batch_refuses_bad_items(jobs: JobStore, specs: list[Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        jobs.create_job_batch(specs)
    assert info.value.field == field
    assert jobs.count() == 0


# -- the work queue ------------------------------------------------------------------------------


def test_claim_takes_highest_priority_then_oldest(jobs: JobStore) -> None:
    low = jobs.create("t", priority=0)
    high_old = jobs.create("t", priority=5)
    high_new = jobs.create("t", priority=5)
    other_tool = jobs.create("special", priority=9)
    assert jobs.claim_next(tool_name="t").id == high_old.id  # type: ignore[union-attr]
    claimed = jobs.claim_next(worker_id="w-7")
    assert claimed is not None and claimed.id == other_tool.id
    assert claimed.status is JobStatus.RUNNING and claimed.worker_id == "w-7"
    assert claimed.started_at is not None and claimed == jobs.get(claimed.id)
    assert jobs.claim_next(tool_name="special") is None
    assert [jobs.claim_next().id for _ in range(2)] == [high_new.id, low.id]  # type: ignore[union-attr]
    assert jobs.claim_next() is None


def drain(jobs: JobStore, worker: str) -> list[str]:
    claimed = []
    while (job := jobs.claim_next(worker_id=worker)) is not None:
        claimed.append(job.id)
    return claimed


def test_eight_threads_claim_each_job_exactly_once(jobs: JobStore) -> None:
    batch = jobs.create_job_batch([{"tool_name": "t", "priority": i % 3} for i in range(500)])
    per_worker = run_threads(8, lambda i: drain(jobs, f"w{i}"))
    claimed = [job_id for ids in per_worker for job_id in ids]
    assert len(claimed) == 500 == len(set(claimed))
    assert set(claimed) == {j.id for j in jobs.get_batch_jobs(batch)}
    assert jobs.count(status="running") == 500
    workers = Counter(j.worker_id for j in jobs.list(limit=1000))
    assert sum(workers.values()) == 500 and set(workers) <= {f"w{i}" for i in range(8)}


def _drain_in_process(url: str, worker: str, start: Any, results: Any) -> None:
    db = agentdb.connect(url, pool_size=1, max_overflow=0)
    try:
        store = JobStore(db)
        store.count()  # connected and warm before the start line
        start.wait(timeout=60)
        results.put(drain(store, worker))
    finally:
        db.close()


def test_four_processes_claim_each_job_exactly_once(jobs: JobStore, db: Database) -> None:
    jobs.create_job_batch([{"tool_name": "t"} for _ in range(300)])
    url = db.config.url(hide_password=False)
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared by fork
    start, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_drain_in_process, args=(url, f"p{i}", start, results))
             for i in range(4)]
    for proc in procs:
        proc.start()
    try:
        per_worker = [results.get(timeout=60) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=10)
    claimed = [job_id for ids in per_worker for job_id in ids]
    assert len(claimed) == 300 == len(set(claimed))
    assert jobs.count(status="pending") == 0


# -- results and logs ----------------------------------------------------------------------------


def test_save_result_stores_and_replaces(jobs: JobStore) -> None:
    job = jobs.create("t")
    assert jobs.get_result(job.id) is None
    first = jobs.save_result(job.id, "out", "", 0, {"files": ["a.txt"]})
    assert jobs.get_result(job.id) == first and first.stderr == ""
    second = jobs.save_result(job.id, None, "err", -9, None)
    assert jobs.get_result(job.id) == second
    assert second.stdout is None and second.return_code == -9 and second.output_files is None
    jobs.save_result(job.id, None, "err", -9, None)  # the same again (MariaDB: 0 rows changed)
    with pytest.raises(NotFound):
        jobs.save_result("00000000-0000-0000-0000-000000000000", "x")


def test_logs_come_back_in_order(jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    job = jobs.create("t")
    same_instant = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    clock_at(monkeypatch, same_instant)
    written = [jobs.add_log(job.id, level, f"line {i}")
               for i, level in enumerate(["info", "WARNING", "Error", "debug", "CRITICAL"])]
    monkeypatch.undo()
    later = jobs.add_log(job.id, "INFO", "later")
    earlier_job = jobs.create("other")
    jobs.add_log(earlier_job.id, "INFO", "not mine")
    logs = jobs.get_logs(job.id)
    assert logs == [*written, later]
    assert [log.level for log in logs[:5]] == ["INFO", "WARNING", "ERROR", "DEBUG", "CRITICAL"]
    assert all(isinstance(log, JobLog) and log.created_at.tzinfo is UTC for log in logs)
    assert [log.id for log in logs] == sorted(log.id for log in logs)
    with pytest.raises(NotFound):
        jobs.add_log("00000000-0000-0000-0000-000000000000", "INFO", "x")


# -- stats and cleanup ---------------------------------------------------------------------------


def test_stats(jobs: JobStore) -> None:
    empty = jobs.stats()
    assert empty.total == 0 and empty.success_rate is None and empty.mean_duration is None
    assert empty.top_tools == [] and set(empty.by_status.values()) == {0}
    for tool, n in [("a", 1), ("b", 4), ("c", 2), ("d", 2), ("e", 3), ("f", 1), ("g", 2)]:
        for _ in range(n):
            jobs.create(tool)
    c1, c2, c3 = (jobs.start(j.id) for j in jobs.list(tool_name="b", limit=3))
    done = [jobs.complete(c1.id), jobs.complete(c2.id), jobs.fail(c3.id, "x")]
    jobs.cancel(jobs.list(tool_name="a")[0].id)
    stats = jobs.stats()
    assert stats.total == 15
    assert stats.by_status == {"pending": 11, "running": 0, "completed": 2, "failed": 1,
                               "cancelled": 1}
    assert stats.success_rate == pytest.approx(2 / 3)
    assert stats.top_tools == [("b", 4), ("e", 3), ("c", 2), ("d", 2), ("g", 2)]
    expected = sum(j.duration or 0 for j in done) / 3
    assert stats.mean_duration == pytest.approx(expected)
    assert stats.to_dict()["top_tools"][0] == ["b", 4]


def test_cleanup_deletes_old_finished_jobs_with_children(
    jobs: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=40)
    clock_at(monkeypatch, long_ago)
    old_finished = []
    for i in range(7):
        job = jobs.start(jobs.create("t").id)
        jobs.save_result(job.id, "out")
        jobs.add_log(job.id, "INFO", "x")
        old_finished.append([jobs.complete, jobs.fail, jobs.cancel][i % 3](job.id))
    old_pending = jobs.create("t")
    old_running = jobs.start(jobs.create("t").id)
    monkeypatch.undo()
    recent = jobs.complete(jobs.start(jobs.create("t").id).id)

    assert jobs.cleanup_old_jobs(50) == 0
    assert jobs.cleanup_old_jobs(30, chunk_size=3) == 7  # chunks of 3, 3, 1
    for job in old_finished:
        with pytest.raises(NotFound):
            jobs.get(job.id)
        assert jobs.get_result(job.id) is None and jobs.get_logs(job.id) == []
    assert {j.id for j in jobs.list()} == {old_pending.id, old_running.id, recent.id}
    assert jobs.cleanup_old_jobs(30) == 0
    assert jobs.cleanup_old_jobs(0) == 1  # recent, finished a moment ago


# -- input checks ---------------------------------------------------------------------------------


class NoSQL:
    """A stand-in Database that fails the test if anything tries to run SQL."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"SQL attempted (db.{name}) before input was checked")


GOOD = "00000000-0000-0000-0000-000000000000"
BAD_INPUT: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("create", ("",), {}, "tool_name"),
    ("create", ("   ",), {}, "tool_name"),
    ("create", ("x" * 256,), {}, "tool_name"),
    ("create", (None,), {}, "tool_name"),
    ("create", ("t",), {"parameters": [1]}, "parameters"),
    ("create", ("t",), {"parameters": {"x": object()}}, "parameters"),
    ("create", ("t",), {"parameters": {1: "int key"}}, "parameters"),
    ("create", ("t",), {"parameters": {"nan": float("nan")}}, "parameters"),
    ("create", ("t",), {"priority": "high"}, "priority"),
    ("create", ("t",), {"priority": 2**31}, "priority"),
    ("create", ("t",), {"workflow_id": "x" * 37}, "workflow_id"),
    ("create", ("t",), {"user_id": 5}, "user_id"),
    ("create", ("t",), {"batch_id": ""}, "batch_id"),
    ("get", ("",), {}, "job_id"),
    ("get", (None,), {}, "job_id"),
    ("delete", (42,), {}, "job_id"),
    ("update_status", (GOOD, "done"), {}, "status"),
    ("update_status", (GOOD, "pending"), {}, "status"),
    ("update_status", (GOOD, "running"), {"error_message": "x"}, "error_message"),
    ("update_status", (GOOD, "failed"), {"error_message": 3}, "error_message"),
    ("start", (GOOD,), {"worker_id": "w" * 256}, "worker_id"),
    ("claim_next", (), {"worker_id": 7}, "worker_id"),
    ("claim_next", (), {"tool_name": ""}, "tool_name"),
    ("count", (), {"status": "nope"}, "status"),
    ("count", (), {"created_before": datetime(2024, 1, 1)}, "created_before"),
    ("list", (), {"sort_by": "created_at DESC; --"}, "sort_by"),
    ("list", (), {"sort_by": "parameters"}, "sort_by"),
    ("list", (), {"sort_order": "sideways"}, "sort_order"),
    ("list", (), {"limit": 0}, "limit"),
    ("list", (), {"limit": 1001}, "limit"),
    ("list", (), {"limit": "10"}, "limit"),
    ("list", (), {"offset": -1}, "offset"),
    ("list", (), {"status": "done"}, "status"),
    ("list", (), {"created_after": datetime(2024, 1, 1)}, "created_after"),
    ("list", (), {"created_before": "2024-13-45"}, "created_before"),
    ("list", (), {"tool_name": ""}, "tool_name"),
    ("list", (), {"workflow_id": "w" * 37}, "workflow_id"),
    ("get_batch_jobs", (None,), {}, "batch_id"),
    ("create_job_batch", ([],), {}, "jobs"),
    ("save_result", (GOOD,), {"stdout": b"bytes"}, "stdout"),
    ("save_result", (GOOD,), {"stderr": "nul\x00"}, "stderr"),
    ("save_result", (GOOD,), {"return_code": "0"}, "return_code"),
    ("save_result", (GOOD,), {"output_files": {"when": datetime.now(UTC)}}, "output_files"),
    ("get_result", ("",), {}, "job_id"),
    ("add_log", (GOOD, "LOUD", "x"), {}, "level"),
    ("add_log", (GOOD, None, "x"), {}, "level"),
    ("add_log", (GOOD, "INFO", ""), {}, "message"),
    ("add_log", (GOOD, "INFO", None), {}, "message"),
    ("get_logs", (None,), {}, "job_id"),
    ("cleanup_old_jobs", (-1,), {}, "days"),
    ("cleanup_old_jobs", ("30",), {}, "days"),
    ("cleanup_old_jobs", (30,), {"chunk_size": 0}, "chunk_size"),
]


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql", "mysql"])
@pytest.mark.parametrize(("method", "args", "kwargs", "field"), BAD_INPUT,
                         ids=[f"{m}-{f}-{i}" for i, (m, _, _, f) in enumerate(BAD_INPUT)])
def test_bad_input_names_the_field_and_runs_no_sql(
    dialect_name: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], field: str
) -> None:
    store = JobStore(NoSQL(dialect_name))  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info:
        getattr(store, method)(*args, **kwargs)
    assert info.value.field == field


class Spy:
    """A Database wrapper that records which kind of connection each call asked for."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect
        self.calls: list[str] = []

    def connection(self, write: bool = False) -> Any:
        self.calls.append("connection")
        return self.db.connection(write)

    def transaction(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append("transaction")
        return self.db.transaction(*args, **kwargs)

    acquire = transaction

    def __getattr__(self, name: str) -> Any:  # watch, hooks, config: the Database's own
        return getattr(self.db, name)


def test_single_statement_methods_run_bare(db: Database) -> None:
    """One statement, one checkout, no unit of work (so no BEGIN/COMMIT round trips)."""
    spy = Spy(db)
    store = JobStore(spy)  # type: ignore[arg-type]
    job = store.create("t")
    for call in (lambda: store.get(job.id), lambda: store.list(status="pending"),
                 lambda: store.count(tool_name="t"), lambda: store.get_logs(job.id),
                 lambda: store.get_result(job.id), lambda: store.add_log(job.id, "INFO", "m"),
                 lambda: store.get_batch_jobs("b")):
        spy.calls.clear()
        call()
        assert spy.calls == ["connection"]
    if db.dialect != "mysql":  # MariaDB claims in two statements inside one transaction
        spy.calls.clear()
        store.claim_next()
        assert spy.calls == ["connection"]
