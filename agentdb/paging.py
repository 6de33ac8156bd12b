"""Keyset pagination: a page of rows and an opaque cursor that points just past its last row.

OFFSET paging makes the server read and throw away every row before the page, so page 1,000
costs a thousand pages; a keyset page starts where the last one ended, an index range on
(sort column, id) (migration 0011), so every page costs the same, and rows inserted meanwhile
neither repeat nor skip rows already seen. Each list's query holds the condition itself, as
two optional conditions, one per direction, so the comparison follows the sort order from the
query's own text (never the caller's)::

    /*if after_desc*/ AND ({sort_by}, id) < (:after_desc, :after_id)
                      AND ({sort_by} < :after_desc
                           OR ({sort_by} = :after_desc AND id < :after_id)
                           OR {sort_by} IS NULL) /*end*/
    /*if after_asc*/  ... the same with > ...

The two lines say the same thing, once for each planner (EXPLAIN in tests/test_paging.py and
benchmarks/paging.py): PostgreSQL and SQLite read the row comparison as one range of the
(sort, id) index; MariaDB does not, but builds two ranges from the OR. The ``IS NULL`` arm is
never true (every sort column is NOT NULL); it keeps SQLite from taking the OR for a range on
the sort column alone, which on a column with many ties (priority, status) would walk every
tie before the cursor. Measured alternatives: ``col <= v AND (col < v OR id < i)`` scans the
ties on SQLite and MariaDB; the row comparison alone is a full index scan on MariaDB.

A cursor is base64url of ``MAC || JSON``: the list's name, the sort column and direction, the
last row's sort value and id, and an HMAC-SHA256 (first 16 bytes) over the JSON. The key is
the Database's ``cursor_secret`` option; without one it is a fixed library constant, which
catches a corrupted or hand-edited cursor but cannot stop someone who knows it from forging
one. With a secret of your own, cursors cannot be forged. Either way the values go to the
server as bound parameters and are type-checked first, so a forged cursor can only move the
page's starting point, never change the query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal, TypeVar

from .errors import ValidationError

T = TypeVar("T")
ValueKind = Literal["time", "int", "str"]

_DEFAULT_KEY = b"agentdb keyset cursor v1 (set cursor_secret to make cursors unforgeable)"
_MAC_SIZE = 16
_MAX_CURSOR = 2048  # characters; a real cursor is ~200
_MAX_TEXT = 1024
_INT64 = 2**63 - 1
_FIELDS = frozenset({"l", "s", "o", "v", "i"})


class Page(list[T]):
    """A page of rows -- a plain list, so code written for ``list()`` keeps working -- with
    ``next_cursor``: pass it as ``after=`` for the next page; None when no row follows."""

    next_cursor: str | None

    def __init__(self, rows: Iterable[T] = (), next_cursor: str | None = None) -> None:
        super().__init__(rows)
        self.next_cursor = next_cursor


def _key(secret: str | None) -> bytes:
    return _DEFAULT_KEY if secret is None else secret.encode("utf-8")


def _mac(secret: str | None, payload: bytes) -> bytes:
    return hmac.new(_key(secret), payload, hashlib.sha256).digest()[:_MAC_SIZE]


def _bad(rule: str) -> ValidationError:
    return ValidationError("after", rule)


@dataclass(frozen=True, slots=True)
class Keyset:
    """How one list pages: its name (cursors of other lists are refused) and the kind of
    value of each column it may sort by (a cursor's value is checked against it)."""

    name: str
    columns: Mapping[str, ValueKind]

    def encode(self, row: Any, sort_by: str, sort_order: str, secret: str | None) -> str:
        """The cursor pointing just past ``row`` (a record with ``id`` and ``sort_by``)."""
        value = getattr(row, sort_by)
        if isinstance(value, Enum):
            value = value.value
        if isinstance(value, datetime):
            value = value.isoformat()
        payload = json.dumps({"l": self.name, "s": sort_by, "o": sort_order, "v": value,
                              "i": row.id}, separators=(",", ":"), ensure_ascii=False)
        raw = payload.encode("utf-8")
        return base64.urlsafe_b64encode(_mac(secret, raw) + raw).rstrip(b"=").decode("ascii")

    def decode(self, after: Any, sort_by: str, sort_order: str,
               secret: str | None) -> tuple[Any, str]:
        """(sort value, id) of a cursor made by :meth:`encode` for this list and this sort;
        ValidationError naming ``after`` for anything else."""
        if not isinstance(after, str) or not after or len(after) > _MAX_CURSOR:
            raise _bad("must be a cursor string from a page's next_cursor")
        try:
            blob = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4))
        except (binascii.Error, ValueError):
            raise _bad("is not a valid cursor (bad encoding)") from None
        if base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii") != after.rstrip("="):
            raise _bad("is not a valid cursor (bad encoding)")  # stray characters dropped
        mac, raw = blob[:_MAC_SIZE], blob[_MAC_SIZE:]
        if len(mac) < _MAC_SIZE or not hmac.compare_digest(mac, _mac(secret, raw)):
            raise _bad("is not a valid cursor (corrupted, altered, or made with another "
                       "cursor_secret)")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _bad("is not a valid cursor (bad payload)") from None
        if not isinstance(data, dict) or data.keys() != _FIELDS:
            raise _bad("is not a valid cursor (bad payload)")
        if data["l"] != self.name:
            raise _bad(f"is a cursor of another list ({data['l']!r}), not of {self.name!r}")
        if data["s"] != sort_by or data["o"] != sort_order:
            raise _bad(f"was made for sort_by={data['s']!r}, sort_order={data['o']!r}; this "
                       f"call sorts by {sort_by!r}, {sort_order!r} (keep the sort across pages)")
        ident = data["i"]
        if not isinstance(ident, str) or not ident or len(ident) > _MAX_TEXT:
            raise _bad("is not a valid cursor (bad id)")
        return self._value(self.columns[sort_by], data["v"]), ident

    @staticmethod
    def _value(kind: ValueKind, value: Any) -> Any:
        if kind == "int":
            if type(value) is not int or abs(value) > _INT64:
                raise _bad("is not a valid cursor (the sort value must be an integer)")
            return value
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            raise _bad("is not a valid cursor (the sort value must be text)")
        if kind == "str":
            return value
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _bad("is not a valid cursor (the sort value must be a timestamp)") from None
        if moment.utcoffset() is None:
            raise _bad("is not a valid cursor (the sort value must be a timestamp)")
        return moment

    def where(self, after: str | None, offset: int, sort_by: str, sort_order: str,
              secret: str | None) -> dict[str, Any]:
        """The query parameters that start the page after ``after`` (none without one):
        ``after_desc`` or ``after_asc`` (which one follows the order) and ``after_id``."""
        if after is None:
            return {}
        if offset:
            raise _bad("cannot be combined with offset > 0 (a cursor already says where the "
                       "page starts)")
        value, ident = self.decode(after, sort_by, sort_order, secret)
        return {f"after_{sort_order}": value, "after_id": ident}

    def page(self, rows: list[T], limit: int, sort_by: str, sort_order: str,
             secret: str | None) -> Page[T]:
        """``rows`` (fetched with ``limit + 1``: the extra row says another page follows) as a
        page of at most ``limit``, with the cursor to the next one."""
        if len(rows) <= limit:
            return Page(rows)
        del rows[limit:]
        return Page(rows, self.encode(rows[-1], sort_by, sort_order, secret))


__all__ = ["Keyset", "Page"]
