"""Input checks that run before any SQL: each failure is a ValidationError naming the field.

Repositories call these at the top of every public method, so bad input never reaches the
driver (no raw driver traceback, no half-written record) and identifiers that end up in SQL
text (sort columns, directions) only ever come from a whitelist.
"""

from __future__ import annotations

import json
import os
import re
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


#: The limits every backend accepts, so one rule holds on all three (README "Input rules").
MAX_TEXT_BYTES = 4 * 1024 * 1024  # a text value, as UTF-8 (and so at most this many characters)
MAX_JSON_BYTES = 8 * 1024 * 1024  # a JSON document, encoded (it may hold a whole text value)
MAX_JSON_DEPTH = 20  # nested arrays/objects; MariaDB refuses a document nested 32 deep
MAX_JSON_FLOAT = 1e16  # |float| in JSON below this: PostgreSQL's jsonb prints larger as integers
INT32 = 2**31 - 1  # INTEGER columns
INT64 = 2**63 - 1  # BIGINT columns, offsets
MAX_DAYS = 36_500  # day counts (a hundred years)
MIN_YEAR, MAX_YEAR = 1000, 9999  # MySQL's DATETIME range, in UTC


# Non-empty printable ASCII without blanks: a text() that matches needs no other check but its
# length (one C call instead of four; ids and names nearly always look like this).
_SIMPLE = re.compile(r"[!-~]+").fullmatch


def text(field: str, value: Any, *, max_length: int, required: bool = True) -> str | None:
    """A non-empty string of at most ``max_length`` characters and MAX_TEXT_BYTES of UTF-8 (or
    None when optional), without NUL (PostgreSQL cannot store it) or lone surrogates (UTF-8
    cannot encode them)."""
    if (type(value) is str and len(value) <= max_length and len(value) <= MAX_TEXT_BYTES
            and _SIMPLE(value) is not None):
        return value  # the usual name or id: nothing below could refuse it
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
    size = len(value) if value.isascii() else _utf8_size(field, value)
    if size > MAX_TEXT_BYTES:
        raise ValidationError(field, f"must be at most {MAX_TEXT_BYTES} bytes as UTF-8")
    return value


def _utf8_size(field: str, value: str) -> int:
    try:
        return len(value.encode())
    except UnicodeEncodeError:
        raise ValidationError(field, "must not contain lone surrogates (U+D800-U+DFFF "
                                     "outside a pair): UTF-8 cannot encode them") from None


def identifier(field: str, value: Any, *, required: bool = False) -> str | None:
    """An id as this package writes them (a UUID string); None allowed unless required."""
    if type(value) is str and len(value) <= 36 and _SIMPLE(value) is not None:
        return value
    if value is None and not required:
        return None
    return text(field, value, max_length=36)


def required_id(field: str, value: Any) -> str:
    """An id that must be given (the usual argument of get/delete/update)."""
    if type(value) is str and len(value) <= 36 and _SIMPLE(value) is not None:
        return value
    result = identifier(field, value, required=True)
    assert result is not None
    return result


def integer(field: str, value: Any, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """An int (not a bool) within [minimum, maximum]; unbounded sides stop at BIGINT's range,
    which every backend stores."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, got {type(value).__name__}")
    low = -INT64 - 1 if minimum is None else minimum
    high = INT64 if maximum is None else maximum
    if value < low:
        raise ValidationError(field, f"must be >= {low}")
    if value > high:
        raise ValidationError(field, f"must be <= {high}")
    return int(value)


def days(field: str, value: Any) -> int:
    """A count of days back from now: 0 to MAX_DAYS."""
    return integer(field, value, minimum=0, maximum=MAX_DAYS)


def number(field: str, value: Any) -> float:
    """A finite float (a DOUBLE column); -0.0 becomes 0.0, which MariaDB and SQLite store."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"must be a number, got {type(value).__name__}")
    try:
        result = float(value) + 0.0
    except OverflowError:
        raise ValidationError(field, "must be a finite number (too large for a float)") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise ValidationError(field, "must be a finite number")
    return result


def aware(field: str, value: Any, *, required: bool = False) -> datetime | None:
    """A timezone-aware datetime, returned in UTC; naive datetimes are ambiguous, so refused,
    and so are years outside MIN_YEAR..MAX_YEAR in UTC.
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
    try:
        result = value.astimezone(UTC)
    except OverflowError:
        result = None
    if result is None or not MIN_YEAR <= result.year <= MAX_YEAR:
        raise ValidationError(field, f"must be within the years {MIN_YEAR}-{MAX_YEAR} (UTC)")
    return result


def json_encoded(field: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> JsonText | None:
    """A value JSON can hold exactly, checked and encoded once: the result binds as JSON on
    every dialect without a second ``json.dumps`` (a bare string, number or bool included).

    Refused: types JSON has not (dicts with non-string keys, sets, datetimes...), nesting
    deeper than MAX_JSON_DEPTH, NaN/Infinity and floats of MAX_JSON_FLOAT or more, NUL or lone
    surrogates in any string or key, and documents over ``max_bytes`` of UTF-8."""
    if value is None:
        return None
    _walk(field, value, 1)
    try:
        encoded = _dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(field, f"must be JSON-serializable: {exc}") from None
    if "\\u0000" in encoded and _JSON_NUL.search(encoded):
        raise ValidationError(field, "must not contain NUL characters (PostgreSQL's jsonb "
                                     "cannot store \\u0000)")
    size = len(encoded) if encoded.isascii() else _utf8_size(field, encoded)
    if size > max_bytes:
        raise ValidationError(field, f"must be at most {max_bytes} bytes as JSON")
    return JsonText(encoded)


_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def _c_dumps() -> Any:
    """``_ENCODER.encode`` without its two Python frames: the C encoder it builds on every
    call, built once. No circular-reference markers: ``_walk`` has already bounded the depth."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the _json accelerator
        return _ENCODER.encode
    encode = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",",
                  False, False, False)
    join = "".join

    def dumps(value: Any) -> str:
        return join(encode(value, 0))

    return dumps


_dumps = _c_dumps()
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escape, not a literal backslash


def json_value(field: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A value JSON can hold exactly (see :func:`json_encoded`); returned as given."""
    json_encoded(field, value, max_bytes=max_bytes)
    return value


def _walk(field: str, value: Any, depth: int) -> None:
    """Types, keys, depth and floats of a JSON value; strings are checked on the encoded
    text. Bounded by MAX_JSON_DEPTH, so a deep (or circular) value cannot recurse far."""
    kind = type(value)
    if kind is dict or kind is list:  # the usual containers: one tight loop each
        if depth > MAX_JSON_DEPTH:
            _too_deep(field)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise ValidationError(field, "object keys must be strings")
                kind = type(item)
                if kind is not str and kind is not int and kind is not bool and item is not None:
                    _walk(field, item, depth + 1)
        else:
            for item in value:
                kind = type(item)
                if kind is not str and kind is not int and kind is not bool and item is not None:
                    _walk(field, item, depth + 1)
        return
    if kind is str or kind is int or kind is bool or value is None:
        return
    if isinstance(value, float):
        if not -MAX_JSON_FLOAT < value < MAX_JSON_FLOAT:
            raise ValidationError(field, f"floats must be finite and below {MAX_JSON_FLOAT:g} "
                                         f"in magnitude (PostgreSQL returns larger ones as "
                                         f"integers); got {value!r}")
        return
    if isinstance(value, dict | list | tuple):  # subclasses, tuples: the general way
        if isinstance(value, dict) and any(type(k) is not str for k in value):
            raise ValidationError(field, "object keys must be strings")
        if depth > MAX_JSON_DEPTH:
            _too_deep(field)
        for item in value.values() if isinstance(value, dict) else value:
            _walk(field, item, depth + 1)
        return
    if isinstance(value, int):  # an int subclass (IntEnum...): JSON writes the number
        return
    raise ValidationError(field, f"must be JSON-serializable: {type(value).__name__} is not a "
                                 "JSON type")


def _too_deep(field: str) -> None:
    raise ValidationError(field, f"must not be nested deeper than {MAX_JSON_DEPTH} levels")


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
    """``limit`` 1..max_limit, ``offset`` 0..INT64 (what every backend's OFFSET takes)."""
    return (
        integer("limit", limit, minimum=1, maximum=max_limit),
        integer("offset", offset, minimum=0, maximum=INT64),
    )
