"""Input checks that run before any SQL: each failure is a ValidationError naming the field.

Repositories call these at the top of every public method, so bad input never reaches the
driver (no raw driver traceback, no half-written record) and identifiers that end up in SQL
text (sort columns, directions) only ever come from a whitelist.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from .convert import JsonText
from .errors import ValidationError

E = TypeVar("E", bound=Enum)


def new_id() -> str:
    """A new record id: a UUID4 string, the same on every backend (what ``str(uuid.uuid4())``
    gives, formatted directly: a third of the cost)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    """Now, timezone-aware UTC: the one clock every timestamp we write comes from."""
    return datetime.now(UTC)


def text(field: str, value: Any, *, max_length: int, required: bool = True) -> str | None:
    """A non-empty string of at most ``max_length`` characters (or None when optional)."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ValidationError(field, "must not be empty")
    if len(value) > max_length:
        raise ValidationError(field, f"must be at most {max_length} characters")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL characters")
    return value


def identifier(field: str, value: Any, *, required: bool = False) -> str | None:
    """An id as this package writes them (a UUID string); None allowed unless required."""
    if value is None and not required:
        return None
    return text(field, value, max_length=36)


def required_id(field: str, value: Any) -> str:
    """An id that must be given (the usual argument of get/delete/update)."""
    result = identifier(field, value, required=True)
    assert result is not None
    return result


def integer(field: str, value: Any, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValidationError(field, f"must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValidationError(field, f"must be <= {maximum}")
    return value


def number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"must be a number, got {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValidationError(field, "must be a finite number")
    return float(value)


def aware(field: str, value: Any, *, required: bool = False) -> datetime | None:
    """A timezone-aware datetime, returned in UTC; naive datetimes are ambiguous, so refused.
    ISO-8601 text is accepted too (what a query string or JSON carries); text without an offset
    means UTC, as every timestamp agentdb stores is UTC."""
    if value is None and not required:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(field, f"must be an ISO-8601 date or date-time, got "
                                         f"{value[:40]!r}") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    if not isinstance(value, datetime):
        raise ValidationError(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(field, "must be timezone-aware (e.g. datetime.now(UTC))")
    return value.astimezone(UTC)


MAX_JSON_BYTES = 16 * 1024 * 1024


def json_encoded(field: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> JsonText | None:
    """A value JSON can hold exactly (dicts with string keys, lists, str, numbers, bools),
    checked and encoded once: the result binds as JSON on every dialect without a second
    ``json.dumps``."""
    if value is None:
        return None
    try:
        encoded = _dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"must be JSON-serializable: {exc}") from None
    if len(encoded) * 4 > max_bytes and len(encoded.encode()) > max_bytes:
        raise ValidationError(field, f"must be at most {max_bytes} bytes as JSON")
    if _has_non_str_keys(value):
        raise ValidationError(field, "object keys must be strings")
    return JsonText(encoded)


_dumps = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode


def json_value(field: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A value JSON can hold exactly (dicts with string keys, lists, str, numbers, bools)."""
    json_encoded(field, value, max_bytes=max_bytes)
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _has_non_str_keys(value: Any) -> bool:
    """json.dumps would silently turn {1: x} into {"1": x}; refuse it instead. Walks the value
    with a stack (no recursion, scalars skipped without a call)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict or (kind not in _SCALARS and isinstance(item, Mapping)):
            for key, child in item.items():
                if type(key) is not str:
                    return True
                if type(child) not in _SCALARS:
                    stack.append(child)
        elif kind is list or kind is tuple or isinstance(item, list | tuple):
            stack.extend(child for child in item if type(child) not in _SCALARS)
    return False


def json_object(field: str, value: Any) -> dict[str, Any] | None:
    return json_object_encoded(field, value)[0]


def json_object_encoded(field: str,
                        value: Any) -> tuple[dict[str, Any] | None, JsonText | None]:
    """A JSON object: a copy of it (for the record) and its checked encoding (to bind)."""
    if value is not None and not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a JSON object (dict), got {type(value).__name__}")
    encoded = json_encoded(field, value)
    return (dict(value) if value is not None else None), encoded


def enum(cls: type[E], field: str, value: Any) -> E:
    """An enum member from itself or its value; the error lists the allowed values."""
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise ValidationError(field, f"must be one of {allowed}; got {value!r}") from None


def choice(field: str, value: Any, allowed: Collection[str]) -> str:
    """One of a fixed set of strings: how sort columns and directions reach SQL text."""
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(field, f"must be one of {', '.join(sorted(allowed))}; got {value!r}")
    return value


def page(limit: Any, offset: Any, *, max_limit: int = 1000) -> tuple[int, int]:
    return (
        integer("limit", limit, minimum=1, maximum=max_limit),
        integer("offset", offset, minimum=0),
    )
