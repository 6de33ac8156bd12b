"""Workflow executions and their history: ``ExecutionRepository``.

An execution is one run of a workflow for a user. It starts ``running``, moves through steps
and state changes, and ends ``completed``, ``failed`` or ``cancelled``; after that it never
changes. Every change writes an ``execution_history`` row in the same unit of work as the change
itself, so the history is exactly the list of changes that committed, in order.

An execution outlives its workflow and its user (the schema sets ``workflow_id`` / ``user_id``
to NULL and ``workflow_name`` keeps the name); its history is deleted with it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from .. import validate as v
from ..convert import from_json, to_utc, utc
from ..errors import ConflictError, NotFound, ValidationError
from ..paging import Keyset, Page
from ..queries import load
from ..records import Record
from .base import Repository

_NAME = 255
_TEXT = v.MAX_TEXT_BYTES  # LONGTEXT; the byte rule of validate.text
_KEYSET = Keyset("executions", {"started_at": "time"})


ExecutionStatusName = Literal["pending", "running", "completed", "failed", "cancelled"]


class ExecutionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED,
                        ExecutionStatus.CANCELLED)


class ExecutionEvent(StrEnum):
    """What an ``execution_history`` row records."""

    STARTED = "started"
    STEP = "step"
    STATE = "state"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


_at = utc


@dataclass(frozen=True, slots=True)
class Execution(Record):
    id: str
    workflow_id: str | None
    workflow_name: str | None
    user_id: str | None
    status: ExecutionStatus
    current_step: str | None
    state: dict[str, Any] | None
    error_message: str | None
    started_at: datetime
    completed_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Execution:
        return cls(
            id=row["id"],
            workflow_id=row["workflow_id"],
            workflow_name=row["workflow_name"],
            user_id=row["user_id"],
            status=ExecutionStatus(row["status"]),
            current_step=row["current_step"],
            state=from_json(row["state"]),
            error_message=row["error_message"],
            started_at=_at(row["started_at"]),
            completed_at=to_utc(row["completed_at"]),
            updated_at=_at(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class ExecutionHistoryEntry(Record):
    id: int
    execution_id: str
    event: str
    status: ExecutionStatus | None
    step: str | None
    state: dict[str, Any] | None
    message: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ExecutionHistoryEntry:
        return cls(
            id=int(row["id"]),
            execution_id=row["execution_id"],
            event=row["event"],
            status=ExecutionStatus(row["status"]) if row["status"] is not None else None,
            step=row["step"],
            state=from_json(row["state"]),
            message=row["message"],
            created_at=_at(row["created_at"]),
        )


class ExecutionRepository(Repository):
    """Executions of workflows, each change recorded in ``execution_history``.

    ``start`` takes a ``workflow_id`` or a ``workflow_name``. An id must name an existing
    workflow (its name is copied onto the execution). A name is linked to a workflow of that
    name that ``user_id`` owns, else to a public one (newest first); when there is none the
    execution keeps the name as given with ``workflow_id`` NULL -- workflows run by name need
    not be stored as workflows, and another user's private workflow is never linked by name.
    """

    __slots__ = ()
    queries = load("executions")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(
        self,
        *,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        user_id: str | None = None,
        state: dict[str, Any] | None = None,
        current_step: str | None = None,
    ) -> Execution:
        """A new ``running`` execution and its ``started`` history row, in one unit of work."""
        workflow_id = v.identifier("workflow_id", workflow_id)
        workflow_name = v.text("workflow_name", workflow_name, max_length=_NAME, required=False)
        user_id = v.identifier("user_id", user_id)
        state = v.json_object("state", state)
        current_step = v.text("current_step", current_step, max_length=_NAME, required=False)
        if workflow_id is None and workflow_name is None:
            raise ValidationError("workflow_id", "give a workflow_id or a workflow_name")
        now = v.utcnow()
        execution_id = v.new_id()
        given_id, given_name = workflow_id, workflow_name

        def unit(_: Any) -> tuple[str | None, str | None]:  # database work only: re-runnable
            workflow_id, workflow_name = given_id, given_name
            if workflow_id is not None:
                workflow = self.run("resolve_workflow_id", workflow_id=workflow_id)
                if workflow is None:
                    raise NotFound("workflow", workflow_id)
                if workflow_name is not None and workflow_name != workflow["name"]:
                    raise ValidationError(
                        "workflow_name",
                        f"does not match the name of workflow {workflow_id!r}",
                    )
                workflow_name = workflow["name"]
            else:
                workflow = self.run("resolve_workflow_name", workflow_name=workflow_name,
                                    user_id=user_id)
                if workflow is not None:
                    workflow_id = workflow["id"]
            try:
                self.run(
                    "insert_execution",
                    id=execution_id,
                    workflow_id=workflow_id,
                    workflow_name=workflow_name,
                    user_id=user_id,
                    status=ExecutionStatus.RUNNING,
                    current_step=current_step,
                    state=state,
                    started_at=now,
                )
            except ValidationError as exc:  # input was checked: a foreign key refused
                if user_id is None and workflow_id is None:
                    raise
                if workflow_id is None:
                    raise NotFound("user", user_id) from exc
                if user_id is None:  # the workflow was deleted a moment ago
                    raise NotFound("workflow", workflow_id) from exc
                raise NotFound("user or workflow", f"{user_id} / {workflow_id}") from exc
            self._history(execution_id, ExecutionEvent.STARTED, ExecutionStatus.RUNNING,
                          current_step, state, None, now)
            return workflow_id, workflow_name

        workflow_id, workflow_name = self.db.run_in_transaction(unit)
        return Execution(
            id=execution_id,
            workflow_id=workflow_id,
            workflow_name=workflow_name,
            user_id=user_id,
            status=ExecutionStatus.RUNNING,
            current_step=current_step,
            state=state,
            error_message=None,
            started_at=now,
            completed_at=None,
            updated_at=now,
        )

    def update_step(
        self,
        execution_id: str,
        step: str,
        state: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> Execution:
        """Move to ``step`` (and to ``state``, when given). Raises NotFound, or ConflictError
        when the execution has finished."""
        execution_id = _id(execution_id)
        step_ = v.text("step", step, max_length=_NAME)
        state = v.json_object("state", state)
        message = v.text("message", message, max_length=_TEXT, required=False)
        now = v.utcnow()
        def unit(_: Any) -> Execution:  # database work only: safe to run again whole
            changed = self.run("set_step", id=execution_id, step=step_, state=state, now=now)
            self._check_changed(execution_id, changed)
            self._history(execution_id, ExecutionEvent.STEP, ExecutionStatus.RUNNING, step_,
                          state, message, now)
            return self.get(execution_id)

        return self.db.run_in_transaction(unit)

    def update_state(
        self, execution_id: str, state: dict[str, Any] | None, message: str | None = None
    ) -> Execution:
        """Replace the execution's state (None clears it)."""
        execution_id = _id(execution_id)
        state = v.json_object("state", state)
        message = v.text("message", message, max_length=_TEXT, required=False)
        now = v.utcnow()
        def unit(_: Any) -> Execution:  # database work only: safe to run again whole
            changed = self.run("set_state", id=execution_id, state=state, now=now)
            self._check_changed(execution_id, changed)
            current = self.get(execution_id)
            self._history(execution_id, ExecutionEvent.STATE, current.status,
                          current.current_step, state, message, now)
            return current

        return self.db.run_in_transaction(unit)

    def complete(
        self, execution_id: str, state: dict[str, Any] | None = None, message: str | None = None
    ) -> Execution:
        """Finish successfully (with a final ``state``, when given)."""
        return self._finish(execution_id, ExecutionStatus.COMPLETED, state, None, message)

    def fail(
        self, execution_id: str, error_message: str, state: dict[str, Any] | None = None
    ) -> Execution:
        """Finish with an error."""
        error = v.text("error_message", error_message, max_length=_TEXT)
        return self._finish(execution_id, ExecutionStatus.FAILED, state, error, error)

    def cancel(self, execution_id: str, message: str | None = None) -> Execution:
        """Stop a pending or running execution."""
        return self._finish(execution_id, ExecutionStatus.CANCELLED, None, None, message)

    def delete(self, execution_id: str) -> None:
        """Delete an execution with its history (ON DELETE CASCADE); NotFound if missing."""
        if not self.run("delete_execution", id=_id(execution_id)):
            raise NotFound("execution", execution_id)

    # -- reading -----------------------------------------------------------------------------

    def get(self, execution_id: str) -> Execution:
        row = self.run("get_execution", id=_id(execution_id))
        if row is None:
            raise NotFound("execution", execution_id)
        return Execution.from_row(row)

    def get_history(self, execution_id: str) -> builtins.list[ExecutionHistoryEntry]:
        """Every recorded change, oldest first (empty when the execution does not exist)."""
        rows = self.run("get_history", execution_id=_id(execution_id))
        return [ExecutionHistoryEntry.from_row(r) for r in rows]

    def list(
        self,
        *,
        status: ExecutionStatus | ExecutionStatusName | None = None,
        workflow_id: str | None = None,
        workflow_name: str | None = None,
        user_id: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
    ) -> Page[Execution]:
        """Newest first; filters combine; ``since <= started_at < until``. A page: pass its
        ``next_cursor`` as ``after`` (same filters) for the next one."""
        limit, offset = v.page(limit, offset)
        return self.paged(
            _KEYSET, "list_executions", Execution.from_row, None,
            after=after, by="started_at", order="desc",
            status=v.enum(ExecutionStatus, "status", status) if status is not None else None,
            workflow_id=v.identifier("workflow_id", workflow_id),
            workflow_name=v.text("workflow_name", workflow_name, max_length=_NAME,
                                 required=False),
            user_id=v.identifier("user_id", user_id),
            since=v.aware("since", since),
            until=v.aware("until", until),
            limit=limit,
            offset=offset,
        )

    def count_by_status(
        self, *, workflow_id: str | None = None, user_id: str | None = None
    ) -> dict[ExecutionStatus, int]:
        """How many executions are in each status (statuses with none are left out)."""
        rows = self.run(
            "count_by_status",
            workflow_id=v.identifier("workflow_id", workflow_id),
            user_id=v.identifier("user_id", user_id),
        )
        return {ExecutionStatus(r["status"]): int(r["n"]) for r in rows}

    # -- internals ---------------------------------------------------------------------------

    def _finish(
        self,
        execution_id: str,
        status: ExecutionStatus,
        state: dict[str, Any] | None,
        error_message: str | None,
        message: str | None,
    ) -> Execution:
        execution_id = _id(execution_id)
        state = v.json_object("state", state)
        message = v.text("message", message, max_length=_TEXT, required=False)
        now = v.utcnow()
        def unit(_: Any) -> Execution:  # database work only: safe to run again whole
            changed = self.run("finish_execution", id=execution_id, status=status, state=state,
                               error_message=error_message, now=now)
            self._check_changed(execution_id, changed)
            current = self.get(execution_id)
            self._history(execution_id, ExecutionEvent(status.value), status,
                          current.current_step, current.state, message, now)
            return current

        return self.db.run_in_transaction(unit)

    def _check_changed(self, execution_id: str, changed: int) -> None:
        if changed:
            return
        status = self.run("get_status", id=execution_id)
        if status is None:
            raise NotFound("execution", execution_id)
        raise ConflictError(f"execution {execution_id!r} is {status}; only a pending or running "
                            "execution can change")

    def _history(
        self,
        execution_id: str,
        event: ExecutionEvent,
        status: ExecutionStatus,
        step: str | None,
        state: Any,
        message: str | None,
        now: datetime,
    ) -> None:
        self.run("insert_history", execution_id=execution_id, event=event, status=status,
                 step=step, state=state, message=message, created_at=now)


def _id(execution_id: Any) -> str:
    return v.required_id("execution_id", execution_id)


__all__ = [
    "Execution",
    "ExecutionEvent",
    "ExecutionHistoryEntry",
    "ExecutionRepository",
    "ExecutionStatus",
]
