"""Tasks, their numbered runs, metrics and artifacts: ``TaskRepository``.

A task counts its runs: ``total_runs`` (runs started), ``successful_runs`` and ``failed_runs``
(runs finished either way). ``start_run`` bumps ``total_runs`` and numbers the new run with the
bumped value in one unit of work; the bump locks the task row until commit, so runs started
concurrently get 1, 2, 3 ... with no gap or duplicate. ``complete_run`` / ``fail_run`` finish a
run and bump the matching counter in one unit of work, once per run (a finished run never
changes again), so ``successful_runs + failed_runs`` always equals the number of finished runs
and ``success_rate`` is always consistent with the runs themselves.

Metrics and artifacts belong to a task, to a run, to both, or to neither; given only a run, they
belong to its task as well. They are deleted with whichever they belong to.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from .. import validate as v
from ..convert import JsonText, from_json, to_utc, utc
from ..errors import AgentDBError, ConflictError, NotFound, ValidationError
from ..paging import Keyset, Page
from ..queries import load
from ..records import Record
from .base import Repository

_NAME = 255
_UNIT = 32
_PATH = 1024
_HASH = 128
_TEXT = v.MAX_TEXT_BYTES  # LONGTEXT; the byte rule of validate.text
_DATA = 8 * 1024 * 1024  # bytes of an artifact's data (under MariaDB's 16 MiB packet limit)
_TASKS = Keyset("tasks", {"created_at": "time"})
_RUNS = Keyset("runs", {"run_number": "int"})
_KEEP: Any = object()  # update_task: "leave this column as it is"


# Each enum's values as a Literal, for type checkers (tests keep the two equal).
TaskStatusName = Literal["pending", "active", "paused", "completed", "failed", "archived"]
RunStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]
MetricTypeName = Literal["counter", "gauge", "histogram", "summary", "timer"]
ArtifactTypeName = Literal["file", "text", "json", "image", "log", "other"]


class TaskStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    ARCHIVED = "archived"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class MetricType(StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"
    SUMMARY = "summary"
    TIMER = "timer"


class ArtifactType(StrEnum):
    FILE = "file"
    TEXT = "text"
    JSON = "json"
    IMAGE = "image"
    LOG = "log"
    OTHER = "other"


_at = utc


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Task(Record):
    id: str
    name: str
    description: str | None
    config: dict[str, Any] | None
    max_rounds: int | None
    memory_size: int | None
    status: TaskStatus
    total_runs: int
    successful_runs: int
    failed_runs: int
    created_at: datetime
    updated_at: datetime

    @property
    def finished_runs(self) -> int:
        return self.successful_runs + self.failed_runs

    @property
    def success_rate(self) -> float:
        """Successful runs over finished (successful + failed) runs; 0.0 before any finished.
        Runs still going, or cancelled, count neither way."""
        finished = self.finished_runs
        return self.successful_runs / finished if finished else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = Record.to_dict(self)
        data["success_rate"] = self.success_rate
        return data

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Task:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            config=from_json(row["config"]),
            max_rounds=_int(row["max_rounds"]),
            memory_size=_int(row["memory_size"]),
            status=TaskStatus(row["status"]),
            total_runs=int(row["total_runs"]),
            successful_runs=int(row["successful_runs"]),
            failed_runs=int(row["failed_runs"]),
            created_at=_at(row["created_at"]),
            updated_at=_at(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class TaskRun(Record):
    id: str
    task_id: str
    run_number: int
    status: RunStatus
    plan: Any
    results: Any
    error_message: str | None
    error_details: Any
    started_at: datetime | None
    completed_at: datetime | None
    duration: float | None  # seconds from started_at to completed_at

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> TaskRun:
        return cls(
            id=row["id"],
            task_id=row["task_id"],
            run_number=int(row["run_number"]),
            status=RunStatus(row["status"]),
            plan=from_json(row["plan"]),
            results=from_json(row["results"]),
            error_message=row["error_message"],
            error_details=from_json(row["error_details"]),
            started_at=to_utc(row["started_at"]),
            completed_at=to_utc(row["completed_at"]),
            duration=None if row["duration"] is None else float(row["duration"]),
        )


@dataclass(frozen=True, slots=True)
class MetricSnapshot(Record):
    id: int
    task_id: str | None
    task_run_id: str | None
    name: str
    metric_type: MetricType
    value: float
    unit: str | None
    labels: dict[str, Any] | None
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MetricSnapshot:
        return cls(
            id=int(row["id"]),
            task_id=row["task_id"],
            task_run_id=row["task_run_id"],
            name=row["name"],
            metric_type=MetricType(row["metric_type"]),
            value=float(row["value"]),
            unit=row["unit"],
            labels=from_json(row["labels"]),
            recorded_at=_at(row["recorded_at"]),
        )


@dataclass(frozen=True, slots=True)
class MetricSummary(Record):
    """Aggregates of one metric's values; min/max/avg/sum are None when count is 0."""

    name: str
    count: int
    min: float | None
    max: float | None
    avg: float | None
    sum: float | None


@dataclass(frozen=True, slots=True)
class Artifact(Record):
    id: str
    task_id: str | None
    task_run_id: str | None
    name: str
    artifact_type: ArtifactType
    path: str | None
    content: str | None
    file_hash: str | None  # SHA-256 hex of content (UTF-8) or data when either is stored
    size_bytes: int | None
    metadata: dict[str, Any] | None
    created_at: datetime
    data: bytes | None = None  # binary content (add_artifact(content=b"...")); else None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Artifact:
        return cls(
            id=row["id"],
            task_id=row["task_id"],
            task_run_id=row["task_run_id"],
            name=row["name"],
            artifact_type=ArtifactType(row["artifact_type"]),
            path=row["path"],
            content=row["content"],
            file_hash=row["file_hash"],
            size_bytes=_int(row["size_bytes"]),
            metadata=from_json(row["metadata"]),
            created_at=_at(row["created_at"]),
            data=None if row.get("data") is None else bytes(row["data"]),
        )


class TaskRepository(Repository):
    """Tasks and their runs, metrics and artifacts."""

    __slots__ = ()
    queries = load("tasks")

    # -- tasks -------------------------------------------------------------------------------

    def create_task(
        self,
        name: str,
        description: str | None = None,
        config: dict[str, Any] | None = None,
        max_rounds: int | None = None,
        memory_size: int | None = None,
        status: TaskStatus | TaskStatusName = TaskStatus.ACTIVE,
    ) -> Task:
        now = v.utcnow()
        task = Task(
            id=v.new_id(),
            name=_required("name", name, _NAME),
            description=v.text("description", description, max_length=_TEXT, required=False),
            config=v.json_object("config", config),
            max_rounds=_opt_int("max_rounds", max_rounds, 1),
            memory_size=_opt_int("memory_size", memory_size, 0),
            status=v.enum(TaskStatus, "status", status),
            total_runs=0,
            successful_runs=0,
            failed_runs=0,
            created_at=now,
            updated_at=now,
        )
        self.run("insert_task", id=task.id, name=task.name, description=task.description,
                 config=task.config, max_rounds=task.max_rounds, memory_size=task.memory_size,
                 status=task.status, created_at=now)
        return task

    def get_task(self, task_id: str) -> Task:
        row = self.run("get_task", id=_id("task_id", task_id))
        if row is None:
            raise NotFound("task", task_id)
        return Task.from_row(row)

    def list_tasks(
        self,
        *,
        status: TaskStatus | TaskStatusName | None = None,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
    ) -> Page[Task]:
        """Newest first. A page: pass its ``next_cursor`` as ``after`` for the next one."""
        limit, offset = v.page(limit, offset)
        return self.paged(
            _TASKS, "list_tasks", Task.from_row, None,
            after=after, by="created_at", order="desc",
            status=v.enum(TaskStatus, "status", status) if status is not None else None,
            limit=limit,
            offset=offset,
        )

    def update_task(
        self,
        task_id: str,
        *,
        name: str | None = None,
        description: str | None = _KEEP,
        config: dict[str, Any] | None = _KEEP,
        max_rounds: int | None = _KEEP,
        memory_size: int | None = _KEEP,
        status: TaskStatus | TaskStatusName | None = None,
    ) -> Task:
        """Change the given fields; the others stay. ``description``, ``config``,
        ``max_rounds`` and ``memory_size`` may be set to None."""
        task_id = _id("task_id", task_id)
        params = {
            "id": task_id,
            "name": v.text("name", name, max_length=_NAME, required=False),
            "status": v.enum(TaskStatus, "status", status) if status is not None else None,
            "set_description": description is not _KEEP,
            "description": None if description is _KEEP else v.text(
                "description", description, max_length=_TEXT, required=False),
            "set_config": config is not _KEEP,
            "config": None if config is _KEEP else v.json_object("config", config),
            "set_max_rounds": max_rounds is not _KEEP,
            "max_rounds": None if max_rounds is _KEEP else _opt_int("max_rounds", max_rounds, 1),
            "set_memory_size": memory_size is not _KEEP,
            "memory_size": None if memory_size is _KEEP else _opt_int(
                "memory_size", memory_size, 0),
            "updated_at": v.utcnow(),
        }
        def unit(_: Any) -> Task:  # database work only: safe to run again whole
            if not self.run("update_task", **params):
                raise NotFound("task", task_id)
            return self.get_task(task_id)

        return self.db.run_in_transaction(unit)

    def set_status(self, task_id: str, status: TaskStatus | TaskStatusName) -> Task:
        return self.update_task(task_id, status=v.enum(TaskStatus, "status", status))

    def delete_task(self, task_id: str) -> None:
        """Delete a task with its runs, metrics and artifacts (ON DELETE CASCADE); NotFound if
        missing."""
        if not self.run("delete_task", id=_id("task_id", task_id)):
            raise NotFound("task", task_id)

    # -- runs --------------------------------------------------------------------------------

    def start_run(self, task_id: str, plan: Any = None) -> TaskRun:
        """A new ``running`` run numbered after the task's last one (1, 2, 3 ... per task,
        also under concurrency); bumps ``total_runs``. A task with ``max_rounds`` starts at
        most that many runs: the next start raises ConflictError (checked under the task's
        row lock, so concurrent starts cannot overshoot)."""
        task_id = _id("task_id", task_id)
        plan_json = v.json_encoded("plan", plan)  # any JSON, a bare string too
        now = v.utcnow()
        run_id = v.new_id()
        def unit(_: Any) -> int:  # database work only: safe to run again whole
            if not self.run("bump_total_runs", id=task_id, now=now):  # locks the task row
                raise NotFound("task", task_id)
            budget = self.run("get_run_budget", id=task_id)
            number = int(budget["total_runs"])
            if budget["max_rounds"] is not None and number > int(budget["max_rounds"]):
                raise ConflictError(f"task {task_id} has run all its max_rounds="
                                    f"{budget['max_rounds']} rounds; raise max_rounds to go on")
            self.run("insert_run", id=run_id, task_id=task_id, run_number=number,
                     plan=plan_json, started_at=now)
            return number

        number = self.db.run_in_transaction(unit)
        return TaskRun(id=run_id, task_id=task_id, run_number=number, status=RunStatus.RUNNING,
                       plan=plan, results=None, error_message=None, error_details=None,
                       started_at=now, completed_at=None, duration=None)

    def complete_run(self, run_id: str, results: Any = None) -> TaskRun:
        """Finish a run successfully: sets completed_at and duration, bumps successful_runs."""
        return self._finish(run_id, RunStatus.COMPLETED, results=results,
                            results_json=v.json_encoded("results", results))

    def fail_run(self, run_id: str, error_message: str, error_details: Any = None) -> TaskRun:
        """Finish a run with an error: sets completed_at and duration, bumps failed_runs."""
        return self._finish(
            run_id,
            RunStatus.FAILED,
            error_message=_required("error_message", error_message, _TEXT),
            error_details=error_details,
            details_json=v.json_encoded("error_details", error_details),
        )

    def cancel_run(self, run_id: str) -> TaskRun:
        """Stop a run; it counts as neither successful nor failed."""
        return self._finish(run_id, RunStatus.CANCELLED)

    def get_run(self, run_id: str) -> TaskRun:
        row = self.run("get_run", id=_id("run_id", run_id))
        if row is None:
            raise NotFound("task run", run_id)
        return TaskRun.from_row(row)

    def get_run_by_number(self, task_id: str, run_number: int) -> TaskRun:
        task_id = _id("task_id", task_id)
        number = v.integer("run_number", run_number, minimum=1, maximum=v.INT32)
        row = self.run("get_run_by_number", task_id=task_id, run_number=number)
        if row is None:
            raise NotFound("task run", f"{task_id}#{number}")
        return TaskRun.from_row(row)

    def list_runs(
        self,
        task_id: str,
        *,
        status: RunStatus | RunStatusName | None = None,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
    ) -> Page[TaskRun]:
        """A task's runs in run order. A page: pass its ``next_cursor`` as ``after`` for the
        next one."""
        limit, offset = v.page(limit, offset)
        return self.paged(
            _RUNS, "list_runs", TaskRun.from_row, None,
            after=after, by="run_number", order="asc",
            task_id=_id("task_id", task_id),
            status=v.enum(RunStatus, "status", status) if status is not None else None,
            limit=limit,
            offset=offset,
        )

    # -- metrics -----------------------------------------------------------------------------

    def record_metric(
        self,
        name: str,
        metric_type: MetricType | MetricTypeName,
        value: float,
        unit: str | None = None,
        labels: dict[str, Any] | None = None,
        task_id: str | None = None,
        task_run_id: str | None = None,
        *,
        recorded_at: datetime | None = None,
    ) -> MetricSnapshot:
        """Store one measurement (``recorded_at`` defaults to now). Given only a run, the
        snapshot belongs to the run's task too."""
        name_ = _required("name", name, _NAME)
        kind = v.enum(MetricType, "metric_type", metric_type)
        value_ = v.number("value", value)
        unit = v.text("unit", unit, max_length=_UNIT, required=False)
        labels = v.json_object("labels", labels)
        task_id = v.identifier("task_id", task_id)
        task_run_id = v.identifier("task_run_id", task_run_id)
        at = v.aware("recorded_at", recorded_at) or v.utcnow()
        try:
            row = self.run("insert_metric", task_id=task_id, task_run_id=task_run_id,
                           name=name_, metric_type=kind, value=value_, unit=unit, labels=labels,
                           recorded_at=at)  # RETURNING the id, and the task_id of the run
        except ValidationError as exc:
            raise _owner_missing(exc, task_id, task_run_id) from exc
        return MetricSnapshot(id=int(row["id"]), task_id=row["task_id"], task_run_id=task_run_id,
                              name=name_, metric_type=kind, value=value_, unit=unit,
                              labels=labels, recorded_at=at)

    def metrics(
        self,
        *,
        task_id: str | None = None,
        task_run_id: str | None = None,
        name: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> builtins.list[MetricSnapshot]:
        """Snapshots oldest first; filters combine; ``since <= recorded_at < until``."""
        limit, offset = v.page(limit, offset, max_limit=100_000)
        rows = self.run(
            "list_metrics",
            task_id=v.identifier("task_id", task_id),
            task_run_id=v.identifier("task_run_id", task_run_id),
            name=v.text("name", name, max_length=_NAME, required=False),
            since=v.aware("since", since),
            until=v.aware("until", until),
            limit=limit,
            offset=offset,
        )
        return [MetricSnapshot.from_row(r) for r in rows]

    def summarize_metric(
        self,
        name: str,
        *,
        task_id: str | None = None,
        task_run_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> MetricSummary:
        """count / min / max / avg / sum of one metric, computed by the database."""
        name_ = _required("name", name, _NAME)
        row = self.run(
            "summarize_metric",
            name=name_,
            task_id=v.identifier("task_id", task_id),
            task_run_id=v.identifier("task_run_id", task_run_id),
            since=v.aware("since", since),
            until=v.aware("until", until),
        )
        return MetricSummary(
            name=name_,
            count=int(row["n"]),
            min=_float(row["min_value"]),
            max=_float(row["max_value"]),
            avg=_float(row["avg_value"]),
            sum=_float(row["sum_value"]),
        )

    # -- artifacts ---------------------------------------------------------------------------

    def add_artifact(
        self,
        name: str,
        artifact_type: ArtifactType | ArtifactTypeName,
        task_id: str | None = None,
        task_run_id: str | None = None,
        path: str | None = None,
        content: str | bytes | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        file_hash: str | None = None,
        size_bytes: int | None = None,
    ) -> Artifact:
        """Store an artifact. With ``content``, ``file_hash`` is its SHA-256 (hex, of the UTF-8
        bytes) and ``size_bytes`` its size, computed here (passing either then is an error);
        without, both may describe a file kept elsewhere (``path``). ``bytes`` content is kept
        as is (up to 8 MiB) and comes back as ``Artifact.data``; text comes back as
        ``Artifact.content``."""
        data: bytes | None = None
        if isinstance(content, bytes | bytearray | memoryview):
            data, content = bytes(content), None
            if len(data) > _DATA:
                raise ValidationError("content", f"must be at most {_DATA} bytes")
        name_ = _required("name", name, _NAME)
        kind = v.enum(ArtifactType, "artifact_type", artifact_type)
        task_id = v.identifier("task_id", task_id)
        task_run_id = v.identifier("task_run_id", task_run_id)
        path = v.text("path", path, max_length=_PATH, required=False)
        content = v.text("content", content, max_length=_TEXT, required=False)
        metadata = v.json_object("metadata", metadata)
        file_hash = v.text("file_hash", file_hash, max_length=_HASH, required=False)
        if size_bytes is not None:
            size_bytes = v.integer("size_bytes", size_bytes, minimum=0)
        if content is not None or data is not None:
            if file_hash is not None:
                raise ValidationError("file_hash", "is computed from content; do not pass both")
            if size_bytes is not None:
                raise ValidationError("size_bytes", "is computed from content; do not pass both")
            raw = data if data is not None else (content or "").encode("utf-8")
            file_hash, size_bytes = hashlib.sha256(raw).hexdigest(), len(raw)
        artifact = Artifact(id=v.new_id(), task_id=task_id, task_run_id=task_run_id,
                            name=name_, artifact_type=kind, path=path, content=content,
                            file_hash=file_hash, size_bytes=size_bytes, metadata=metadata,
                            created_at=v.utcnow(), data=data)
        params = {f.name: getattr(artifact, f.name) for f in dataclasses.fields(artifact)}
        try:
            row = self.run("insert_artifact", **params)  # RETURNING the task_id, maybe the run's
        except ValidationError as exc:
            raise _owner_missing(exc, task_id, task_run_id) from exc
        return dataclasses.replace(artifact, task_id=row["task_id"])

    def get_artifact(self, artifact_id: str) -> Artifact:
        row = self.run("get_artifact", id=_id("artifact_id", artifact_id))
        if row is None:
            raise NotFound("artifact", artifact_id)
        return Artifact.from_row(row)

    def list_artifacts(
        self,
        *,
        task_id: str | None = None,
        task_run_id: str | None = None,
        artifact_type: ArtifactType | ArtifactTypeName | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Artifact]:
        """Artifacts oldest first, of a task and/or a run (and of one type)."""
        limit, offset = v.page(limit, offset)
        rows = self.run(
            "list_artifacts",
            task_id=v.identifier("task_id", task_id),
            task_run_id=v.identifier("task_run_id", task_run_id),
            artifact_type=(v.enum(ArtifactType, "artifact_type", artifact_type)
                           if artifact_type is not None else None),
            limit=limit,
            offset=offset,
        )
        return [Artifact.from_row(r) for r in rows]

    def delete_artifact(self, artifact_id: str) -> None:
        """NotFound if missing."""
        if not self.run("delete_artifact", id=_id("artifact_id", artifact_id)):
            raise NotFound("artifact", artifact_id)

    # -- internals ---------------------------------------------------------------------------

    def _finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        results: Any = None,
        results_json: JsonText | None = None,  # results, checked and encoded
        error_message: str | None = None,
        error_details: Any = None,
        details_json: JsonText | None = None,  # error_details, checked and encoded
    ) -> TaskRun:
        run_id = _id("run_id", run_id)
        def unit(_: Any) -> TaskRun:  # database work only: safe to run again whole
            row = self.run("lock_run", id=run_id)  # FOR UPDATE where the dialect has it
            if row is None:
                raise NotFound("task run", run_id)
            run = TaskRun.from_row(row)
            if run.status.finished:
                raise ConflictError(f"task run {run_id!r} is {run.status.value} already")
            now = v.utcnow()
            duration = (now - run.started_at).total_seconds() if run.started_at else None
            if duration is not None:
                duration = max(duration, 0.0)  # a clock step back never makes it negative
            if not self.run("finish_run", id=run_id, status=status, results=results_json,
                            error_message=error_message, error_details=details_json,
                            completed_at=now, duration=duration):
                raise ConflictError(f"task run {run_id!r} was finished concurrently")
            if status is not RunStatus.CANCELLED:
                self.run("count_finished_run", id=run.task_id, now=now,
                         succeeded=int(status is RunStatus.COMPLETED),
                         failed=int(status is RunStatus.FAILED))
            return dataclasses.replace(run, status=status, results=results,
                                       error_message=error_message, error_details=error_details,
                                       completed_at=now, duration=duration)

        return self.db.run_in_transaction(unit)


def _owner_missing(exc: ValidationError, task_id: str | None,
                   task_run_id: str | None) -> AgentDBError:
    """The input was checked, so a ValidationError from the INSERT is a foreign key refusing
    a task or run that does not exist: say which, the same way on every backend."""
    if task_id is not None and task_run_id is not None:
        return NotFound("task or task run", f"{task_id} / {task_run_id}")
    if task_id is not None:
        return NotFound("task", task_id)
    if task_run_id is not None:
        return NotFound("task run", task_run_id)
    return exc


def _required(field: str, value: Any, max_length: int) -> str:
    result = v.text(field, value, max_length=max_length)
    assert result is not None
    return result


_id = v.required_id


def _opt_int(field: str, value: Any, minimum: int) -> int | None:
    return None if value is None else v.integer(field, value, minimum=minimum,
                                                maximum=v.INT32)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


__all__ = [
    "Artifact",
    "ArtifactType",
    "MetricSnapshot",
    "MetricSummary",
    "MetricType",
    "RunStatus",
    "Task",
    "TaskRepository",
    "TaskRun",
    "TaskStatus",
]
