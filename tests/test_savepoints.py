"""``db.transaction(savepoint=True)`` inside a unit of work rolls back only its own block, on
every backend; the outer unit goes on, and its own rollback still undoes everything."""

from __future__ import annotations

import pytest

import agentdb
from agentdb import ConflictError, Database, TransactionError


def _names(db: Database) -> list[str]:
    return sorted(j.tool_name for j in agentdb.JobStore(db).list())


def test_a_failed_savepoint_undoes_only_its_block(db: Database) -> None:
    jobs = agentdb.JobStore(db)
    with db.transaction():
        jobs.create("outer-before")
        with pytest.raises(RuntimeError), db.transaction(savepoint=True):
            jobs.create("inner")
            raise RuntimeError("undo the inner block")
        jobs.create("outer-after")
    assert _names(db) == ["outer-after", "outer-before"]


def test_a_failed_statement_inside_a_savepoint_leaves_the_unit_usable(db: Database) -> None:
    users = agentdb.UserRepository(db)
    with db.transaction():
        users.create("alice", "alice@example.org", "a long password!")
        with pytest.raises(ConflictError), db.transaction(savepoint=True):
            users.create("alice", "other@example.org", "a long password!")  # duplicate
        users.create("bob", "bob@example.org", "a long password!")  # PG: not "aborted"
    assert sorted(u.username for u in users.list()) == ["alice", "bob"]


def test_the_outer_rollback_still_undoes_everything(db: Database) -> None:
    jobs = agentdb.JobStore(db)
    with pytest.raises(RuntimeError), db.transaction():
        jobs.create("outer")
        with db.transaction(savepoint=True):
            jobs.create("released-inner")
        raise RuntimeError("undo the whole unit")
    assert _names(db) == []


def test_nested_savepoints_and_plain_nesting_inside_them(db: Database) -> None:
    jobs = agentdb.JobStore(db)
    with db.transaction():
        jobs.create("a")
        with db.transaction(savepoint=True):
            jobs.create("b")
            with pytest.raises(RuntimeError), db.transaction(savepoint=True):
                jobs.create("c")
                with db.transaction():  # a plain nested block failing inside the savepoint
                    raise RuntimeError("c goes")
        jobs.create("d")
    assert _names(db) == ["a", "b", "d"]


def test_a_plain_nested_failure_still_dooms_the_unit(db: Database) -> None:
    jobs = agentdb.JobStore(db)
    with pytest.raises(TransactionError), db.transaction():
        jobs.create("x")
        with pytest.raises(RuntimeError), db.transaction():
            raise RuntimeError("no savepoint: the whole unit rolls back")
    assert _names(db) == []


def test_savepoint_outside_a_unit_is_a_unit(db: Database) -> None:
    jobs = agentdb.JobStore(db)
    with pytest.raises(RuntimeError), db.transaction(savepoint=True):
        jobs.create("gone")
        raise RuntimeError
    with db.transaction(savepoint=True):
        jobs.create("kept")
    assert _names(db) == ["kept"]
