"""Versioned agent code: ``AgentVersionRepository``.

Each agent (``agent_name``) has any number of versions, each unique per agent, and at most one
of them is active. ``activate`` switches the active version in one unit of work: it locks the
agent's version rows (``SELECT ... FOR UPDATE`` on PostgreSQL and MySQL; on SQLite the writing
unit of work already holds the database's write lock), deactivates the active one and activates
the chosen one. Concurrent activations therefore queue, and when they are done exactly one
version is active: the last one to commit. The schema's unique index over active rows is the
last line of defence.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .. import validate as v
from ..convert import to_bool, to_utc
from ..errors import NotFound, ValidationError
from ..queries import load
from ..records import Record
from .base import Repository

_AGENT = 255
_VERSION = 64
_TEXT = v.MAX_TEXT_BYTES  # LONGTEXT; the byte rule of validate.text


@dataclass(frozen=True, slots=True)
class AgentVersion(Record):
    id: str
    agent_name: str
    version: str
    code: str
    description: str | None
    created_by: str | None
    is_active: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgentVersion:
        created_at = to_utc(row["created_at"])
        assert created_at is not None
        return cls(
            id=row["id"],
            agent_name=row["agent_name"],
            version=row["version"],
            code=row["code"],
            description=row["description"],
            created_by=row["created_by"],
            is_active=to_bool(row["is_active"]),
            created_at=created_at,
        )


@dataclass(frozen=True, slots=True)
class AgentSummary(Record):
    """One agent: how many versions it has and which one is active (None: none is)."""

    agent_name: str
    versions: int
    active_version: str | None


class AgentVersionRepository(Repository):
    """Versions of agents' code, with exactly zero or one active version per agent."""

    __slots__ = ()
    queries = load("agents")

    def add_version(
        self,
        agent_name: str,
        version: str,
        code: str,
        description: str | None = None,
        created_by: str | None = None,
        *,
        activate: bool = False,
    ) -> AgentVersion:
        """Store a new version (inactive unless ``activate=True``). A version the agent already
        has raises ConflictError."""
        name = _agent(agent_name)
        version_ = _version(version)
        code_ = v.text("code", code, max_length=_TEXT)
        description = v.text("description", description, max_length=_TEXT, required=False)
        created_by = v.text("created_by", created_by, max_length=36, required=False)
        if not isinstance(activate, bool):
            raise ValidationError("activate", "must be a bool")
        record = AgentVersion(
            id=v.new_id(),
            agent_name=name,
            version=version_,
            code=code_ or "",
            description=description,
            created_by=created_by,
            is_active=False,
            created_at=v.utcnow(),
        )
        params = {
            "id": record.id, "agent_name": name, "version": version_, "code": record.code,
            "description": description, "created_by": created_by,
            "created_at": record.created_at,
        }
        if not activate:
            self.run("insert_version", **params)
            return record
        def unit(_: Any) -> AgentVersion:  # database work only: safe to run again whole
            self.run("insert_version", **params)
            return self.activate(name, version_)

        return self.db.run_in_transaction(unit)

    def activate(self, agent_name: str, version: str) -> AgentVersion:
        """Make ``version`` the agent's one active version (NotFound when it has no such
        version). Safe under concurrency: activations of one agent queue on its row locks."""
        name = _agent(agent_name)
        version_ = _version(version)
        def unit(_: Any) -> AgentVersion:  # database work only: safe to run again whole
            rows = self.run("lock_agent", agent_name=name)
            target = next((r for r in rows if r["version"] == version_), None)
            if target is None:
                raise NotFound("agent version", f"{name}@{version_}")
            active = [r for r in rows if to_bool(r["is_active"])]
            if [r["id"] for r in active] != [target["id"]]:
                if active:
                    self.run("deactivate_agent", agent_name=name)
                self.run("activate_version", id=target["id"])
            return self.get_version(name, version_)

        return self.db.run_in_transaction(unit)

    def deactivate(self, agent_name: str) -> bool:
        """Leave the agent with no active version; False when none was active."""
        return bool(self.run("deactivate_agent", agent_name=_agent(agent_name)))

    def get_version(self, agent_name: str, version: str) -> AgentVersion:
        name, version_ = _agent(agent_name), _version(version)
        row = self.run("get_version", agent_name=name, version=version_)
        if row is None:
            raise NotFound("agent version", f"{name}@{version_}")
        return AgentVersion.from_row(row)

    def get_active(self, agent_name: str) -> AgentVersion | None:
        """The agent's active version, or None."""
        row = self.run("get_active", agent_name=_agent(agent_name))
        return AgentVersion.from_row(row) if row is not None else None

    def list_versions(self, agent_name: str) -> builtins.list[AgentVersion]:
        """Every version of one agent, oldest first."""
        rows = self.run("list_versions", agent_name=_agent(agent_name))
        return [AgentVersion.from_row(r) for r in rows]

    def list_agents(self) -> builtins.list[AgentSummary]:
        """Every agent, by name."""
        return [
            AgentSummary(r["agent_name"], int(r["versions"]), r["active_version"])
            for r in self.run("list_agents")
        ]

    def delete_version(self, agent_name: str, version: str) -> None:
        """Delete one version (active or not); NotFound if missing."""
        name, version_ = _agent(agent_name), _version(version)
        if not self.run("delete_version", agent_name=name, version=version_):
            raise NotFound("agent version", f"{name}@{version_}")


def _agent(value: Any) -> str:
    result = v.text("agent_name", value, max_length=_AGENT)
    assert result is not None
    return result


def _version(value: Any) -> str:
    result = v.text("version", value, max_length=_VERSION)
    assert result is not None
    return result


__all__ = ["AgentSummary", "AgentVersion", "AgentVersionRepository"]
