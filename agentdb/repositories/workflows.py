"""Workflows, their numbered versions and their shares: ``WorkflowRepository``.

A workflow belongs to its owner (and is deleted with them) and holds a JSON ``definition``.

Versions. ``save_version`` records a definition as the workflow's next version (1, 2, 3 ... per
workflow, never a gap or a duplicate, however many save at once) and makes it the workflow's
current definition. Savers of one workflow queue on its row lock (``SELECT ... FOR UPDATE``;
SQLite's write lock does the same), so each reads ``MAX(version_number)`` only after the
previous one committed. ``restore_version`` copies an old version's definition back onto the
workflow *and records that as a new version* ("Restored from version N"): history only ever
grows, and the newest version is always the current definition. ``update(definition=...)``
changes the definition without recording a version (a draft); ``create`` records none either.

This relies on READ COMMITTED, which the pool sets on MariaDB as PostgreSQL has it by default
(under REPEATABLE READ a save after other reads in the caller's unit could read a stale ``MAX``).

Access. The owner may do everything; anyone may read a public workflow; a share grants its
permission and no more (``write`` implies read). Editing (``update_as``, ``save_version_as``,
``restore_version_as``) needs ``write``; deleting needs ownership: a share never lets anyone
delete or re-share. The ``*_as`` methods check inside the same unit of work as the change, and
raise :class:`PermissionDenied` having changed nothing. The methods without ``_as`` are the
trusted, unchecked variants for code that has already decided.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Literal

from .. import validate as v
from ..convert import from_json, to_bool, utc
from ..errors import NotFound, PermissionDenied, ValidationError
from ..paging import Keyset, Page
from ..queries import load
from ..records import Record
from .base import Repository

_NAME = 255
_DESCRIPTION = 65_535
_NOTES = 65_535
_KEYSET = Keyset("workflows", {"created_at": "time"})


PermissionName = Literal["read", "write"]


class Permission(StrEnum):
    """What a share grants: ``write`` implies ``read``."""

    READ = "read"
    WRITE = "write"


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET  # "leave this field as it is" (for fields where None is a value)


_at = utc


@dataclass(frozen=True, slots=True)
class Workflow(Record):
    id: str
    name: str
    description: str | None
    owner_id: str
    is_public: bool
    definition: Any  # a JSON object or array
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Workflow:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            owner_id=row["owner_id"],
            is_public=to_bool(row["is_public"]),
            definition=from_json(row["definition"]),
            created_at=_at(row["created_at"]),
            updated_at=_at(row["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class WorkflowVersion(Record):
    id: str
    workflow_id: str
    version_number: int
    definition: Any
    change_notes: str | None
    created_by: str | None  # None once the author is deleted
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WorkflowVersion:
        return cls(
            id=row["id"],
            workflow_id=row["workflow_id"],
            version_number=int(row["version_number"]),
            definition=from_json(row["definition"]),
            change_notes=row["change_notes"],
            created_by=row["created_by"],
            created_at=_at(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class Share(Record):
    workflow_id: str
    user_id: str
    permission: Permission
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Share:
        return cls(
            workflow_id=row["workflow_id"],
            user_id=row["user_id"],
            permission=Permission(row["permission"]),
            created_at=_at(row["created_at"]),
        )


# -- input rules ---------------------------------------------------------------------------------


_id = v.required_id


def _definition(field: str, value: Any, *, required: bool) -> Any:
    if value is None and not required:
        return None
    if not isinstance(value, dict | builtins.list):
        raise ValidationError(field, f"must be a JSON object (dict) or array (list), "
                                     f"got {type(value).__name__}")
    return v.json_value(field, value)


def _version_number(value: Any) -> int:
    return v.integer("version_number", value, minimum=1, maximum=v.INT32)


def _allows(row: dict[str, Any], user_id: str, need: Permission) -> bool:
    """The access rule, on an ``access_of`` row."""
    if row["owner_id"] == user_id:
        return True
    share = row["permission"]
    if need is Permission.WRITE:
        return bool(share == Permission.WRITE)
    return share is not None or to_bool(row["is_public"])


class WorkflowRepository(Repository):
    """Workflows with owners, JSON definitions, numbered versions, shares and access checks."""

    __slots__ = ()
    queries = load("workflows")

    # -- workflows -----------------------------------------------------------------------------

    def create(self, owner_id: str, name: str, definition: Any = None, *,
               description: str | None = None, is_public: bool = False) -> Workflow:
        """A new workflow (``definition`` defaults to ``{}``); records no version."""
        owner_id = _id("owner_id", owner_id)
        name = self._name(name)
        definition = _definition("definition", definition, required=False)
        description = v.text("description", description, max_length=_DESCRIPTION,
                             required=False)
        if not isinstance(is_public, bool):
            raise ValidationError("is_public", "must be a bool")
        now = v.utcnow()
        workflow = Workflow(
            id=v.new_id(), name=name, description=description, owner_id=owner_id,
            is_public=is_public, definition=definition if definition is not None else {},
            created_at=now, updated_at=now,
        )
        try:
            self.run("insert_workflow", id=workflow.id, name=name, description=description,
                     owner_id=owner_id, is_public=is_public, definition=workflow.definition,
                     created_at=now, updated_at=now)
        except ValidationError as exc:  # the input was checked: the foreign key refused it
            raise NotFound("user", owner_id) from exc
        return workflow

    def get(self, workflow_id: str) -> Workflow:
        row = self.run("get_workflow", id=_id("workflow_id", workflow_id))
        if row is None:
            raise NotFound("workflow", workflow_id)
        return Workflow.from_row(row)

    def list(self, *, owner_id: str | None = None, is_public: bool | None = None,
             limit: int = 100, offset: int = 0,
             after: str | None = None) -> Page[Workflow]:
        """Workflows, oldest first; only ``owner_id``'s, only public (``is_public=True``) or
        only private ones (``False``) when given. A page: pass its ``next_cursor`` as
        ``after`` (same filters) for the next one."""
        limit, offset = v.page(limit, offset)
        owner = None if owner_id is None else _id("owner_id", owner_id)
        if is_public is not None and not isinstance(is_public, bool):
            raise ValidationError("is_public", "must be a bool or None")
        return self.paged(_KEYSET, "list_workflows", Workflow.from_row, None, after=after,
                          by="created_at", order="asc", owner_id=owner, is_public=is_public,
                          limit=limit, offset=offset)

    def update(self, workflow_id: str, *, name: str | None = None,
               description: str | _Unset | None = UNSET, is_public: bool | None = None,
               definition: Any = None) -> Workflow:
        """Change the fields given (None / UNSET leaves one as it is; ``description=None``
        clears it). Changing ``definition`` here records no version: see ``save_version``."""
        params = self._changes(workflow_id, name, description, is_public, definition)
        def unit(_: Any) -> Workflow:  # database work only: safe to run again whole
            if not self.run("update_workflow", **params):
                self._refused(None, params["id"], Permission.WRITE)
            return self._get(params["id"])

        return self.db.run_in_transaction(unit)

    def update_as(self, user_id: str, workflow_id: str, *, name: str | None = None,
                  description: str | _Unset | None = UNSET, is_public: bool | None = None,
                  definition: Any = None) -> Workflow:
        """``update`` on behalf of ``user_id``, who must own the workflow or hold a ``write``
        share; else PermissionDenied, and nothing changes."""
        user_id = _id("user_id", user_id)
        params = self._changes(workflow_id, name, description, is_public, definition)
        def unit(_: Any) -> Workflow:
            if not self.run("update_workflow_as", user_id=user_id, **params):
                self._refused(user_id, params["id"], Permission.WRITE)
            return self._get(params["id"])

        return self.db.run_in_transaction(unit)

    def delete(self, workflow_id: str) -> None:
        """Delete a workflow with its versions and shares."""
        workflow_id = _id("workflow_id", workflow_id)
        if not self.run("delete_workflow", id=workflow_id):
            raise NotFound("workflow", workflow_id)

    def delete_as(self, user_id: str, workflow_id: str) -> None:
        """``delete`` on behalf of ``user_id``, who must own the workflow (a share, even a
        ``write`` share, does not allow deleting); else PermissionDenied, and nothing changes."""
        user_id = _id("user_id", user_id)
        workflow_id = _id("workflow_id", workflow_id)
        if not self.run("delete_workflow_as", id=workflow_id, user_id=user_id):
            if self.run("access_of", workflow_id=workflow_id, user_id=user_id) is None:
                raise NotFound("workflow", workflow_id)
            raise PermissionDenied(f"user {user_id!r} does not own workflow {workflow_id!r} "
                                   "and may not delete it")

    # -- versions ------------------------------------------------------------------------------

    def save_version(self, workflow_id: str, definition: Any = None,
                     change_notes: str | None = None,
                     created_by: str | None = None) -> WorkflowVersion:
        """Record ``definition`` (default: the workflow's current one) as the next version and
        make it the current definition. Numbers run 1, 2, 3 ... with no gap or duplicate,
        also under concurrent saves, inside the caller's unit of work or its own."""
        return self._save(None, workflow_id, definition, change_notes, created_by)

    def save_version_as(self, user_id: str, workflow_id: str, definition: Any = None,
                        change_notes: str | None = None) -> WorkflowVersion:
        """``save_version`` by ``user_id`` (recorded as ``created_by``), who needs ``write``."""
        user_id = _id("user_id", user_id)
        return self._save(user_id, workflow_id, definition, change_notes, user_id)

    def get_version(self, workflow_id: str,
                    version_number: int | None = None) -> WorkflowVersion:
        """One version; the newest when ``version_number`` is None."""
        workflow_id = _id("workflow_id", workflow_id)
        if version_number is None:
            row = self.run("get_latest_version", workflow_id=workflow_id)
        else:
            row = self.run("get_version", workflow_id=workflow_id,
                           version_number=_version_number(version_number))
        if row is None:
            raise NotFound("workflow version", (workflow_id, version_number))
        return WorkflowVersion.from_row(row)

    def list_versions(self, workflow_id: str, *, limit: int = 100,
                      offset: int = 0) -> builtins.list[WorkflowVersion]:
        """Versions in order, oldest (1) first."""
        workflow_id = _id("workflow_id", workflow_id)
        limit, offset = v.page(limit, offset)
        rows = self.run("list_versions", workflow_id=workflow_id, limit=limit, offset=offset)
        return [WorkflowVersion.from_row(r) for r in rows]

    def restore_version(self, workflow_id: str, version_number: int,
                        created_by: str | None = None,
                        change_notes: str | None = None) -> WorkflowVersion:
        """Make version ``version_number``'s definition current again, recorded as a new
        version (notes default to "Restored from version N"); returns that new version."""
        return self._restore(None, workflow_id, version_number, created_by, change_notes)

    def restore_version_as(self, user_id: str, workflow_id: str, version_number: int,
                           change_notes: str | None = None) -> WorkflowVersion:
        """``restore_version`` by ``user_id``, who needs ``write``."""
        user_id = _id("user_id", user_id)
        return self._restore(user_id, workflow_id, version_number, user_id, change_notes)

    # -- shares and access -------------------------------------------------------------------

    def share(self, workflow_id: str, user_id: str,
              permission: Permission | PermissionName = Permission.READ) -> Share:
        """Give ``user_id`` ``read`` or ``write`` access; sharing again changes the
        permission. The owner cannot be given a share (they hold every permission)."""
        workflow_id = _id("workflow_id", workflow_id)
        user_id = _id("user_id", user_id)
        perm = v.enum(Permission, "permission", permission)
        def unit(_: Any) -> Any:  # database work only: safe to run again whole
            target = self.run("share_target", workflow_id=workflow_id, user_id=user_id)
            if target is None:
                raise NotFound("workflow", workflow_id)
            if not target["user_found"]:
                raise NotFound("user", user_id)
            if target["owner_id"] == user_id:
                raise ValidationError("user_id", "is the workflow's owner, who needs no share")
            self.run("upsert_share", workflow_id=workflow_id, user_id=user_id,
                     permission=perm, created_at=v.utcnow())
            return self.run("get_share", workflow_id=workflow_id, user_id=user_id)

        return Share.from_row(self.db.run_in_transaction(unit))

    def unshare(self, workflow_id: str, user_id: str) -> bool:
        """Withdraw ``user_id``'s share; False when there was none."""
        return bool(self.run("delete_share", workflow_id=_id("workflow_id", workflow_id),
                             user_id=_id("user_id", user_id)))

    def list_shares(self, workflow_id: str) -> builtins.list[Share]:
        rows = self.run("list_shares", workflow_id=_id("workflow_id", workflow_id))
        return [Share.from_row(r) for r in rows]

    def can_access(self, user_id: str, workflow_id: str,
                   permission: Permission | PermissionName = Permission.READ) -> bool:
        """Whether ``user_id`` may read (or write) the workflow; False when it does not exist.
        One query."""
        user_id = _id("user_id", user_id)
        workflow_id = _id("workflow_id", workflow_id)
        need = v.enum(Permission, "permission", permission)
        row = self.run("access_of", workflow_id=workflow_id, user_id=user_id)
        return row is not None and _allows(row, user_id, need)

    def list_accessible(self, user_id: str,
                        permission: Permission | PermissionName = Permission.READ, *,
                        limit: int = 100, offset: int = 0) -> builtins.list[Workflow]:
        """Every workflow ``user_id`` may read (owned, shared with them, or public) -- or, with
        ``permission="write"``, may edit (owned or write-shared) -- oldest first, in one query."""
        user_id = _id("user_id", user_id)
        need = v.enum(Permission, "permission", permission)
        limit, offset = v.page(limit, offset)
        rows = self.run("list_accessible", user_id=user_id,
                        include_read=need is Permission.READ, limit=limit, offset=offset)
        return [Workflow.from_row(r) for r in rows]

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _name(value: Any) -> str:
        name = v.text("name", value, max_length=_NAME)
        assert name is not None
        return name

    def _changes(self, workflow_id: Any, name: Any, description: Any, is_public: Any,
                 definition: Any) -> dict[str, Any]:
        """Validated parameters of update_workflow(_as)."""
        if is_public is not None and not isinstance(is_public, bool):
            raise ValidationError("is_public", "must be a bool")
        set_description = description is not UNSET
        return {
            "id": _id("workflow_id", workflow_id),
            "name": None if name is None else self._name(name),
            "set_description": set_description,
            "description": v.text("description", description, max_length=_DESCRIPTION,
                                  required=False) if set_description else None,
            "is_public": is_public,
            "definition": _definition("definition", definition, required=False),
            "updated_at": v.utcnow(),
        }

    def _get(self, workflow_id: str) -> Workflow:
        row = self.run("get_workflow", id=workflow_id)
        if row is None:
            raise NotFound("workflow", workflow_id)
        return Workflow.from_row(row)

    def _refused(self, user_id: str | None, workflow_id: str, need: Permission) -> None:
        """After a guarded write touched no row: NotFound or PermissionDenied."""
        row = self.run("access_of", workflow_id=workflow_id, user_id=user_id or "")
        if row is None:
            raise NotFound("workflow", workflow_id)
        if user_id is not None and not _allows(row, user_id, need):
            raise PermissionDenied(f"user {user_id!r} may not {need.value} workflow "
                                   f"{workflow_id!r}")

    def _lock(self, user_id: str | None, workflow_id: str) -> dict[str, Any]:
        """Lock the workflow row for a version write (inside a unit of work), checking that
        ``user_id`` (when given) may write it."""
        row: dict[str, Any] | None = self.run("lock_workflow", id=workflow_id)
        if row is None:
            raise NotFound("workflow", workflow_id)
        if user_id is not None and row["owner_id"] != user_id and self.run(
            "share_permission", workflow_id=workflow_id, user_id=user_id
        ) != Permission.WRITE:
            raise PermissionDenied(f"user {user_id!r} may not write workflow {workflow_id!r}")
        return row

    def _save(self, actor: str | None, workflow_id: Any, definition: Any, change_notes: Any,
              created_by: Any) -> WorkflowVersion:
        workflow_id = _id("workflow_id", workflow_id)
        definition = _definition("definition", definition, required=False)
        change_notes = v.text("change_notes", change_notes, max_length=_NOTES, required=False)
        created_by = v.identifier("created_by", created_by)

        def unit(_: Any) -> WorkflowVersion:  # database work only: safe to run again whole
            row = self._lock(actor, workflow_id)
            if definition is None:
                return self._append(workflow_id, from_json(row["definition"]), change_notes,
                                    created_by, False)
            return self._append(workflow_id, definition, change_notes, created_by, True)

        return self.db.run_in_transaction(unit)  # deadlock / lost before COMMIT: again

    def _restore(self, actor: str | None, workflow_id: Any, version_number: Any,
                 created_by: Any, change_notes: Any) -> WorkflowVersion:
        workflow_id = _id("workflow_id", workflow_id)
        number = _version_number(version_number)
        created_by = v.identifier("created_by", created_by)
        change_notes = v.text("change_notes", change_notes, max_length=_NOTES, required=False)

        def unit(_: Any) -> WorkflowVersion:
            self._lock(actor, workflow_id)
            old = self.run("get_version", workflow_id=workflow_id, version_number=number)
            if old is None:
                raise NotFound("workflow version", (workflow_id, number))
            notes = change_notes if change_notes is not None else f"Restored from version {number}"
            return self._append(workflow_id, from_json(old["definition"]), notes, created_by,
                                True)

        return self.db.run_in_transaction(unit)

    def _append(self, workflow_id: str, definition: Any, change_notes: str | None,
                created_by: str | None, set_current: bool) -> WorkflowVersion:
        """The next version, inside the unit of work that holds the workflow's lock."""
        now = v.utcnow()
        version = WorkflowVersion(
            id=v.new_id(),
            workflow_id=workflow_id,
            version_number=int(self.run("next_version_number", workflow_id=workflow_id)),
            definition=definition,
            change_notes=change_notes,
            created_by=created_by,
            created_at=now,
        )
        try:
            self.run("insert_version", id=version.id, workflow_id=workflow_id,
                     version_number=version.version_number, definition=definition,
                     change_notes=change_notes, created_by=created_by, created_at=now)
        except ValidationError as exc:  # the workflow is locked: the missing row is the author
            raise NotFound("user", created_by) from exc
        if set_current:
            self.run("set_definition", id=workflow_id, definition=definition, updated_at=now)
        return version


__all__ = ["UNSET", "Permission", "Share", "Workflow", "WorkflowRepository", "WorkflowVersion"]
