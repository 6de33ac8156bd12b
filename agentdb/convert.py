"""Values on their way to and from the drivers, in one place.

Going in, each dialect gets one adapter (picked at load, so a call pays only for the values that
need it): aware datetimes stay aware for PostgreSQL, become naive UTC for MySQL and fixed-width
ISO-8601 UTC text for SQLite (so text order is time order); naive datetimes are refused, since
nobody can tell which zone they meant. Dicts and lists become JSON, enums their ``.value``.

Coming out, drivers disagree (aware vs naive vs text timestamps, JSON objects vs text, bool vs
0/1); records normalise with :func:`to_utc`, :func:`from_json` and :func:`to_bool`.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any

from .errors import ValidationError

Adapter = Callable[[str, Any], Any]

# Types every driver binds as they are; adapters never see them (checked by exact type).
PLAIN: frozenset[type] = frozenset({str, int, float, bool, bytes, type(None)})


def _json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


dumps = partial(json.dumps, ensure_ascii=False, separators=(",", ":"), default=_json_default)


class JsonText(str):
    """JSON already encoded and checked (:func:`agentdb.validate.json_encoded`): adapters bind
    it as JSON without encoding it a second time."""

    __slots__ = ()


def _json(name: str, value: Any) -> str:
    try:
        return dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(name, f"cannot be stored as JSON: {exc}") from None


def _utc(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(name, "must be a timezone-aware datetime (naive datetimes are "
                                    "ambiguous; use datetime.now(UTC))")
    return value.astimezone(UTC)


def _common(name: str, value: Any) -> Any:
    """What all three dialects do alike; returns the value unchanged when it has no rule."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


_jsonb: Any = None


def _jsonb_of(text: str) -> Any:
    global _jsonb
    if _jsonb is None:
        from psycopg.types.json import Jsonb

        _jsonb = Jsonb
    return _jsonb(text, str)  # already dumped: psycopg sends it as is


def adapt_postgresql(name: str, value: Any) -> Any:
    kind = type(value)
    if kind is datetime and value.tzinfo is UTC:  # what agentdb stamps: nothing to check
        return value
    if kind is JsonText:
        return _jsonb_of(value)
    value = _common(name, value)
    if isinstance(value, datetime):
        _utc(name, value)
        return value
    if isinstance(value, dict | list | tuple):
        return _jsonb_of(_json(name, value))  # dumped here, so a bad value fails named
    return value


def adapt_mysql(name: str, value: Any) -> Any:
    kind = type(value)
    if kind is datetime and value.tzinfo is UTC:
        return value.replace(tzinfo=None)
    if kind is JsonText:
        return value  # a str: the driver binds it as text
    value = _common(name, value)
    if isinstance(value, datetime):
        return _utc(name, value).replace(tzinfo=None)
    if isinstance(value, dict | list | tuple):
        return _json(name, value)
    return value


def adapt_sqlite(name: str, value: Any) -> Any:
    kind = type(value)
    if kind is datetime and value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")
    if kind is JsonText:
        return value  # a str: the driver binds it as text
    value = _common(name, value)
    if isinstance(value, datetime):
        return _utc(name, value).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return _json(name, value)
    if isinstance(value, Decimal):
        return str(value)  # sqlite3 cannot bind Decimal; numeric affinity parses the text
    return value


ADAPTERS: dict[str, Adapter] = {
    "postgresql": adapt_postgresql,
    "mysql": adapt_mysql,
    "sqlite": adapt_sqlite,
}


# -- result values -------------------------------------------------------------------------------


def to_utc(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from whatever the driver returned: an aware datetime
    (PostgreSQL), a naive one taken as UTC (MySQL), or ISO-8601 text (SQLite); None stays None."""
    if type(value) is str:  # SQLite: the fixed-width UTC text the adapter wrote
        value = datetime.fromisoformat(value)
    if type(value) is datetime and value.tzinfo is UTC:  # PostgreSQL (session TimeZone=UTC)
        return value
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime or ISO-8601 text, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc(value: Any) -> datetime:
    """:func:`to_utc` for a NOT NULL column."""
    result = to_utc(value)
    assert result is not None, "NOT NULL timestamp came back NULL"
    return result


def from_json(value: Any) -> Any:
    """A JSON column as Python. Every driver hands over the text (PostgreSQL's json/jsonb too,
    see :func:`pg_context`), so a document that is a bare string comes back as that string
    on all three, never parsed twice."""
    if isinstance(value, str | bytes | bytearray):
        return json.loads(value)
    return value


@functools.cache
def pg_context() -> Any:
    """psycopg adapters for our connections: json/jsonb load as text, like MySQL's and
    SQLite's JSON, for :func:`from_json` (and the row converters) to parse. psycopg's own
    loader parses jsonb, and the document ``"1"`` (a string) would then be indistinguishable
    from the text of the document ``1``."""
    import psycopg
    from psycopg.adapt import AdaptersMap
    from psycopg.types.string import TextLoader

    adapters = AdaptersMap(psycopg.adapters)
    adapters.register_loader("json", TextLoader)
    adapters.register_loader("jsonb", TextLoader)
    return adapters


_TRUE = frozenset({"1", "t", "true", "y", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "n", "no", "off", ""})


def to_bool(value: Any) -> bool:
    """A boolean column as ``bool``: PostgreSQL bool, MySQL/SQLite 0/1, BIT(1) bytes, or text.
    NULL is an error here (a nullable flag should be checked for None first)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, bytes | bytearray):
        return any(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"not a boolean: {value!r}")


__all__ = [
    "ADAPTERS",
    "PLAIN",
    "JsonText",
    "adapt_mysql",
    "adapt_postgresql",
    "adapt_sqlite",
    "dumps",
    "from_json",
    "to_bool",
    "to_utc",
]
