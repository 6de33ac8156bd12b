"""The example's own tests: in memory by default, or on any URL with --agentdb-url."""

from __future__ import annotations

from datetime import UTC

import pytest
from orders import Order, OrderRepository, OrderStatus, Revenue

import agentdb


def test_place_get_list_ship(agentdb_db: agentdb.Database) -> None:
    alice = agentdb.UserRepository(agentdb_db).create("alice", "a@example.org", "a long password!")
    orders = OrderRepository(agentdb_db)
    book = orders.place(alice.id, "book", 2, 1250)
    pen = orders.place(alice.id, "pen", 1, 199)
    got = orders.get(book.id)
    assert isinstance(got, Order) and got == book  # the same values from every backend
    assert got.status is OrderStatus.OPEN and got.created_at.tzinfo == UTC
    assert [o.id for o in orders.of_user(alice.id)] == [pen.id, book.id]
    assert orders.ship(book.id) and not orders.ship(book.id)
    assert [o.item for o in orders.of_user(alice.id, status="shipped")] == ["book"]
    assert orders.revenue() == [Revenue("alice", 2, 2699)]


def test_keyset_pages(agentdb_db: agentdb.Database) -> None:
    carol = agentdb.UserRepository(agentdb_db).create("carol", None, "a long password!")
    orders = OrderRepository(agentdb_db)
    placed = [orders.place(carol.id, f"item{i}", 1, 100).id for i in range(7)]
    seen: list[str] = []
    page = orders.of_user(carol.id, limit=3)
    while True:
        seen += [o.id for o in page]
        if page.next_cursor is None:
            break
        page = orders.of_user(carol.id, limit=3, after=page.next_cursor)
    assert seen == [o.id for o in orders.of_user(carol.id)] and sorted(seen) == sorted(placed)
    with pytest.raises(agentdb.ValidationError, match="after"):
        orders.of_user(carol.id, after="tampered")


def test_foreign_key_to_agentdb_users(agentdb_db: agentdb.Database) -> None:
    with pytest.raises(agentdb.ValidationError):
        OrderRepository(agentdb_db).place("no-such-user", "book", 1, 100)


def test_a_unit_of_work_spans_agentdb_and_the_application(agentdb_db: agentdb.Database) -> None:
    users, orders = agentdb.UserRepository(agentdb_db), OrderRepository(agentdb_db)
    with pytest.raises(RuntimeError), agentdb_db.transaction():
        bob = users.create("bob", "b@example.org", "a long password!")
        orders.place(bob.id, "lamp", 1, 3000)
        raise RuntimeError("neither the user nor the order stays")
    assert users.list() == []


def test_each_test_starts_clean(agentdb_db: agentdb.Database) -> None:
    assert agentdb.UserRepository(agentdb_db).list() == []
