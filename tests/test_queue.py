"""JobStore as a durable work queue: leases, rescue, retries, schedules, unique jobs, batch
claims and cancellation, each checked on sqlite, postgresql and mysql (the ``db`` fixture).

Time is moved with ``clock_at`` (every timestamp JobStore writes or compares comes from
``validate.utcnow``), so leases and backoffs expire without sleeping; the SIGKILL test uses real
time and a real worker process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import run_threads

from agentdb import Database, LeaseLost, ValidationError
from agentdb import validate as validate_module
from agentdb.repositories import JobStatus, JobStore

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def clock_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make every timestamp JobStore writes (and compares) from now on read ``when``."""
    monkeypatch.setattr(validate_module, "utcnow", lambda: when)


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db, rescue_interval=0, lease=30, backoff_base=10, backoff_cap=25)


# -- leases and rescue ---------------------------------------------------------------------------


def test_a_lost_lease_cannot_touch_the_new_holders_work(jobs: JobStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    job = jobs.create("t")
    a = jobs.claim_next("A", lease=10)
    assert a is not None and a.id == job.id and a.attempt == 1 and a.worker_id == "A"
    assert a.lease_expires_at == T0 + timedelta(seconds=10)
    clock_at(monkeypatch, T0 + timedelta(seconds=11))  # A stalls past its lease
    b = jobs.claim_next("B")  # the claim itself rescues A's job, then takes it
    assert b is not None and b.id == job.id and b.attempt == 2 and b.worker_id == "B"
    for late in (lambda: jobs.complete(job.id, worker_id="A"),
                 lambda: jobs.fail(job.id, "late", worker_id="A"),
                 lambda: jobs.fail(job.id, "late", retry=True, worker_id="A"),
                 lambda: jobs.save_result(job.id, "A's output", worker_id="A"),
                 lambda: jobs.heartbeat(job.id, "A"),
                 lambda: jobs.complete(job.id),  # nobody named: not the holder either
                 lambda: jobs.save_result(job.id, "anonymous output")):
        with pytest.raises(LeaseLost) as caught:
            late()
        assert caught.value.job_id == job.id
    jobs.save_result(job.id, "B's output", worker_id="B")
    done = jobs.complete(job.id, worker_id="B")
    assert done.status is JobStatus.COMPLETED and done.lease_expires_at is None
    with pytest.raises(LeaseLost):
        jobs.complete(job.id, worker_id="A")
    # No rescue ever touches a finished job (river #1302), however late it runs.
    clock_at(monkeypatch, T0 + timedelta(days=1))
    assert jobs.rescue_expired() == 0
    assert jobs.get(job.id) == done
    assert jobs.get_result(job.id).stdout == "B's output"  # type: ignore[union-attr]


def test_heartbeat_extends_the_lease(jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    job = jobs.create("t")
    jobs.claim_next("A", lease=10)
    clock_at(monkeypatch, T0 + timedelta(seconds=8))
    assert jobs.heartbeat(job.id, "A", lease=10) is False
    clock_at(monkeypatch, T0 + timedelta(seconds=15))  # past the first lease, inside the second
    assert jobs.rescue_expired() == 0 and jobs.claim_next("B") is None
    assert jobs.get(job.id).lease_expires_at == T0 + timedelta(seconds=18)
    clock_at(monkeypatch, T0 + timedelta(seconds=19))
    assert jobs.rescue_expired() == 1
    assert jobs.get(job.id).status is JobStatus.PENDING


def test_an_expired_lease_after_the_last_attempt_fails_the_job(
        jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    job = jobs.create("t", max_attempts=2)
    for attempt, status in ((1, JobStatus.PENDING), (2, JobStatus.FAILED)):
        clock_at(monkeypatch, T0 + timedelta(minutes=attempt))
        assert jobs.claim_next("w", lease=5).attempt == attempt  # type: ignore[union-attr]
        clock_at(monkeypatch, T0 + timedelta(minutes=attempt, seconds=6))
        assert jobs.rescue_expired() == 1
        after = jobs.get(job.id)
        assert after.status is status and after.attempt == attempt
        assert after.error_message == "lease expired"
    assert after.completed_at == T0 + timedelta(minutes=2, seconds=6)
    logs = [line.message for line in jobs.get_logs(job.id)]
    assert len(logs) == 2 and all("lease of w expired" in m for m in logs)
    assert "1/2" in logs[0] and "back to pending" in logs[0]
    assert "2/2" in logs[1] and "failed" in logs[1]


WORKER_SCRIPT = textwrap.dedent("""
    import sys, time
    import agentdb
    from agentdb.repositories import JobStore
    db = agentdb.connect(sys.argv[1], pool_size=1, max_overflow=0)
    jobs = JobStore(db)
    job = jobs.claim_next("doomed", lease=1.0)
    jobs.add_log(job.id, "INFO", "doomed worker started")
    print(job.id, flush=True)
    time.sleep(60)  # mid-job: the test SIGKILLs us here
""")


def test_a_sigkilled_workers_job_is_finished_once_by_another(jobs: JobStore,
                                                              db: Database) -> None:
    job = jobs.create("t")
    child = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT,
                              db.config.url(hide_password=False)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == job.id  # claimed and working
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert jobs.get(job.id).status is JobStatus.RUNNING  # nothing noticed the death yet
    survivor = None
    deadline = time.monotonic() + 10
    while survivor is None and time.monotonic() < deadline:
        survivor = jobs.claim_next("survivor", lease=5)  # rescues the expired lease itself
        time.sleep(0.1)
    assert survivor is not None and survivor.id == job.id and survivor.attempt == 2
    jobs.complete(job.id, worker_id="survivor")
    time.sleep(0.2)
    assert jobs.claim_next("survivor") is None and jobs.rescue_expired() == 0
    done = jobs.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.worker_id == "survivor"
    messages = [line.message for line in jobs.get_logs(job.id)]
    assert messages[0] == "doomed worker started" and "lease of doomed expired" in messages[1]
    assert len(messages) == 2


# -- retries ---------------------------------------------------------------------------------------


def test_retries_back_off_exponentially_then_fail(jobs: JobStore,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    job = jobs.create("t")  # the store's default: 3 attempts
    assert job.max_attempts == 3
    now = T0
    for attempt, (low, high) in enumerate([(5, 10), (10, 20)], start=1):
        claimed = jobs.claim_next("w")
        assert claimed is not None and claimed.attempt == attempt
        retried = jobs.fail(job.id, f"boom {attempt}", retry=True, worker_id="w")
        assert retried.status is JobStatus.PENDING and retried.worker_id == "w"
        assert retried.error_message == f"boom {attempt}"
        wait = (retried.run_at - now).total_seconds()  # type: ignore[operator]
        assert low <= wait <= high  # base 10 s * 2**(attempt-1), jittered down by up to half
        assert jobs.claim_next("w") is None  # not due yet
        now = retried.run_at  # type: ignore[assignment]
        clock_at(monkeypatch, now)
    assert jobs.claim_next("w").attempt == 3  # type: ignore[union-attr]
    failed = jobs.fail(job.id, "boom 3", retry=True, worker_id="w")
    assert failed.status is JobStatus.FAILED and failed.error_message == "boom 3"
    logs = [(line.level, line.message) for line in jobs.get_logs(job.id)]
    assert logs == [("ERROR", "attempt 1/3 failed (will retry): boom 1"),
                    ("ERROR", "attempt 2/3 failed (will retry): boom 2"),
                    ("ERROR", "attempt 3/3 failed (final): boom 3")]


def test_backoff_is_capped_and_jittered(jobs: JobStore) -> None:
    delays = [jobs.backoff(a) for a in range(1, 40) for _ in range(5)]
    assert all(5 <= d <= 25 for d in delays)
    assert max(jobs.backoff(30) for _ in range(50)) <= 25
    assert len({round(jobs.backoff(2), 6) for _ in range(20)}) > 1  # jittered


def test_max_attempts_per_job_and_store_default(db: Database) -> None:
    store = JobStore(db, max_attempts=5)
    assert store.create("t").max_attempts == 5
    assert store.create("t", max_attempts=1).max_attempts == 1
    one = store.create("t", max_attempts=1, priority=9)
    store.claim_next("w")
    assert store.fail(one.id, "x", retry=True, worker_id="w").status is JobStatus.FAILED
    batch = store.create_job_batch([{"tool_name": "t"}, {"tool_name": "t", "max_attempts": 2}])
    assert sorted(j.max_attempts for j in store.get_batch_jobs(batch)) == [2, 5]
    for bad, field in (({"max_attempts": 0}, "max_attempts"),
                       ({"max_attempts": "3"}, "max_attempts"),
                       ({"delay": -1}, "delay"),
                       ({"delay": 1, "run_at": datetime.now(UTC)}, "delay"),
                       ({"run_at": datetime(2030, 1, 1)}, "run_at"),
                       ({"dedupe_key": ""}, "dedupe_key")):
        with pytest.raises(ValidationError, match=field):
            store.create("t", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="lease"):
        store.claim_next("w", lease=0)
    with pytest.raises(ValidationError, match="n"):
        store.claim_batch(0, "w")


# -- scheduling and uniqueness ---------------------------------------------------------------------


def test_jobs_are_claimed_only_once_due(jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    later = jobs.create("t", delay=60, priority=5)
    at = jobs.create("t", run_at=T0 + timedelta(seconds=30), priority=5)
    now = jobs.create("t")
    assert later.run_at == T0 + timedelta(seconds=60) and now.run_at == T0
    assert jobs.claim_next("w").id == now.id  # type: ignore[union-attr]
    assert jobs.claim_next("w") is None
    clock_at(monkeypatch, T0 + timedelta(seconds=30))
    assert jobs.claim_next("w").id == at.id  # type: ignore[union-attr]
    assert jobs.claim_next("w", tool_name="t") is None
    clock_at(monkeypatch, T0 + timedelta(seconds=61))
    assert jobs.claim_next("w", tool_name=["x", "t"]).id == later.id  # type: ignore[union-attr]


def test_dedupe_key_holds_under_sixteen_racing_enqueues(jobs: JobStore) -> None:
    made = run_threads(16, lambda i: jobs.create("t", {"i": i}, dedupe_key="nightly"))
    assert len({j.id for j in made}) == 1
    assert jobs.count() == 1
    first = made[0]
    assert jobs.create("t", dedupe_key="nightly").id == first.id
    assert jobs.create("t", dedupe_key="other").id != first.id
    jobs.claim_next("w", tool_name="t")
    jobs.claim_next("w", tool_name="t")
    assert jobs.create("t", dedupe_key="nightly").id == first.id  # running still holds it
    jobs.complete(first.id, worker_id="w")
    again = run_threads(16, lambda i: jobs.create("t", dedupe_key="nightly"))
    assert len({j.id for j in again}) == 1 and again[0].id != first.id  # free once finished
    assert jobs.count() == 3


# -- batch claims ----------------------------------------------------------------------------------


def test_batch_claims_in_priority_then_age_order(jobs: JobStore,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for i in range(6):
        clock_at(monkeypatch, T0 + timedelta(seconds=i))
        made.append(jobs.create("t", priority=i % 2))
    batch = jobs.claim_batch(4, "w", lease=10)
    assert [j.id for j in batch] == [made[1].id, made[3].id, made[5].id, made[0].id]
    assert all(j.status is JobStatus.RUNNING and j.worker_id == "w" and j.attempt == 1
               for j in batch)
    assert batch == [jobs.get(j.id) for j in batch]
    assert [j.id for j in jobs.claim_batch(10, "w")] == [made[2].id, made[4].id]
    assert jobs.claim_batch(10, "w") == []


def test_batch_claims_hand_each_job_to_one_of_eight_workers_once(jobs: JobStore) -> None:
    jobs.create_job_batch([{"tool_name": "t", "priority": i % 3} for i in range(400)])

    def work(i: int) -> list[str]:
        done = []
        while batch := jobs.claim_batch(7, f"w{i}"):
            for job in batch:
                jobs.complete(job.id, worker_id=f"w{i}")
                done.append(job.id)
        return done

    done = [job_id for ids in run_threads(8, work) for job_id in ids]
    assert len(done) == 400 == len(set(done))
    assert jobs.count(status="completed") == 400
    assert all(j.attempt == 1 for j in jobs.list(limit=400))


# -- cancellation ----------------------------------------------------------------------------------


def test_cancel_of_a_running_job_is_reported_by_the_next_heartbeat(jobs: JobStore) -> None:
    pending = jobs.create("t", priority=-1)
    job = jobs.create("t")
    jobs.claim_next("A")
    requested = jobs.cancel(job.id, "not needed")
    assert requested.status is JobStatus.RUNNING and requested.cancel_requested
    assert jobs.heartbeat(job.id, "A") is True
    with pytest.raises(LeaseLost):
        jobs.heartbeat(job.id, "B")
    with pytest.raises(LeaseLost):
        jobs.cancel(job.id, worker_id="B")
    stopped = jobs.cancel(job.id, "stopped on request", worker_id="A")
    assert stopped.status is JobStatus.CANCELLED and stopped.error_message == "stopped on request"
    assert jobs.cancel(pending.id).status is JobStatus.CANCELLED


def test_an_expired_lease_with_a_cancel_request_ends_cancelled(
        jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    job = jobs.create("t")
    jobs.claim_next("A", lease=5)
    jobs.cancel(job.id)
    clock_at(monkeypatch, T0 + timedelta(seconds=6))
    assert jobs.rescue_expired() == 1
    assert jobs.get(job.id).status is JobStatus.CANCELLED


def test_rescue_and_claims_leave_finished_jobs_alone(jobs: JobStore,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clock_at(monkeypatch, T0)
    ids = [jobs.create("t").id for _ in range(6)]
    for job in jobs.claim_batch(6, "w", lease=5):
        [jobs.complete, jobs.cancel, lambda i, **kw: jobs.fail(i, "x", **kw)][
            ids.index(job.id) % 3](job.id, worker_id="w")
    before = {j.id: j for j in jobs.list()}
    clock_at(monkeypatch, T0 + timedelta(hours=1))
    assert jobs.rescue_expired() == 0 and jobs.claim_batch(10, "w") == []
    assert {j.id: j for j in jobs.list()} == before
    assert Counter(j.status for j in before.values()) == {
        JobStatus.COMPLETED: 2, JobStatus.CANCELLED: 2, JobStatus.FAILED: 2}


# -- release and the claim's footprint ------------------------------------------------------------


def test_release_hands_a_job_back_without_counting_the_attempt(jobs: JobStore) -> None:
    job = jobs.create("t")
    jobs.claim_next("A")
    with pytest.raises(LeaseLost):
        jobs.release(job.id, "B")
    released = jobs.release(job.id, "A")
    assert released.status is JobStatus.PENDING and released.attempt == 0
    assert released.lease_expires_at is None
    assert jobs.get_logs(job.id)[-1].message == "released by A unfinished; back to pending"
    assert jobs.claim_next("B").attempt == 1  # type: ignore[union-attr]
    with pytest.raises(LeaseLost):
        jobs.release(job.id, "A")


def _seed_backlog(jobs: JobStore) -> None:
    """3000 finished jobs, 2000 pending of a busy tool, 5 pending of a rare one; statistics."""
    old = datetime.now(UTC) - timedelta(days=1)
    jobs.run_many("insert_job", [
        {"id": validate_module.new_id(), "tool_name": "busy", "status": "completed",
         "priority": 0, "batch_id": None, "workflow_id": None, "user_id": None,
         "parameters": None, "created_at": old, "run_at": old, "max_attempts": 1,
         "dedupe_key": None} for _ in range(3000)])
    jobs.create_job_batch([{"tool_name": "busy"} for _ in range(2000)])
    jobs.create_job_batch([{"tool_name": "rare"} for _ in range(5)])
    with jobs.db.connection() as conn:
        cur = conn.cursor()
        cur.execute({"postgresql": "ANALYZE jobs", "mysql": "ANALYZE TABLE jobs",
                     "sqlite": "ANALYZE"}[jobs.db.dialect])
        if jobs.db.dialect == "mysql":
            cur.fetchall()


def _rows_locked(conn: Any) -> int:
    """This transaction's trx_rows_locked. INNODB_TRX is a snapshot MariaDB refreshes when
    read and older than 0.1 s: a read sooner could show this connection's previous transaction
    (or none), so wait that out first."""
    cur = conn.cursor()
    for _ in range(30):
        time.sleep(0.15)
        cur.execute("SELECT trx_rows_locked FROM information_schema.INNODB_TRX "
                    "WHERE trx_mysql_thread_id = CONNECTION_ID()")
        row = cur.fetchone()
        if row is not None:
            return int(row["trx_rows_locked"])
    raise AssertionError("this transaction never showed in INNODB_TRX")


def test_a_claim_reads_and_locks_only_the_rows_it_takes(jobs: JobStore) -> None:
    """The claim walks its index in claim order: EXPLAIN names the index (no scan of the
    backlog, no sort), and on MariaDB the claim's transaction holds at most 2 rows locked per
    job it takes, however many pending jobs of other tools or finished jobs there are."""
    _seed_backlog(jobs)
    db, q = jobs.db, JobStore.queries
    now = datetime.now(UTC)
    cases = [("rare", 1, "ix_jobs_claim_tool"), ("rare", 5, "ix_jobs_claim_tool"),
             (None, 1, "ix_jobs_claim"), (None, 10, "ix_jobs_claim")]
    for tool, limit, index in cases:
        if db.dialect == "mysql":
            sql, params = q.prepare("lock_due_jobs", "mysql", tool_name=tool, now=now,
                                    limit=limit)
        else:
            sql, params = q.prepare("claim_due_jobs", db.dialect, tool_name=tool, now=now,
                                    limit=limit, worker_id="w", lease_until=now)
        with db.connection() as conn:
            cur = conn.cursor()
            cur.execute(("EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN ") + sql,
                        params)
            rows = cur.fetchall()
            plan = "\n".join(" ".join(str(v) for v in r.values()) for r in rows)
        if db.dialect == "mysql":  # the index used, not the possible ones
            assert [r["key"] for r in rows if r["table"] == "jobs"] == [index], plan
        assert index in plan, plan
        assert "Seq Scan" not in plan and "filesort" not in plan.lower(), plan
        assert "TEMP B-TREE" not in plan and "SCAN jobs" not in plan, plan
        if db.dialect == "mysql":
            with db.transaction() as conn:  # the claim's step 1, then its locks, same unit
                took = len(jobs.run("lock_due_jobs", tool_name=tool, now=now, limit=limit))
                locked = _rows_locked(conn)
            assert took == limit and locked <= 2 * took, (tool, limit, locked)
