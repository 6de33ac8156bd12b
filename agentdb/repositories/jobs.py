"""JobStore: jobs, their results and log lines, and a work queue that many workers can share.

Every method checks its input first (a ValidationError naming the field, before any SQL), then
names queries from ``sql/jobs.sql``. A method that needs one statement runs it bare: one round
trip, no BEGIN/COMMIT. Status changes are single conditional UPDATEs (``WHERE status IN
(allowed predecessors)``), so the check and the change cannot be split by another worker.
"""

from __future__ import annotations

import builtins
import contextlib
import random
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from .. import validate as v
from ..convert import JsonText, to_bool
from ..errors import ConflictError, LeaseLost, NotFound, ValidationError
from ..paging import Keyset, Page
from ..queries import load
from ..records import Record
from ..rows import JSON, maker
from .base import Repository

MAX_NAME = 255  # tool_name, worker_id: VARCHAR(255)
MAX_TEXT = v.MAX_TEXT_BYTES  # stdout/stderr/messages: LONGTEXT, at most 4 MiB of UTF-8
INT32 = v.INT32  # priority and return_code are INTEGER columns
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SORT_COLUMNS = ("created_at", "updated_at", "priority", "status", "tool_name")
SORT_ORDERS = ("asc", "desc")
_KEYSET = Keyset("jobs", {"created_at": "time", "updated_at": "time", "priority": "int",
                          "status": "str", "tool_name": "str"})
# The same values as Literals, so a type checker catches sort_by="createdAt" (tests keep them
# equal to the tuples and enums above and below).
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
                   "debug", "info", "warning", "error", "critical"]
SortColumn = Literal["created_at", "updated_at", "priority", "status", "tool_name"]
SortOrder = Literal["asc", "desc", "ASC", "DESC"]
JobStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
CLEANUP_CHUNK = 1000  # jobs per DELETE in cleanup_old_jobs: each chunk is its own transaction
_BATCH_FIELDS = frozenset({"tool_name", "parameters", "priority", "workflow_id", "user_id",
                           "run_at", "delay", "max_attempts"})
MAX_BATCH = 1000  # jobs per claim_batch
MAX_LEASE = 7 * 24 * 3600.0  # seconds: a lease, delay or backoff longer than a week is a mistake
RESCUE_CHUNK = 100  # expired jobs rescued per transaction


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled: nothing changes a finished job any more."""
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
_STATUS = {s.value: s for s in JobStatus}
_PENDING = JobStatus.PENDING.value  # a dict lookup: Enum.__call__ is slow on hot paths

# The statuses each status may be reached from. Nothing leads back to pending, and a finished
# job stays finished.
ALLOWED_FROM: dict[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.RUNNING: (JobStatus.PENDING,),
    JobStatus.COMPLETED: (JobStatus.RUNNING,),
    JobStatus.FAILED: (JobStatus.PENDING, JobStatus.RUNNING),
    JobStatus.CANCELLED: (JobStatus.PENDING, JobStatus.RUNNING),
}
_FROM_VALUES = {to: [s.value for s in froms] for to, froms in ALLOWED_FROM.items()}

# Dialects with UPDATE ... RETURNING claim jobs in one statement; MariaDB has none, so there it
# takes two (lock the rows with SKIP LOCKED, then update them) inside one transaction.
_ONE_STATEMENT_CLAIM = frozenset({"postgresql", "sqlite"})


@dataclass(frozen=True, slots=True)
class Job(Record):
    id: str
    tool_name: str
    status: JobStatus
    priority: int
    parameters: dict[str, Any] | None
    batch_id: str | None
    workflow_id: str | None
    user_id: str | None
    worker_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration: float | None  # seconds from started_at to completed_at
    error_message: str | None
    attempt: int = 0  # claims so far (the running attempt's number while running)
    max_attempts: int = 1  # after this many attempts a failure or an expired lease is final
    run_at: datetime | None = None  # when the job is (or was) due
    lease_expires_at: datetime | None = None  # while running: the holder's lease ends here
    dedupe_key: str | None = None  # unique among pending and running jobs
    cancel_requested: bool = False  # cancel() asked the running job's holder to stop


_make_job: type[Job] = maker(Job)  # type: ignore[assignment]  # Job(...), every field


@dataclass(frozen=True, slots=True)
class JobResult(Record):
    job_id: str
    stdout: str | None
    stderr: str | None
    return_code: int | None
    output_files: Any = field(metadata=JSON)  # any JSON value, typically a list of paths
    created_at: datetime  # when it was (last) saved


@dataclass(frozen=True, slots=True)
class JobLog(Record):
    id: int  # the database's sequence number: it orders lines written in the same instant
    job_id: str
    level: str
    message: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class JobStats(Record):
    total: int
    by_status: dict[str, int]  # every status, zeros included
    success_rate: float | None  # completed / (completed + failed); None before any ended
    top_tools: list[tuple[str, int]]  # the five most used tools with their job counts
    mean_duration: float | None  # seconds, over jobs that have a duration


_id = v.required_id


def _name(field: str, value: Any, *, required: bool) -> str | None:
    """A tool or worker name: optional where allowed, but never empty when given."""
    if value is None and not required:
        return None
    return v.text(field, value, max_length=MAX_NAME)


def _optional_text(field: str, value: Any) -> str | None:
    return v.text(field, value, max_length=MAX_TEXT, required=False)


class JobStore(Repository):
    """Jobs, their results and logs; a durable work queue that many workers (threads or
    processes) can share.

    A claim (:meth:`claim_next`, :meth:`claim_batch`) hands each due job to one worker under a
    lease; the holder extends it with :meth:`heartbeat` and is the only one that may finish,
    fail or save results for the job (anyone else gets :class:`LeaseLost`). A job whose lease
    runs out is rescued: back to pending, or failed once it has used ``max_attempts``.
    ``fail(..., retry=True)`` schedules the next attempt after an exponential, jittered,
    capped backoff. The keyword defaults here apply to jobs and claims that do not set their own.
    """

    queries = load("jobs")

    __slots__ = ("backoff_base", "backoff_cap", "lease", "max_attempts", "rescue_interval")

    def __init__(self, db: Any, *, max_attempts: int = 3, lease: float = 30.0,
                 backoff_base: float = 1.0, backoff_cap: float = 300.0,
                 rescue_interval: float = 1.0) -> None:
        super().__init__(db)
        self.max_attempts = _attempts("max_attempts", max_attempts)
        self.lease = _seconds("lease", lease, positive=True)
        self.backoff_base = _seconds("backoff_base", backoff_base)
        self.backoff_cap = _seconds("backoff_cap", backoff_cap)
        self.rescue_interval = _seconds("rescue_interval", rescue_interval)

    # -- one job -----------------------------------------------------------------------------

    def create(self, tool_name: str, parameters: dict[str, Any] | None = None, priority: int = 0,
               workflow_id: str | None = None, user_id: str | None = None,
               batch_id: str | None = None, *, run_at: datetime | None = None,
               delay: float | None = None, max_attempts: int | None = None,
               dedupe_key: str | None = None) -> Job:
        """A new pending job (one INSERT; the record is built from what was written).

        ``run_at`` (aware datetime) or ``delay`` (seconds) makes it due later; ``max_attempts``
        overrides the store's default. With a ``dedupe_key``, while a job with that key is
        pending or running, the existing job is returned instead of a new one (decided by a
        unique index, so racing enqueues cannot both add one)."""
        now = v.utcnow()
        document, encoded = v.json_object_encoded("parameters", parameters)
        row = _new_job("", tool_name, encoded, priority, workflow_id, user_id,
                       v.identifier("batch_id", batch_id), now, run_at, delay,
                       self.max_attempts if max_attempts is None else max_attempts)
        row["dedupe_key"] = _name("dedupe_key", dedupe_key, required=False)
        if row["dedupe_key"] is None:
            self.run("insert_job", **row)
        else:
            existing = self._enqueue_unique(row)
            if existing is not None:
                return existing
        return _make_job(row["id"], row["tool_name"], JobStatus.PENDING, row["priority"], document,
                   row["batch_id"], row["workflow_id"], row["user_id"], None,
                   now, now, None, None, None, None, 0, row["max_attempts"], row["run_at"], None,
                   row["dedupe_key"], False)

    def _enqueue_unique(self, row: dict[str, Any]) -> Job | None:
        """Insert unless a pending or running job holds the key; None when inserted, else that
        job. If the holder finishes between our refused insert and the read, insert again."""
        for _ in range(5):
            try:
                inserted = self.run("insert_unique_job", **row)
            except ConflictError:  # MariaDB: the duplicate key is an error, not 0 rows
                inserted = 0
            if inserted:
                return None
            found: Job | None = self.run("get_active_by_dedupe_key", Job,
                                         dedupe_key=row["dedupe_key"])
            if found is not None:
                return found
        raise ConflictError(f"dedupe_key {row['dedupe_key']!r}: the job holding it kept changing")

    def get(self, job_id: str) -> Job:
        job: Job | None = self.run("get_job", Job, id=_id("job_id", job_id))
        if job is None:
            raise NotFound("job", job_id)
        return job

    def delete(self, job_id: str) -> None:
        """Delete a job with its result and logs (ON DELETE CASCADE); NotFound if missing."""
        if not self.run("delete_job", id=_id("job_id", job_id)):
            raise NotFound("job", job_id)

    # -- status ------------------------------------------------------------------------------

    def update_status(self, job_id: str, status: JobStatus | JobStatusName,
                      error_message: str | None = None, worker_id: str | None = None) -> Job:
        """Move a job along pending -> running -> completed | failed | cancelled (pending may
        also go straight to failed or cancelled), stamping started_at / completed_at /
        updated_at and the duration. Any other move is a ValidationError on ``status``. A
        running job under a lease moves only for its holder, ``worker_id`` (else LeaseLost)."""
        job_id = _id("job_id", job_id)
        target = v.enum(JobStatus, "status", status)
        error_message = _optional_text("error_message", error_message)
        worker_id = _name("worker_id", worker_id, required=False)
        if target is JobStatus.RUNNING:
            if error_message is not None:
                raise ValidationError("error_message", "only a finished job has one")
            return self.start(job_id, worker_id)
        if target is JobStatus.PENDING:
            raise ValidationError("status", "a job never goes back to pending")
        changed = self.run("finish_job", id=job_id, status=target.value, now=v.utcnow(),
                           error_message=error_message, from_statuses=_FROM_VALUES[target],
                           **_holder(worker_id))
        return self._after_change(job_id, changed, target, worker_id)

    def start(self, job_id: str, worker_id: str | None = None) -> Job:
        """pending -> running, without a lease (what a claim does under one)."""
        job_id = _id("job_id", job_id)
        worker_id = _name("worker_id", worker_id, required=False)
        changed = self.run("start_job", id=job_id, worker_id=worker_id, now=v.utcnow())
        return self._after_change(job_id, changed, JobStatus.RUNNING, None)

    def complete(self, job_id: str, worker_id: str | None = None) -> Job:
        return self.update_status(job_id, JobStatus.COMPLETED, worker_id=worker_id)

    def ack(self, job_id: str, worker_id: str) -> None:
        """:meth:`complete` for the holder, without reading the job back: one round trip on
        success, what a worker needs per job. LeaseLost (or NotFound) if it did not hold it."""
        job_id = _id("job_id", job_id)
        holder = _name("worker_id", worker_id, required=True)
        if not self.run("finish_job", id=job_id, status=JobStatus.COMPLETED.value,
                        now=v.utcnow(), error_message=None, **_holder(holder),
                        from_statuses=_FROM_VALUES[JobStatus.COMPLETED]):
            self._after_change(job_id, 0, JobStatus.COMPLETED, holder)

    def fail(self, job_id: str, error_message: str | None = None, retry: bool = False,
             worker_id: str | None = None) -> Job:
        """End the job ``failed``; or, with ``retry=True`` and attempts left, put it back to
        pending, due after :meth:`backoff`. A retried attempt's error goes to the job's log
        lines (and error_message), so :meth:`get_logs` shows every attempt's."""
        if not retry:
            return self.update_status(job_id, JobStatus.FAILED, error_message, worker_id)
        job_id = _id("job_id", job_id)
        error_message = _optional_text("error_message", error_message)
        worker_id = _name("worker_id", worker_id, required=False)
        with self.db.transaction():
            job: Job | None = self.run("lock_job", Job, id=job_id)
            if job is None:
                raise NotFound("job", job_id)
            if job.status is not JobStatus.RUNNING:  # nothing to retry: a plain fail
                return self.update_status(job_id, JobStatus.FAILED, error_message, worker_id)
            if not _holds(job, worker_id):
                raise LeaseLost(job_id, worker_id, _why_not_held(job))
            now = v.utcnow()
            final = job.attempt >= job.max_attempts
            outcome = "final" if final else "will retry"
            self.run("insert_log", job_id=job_id, level="ERROR", now=now,
                     message=f"attempt {job.attempt}/{job.max_attempts} failed ({outcome}): "
                             f"{error_message or 'no message'}")
            if final:
                self.run("finish_job", id=job_id, status=JobStatus.FAILED.value, now=now,
                         error_message=error_message, from_statuses=["running"],
                         **_holder(worker_id))
            else:
                run_at = now + timedelta(seconds=self.backoff(job.attempt))
                self.run("retry_job", id=job_id, run_at=run_at, now=now,
                         error_message=error_message)
        return self.get(job_id)

    def backoff(self, attempt: int) -> float:
        """Seconds before retrying after failed attempt ``attempt`` (1, 2, ...): exponential
        (``backoff_base * 2**(attempt-1)``), capped at ``backoff_cap``, then jittered down by up
        to half so that jobs failing together do not retry together."""
        delay = min(self.backoff_cap, self.backoff_base * 2.0 ** min(max(attempt, 1) - 1, 60))
        return delay * random.uniform(0.5, 1.0)

    def cancel(self, job_id: str, reason: str | None = None,
               worker_id: str | None = None) -> Job:
        """Cancel a pending job at once. A running job under a lease is cancelled at once only
        by its holder (``worker_id``); for anyone else the cancel is recorded as a request,
        which the holder's next :meth:`heartbeat` reports, and the job stays running (with
        ``cancel_requested``) until the holder stops and cancels it, or its lease runs out."""
        job_id = _id("job_id", job_id)
        reason = _optional_text("error_message", reason)
        worker_id = _name("worker_id", worker_id, required=False)
        target = JobStatus.CANCELLED
        now = v.utcnow()
        if self.run("finish_job", id=job_id, status=target.value, now=now, error_message=reason,
                    from_statuses=_FROM_VALUES[target], **_holder(worker_id)):
            return self.get(job_id)
        if worker_id is None and self.run("request_cancel", id=job_id, now=now):
            return self.get(job_id)
        return self._after_change(job_id, 0, target, worker_id)

    def _after_change(self, job_id: str, changed: int, target: JobStatus,
                      worker_id: str | None) -> Job:
        """The job after a conditional UPDATE; if it changed nothing, say why."""
        job: Job | None = self.run("get_job", Job, id=job_id)
        if job is None:
            raise NotFound("job", job_id)
        if not changed:
            self._refuse(job, target, worker_id)
        return job

    @staticmethod
    def _refuse(job: Job, target: JobStatus, worker_id: str | None) -> None:
        """Raise why ``job`` cannot become ``target`` for ``worker_id``: LeaseLost when a lease
        is in the way (or the caller named itself holder of a job it does not hold), else a
        ValidationError on ``status``."""
        allowed = job.status in ALLOWED_FROM.get(target, ())
        if (worker_id is not None and target is not JobStatus.RUNNING) or (
            allowed and not _holds(job, worker_id)
        ):
            raise LeaseLost(job.id, worker_id, _why_not_held(job))
        raise ValidationError("status", f"a {job.status} job cannot become {target}")

    # -- the work queue ------------------------------------------------------------------------

    def claim_next(self, worker_id: str | None = None, tool_name: str | Sequence[str] | None = None,
                   lease: float | None = None) -> Job | None:
        """Atomically take the most urgent, oldest due pending job (of ``tool_name``, if given)
        and mark it running for ``worker_id`` under a lease of ``lease`` seconds (default: the
        store's); None when nothing is due. Rows other workers are claiming are skipped (SKIP
        LOCKED), not waited for. Expired leases are rescued first, at most once per
        ``rescue_interval`` per database, so no separate cron is needed."""
        claimed = self.claim_batch(1, worker_id, lease, tool_name)
        return claimed[0] if claimed else None

    def claim_batch(self, n: int, worker_id: str | None = None, lease: float | None = None,
                    tool_name: str | Sequence[str] | None = None) -> builtins.list[Job]:
        """Claim up to ``n`` due jobs at once, in priority then age order, each under its own
        lease for ``worker_id``: one statement on PostgreSQL and SQLite, one transaction of two
        on MariaDB. No job is handed to two workers. With several tool names, each is claimed
        from its own index range in turn (a pure index scan, never a walk over other tools)."""
        n = v.integer("n", n, minimum=1, maximum=MAX_BATCH)
        worker_id = _name("worker_id", worker_id, required=False)
        seconds = self.lease if lease is None else _seconds("lease", lease, positive=True)
        tools = _tools(tool_name)
        self._maybe_rescue()
        if tools is None:
            return self._claim(n, worker_id, seconds, None)
        claimed: builtins.list[Job] = []
        for tool in random.sample(tools, len(tools)):  # no tool starves behind another
            claimed += self._claim(n - len(claimed), worker_id, seconds, tool)
            if len(claimed) == n:
                break
        return claimed

    def _claim(self, n: int, worker_id: str | None, lease: float,
               tool: str | None) -> builtins.list[Job]:
        now = v.utcnow()
        until = now + timedelta(seconds=lease)
        if self.db.dialect in _ONE_STATEMENT_CLAIM:
            jobs: builtins.list[Job] = self.run("claim_due_jobs", Job, worker_id=worker_id,
                                                tool_name=tool, now=now, lease_until=until,
                                                limit=n)
            jobs.sort(key=_claim_order)
            return jobs
        with self.db.transaction():
            locked: builtins.list[Job] = self.run("lock_due_jobs", Job, tool_name=tool, now=now,
                                                  limit=n)
            if not locked:
                return []
            self.run("mark_claimed", ids=[j.id for j in locked], worker_id=worker_id,
                     now=now, lease_until=until)
        return [replace(j, status=JobStatus.RUNNING, worker_id=worker_id, started_at=now,
                        updated_at=now, lease_expires_at=until, cancel_requested=False,
                        attempt=j.attempt + 1) for j in locked]

    def heartbeat(self, job_id: str, worker_id: str, lease: float | None = None) -> bool:
        """Extend the holder's lease to now + ``lease`` seconds (default: the store's). True
        when :meth:`cancel` has asked the job to stop (the lease is still extended, so the
        holder can wind down). LeaseLost if ``worker_id`` no longer holds the job."""
        job_id = _id("job_id", job_id)
        holder = _name("worker_id", worker_id, required=True)
        seconds = self.lease if lease is None else _seconds("lease", lease, positive=True)
        now = v.utcnow()
        params = {"id": job_id, "worker_id": holder, "now": now,
                  "lease_until": now + timedelta(seconds=seconds)}
        if self.run("heartbeat_job", **params):
            return False
        if self.run("heartbeat_cancelled", **params):
            return True
        job: Job | None = self.run("get_job", Job, id=job_id)
        if job is None:
            raise NotFound("job", job_id)
        raise LeaseLost(job_id, worker_id, _why_not_held(job))

    def release(self, job_id: str, worker_id: str) -> Job:
        """The holder hands a running job back without failing it (e.g. shutting down): it is
        pending and due at once, its attempt not counted, and a log line says who let it go.
        LeaseLost if ``worker_id`` does not hold it."""
        job_id = _id("job_id", job_id)
        holder = _name("worker_id", worker_id, required=True)
        now = v.utcnow()
        with self.db.transaction():
            if self.run("release_job", id=job_id, worker_id=holder, now=now):
                self.run("insert_log", job_id=job_id, level="WARNING", now=now,
                         message=f"released by {holder} unfinished; back to pending")
                released = True
            else:
                released = False
        job = self.get(job_id)
        if not released:
            raise LeaseLost(job_id, holder, _why_not_held(job))
        return job

    def rescue_expired(self) -> int:
        """Rescue every running job whose lease has run out: back to pending, due now (its
        attempt was counted when it was claimed), or ``failed`` with "lease expired" once it
        has used ``max_attempts``, or ``cancelled`` if a cancel was requested. Each rescue
        leaves a log line. Only running jobs are touched, under a row lock, so a job finished
        meanwhile stays as it is. Returns how many jobs were rescued."""
        total = 0
        while True:
            now = v.utcnow()
            with self.db.transaction():
                rows = self.run("lock_expired", now=now, limit=RESCUE_CHUNK)
                if not rows:
                    return total
                retry = [r["id"] for r in rows
                         if r["attempt"] < r["max_attempts"] and not to_bool(r["cancel_requested"])]
                if retry:
                    self.run("requeue_expired", ids=retry, now=now)
                logs = []
                for r in rows:
                    if to_bool(r["cancel_requested"]):
                        status, what = JobStatus.CANCELLED, "cancelled"
                    elif r["id"] in retry:
                        status, what = JobStatus.PENDING, "back to pending"
                    else:
                        status, what = JobStatus.FAILED, "failed"
                    if status is not JobStatus.PENDING:
                        self.run("finish_job", id=r["id"], status=status.value, now=now,
                                 error_message="lease expired", from_statuses=["running"],
                                 **_holder(r["worker_id"]))
                    logs.append({"job_id": r["id"], "level": "WARNING", "now": now,
                                 "message": f"attempt {r['attempt']}/{r['max_attempts']}: lease "
                                            f"of {r['worker_id'] or 'an anonymous worker'} "
                                            f"expired; {what}"})
                self.run_many("insert_log", logs)
            total += len(rows)
            if len(rows) < RESCUE_CHUNK:
                return total

    def _maybe_rescue(self) -> None:
        """rescue_expired(), at most once per this store's rescue_interval per database (the
        first one a rescue_interval after the database is first seen, so one claim stays one
        statement)."""
        clock = time.monotonic()
        try:
            last = _LAST_RESCUE.setdefault(self.db, clock)
        except TypeError:  # not weak-referenceable: no shared clock, rescue on every claim
            last = clock - self.rescue_interval
        if clock - last < self.rescue_interval:
            return
        with contextlib.suppress(TypeError):
            _LAST_RESCUE[self.db] = clock
        self.rescue_expired()

    # -- batches -------------------------------------------------------------------------------

    def create_job_batch(self, jobs: Iterable[Mapping[str, Any]]) -> str:
        """Create many jobs under one new batch_id, all or none: one transaction, one round trip
        per chunk of rows (one COPY on PostgreSQL). Each item takes the keywords of
        :meth:`create` (but batch_id); a bad one is a ValidationError naming it
        (``jobs[3].priority``) before any SQL runs."""
        batch_id, now = v.new_id(), v.utcnow()
        rows = []
        for i, spec in enumerate(jobs):
            try:
                if type(spec) is not dict and not isinstance(spec, Mapping):  # ABC check: slow
                    raise ValidationError("", f"must be a mapping, got {type(spec).__name__}")
                if not _BATCH_FIELDS.issuperset(spec):
                    unknown = sorted(spec.keys() - _BATCH_FIELDS)
                    raise ValidationError("", f"unknown field(s) {', '.join(unknown)}; allowed: "
                                              f"{', '.join(sorted(_BATCH_FIELDS))}")
                get = spec.get
                parameters = get("parameters")
                if parameters is not None and type(parameters) is not dict and not isinstance(
                        parameters, Mapping):
                    raise ValidationError("parameters", "must be a JSON object (dict), got "
                                                        f"{type(parameters).__name__}")
                rows.append(_new_job(
                    "", get("tool_name"), v.json_encoded("parameters", parameters),
                    get("priority", 0), get("workflow_id"), get("user_id"), batch_id, now,
                    get("run_at"), get("delay"), get("max_attempts", self.max_attempts),
                ))
            except ValidationError as exc:  # named here, so a valid batch pays no f-string
                field = f"jobs[{i}]" + (f".{exc.field}" if exc.field else "")
                raise ValidationError(field, exc.rule) from None
        if not rows:
            raise ValidationError("jobs", "must not be empty")
        self.run_many("insert_job", rows)
        return batch_id

    def get_batch_jobs(self, batch_id: str) -> builtins.list[Job]:
        """The batch's jobs, oldest first (then by id)."""
        jobs: builtins.list[Job] = self.run("get_batch_jobs", Job,
                                            batch_id=_id("batch_id", batch_id))
        return jobs

    # -- queries over many jobs ----------------------------------------------------------------

    def list(self, status: JobStatus | JobStatusName | None = None, workflow_id: str | None = None,
             tool_name: str | None = None, batch_id: str | None = None,
             created_after: datetime | str | None = None,
             created_before: datetime | str | None = None,
             limit: int = 100, offset: int = 0, sort_by: SortColumn = "created_at",
             sort_order: SortOrder = "desc", after: str | None = None) -> Page[Job]:
        """Jobs matching every filter given (created_after <= created_at < created_before),
        sorted by one of SORT_COLUMNS, then by id; ``limit`` 1..1000. A page: pass its
        ``next_cursor`` as ``after`` (same filters and sort) for the next one."""
        filters = _filters(status, workflow_id, tool_name, batch_id, created_after,
                           created_before)
        limit, offset = v.page(limit, offset)
        column = v.choice("sort_by", sort_by, SORT_COLUMNS)
        order = sort_order.lower() if isinstance(sort_order, str) else sort_order
        order = v.choice("sort_order", order, SORT_ORDERS)
        # sort_by and sort_order pick from the whitelists declared in sql/jobs.sql: the SQL
        # gets the option's text, never the caller's; each variant is compiled once.
        return self.paged(_KEYSET, "list_jobs", None, Job, after=after, limit=limit,
                          offset=offset, by=column, order=order, sort_by=column,
                          sort_order=order, **filters)

    def count(self, status: JobStatus | JobStatusName | None = None, workflow_id: str | None = None,
              tool_name: str | None = None, batch_id: str | None = None,
              created_after: datetime | str | None = None,
              created_before: datetime | str | None = None) -> int:
        """How many jobs :meth:`list` would find with these filters and no limit."""
        filters = _filters(status, workflow_id, tool_name, batch_id, created_after,
                           created_before)
        return int(self.run("count_jobs", **filters))

    def stats(self) -> JobStats:
        """Totals per status, the success rate, the five most used tools, the mean duration."""
        by_status = {s.value: 0 for s in JobStatus}
        for row in self.run("count_by_status"):
            by_status[row["status"]] = int(row["jobs"])
        ended = by_status["completed"] + by_status["failed"]
        mean = self.run("mean_duration")
        return JobStats(
            total=sum(by_status.values()),
            by_status=by_status,
            success_rate=by_status["completed"] / ended if ended else None,
            top_tools=[(r["tool_name"], int(r["uses"])) for r in self.run("top_tools")],
            mean_duration=None if mean is None else float(mean),
        )

    def cleanup_old_jobs(self, days: int, *, chunk_size: int = CLEANUP_CHUNK) -> int:
        """Delete jobs that finished more than ``days`` days ago, with their results and logs.
        Each chunk of ``chunk_size`` jobs is one short DELETE (its own transaction), so no lock
        is held for long. Returns how many jobs were deleted."""
        days = v.days("days", days)
        chunk_size = v.integer("chunk_size", chunk_size, minimum=1, maximum=100_000)
        cutoff = v.utcnow() - timedelta(days=days)
        total = 0
        while True:
            deleted: int = self.run("delete_finished_chunk", cutoff=cutoff, chunk_size=chunk_size)
            total += deleted
            if deleted < chunk_size:
                return total

    # -- results and logs ----------------------------------------------------------------------

    def save_result(self, job_id: str, stdout: str | None = None, stderr: str | None = None,
                    return_code: int | None = None, output_files: Any = None,
                    worker_id: str | None = None) -> JobResult:
        """Store the job's result, replacing an earlier one; NotFound if there is no job, and
        LeaseLost if the job runs under a lease that ``worker_id`` does not hold."""
        job_id = _id("job_id", job_id)
        worker_id = _name("worker_id", worker_id, required=False)
        stdout = _optional_text("stdout", stdout)
        stderr = _optional_text("stderr", stderr)
        if return_code is not None:
            return_code = v.integer("return_code", return_code, minimum=-INT32 - 1,
                                    maximum=INT32)
        files = v.json_encoded("output_files", output_files)  # any JSON, a bare string too
        now = v.utcnow()
        saved = self.run("save_result", job_id=job_id, stdout=stdout, stderr=stderr,
                         return_code=return_code, output_files=files, now=now,
                         **_holder(worker_id))
        # 0 rows: no such job, or not the holder. (Confirmed with a read, in case a MySQL
        # connection without CLIENT_FOUND_ROWS reports 0 for a rewrite that changed nothing.)
        if not saved:
            job: Job | None = self.run("get_job", Job, id=job_id)
            if job is None:
                raise NotFound("job", job_id)
            if (worker_id is not None or job.status is JobStatus.RUNNING) and not _holds(
                job, worker_id
            ):
                raise LeaseLost(job_id, worker_id, _why_not_held(job))
        return JobResult(job_id, stdout, stderr, return_code, output_files, now)

    def get_result(self, job_id: str) -> JobResult | None:
        """The job's result, or None while it has none (or there is no such job)."""
        result: JobResult | None = self.run("get_result", JobResult,
                                            job_id=_id("job_id", job_id))
        return result

    def add_log(self, job_id: str, level: LogLevel, message: str) -> JobLog:
        """Append a log line; ``level`` is one of LOG_LEVELS (any case). NotFound if no job."""
        job_id = _id("job_id", job_id)
        name = v.choice("level", level.upper() if isinstance(level, str) else level, LOG_LEVELS)
        text = v.text("message", message, max_length=MAX_TEXT)
        assert text is not None
        now = v.utcnow()
        log_id = self.run("add_log", job_id=job_id, level=name, message=text, now=now)
        if log_id is None:
            raise NotFound("job", job_id)
        return JobLog(int(log_id), job_id, name, text, now)

    def get_logs(self, job_id: str) -> builtins.list[JobLog]:
        """The job's log lines in the order they were written."""
        logs: builtins.list[JobLog] = self.run("get_logs", JobLog, job_id=_id("job_id", job_id))
        return logs


def _new_job(prefix: str, tool_name: Any, parameters: JsonText | None, priority: Any,
             workflow_id: Any, user_id: Any, batch_id: str | None, now: datetime, run_at: Any,
             delay: Any, max_attempts: Any) -> dict[str, Any]:
    """The insert_job parameters for one new job, every field checked (``prefix`` names the
    item in a batch: ``jobs[3].tool_name``); ``parameters`` comes checked and encoded, and
    the id and ``now`` are ours: nothing is checked or encoded twice."""
    # The usual values (no run_at, delay or ids; an int in range) are checked inline: a call
    # per field is most of a batch row's cost in Python. Anything else takes the full check.
    due = None if run_at is None else v.aware(prefix + "run_at", run_at)
    if delay is not None:
        if due is not None:
            raise ValidationError(prefix + "delay", "give run_at or delay, not both")
        due = now + timedelta(seconds=_seconds(prefix + "delay", delay))
    return {
        "run_at": now if due is None else due,
        "max_attempts": max_attempts if type(max_attempts) is int and 1 <= max_attempts <= 1000
        else _attempts(prefix + "max_attempts", max_attempts),
        "dedupe_key": None,
        "id": v.new_id(),
        "tool_name": _name("tool_name", tool_name, required=True),
        "status": _PENDING,
        "priority": priority if type(priority) is int and -INT32 - 1 <= priority <= INT32
        else v.integer("priority", priority, minimum=-INT32 - 1, maximum=INT32),
        "batch_id": batch_id,
        "workflow_id": None if workflow_id is None else v.identifier("workflow_id", workflow_id),
        "user_id": None if user_id is None else v.identifier("user_id", user_id),
        "parameters": parameters,
        "created_at": now,
    }


def _attempts(field: str, value: Any) -> int:
    return v.integer(field, value, minimum=1, maximum=1000)


def _seconds(field: str, value: Any, positive: bool = False) -> float:
    """A duration in seconds: a finite number, >= 0 (> 0 if ``positive``), at most a week."""
    seconds = v.number(field, value)
    if not 0 <= seconds <= MAX_LEASE or (positive and seconds == 0):
        raise ValidationError(field, f"must be {'>' if positive else '>='} 0 and at most "
                                     f"{MAX_LEASE:.0f} seconds, got {value!r}")
    return seconds


def _tools(tool_name: Any) -> builtins.list[str] | None:
    """A claim's tool filter: None (any tool), one name, or a non-empty sequence of names."""
    if tool_name is None:
        return None
    if isinstance(tool_name, str):
        return [_name("tool_name", tool_name, required=True)]  # type: ignore[list-item]
    if not isinstance(tool_name, Sequence) or not tool_name:
        raise ValidationError("tool_name", "must be a name or a non-empty list of names")
    return list(dict.fromkeys(_name(f"tool_name[{i}]", t, required=True)  # type: ignore[misc]
                              for i, t in enumerate(tool_name)))


def _holder(worker_id: str | None) -> dict[str, Any]:
    """The holder test's parameters: the worker named, or none (:anyone)."""
    return {"worker_id": worker_id, "anyone": worker_id is None}


def _holds(job: Job, worker_id: str | None) -> bool:
    """The holder test of finish_job / save_result, in Python."""
    if job.status is JobStatus.RUNNING and worker_id is not None:
        return job.worker_id == worker_id
    return worker_id is None and (job.status is not JobStatus.RUNNING or job.worker_id is None
                                  or job.lease_expires_at is None)


def _why_not_held(job: Job) -> str:
    if job.status is JobStatus.RUNNING:
        return f"it is running under {job.worker_id}'s lease (attempt {job.attempt})"
    return f"it is {job.status} now (attempt {job.attempt})"


def _claim_order(job: Job) -> tuple[int, datetime]:
    return (-job.priority, job.run_at)  # type: ignore[return-value]  # run_at set on claim


_LAST_RESCUE: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _filters(status: Any, workflow_id: Any, tool_name: Any, batch_id: Any, created_after: Any,
             created_before: Any) -> dict[str, Any]:
    """The filter parameters of list_jobs / count_jobs; None leaves a filter out."""
    return {
        "status": None if status is None else v.enum(JobStatus, "status", status).value,
        "workflow_id": v.identifier("workflow_id", workflow_id),
        "tool_name": _name("tool_name", tool_name, required=False),
        "batch_id": v.identifier("batch_id", batch_id),
        "created_after": v.aware("created_after", created_after),
        "created_before": v.aware("created_before", created_before),
    }


__all__ = [
    "ALLOWED_FROM",
    "LOG_LEVELS",
    "SORT_COLUMNS",
    "Job",
    "JobLog",
    "JobResult",
    "JobStats",
    "JobStatus",
    "JobStatusName",
    "JobStore",
    "LogLevel",
    "SortColumn",
    "SortOrder",
]
