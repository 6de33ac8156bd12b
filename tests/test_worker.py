"""agentdb.Worker on sqlite, postgresql and mysql: handlers run once each, failures retry,
cancel requests stop handlers, SIGTERM shuts down gracefully, NOTIFY wakes idle workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from agentdb import Database
from agentdb.repositories import JobStatus, JobStore
from agentdb.worker import JobContext, Worker


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db, lease=2, backoff_base=0.05, backoff_cap=0.2, rescue_interval=0.2)


def test_each_job_runs_once_and_its_result_is_saved(jobs: JobStore) -> None:
    ran: Counter[str] = Counter()
    lock = threading.Lock()

    def echo(ctx: JobContext) -> str:
        with lock:
            ran[ctx.job.id] += 1
        return f"echo {ctx.parameters['n']}"

    batch = jobs.create_job_batch([{"tool_name": "echo", "parameters": {"n": i}}
                                   for i in range(60)])
    other = jobs.create("not-mine")
    worker = Worker(jobs, {"echo": echo}, concurrency=4, batch_size=5,
                    poll_interval=0.1).start()
    try:
        wait_for(lambda: jobs.count(status="completed") == 60)
    finally:
        worker.stop()
        assert worker.join(10)
    assert len(ran) == 60 and set(ran.values()) == {1}
    assert worker.counts["completed"] == 60
    job = jobs.get_batch_jobs(batch)[7]
    assert jobs.get_result(job.id).stdout == f"echo {job.parameters['n']}"  # type: ignore[index,union-attr]
    assert jobs.get(other.id).status is JobStatus.PENDING  # no handler for it: never claimed


def test_an_exception_retries_with_backoff_then_fails(jobs: JobStore) -> None:
    attempts: list[int] = []

    def flaky(ctx: JobContext) -> str:
        attempts.append(ctx.job.attempt)
        if ctx.job.attempt < 3:
            raise RuntimeError(f"flake {ctx.job.attempt}")
        return "third time lucky"

    def broken(ctx: JobContext) -> None:
        raise ValueError("always")

    ok = jobs.create("flaky")
    bad = jobs.create("broken", max_attempts=2)
    worker = Worker(jobs, {"flaky": flaky, "broken": broken}, concurrency=2,
                    poll_interval=0.05).start()
    try:
        wait_for(lambda: jobs.get(ok.id).status is JobStatus.COMPLETED
                 and jobs.get(bad.id).status is JobStatus.FAILED)
    finally:
        worker.stop()
        assert worker.join(10)
    assert attempts == [1, 2, 3]
    assert [line.message for line in jobs.get_logs(ok.id)] == [
        "attempt 1/3 failed (will retry): RuntimeError: flake 1",
        "attempt 2/3 failed (will retry): RuntimeError: flake 2"]
    assert jobs.get(bad.id).error_message == "ValueError: always"
    assert len(jobs.get_logs(bad.id)) == 2
    assert worker.counts == {"completed": 1, "retried": 3, "failed": 1}


def test_cancel_stops_a_running_handler_at_its_next_heartbeat(jobs: JobStore) -> None:
    started = threading.Event()

    def slow(ctx: JobContext) -> str:
        started.set()
        ctx.wait(30)  # returns early once the heartbeat reports the cancel
        ctx.check()
        return "finished anyway"

    job = jobs.create("slow")
    worker = Worker(jobs, {"slow": slow}, lease=0.6, poll_interval=0.05).start()
    try:
        assert started.wait(10)
        t0 = time.monotonic()
        jobs.cancel(job.id, "user asked")
        wait_for(lambda: jobs.get(job.id).status is JobStatus.CANCELLED, timeout=10)
        assert time.monotonic() - t0 < 2  # within a heartbeat interval (lease / 3) or so
    finally:
        worker.stop()
        assert worker.join(10)
    assert worker.counts["cancelled"] == 1
    assert jobs.get_result(job.id) is None


WORKER_PROCESS = textwrap.dedent("""
    import logging, sys, threading, time
    import agentdb
    from agentdb.repositories import JobStore
    from agentdb.worker import Worker

    logging.basicConfig(level=logging.INFO)
    db = agentdb.connect(sys.argv[1], pool_size=2, max_overflow=2)
    jobs = JobStore(db, lease=2)

    said = threading.Lock()

    def say(*words):
        with said:  # one whole line at a time from the two handler threads
            print(*words, flush=True)

    def quick(ctx):
        say("start", ctx.job.id)
        time.sleep(0.5)
        return "quick done"

    def stubborn(ctx):
        say("start", ctx.job.id)
        time.sleep(30)  # ignores ctx.cancelled: the grace period runs out
        return "too late"

    Worker(jobs, {"quick": quick, "stubborn": stubborn}, concurrency=2,
           grace_period=float(sys.argv[2]), poll_interval=0.05).run()
    say("exited")
""")


def test_sigterm_lets_running_jobs_finish_then_releases_the_rest(jobs: JobStore,
                                                                 db: Database) -> None:
    quick, stubborn = jobs.create("quick"), jobs.create("stubborn")
    child = subprocess.Popen([sys.executable, "-c", WORKER_PROCESS,
                              db.config.url(hide_password=False), "1.5"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        lines = [child.stdout.readline(), child.stdout.readline()]
        if not all(lines):
            child.kill()
            raise AssertionError(f"the worker died: {child.communicate(timeout=10)}")
        assert all(line.startswith("start ") for line in lines), lines
        assert {line.split()[1] for line in lines} == {quick.id, stubborn.id}  # both running
        t0 = time.monotonic()
        os.kill(child.pid, signal.SIGTERM)
        assert child.wait(timeout=20) == 0
        took = time.monotonic() - t0
        assert "exited" in child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert 1.4 < took < 10  # waited the grace period, not the stubborn handler's 30 s
    done = jobs.get(quick.id)
    assert done.status is JobStatus.COMPLETED
    assert jobs.get_result(quick.id).stdout == "quick done"  # type: ignore[union-attr]
    released = jobs.get(stubborn.id)
    assert released.status is JobStatus.PENDING and released.attempt == 0
    assert released.lease_expires_at is None
    assert "released" in jobs.get_logs(stubborn.id)[-1].message
    again = jobs.claim_next("next-worker", tool_name="stubborn")  # at once, no lease to wait out
    assert again is not None and again.id == stubborn.id and again.attempt == 1


def test_an_idle_worker_starts_a_new_job_promptly(jobs: JobStore) -> None:
    """PostgreSQL wakes the worker with NOTIFY: with polling every 5 s, a new job still starts
    at once. Elsewhere it polls (here at most every 0.2 s). (The 50 ms target is measured by
    benchmarks/work_queue.py; under a loaded CI machine only "well inside the poll" is asserted.)"""
    started: dict[str, float] = {}

    def mark(ctx: JobContext) -> None:
        started[ctx.job.id] = time.perf_counter()

    listens = jobs.db.dialect == "postgresql"
    worker = Worker(jobs, {"mark": mark}, poll_interval=5.0 if listens else 0.2).start()
    try:
        time.sleep(0.5)  # idle: the poll backoff has grown to its maximum
        delays = []
        for _ in range(5):
            t0 = time.perf_counter()
            job = jobs.create("mark")
            wait_for(lambda job=job: job.id in started, timeout=10)  # type: ignore[misc]
            delays.append(started[job.id] - t0)
            time.sleep(0.3)
    finally:
        worker.stop()
        assert worker.join(10)
    assert sorted(delays)[2] <= (0.5 if listens else 0.4), delays
    assert max(delays) < (2.5 if listens else 1.0), delays


def test_cli_worker_runs_handlers_from_a_module(db: Database, tmp_path: Path) -> None:
    (tmp_path / "my_tools.py").write_text(textwrap.dedent("""
        def upper(ctx):
            return ctx.parameters["text"].upper()

        handlers = {"upper": upper}
    """))
    jobs = JobStore(db)
    job = jobs.create("upper", {"text": "shout"})
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-m", "agentdb", "worker", "--concurrency", "2",
                              "-d", db.config.url(hide_password=False), "my_tools:handlers"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        wait_for(lambda: jobs.get(job.id).status is JobStatus.COMPLETED)
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=20) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert jobs.get_result(job.id).stdout == "SHOUT"  # type: ignore[union-attr]
