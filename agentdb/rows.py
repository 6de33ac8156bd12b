"""Row converters: a driver's tuple row straight into a record (or a dict), generated once.

Why: building a record from a dict row cost more than the query on SQLite (a dict per row from
the driver, a dict lookup and a kwarg per field, a generic per-field datetime check). Here a
query fetches plain tuples (the drivers' cheapest rows) and :func:`converter` writes, once per
(query, dialect, record class), a function like::

    def convert(r):
        return Job(r[0], r[1], _e2[r[2]], r[3], ..., _ts(r[9]), None if (v := r[11]) is None
                   else _ts(v), ...)

positional, no intermediate dict, no kwargs, each field's conversion picked from its type
annotation and the dialect. :class:`agentdb.queries.Queries` keeps it on the statement, keyed
by record class, and rebuilds it only if the row's width changes.

The rules, per field annotation (``X | None`` adds a None check, nothing else):

- ``datetime``: aware UTC. SQLite's ISO text is parsed with ``datetime.fromisoformat``;
  MySQL's naive UTC gets ``tzinfo=UTC``; PostgreSQL (session in UTC) passes through. Any other
  shape falls back to :func:`agentdb.convert.to_utc`.
- an ``Enum`` subclass: the member, by a dict lookup of its value.
- ``dict``/``list`` annotations, or a field with ``metadata=JSON``: parsed JSON text (every
  driver gives text: PostgreSQL's jsonb too, see :func:`agentdb.convert.pg_context`).
- ``bool``: :func:`agentdb.convert.to_bool` (0/1 on MySQL and SQLite). ``int``/``float``:
  as is when already of that type (the usual case), else coerced (MySQL's Decimal sums).
  ``str``: as is (on MySQL, bytes from a binary collation are decoded).
- ``metadata={"convert": fn}`` on a field: ``fn(value)``, for anything else.

A field the query does not return takes its default; one without a default is a QueryError
naming the query and the field, raised at the first row, not a silent None. Columns the record
does not have are ignored. Column names reach the generated code only through ``repr()``; no
text from a row or a parameter is ever compiled.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from .convert import to_bool, to_utc
from .errors import QueryError

Converter = Callable[[Sequence[Any]], Any]

JSON: dict[str, Any] = {"json": True}  # dataclasses.field(metadata=JSON): a JSON column


def _sqlite_ts(value: Any) -> datetime:
    # The adapter wrote fixed-width ISO-8601 with +00:00: fromisoformat gives UTC directly.
    parsed = datetime.fromisoformat(value) if type(value) is str else value
    if type(parsed) is datetime and parsed.tzinfo is UTC:
        return parsed
    return to_utc(parsed)  # type: ignore[return-value]


def _mysql_ts(value: Any) -> datetime:
    if type(value) is datetime and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return to_utc(value)  # type: ignore[return-value]


def _pg_ts(value: Any) -> datetime:
    if type(value) is datetime and value.tzinfo is UTC:
        return value
    return to_utc(value)  # type: ignore[return-value]


_TIMESTAMP: dict[str, Callable[[Any], datetime]] = {
    "sqlite": _sqlite_ts, "mysql": _mysql_ts, "postgresql": _pg_ts,
    "any": to_utc,  # type: ignore[dict-item]  # rows of unknown origin (Record.from_row)
}
_TEXT = (str, bytes, bytearray)


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner


def _json(value: Any) -> Any:
    if type(value) is str:
        try:
            parsed, end = _scan(value, 0)
            if end == len(value):
                return parsed
        except StopIteration:
            pass
        return json.loads(value)  # whitespace around it, or an error worth its message
    return json.loads(value) if isinstance(value, _TEXT) else value


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (hint, False)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
        return hint, True
    return hint, False


def _field_rule(f: dataclasses.Field[Any], hint: Any, dialect: str,
                env: dict[str, Any], index: int) -> tuple[str, bool]:
    """(an expression of ``v`` converting one value, whether it may be None)."""
    base, nullable = _optional(hint)
    origin = typing.get_origin(base) or base
    custom = f.metadata.get("convert")
    name = f"_c{index}"
    if custom is not None:
        env[name] = custom
        return name + "(v)", nullable
    if f.metadata.get("json") or origin in (dict, list):
        env["_json"] = _json
        return "_json(v)", True  # JSON null arrives as SQL NULL or as 'null': both are None
    if base is datetime:
        env[name] = _TIMESTAMP[dialect]
        if dialect == "sqlite":  # inline the common case: our own ISO text, in UTC
            env["_fromiso"], env["_UTC"], env["_strt"] = datetime.fromisoformat, UTC, str
            return (f"(w if v.__class__ is _strt and (w := _fromiso(v)).tzinfo is _UTC "
                    f"else {name}(v))"), nullable
        return name + "(v)", nullable
    if isinstance(base, type) and issubclass(base, Enum):
        env[name] = base._value2member_map_
        env[name + "e"] = base
        return f"({name}.get(v) or {name}e(v))", nullable
    if base is bool:
        env["_to_bool"] = to_bool
        if dialect != "sqlite":
            env["_bool"] = bool
            return "(v if v.__class__ is _bool else _to_bool(v))", nullable
        env["_int"] = int  # SQLite's 0/1: compared inline, no call
        return "(v != 0 if v.__class__ is _int else _to_bool(v))", nullable
    if base in (int, float):
        env[name] = base
        return f"(v if v.__class__ is {name} else {name}(v))", nullable
    if base is str:
        if dialect in ("postgresql", "sqlite"):  # their drivers give str for every text type
            return "v", nullable
        env["_str"], env["_strt"] = _str, str  # PyMySQL: bytes for binary collations
        return "(v if v.__class__ is _strt else _str(v))", nullable
    return "v", True


def _slotted(record: type, fields: Sequence[dataclasses.Field[Any]]) -> bool:
    return ("__slots__" in record.__dict__ and not hasattr(record, "__post_init__")
            and all(f.name in record.__dict__["__slots__"] for f in fields))


def maker(record: type) -> Callable[..., Any]:
    """A positional constructor for ``record`` (every init field, in order, no defaults) that
    fills a frozen slotted dataclass through its slot descriptors: half the cost of its frozen
    ``__init__``. For code that builds records from values it has just checked (create)."""
    fields = [f for f in dataclasses.fields(record) if f.init]
    if not _slotted(record, fields):
        return record
    env: dict[str, Any] = {"_record": record, "_new": object.__new__}
    names = [f"a{i}" for i in range(len(fields))]
    lines = ["o = _new(_record)"]
    for i, f in enumerate(fields):
        env[f"_s{i}"] = getattr(record, f.name).__set__
        lines.append(f"_s{i}(o, a{i})")
    source = (f"def make({', '.join(names)}):\n"
              + "".join(f"    {line}\n" for line in [*lines, "return o"]))
    exec(compile(source, f"<agentdb maker {record.__name__}>", "exec"), env)
    return env["make"]  # type: ignore[no-any-return]


@typing.no_type_check
def converter(record: type | None, columns: Sequence[str], dialect: str,
              where: str = "query") -> Converter:
    """A function from one tuple row (in ``columns`` order) to a ``record`` instance, or to a
    dict keyed by column when ``record`` is None. Generated once per (query, dialect, record
    class); see the module docstring for the per-field rules.

    A frozen slotted dataclass without ``__post_init__`` is filled through its slot
    descriptors (half the cost of its frozen ``__init__``, which goes through
    ``object.__setattr__`` per field); any other dataclass is called with positional args."""
    env: dict[str, Any] = {}
    if record is None:
        items = ", ".join(f"{name!r}: r[{i}]" for i, name in enumerate(columns))
        source = f"def convert(r):\n    return {{{items}}}\n"
    else:
        if not dataclasses.is_dataclass(record) or not isinstance(record, type):
            raise QueryError(f"{where}: record={record!r} is not a dataclass")
        try:
            hints = typing.get_type_hints(record)
        except NameError:  # an annotation only importable under TYPE_CHECKING: no rule
            hints = {}
        position = {name: i for i, name in enumerate(columns)}
        fields = [f for f in dataclasses.fields(record) if f.init]
        slotted = _slotted(record, fields)
        lines, args = [], []
        for index, f in enumerate(fields):
            i = position.get(f.name)
            if i is None:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise QueryError(f"{where}: returns no column {f.name!r}, which "
                                     f"{record.__name__} needs (columns: {', '.join(columns)})")
                if f.default is dataclasses.MISSING:
                    env[f"_f{index}"] = f.default_factory
                    expr = f"_f{index}()"
                else:
                    env[f"_d{index}"] = f.default
                    expr = f"_d{index}"
            else:
                rule, nullable = _field_rule(f, hints.get(f.name, Any), dialect, env, index)
                if rule == "v":
                    expr = f"r[{i}]"
                else:  # one local per field: a positional call evaluates them all at the end
                    var = f"v{index}"
                    lines.append(f"{var} = r[{i}]")
                    rule = re.sub(r"\bv\b", var, rule)
                    expr = f"None if {var} is None else {rule}" if nullable else rule
            if slotted:
                env[f"_s{index}"] = getattr(record, f.name).__set__
                lines.append(f"_s{index}(o, {expr})")
            else:
                args.append(expr)
        env["_record"], env["_new"] = record, object.__new__
        if slotted:
            lines = ["o = _new(_record)", *lines, "return o"]
        else:
            lines.append("return _record(" + ", ".join(args) + ")")
        source = "def convert(r):\n" + "".join(f"    {line}\n" for line in lines)
    code = compile(source, f"<agentdb converter {where}>", "exec")
    exec(code, env)  # the source above holds only reprs of column names and indexes
    convert = env["convert"]
    convert.width = len(columns)
    convert.source = source
    return convert


__all__ = ["JSON", "Converter", "converter", "maker"]
