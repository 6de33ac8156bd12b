"""An application's own table on agentdb: a record, an enum, and a repository over its own
``sql/orders.sql``, beside agentdb's users. The migrations are in ``migrations/``; apply both
with ``agentdb.migrate(db, extra=[MIGRATIONS])`` (or ``agentdb migrate --dir ...``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from agentdb import NotFound, Page, Record, Repository, ValidationError, load
from agentdb.paging import Keyset

HERE = Path(__file__).resolve().parent
MIGRATIONS = HERE / "migrations"
PAGES = Keyset("orders", {"created_at": "time"})  # cursors of this list: name, sort columns


class OrderStatus(StrEnum):
    OPEN = "open"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Order(Record):
    """One order; built straight from the driver's row, timestamps aware UTC everywhere."""

    id: str
    user_id: str
    item: str
    quantity: int
    total_cents: int
    status: OrderStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Revenue(Record):
    username: str
    orders: int
    cents: int


class OrderRepository(Repository):
    """Orders of agentdb's users."""

    queries = load("orders", path=HERE / "sql")

    def place(self, user_id: str, item: str, quantity: int, unit_cents: int) -> Order:
        if quantity < 1:
            raise ValidationError("quantity", "must be at least 1")
        order = Order(id=str(uuid.uuid4()), user_id=user_id, item=item, quantity=quantity,
                      total_cents=quantity * unit_cents, status=OrderStatus.OPEN,
                      created_at=datetime.now(UTC))
        self.run("insert_order", **{f: getattr(order, f) for f in Order.__dataclass_fields__})
        return order

    def get(self, order_id: str) -> Order:
        order = self.one("get_order", Order, id=order_id)
        if order is None:
            raise NotFound("order", order_id)
        return order

    def of_user(self, user_id: str, status: OrderStatus | Literal["open", "shipped",
                "cancelled"] | None = None, limit: int = 100,
                after: str | None = None) -> Page[Order]:
        """Newest first; pass a page's ``next_cursor`` as ``after`` for the next one."""
        return self.paged(PAGES, "orders_of_user", None, Order, after=after, limit=limit,
                          offset=0, by="created_at", order="desc", user_id=user_id,
                          status=status)

    def ship(self, order_id: str) -> bool:
        """True if the order was open and is now shipped."""
        return bool(self.run("set_status", id=order_id, status=OrderStatus.SHIPPED))

    def revenue(self) -> list[Revenue]:
        return self.many("revenue_by_user", Revenue)
