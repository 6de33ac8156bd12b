"""Small typed records: frozen dataclasses with ``to_dict()``, the same values on every backend.

Drivers disagree on how they hand back timestamps (aware, naive, ISO text), JSON (objects or
text) and booleans (bool or 0/1); records normalise once, in ``from_row``, so callers never see
the difference. ``to_dict()`` gives JSON-ready values (enum values, ISO-8601 timestamps) and
leaves out fields marked secret (a password hash never leaves the record).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Self

from .rows import Converter, converter

SECRET = {"secret": True}  # dataclasses.field(metadata=SECRET, repr=False): never in to_dict()


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Record:
    """Base of every record; subclasses are ``@dataclass(frozen=True, slots=True)``."""

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """A record from a dict row, whatever driver produced it (queries build records
        straight from tuple rows instead; this is for rows from elsewhere)."""
        keys = tuple(row)
        convert = _FROM_ROW.get((cls, keys))
        if convert is None:
            convert = _FROM_ROW[(cls, keys)] = converter(cls, keys, "any", cls.__name__)
        return convert(tuple(row.values()))  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not f.metadata.get("secret")
        }


_FROM_ROW: dict[tuple[type, tuple[str, ...]], Converter] = {}
