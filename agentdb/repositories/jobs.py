"""JobStore: jobs, their results and log lines, and a work queue that many workers can share.

Every method checks its input first (a ValidationError naming the field, before any SQL), then
names queries from ``sql/jobs.sql``. A method that needs one statement runs it bare: one round
trip, no BEGIN/COMMIT. Status changes are single conditional UPDATEs (``WHERE status IN
(allowed predecessors)``), so the check and the change cannot be split by another worker.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from .. import validate as v
from ..convert import JsonText
from ..errors import NotFound, ValidationError
from ..queries import load
from ..records import Record
from ..rows import JSON
from .base import Repository

MAX_NAME = 255  # tool_name, worker_id: VARCHAR(255)
MAX_TEXT = 4 * 1024 * 1024  # characters of stdout/stderr/messages (<= 16 MiB of UTF-8)
INT32 = 2**31 - 1  # priority and return_code are INTEGER columns
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SORT_COLUMNS = ("created_at", "updated_at", "priority", "status", "tool_name")
SORT_ORDERS = ("asc", "desc")
# The same values as Literals, so a type checker catches sort_by="createdAt" (tests keep them
# equal to the tuples and enums above and below).
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
                   "debug", "info", "warning", "error", "critical"]
SortColumn = Literal["created_at", "updated_at", "priority", "status", "tool_name"]
SortOrder = Literal["asc", "desc", "ASC", "DESC"]
JobStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
CLEANUP_CHUNK = 1000  # jobs per DELETE in cleanup_old_jobs: each chunk is its own transaction
_BATCH_FIELDS = frozenset({"tool_name", "parameters", "priority", "workflow_id", "user_id"})


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
_STATUS = {s.value: s for s in JobStatus}  # a dict lookup: Enum.__call__ is slow on hot paths

# The statuses each status may be reached from. Nothing leads back to pending, and a finished
# job stays finished.
ALLOWED_FROM: dict[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.RUNNING: (JobStatus.PENDING,),
    JobStatus.COMPLETED: (JobStatus.RUNNING,),
    JobStatus.FAILED: (JobStatus.PENDING, JobStatus.RUNNING),
    JobStatus.CANCELLED: (JobStatus.PENDING, JobStatus.RUNNING),
}
_FROM_VALUES = {to: [s.value for s in froms] for to, froms in ALLOWED_FROM.items()}

# Dialects with UPDATE ... RETURNING claim a job in one statement; MariaDB has none, so there it
# takes two (lock the row with SKIP LOCKED, then update it) inside one transaction.
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
    """Jobs, their results and logs; a work queue that many workers (threads or processes) can
    share: :meth:`claim_next` never hands the same job to two of them."""

    queries = load("jobs")

    __slots__ = ()

    # -- one job -----------------------------------------------------------------------------

    def create(self, tool_name: str, parameters: dict[str, Any] | None = None, priority: int = 0,
               workflow_id: str | None = None, user_id: str | None = None,
               batch_id: str | None = None) -> Job:
        """A new pending job (one INSERT; the record is built from what was written)."""
        document, encoded = v.json_object_encoded("parameters", parameters)
        row = _new_job("", tool_name, encoded, priority, workflow_id, user_id,
                       v.identifier("batch_id", batch_id), v.utcnow())
        self.run("insert_job", **row)
        now = row["created_at"]
        return Job(row["id"], row["tool_name"], JobStatus.PENDING, row["priority"], document,
                   row["batch_id"], row["workflow_id"], row["user_id"], None, now, now, None,
                   None, None, None)

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
                      error_message: str | None = None) -> Job:
        """Move a job along pending -> running -> completed | failed | cancelled (pending may
        also go straight to failed or cancelled), stamping started_at / completed_at /
        updated_at and the duration. Any other move is a ValidationError on ``status``."""
        job_id = _id("job_id", job_id)
        target = v.enum(JobStatus, "status", status)
        error_message = _optional_text("error_message", error_message)
        if target is JobStatus.RUNNING:
            if error_message is not None:
                raise ValidationError("error_message", "only a finished job has one")
            return self.start(job_id)
        if target is JobStatus.PENDING:
            raise ValidationError("status", "a job never goes back to pending")
        changed = self.run("finish_job", id=job_id, status=target.value, now=v.utcnow(),
                           error_message=error_message, from_statuses=_FROM_VALUES[target])
        return self._after_change(job_id, changed, target)

    def start(self, job_id: str, worker_id: str | None = None) -> Job:
        """pending -> running (what :meth:`claim_next` does for the next job in line)."""
        job_id = _id("job_id", job_id)
        worker_id = _name("worker_id", worker_id, required=False)
        changed = self.run("start_job", id=job_id, worker_id=worker_id, now=v.utcnow())
        return self._after_change(job_id, changed, JobStatus.RUNNING)

    def complete(self, job_id: str) -> Job:
        return self.update_status(job_id, JobStatus.COMPLETED)

    def fail(self, job_id: str, error_message: str | None = None) -> Job:
        return self.update_status(job_id, JobStatus.FAILED, error_message)

    def cancel(self, job_id: str, reason: str | None = None) -> Job:
        return self.update_status(job_id, JobStatus.CANCELLED, reason)

    def _after_change(self, job_id: str, changed: int, target: JobStatus) -> Job:
        """The job after a conditional UPDATE; if it changed nothing, say why."""
        job: Job | None = self.run("get_job", Job, id=job_id)
        if job is None:
            raise NotFound("job", job_id)
        if not changed:
            raise ValidationError("status", f"a {job.status} job cannot become {target}")
        return job

    # -- the work queue ------------------------------------------------------------------------

    def claim_next(self, worker_id: str | None = None, tool_name: str | None = None) -> Job | None:
        """Atomically take the highest-priority, oldest pending job (of ``tool_name``, if
        given) and mark it running for ``worker_id``; None when nothing is pending. Rows other
        workers are claiming are skipped (SKIP LOCKED), not waited for."""
        worker_id = _name("worker_id", worker_id, required=False)
        tool_name = _name("tool_name", tool_name, required=False)
        now = v.utcnow()
        if self.db.dialect in _ONE_STATEMENT_CLAIM:
            claimed: Job | None = self.run("claim_next_job", Job, worker_id=worker_id,
                                           tool_name=tool_name, now=now)
            return claimed
        with self.db.transaction():
            job: Job | None = self.run("lock_next_job", Job, tool_name=tool_name)
            if job is None:
                return None
            self.run("mark_claimed", id=job.id, worker_id=worker_id, now=now)
        return replace(job, status=JobStatus.RUNNING, worker_id=worker_id, started_at=now,
                       updated_at=now)

    # -- batches -------------------------------------------------------------------------------

    def create_job_batch(self, jobs: Iterable[Mapping[str, Any]]) -> str:
        """Create many jobs under one new batch_id, all or none: one transaction, one round trip
        per chunk of rows. Each item takes the keywords of :meth:`create` (but batch_id)."""
        batch_id, now = v.new_id(), v.utcnow()
        rows = []
        for i, spec in enumerate(jobs):
            where = f"jobs[{i}]"
            if not isinstance(spec, Mapping):
                raise ValidationError(where, f"must be a mapping, got {type(spec).__name__}")
            unknown = spec.keys() - _BATCH_FIELDS
            if unknown:
                raise ValidationError(where, f"unknown field(s) {', '.join(sorted(unknown))}; "
                                             f"allowed: {', '.join(sorted(_BATCH_FIELDS))}")
            rows.append(_new_job(
                where + ".", spec.get("tool_name"),
                v.json_object_encoded(where + ".parameters", spec.get("parameters"))[1],
                spec.get("priority", 0), spec.get("workflow_id"), spec.get("user_id"),
                batch_id, now,
            ))
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
             sort_order: SortOrder = "desc") -> builtins.list[Job]:
        """Jobs matching every filter given (created_after <= created_at < created_before),
        sorted by one of SORT_COLUMNS, then by id; ``limit`` 1..1000."""
        filters = _filters(status, workflow_id, tool_name, batch_id, created_after,
                           created_before)
        limit, offset = v.page(limit, offset)
        column = v.choice("sort_by", sort_by, SORT_COLUMNS)
        order = sort_order.lower() if isinstance(sort_order, str) else sort_order
        order = v.choice("sort_order", order, SORT_ORDERS)
        # sort_by and sort_order pick from the whitelists declared in sql/jobs.sql: the SQL
        # gets the option's text, never the caller's; each variant is compiled once.
        jobs: builtins.list[Job] = self.run("list_jobs", Job, sort_by=column, sort_order=order,
                                            limit=limit, offset=offset, **filters)
        return jobs

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
        days = v.integer("days", days, minimum=0)
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
                    return_code: int | None = None, output_files: Any = None) -> JobResult:
        """Store the job's result, replacing an earlier one; NotFound if there is no job."""
        job_id = _id("job_id", job_id)
        stdout = _optional_text("stdout", stdout)
        stderr = _optional_text("stderr", stderr)
        if return_code is not None:
            return_code = v.integer("return_code", return_code, minimum=-INT32 - 1,
                                    maximum=INT32)
        output_files = v.json_value("output_files", output_files)
        now = v.utcnow()
        saved = self.run("save_result", job_id=job_id, stdout=stdout, stderr=stderr,
                         return_code=return_code, output_files=output_files, now=now)
        # 0 rows: no such job. (Confirmed with a read, in case a MySQL connection without
        # CLIENT_FOUND_ROWS reports 0 for a rewrite that changed nothing.)
        if not saved and self.run("get_job", id=job_id) is None:
            raise NotFound("job", job_id)
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
             workflow_id: Any, user_id: Any, batch_id: str | None,
             now: datetime) -> dict[str, Any]:
    """The insert_job parameters for one new job, every field checked (``prefix`` names the
    item in a batch: ``jobs[3].tool_name``); ``parameters`` comes checked and encoded, and
    the id and ``now`` are ours: nothing is checked or encoded twice."""
    return {
        "id": v.new_id(),
        "tool_name": _name(prefix + "tool_name", tool_name, required=True),
        "status": JobStatus.PENDING.value,
        "priority": v.integer(prefix + "priority", priority, minimum=-INT32 - 1, maximum=INT32),
        "batch_id": batch_id,
        "workflow_id": v.identifier(prefix + "workflow_id", workflow_id),
        "user_id": v.identifier(prefix + "user_id", user_id),
        "parameters": parameters,
        "created_at": now,
    }


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
