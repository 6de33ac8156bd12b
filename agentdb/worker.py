"""A worker that runs JobStore jobs through handlers, one per tool name.

``Worker(jobs, handlers={"summarize": fn}, concurrency=4).run()`` claims due jobs of those tools
(in batches, whenever a slot is idle), runs each handler in one of ``concurrency`` threads, extends
every running job's lease from a heartbeat thread, and records each outcome: a return value is
saved as the result and the job completed; an exception fails the attempt with ``retry=True``
(backoff, then ``failed`` after ``max_attempts``); a cancel request reported by a heartbeat sets
``ctx.cancelled`` for the handler to stop cooperatively, after which the job ends cancelled.

On SIGTERM or SIGINT (or :meth:`Worker.stop`) it stops claiming, gives running handlers
``grace_period`` seconds to finish, then releases the leases of those still running (back to
pending, the attempt not counted) so another worker takes them at once. A handler thread that
ignores all this is abandoned (daemon), and whatever it writes later is refused (LeaseLost).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from .errors import AgentDBError, LeaseLost, ValidationError
from .repositories.jobs import Job, JobStore, LogLevel
from .wakeup import Listener, Poller, wakeup_for

log = logging.getLogger("agentdb.worker")

_RESULT_KEYS = frozenset({"stdout", "stderr", "return_code", "output_files"})


class Cancelled(Exception):
    """Raised by :meth:`JobContext.check` once the job's cancellation was requested."""


class JobContext:
    """What a handler gets: the job, its parameters, a cancel flag, a log, and the JobStore
    (``jobs``) with the ``worker_id`` that holds the job, for anything else it must save."""

    __slots__ = ("_cancel", "job", "jobs", "lost", "worker_id")

    def __init__(self, job: Job, jobs: JobStore, worker_id: str) -> None:
        self.job = job
        self.worker_id = worker_id
        self.jobs = jobs
        self._cancel = threading.Event()
        self.lost = False  # the lease was lost (or released at shutdown): nothing will be saved

    @property
    def parameters(self) -> dict[str, Any]:
        return self.job.parameters or {}

    @property
    def cancelled(self) -> bool:
        """True once the job should stop: cancel requested, lease lost, or shutdown's grace
        period over. Long handlers should look now and then (or call :meth:`check`)."""
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job should stop."""
        if self._cancel.is_set():
            raise Cancelled(self.job.id)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancellation; True if cancelled."""
        return self._cancel.wait(seconds)

    def log(self, level: LogLevel, message: str) -> None:
        """A line in the job's log (JobStore.add_log)."""
        self.jobs.add_log(self.job.id, level, message)


Handler = Callable[[JobContext], Any]


class Worker:
    """Runs jobs of the tools in ``handlers`` with ``concurrency`` threads; see the module doc.

    ``batch_size`` is how many jobs one claim takes when a slot is idle (default:
    ``concurrency``; the extra ones wait in line here, under heartbeats); ``lease`` defaults to
    the store's;
    heartbeats go every ``lease / 3``; ``poll_interval`` is the longest an idle worker waits
    before claiming again (PostgreSQL wakes it at once with NOTIFY; elsewhere it polls with a
    backoff from 10 ms up to this)."""

    def __init__(self, jobs: JobStore, handlers: Mapping[str, Handler], concurrency: int = 1,
                 *, worker_id: str | None = None, lease: float | None = None,
                 batch_size: int | None = None, poll_interval: float = 0.5,
                 grace_period: float = 10.0, retry: bool = True) -> None:
        if not handlers:
            raise ValueError("handlers: give at least one tool name -> function")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.jobs = jobs
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lease = jobs.lease if lease is None else lease
        self.heartbeat_interval = self.lease / 3
        self.batch_size = batch_size or concurrency
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.retry = retry
        self.counts: Counter[str] = Counter()  # completed, retried, failed, cancelled, lost
        self._active: dict[str, JobContext] = {}
        self._lock = threading.Lock()
        self._slot_free = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[JobContext | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeup: Listener | Poller | None = None
        self._until_idle = False

    # -- running -------------------------------------------------------------------------------

    def run(self, handle_signals: bool = True, until_idle: bool = False) -> None:
        """Claim and run jobs until :meth:`stop` (or SIGTERM/SIGINT, when ``handle_signals`` and
        this is the main thread) -- or, with ``until_idle``, until no job of its tools is
        pending or running here (a drain; it waits for retries and delayed jobs to come due)
        -- then shut down gracefully and return."""
        self._until_idle = until_idle
        restore = self._install_signals() if handle_signals else {}
        self._wakeup = wakeup_for(self.jobs.db, self.poll_interval)
        slots = [threading.Thread(target=self._slot, name=f"agentdb-worker-{i}", daemon=True)
                 for i in range(self.concurrency)]
        beat = threading.Thread(target=self._heartbeats, name="agentdb-heartbeat", daemon=True)
        for t in [*slots, beat]:
            t.start()
        log.info("agentdb worker %s: %d slot(s) for %s", self.worker_id, self.concurrency,
                 ", ".join(self.handlers))
        try:
            self._claim_loop()
        finally:
            self._shutdown()
            for _ in slots:
                self._queue.put(None)
            self._wakeup.close()
            for sig, handler in restore.items():
                signal.signal(sig, handler)
            self._stopped.set()

    def start(self) -> Worker:
        """:meth:`run` in a background thread (signals are left alone); returns self."""
        self._thread = threading.Thread(target=self.run, kwargs={"handle_signals": False},
                                        name="agentdb-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop claiming and shut down gracefully (returns at once; see :meth:`join`)."""
        self._stopping.set()
        with self._lock:
            self._slot_free.notify_all()
        if self._wakeup is not None:
            self._wakeup.wake()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the worker has shut down; True if it has."""
        return self._stopped.wait(timeout)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("agentdb worker %s: %s, stopping", self.worker_id,
                     signal.Signals(signum).name)
            self.stop()

        return {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    # -- claiming ------------------------------------------------------------------------------

    def _claim_loop(self) -> None:
        tools = list(self.handlers)
        wakeup = self._wakeup
        assert wakeup is not None
        while not self._stopping.is_set():
            with self._lock:  # claim when a slot is idle; a batch may queue up behind it
                while len(self._active) >= self.concurrency and not self._stopping.is_set():
                    self._slot_free.wait(self.poll_interval)
            if self._stopping.is_set():
                return
            try:
                claimed = self.jobs.claim_batch(self.batch_size, self.worker_id, self.lease,
                                                tools)
            except AgentDBError as exc:
                log.warning("agentdb worker %s: claim failed: %s", self.worker_id, exc)
                wakeup.wait(self.poll_interval)
                continue
            if not claimed:
                if self._until_idle and self._drained(tools):
                    return
                wakeup.wait(self.poll_interval)
                continue
            wakeup.reset()
            for job in claimed:
                ctx = JobContext(job, self.jobs, self.worker_id)
                with self._lock:
                    self._active[job.id] = ctx
                self._queue.put(ctx)

    def _drained(self, tools: list[str]) -> bool:
        with self._lock:
            if self._active:
                return False
        return not any(self.jobs.count(status="pending", tool_name=t) for t in tools)

    # -- running one job -----------------------------------------------------------------------

    def _slot(self) -> None:
        while (ctx := self._queue.get()) is not None:
            try:
                if ctx.lost:  # released at shutdown before it could start
                    pass
                elif self._stopping.is_set():  # claimed, never started: hand it back at once
                    self.jobs.release(ctx.job.id, self.worker_id)
                    self.counts["released"] += 1
                else:
                    self._run_one(ctx)
            except Exception:  # a slot thread never dies
                log.exception("agentdb worker %s: job %s", self.worker_id, ctx.job.id)
            finally:
                with self._lock:
                    self._active.pop(ctx.job.id, None)
                    self._slot_free.notify()

    def _run_one(self, ctx: JobContext) -> None:
        job, jobs, me = ctx.job, self.jobs, self.worker_id
        started = time.perf_counter()
        error: BaseException | None = None
        result: Any = None
        try:
            result = self.handlers[job.tool_name](ctx)
        except Exception as exc:  # the handler's failure is the job's, not the worker's
            error = exc
        took = time.perf_counter() - started
        try:
            if ctx.lost:
                outcome = "lost"
            elif ctx.cancelled and (error is None or isinstance(error, Cancelled)):
                jobs.cancel(job.id, "cancelled on request", worker_id=me)
                outcome = "cancelled"
            elif error is not None:
                message = f"{type(error).__name__}: {error}"
                after = jobs.fail(job.id, message, retry=self.retry, worker_id=me)
                outcome = "retried" if after.status == "pending" else "failed"
            else:
                try:
                    _save(jobs, job.id, result, me)
                except ValidationError as exc:  # output it cannot store: failed, saying why
                    error = exc
                    jobs.fail(job.id, f"{type(exc).__name__}: {exc}", worker_id=me)
                    outcome = "failed"
                else:
                    jobs.ack(job.id, me)
                    outcome = "completed"
        except LeaseLost:
            outcome = "lost"
        self.counts[outcome] += 1
        level = logging.INFO if outcome in ("completed", "cancelled") else logging.WARNING
        log.log(level, "job %s (%s, attempt %d/%d) %s in %.3f s%s", job.id, job.tool_name,
                job.attempt, job.max_attempts, outcome, took,
                f": {type(error).__name__}: {error}" if error is not None else "")

    # -- heartbeats and shutdown ---------------------------------------------------------------

    def _heartbeats(self) -> None:
        while not self._stopped.wait(self.heartbeat_interval):
            with self._lock:
                running = list(self._active.values())
            for ctx in running:
                if ctx.lost:
                    continue
                try:
                    if self.jobs.heartbeat(ctx.job.id, self.worker_id, self.lease):
                        ctx._cancel.set()
                except LeaseLost:
                    ctx.lost = True
                    ctx._cancel.set()
                except AgentDBError as exc:  # the database is away: retry next beat
                    log.warning("agentdb worker %s: heartbeat of %s failed: %s",
                                self.worker_id, ctx.job.id, exc)

    def _shutdown(self) -> None:
        """Give running handlers the grace period, then release the leases of the rest."""
        deadline = time.monotonic() + self.grace_period
        with self._lock:
            while self._active and (left := deadline - time.monotonic()) > 0:
                self._slot_free.wait(left)
            stuck = list(self._active.values())
        for ctx in stuck:
            ctx.lost = True
            ctx._cancel.set()
            try:
                self.jobs.release(ctx.job.id, self.worker_id)
                self.counts["released"] += 1
            except AgentDBError as exc:  # its lease will run out and the rescue takes it
                log.warning("agentdb worker %s: could not release %s: %s", self.worker_id,
                            ctx.job.id, exc)
        log.info("agentdb worker %s stopped: %s", self.worker_id, dict(self.counts))


def _save(jobs: JobStore, job_id: str, result: Any, worker_id: str) -> None:
    """A handler's return value as the job's result: None saves nothing, a str is stdout, a
    mapping with JobResult's fields is saved as given, anything else is stdout as JSON."""
    if result is None:
        return
    if isinstance(result, str):
        jobs.save_result(job_id, stdout=result, return_code=0, worker_id=worker_id)
    elif isinstance(result, Mapping) and result.keys() <= _RESULT_KEYS:
        jobs.save_result(job_id, worker_id=worker_id, **result)
    else:
        jobs.save_result(job_id, stdout=json.dumps(result, default=str), return_code=0,
                         worker_id=worker_id)


__all__ = ["Cancelled", "Handler", "JobContext", "Worker"]
