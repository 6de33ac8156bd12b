"""Named SQL queries, loaded once from ``sql/*.sql`` and run on any of the three drivers.

SQL stays SQL (the aiosql/PugSQL way)::

    -- name: get_job :one
    -- Fetch one job by id.                 (comment lines right under the name are its doc)
    SELECT id, status FROM jobs WHERE id = :id;

Kinds: ``:one`` (a dict or None; more than one row is an error), ``:many`` (a list of dicts),
``:scalar`` (first column of the first row, or None), ``:affected`` (the row count) and
``:exec`` (None). ``sql/<dialect>/<aggregate>.sql`` overrides single queries for one dialect.

Everything that can be worked out from the text is worked out at load, per dialect: the
placeholders (``:name`` becomes ``%(name)s`` for psycopg and PyMySQL, with literal ``%``
doubled, and stays ``:name`` for sqlite3 -- never inside literals, quoted identifiers,
comments or dollar quotes, and never a ``::`` cast), ``IN (:ids)`` list expansion, whether the
statement writes, and the ``/* agentdb:file.query */`` tag that names it in server logs. A call
then costs a dict lookup, parameter adaptation and one ``execute``.

``IN (:ids)`` with an empty list becomes ``IN (NULL)``, which matches no row, as an empty ``IN``
should; ``NOT IN (:ids)`` with an empty list is refused, because SQL's ``NOT IN (NULL)`` would
match no row either, the opposite of what the caller means.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import itertools
import logging
import re
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from logging import DEBUG, WARNING
from pathlib import Path
from time import perf_counter
from typing import Any, Literal, Protocol, cast, get_args

from .convert import ADAPTERS, PLAIN, Adapter, JsonText
from .errors import (
    AgentDBError,
    ConflictError,
    DatabaseUnavailable,
    QueryError,
    ReplicaUnavailable,
    ValidationError,
)
from .rows import Converter, converter

Kind = Literal["one", "many", "scalar", "affected", "exec"]
KINDS: tuple[str, ...] = get_args(Kind)
DIALECTS = ("postgresql", "mysql", "sqlite")
CHUNK_SIZE = 2000  # rows per executemany call in run_many (PyMySQL still splits at 1 MB)
STREAM_BATCH = 1000  # rows per fetch in stream


class DatabaseLike(Protocol):
    """What queries need of :class:`agentdb.pool.Database`."""

    @property
    def dialect(self) -> str: ...

    @property
    def config(self) -> Any: ...  # slow_query_ms, log_parameters

    @property
    def watch(self) -> bool: ...  # a hook is set or slow_query_ms is on

    @property
    def hooks(self) -> tuple[Callable[[str, str, float, int, BaseException | None], object],
                             ...]: ...

    def connection(self, write: bool = False) -> AbstractContextManager[Any]: ...

    def transaction(self, readonly: bool = False) -> AbstractContextManager[Any]: ...


def sql_dir() -> Path:
    """Where the shipped SQL lives: ``agentdb/sql`` in an installed wheel (setuptools maps the
    top-level ``sql/`` there), else the top-level ``sql/`` of a source checkout."""
    package = Path(__file__).parent
    inside = package / "sql"
    return inside if inside.is_dir() else package.parent / "sql"


# -- scanning: where placeholders are, and where they are not -------------------------------------

CODE, QUOTED, COMMENT, PARAM, CHOICE = range(5)  # CHOICE: a ``{name}`` in a template
Token = tuple[int, str]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR = re.compile(r"\$(?:[^\W\d]\w*)?\$")


class _Unterminated(ValueError):
    def __init__(self, what: str, offset: int) -> None:
        super().__init__(what)
        self.offset = offset


def _ident(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _quote_end(sql: str, i: int, quote: str, backslash: bool) -> int:
    """Index just past the literal or identifier opened at ``i`` (doubled quotes escape; so do
    backslashes where the dialect says so)."""
    j = i + 1
    while True:
        k = sql.find(quote, j)
        if backslash:
            b = sql.find("\\", j, k if k >= 0 else len(sql))
            if b >= 0:
                j = b + 2
                continue
        if k < 0:
            kind = {"'": "string literal", '"': "quoted identifier", "`": "quoted identifier"}
            raise _Unterminated(f"unterminated {kind[quote]}", i)
        if sql.startswith(quote, k + 1):
            j = k + 2
            continue
        return k + 1


def _comment_end(sql: str, i: int, nested: bool, open_ok: bool = False) -> int:
    """Index just past the block comment opened at ``i`` (PostgreSQL nests them; SQLite lets
    one left open run to the end of the input)."""
    depth, j = 1, i + 2
    while depth:
        close = sql.find("*/", j)
        if close < 0:
            if open_ok:
                return len(sql)
            raise _Unterminated("unterminated /* comment", i)
        opened = sql.find("/*", j, close) if nested else -1
        if opened >= 0:
            depth, j = depth + 1, opened + 2
        else:
            depth, j = depth - 1, close + 2
    return j


_MY_SPACE = frozenset(" \t\n\v\f\r")
_MY_EXEC = re.compile(r"/\*M?!\d*")  # MySQL/MariaDB executable comment: its body is code
_ARRAY_BEFORE = re.compile(r"\bARRAY\s*\Z", re.IGNORECASE)


def _my_dash_comment(sql: str, i: int) -> bool:
    """MySQL's ``--`` starts a comment only before whitespace, a control character or the end:
    ``5--1`` is 5 - (-1)."""
    after = sql[i + 2:i + 3]
    return not after or after in _MY_SPACE or ord(after) < 32 or ord(after) == 127


def _pg_subscript(sql: str, i: int, brackets: list[list[int]]) -> bool:
    """Whether the ``[`` at ``i`` subscripts (or slices) an expression, rather than opening an
    ARRAY[...] constructor or a row of one."""
    j = i - 1
    while j >= 0 and sql[j].isspace():
        j -= 1
    if j < 0 or not (_ident(sql[j]) or sql[j] in ')]"'):
        return False  # ARRAY[[1, 2], [3, 4]]: after "[" or ",", a row of the constructor
    return not _ARRAY_BEFORE.search(sql, 0, j + 1)


def scan(sql: str, dialect: str) -> list[Token]:
    """Split SQL into code, quoted text, comments and ``:name`` placeholders, as the dialect's
    server reads it. MySQL: backslash escapes in strings, ``#`` comments, ``--`` a comment only
    before whitespace, ``/*! ... */`` is code. PostgreSQL: ``E'...'`` strings, nested block
    comments, ``$tag$`` quoting, and the ``:`` of an array slice (``a[:hi]``, ``a[lo :hi]``)
    is no placeholder. SQLite: ``[bracket]`` identifiers, and a ``/*`` comment may run to the
    end of the input."""
    pg, my, lite = dialect == "postgresql", dialect == "mysql", dialect == "sqlite"
    tokens: list[Token] = []
    i = start = 0
    n = len(sql)
    executable = -1  # MySQL: where the /*! comment we are inside opened
    brackets: list[list[int]] = []  # PostgreSQL: per open [, [subscript?, parens, slice seen?]
    while i < n:
        c = sql[i]
        kind = QUOTED
        if c == "'":
            esc = my or (pg and i > 0 and sql[i - 1] in "eE" and (i < 2 or not _ident(sql[i - 2])))
            end = _quote_end(sql, i, c, esc)
        elif c == '"':
            end = _quote_end(sql, i, c, my)
        elif c == "`":
            end = _quote_end(sql, i, c, False)
        elif c == "[" and lite:
            end = sql.find("]", i + 1) + 1
            if not end:
                raise _Unterminated("unterminated [quoted identifier]", i)
        elif (c == "-" and sql.startswith("--", i) and (not my or _my_dash_comment(sql, i))) or (
            c == "#" and my
        ):
            kind, end = COMMENT, sql.find("\n", i)
            end = n if end < 0 else end
        elif c == "/" and my and executable < 0 and (m := _MY_EXEC.match(sql, i)):
            executable, i = i, m.end()  # the marker stays in the code; what follows is code
            continue
        elif c == "*" and executable >= 0 and sql.startswith("*/", i):
            executable, i = -1, i + 2
            continue
        elif c == "/" and sql.startswith("/*", i):
            kind, end = COMMENT, _comment_end(sql, i, nested=pg, open_ok=lite)
        elif c == "$" and pg and (i == 0 or not _ident(sql[i - 1])) and (
            m := _DOLLAR.match(sql, i)
        ):
            close = sql.find(m.group(), m.end())
            if close < 0:
                raise _Unterminated("unterminated dollar-quoted string", i)
            end = close + len(m.group())
        elif c == ":":
            if sql.startswith("::", i):  # a cast
                i += 2
                continue
            if brackets and brackets[-1][0] and not brackets[-1][1] and not brackets[-1][2]:
                brackets[-1][2] = 1  # the slice's colon: a[lo:hi], a[:hi], a[f(x) : g(x)]
                i += 1
                continue
            m = _NAME.match(sql, i + 1)
            if m is None or (i > 0 and _ident(sql[i - 1])):
                i += 1
                continue
            if start < i:
                tokens.append((CODE, sql[start:i]))
            tokens.append((PARAM, m.group()))
            i = start = m.end()
            continue
        else:
            if pg and c in "[]()":
                if c == "[":
                    brackets.append([int(_pg_subscript(sql, i, brackets)), 0, 0])
                elif c == "]" and brackets:
                    brackets.pop()
                elif brackets and c == "(":
                    brackets[-1][1] += 1
                elif brackets and c == ")" and brackets[-1][1]:
                    brackets[-1][1] -= 1
            i += 1
            continue
        if start < i:
            tokens.append((CODE, sql[start:i]))
        tokens.append((kind, sql[i:end]))
        i = start = end
    if executable >= 0:
        raise _Unterminated("unterminated /*! comment", executable)
    if start < n:
        tokens.append((CODE, sql[start:]))
    return tokens


def _mark(dialect: str) -> str:
    """The driver's placeholder, as a format string for the parameter name."""
    return ":{}" if dialect == "sqlite" else "%({})s"


def _render(tokens: Iterable[Token], dialect: str, expanding: frozenset[str]) -> list[str]:
    """Driver SQL: text pieces, with each expanding parameter's name between two pieces."""
    pyformat = dialect != "sqlite"
    mark = _mark(dialect)
    parts: list[str] = []
    buf: list[str] = []
    for kind, text in tokens:
        if kind != PARAM:
            buf.append(text.replace("%", "%%") if pyformat else text)
        elif text in expanding:
            parts += ["".join(buf), text]
            buf = []
        else:
            buf.append(mark.format(text))
    parts.append("".join(buf))
    return parts


def convert(sql: str, dialect: str) -> tuple[str, list[str]]:
    """``sql`` in the driver's placeholder style, and the placeholders found, in order."""
    tokens = scan(sql, dialect)
    return "".join(_render(tokens, dialect, frozenset())), [t for k, t in tokens if k == PARAM]


# -- compiling one query for one dialect ----------------------------------------------------------

_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z_]+)")
_READS = frozenset({"SELECT", "WITH", "VALUES", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "TABLE"})
_DML = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)  # also FOR UPDATE
_IN_BEFORE = re.compile(r"\bIN\s*\(\s*\Z", re.IGNORECASE)
_NOT_IN_BEFORE = re.compile(r"\bNOT\s+IN\s*\(\s*\Z", re.IGNORECASE)
_IN_AFTER = re.compile(r"\s*\)")
_TAG_UNSAFE = re.compile(r"[^\w.-]")


def _blank(token: Token) -> bool:
    if token[0] == COMMENT:
        return not (_END.match(token[1]) or _IF.match(token[1]))  # markers are not blank
    return token[0] == CODE and not token[1].strip()


def _trim(tokens: list[Token]) -> list[Token]:
    """Drop comments and blanks around the statement, and its final semicolon: PyMySQL's
    multi-row INSERT rewrite wants the statement to start at its first keyword and end at
    ``VALUES (...)``."""
    tokens = list(tokens)
    while tokens and _blank(tokens[0]):
        tokens.pop(0)
    for _ in range(2):
        while tokens and _blank(tokens[-1]):
            tokens.pop()
        if tokens and tokens[-1][0] == CODE and tokens[-1][1].rstrip().endswith(";"):
            tokens[-1] = (CODE, tokens[-1][1].rstrip()[:-1])
    if tokens and tokens[0][0] == CODE:
        tokens[0] = (CODE, tokens[0][1].lstrip())
    if tokens and tokens[-1][0] == CODE:
        tokens[-1] = (CODE, tokens[-1][1].rstrip())
    return [t for t in tokens if t[1]]


_IF = re.compile(r"/\*\s*if\s+([A-Za-z_]\w*)\s*\*/\Z")
_END = re.compile(r"/\*\s*end\s*\*/\Z")
_CHOICE_REF = re.compile(r"\{([A-Za-z_]\w*)\}")
_BLANK_LINES = re.compile(r"\n[ \t]*(?=\n)")
Template = list[tuple[int, str, str]]  # (kind, text, guard: the condition's parameter or "")


def _template(tokens: list[Token], choices: Mapping[str, tuple[str, ...]],
              where: str) -> Template | None:
    """The tokens with each ``/*if name*/ ... /*end*/`` condition's tokens guarded by ``name``
    and each ``{choice}`` split out; None for a plain query (no markers, no choices)."""
    if not choices and not any(k == COMMENT and _IF.match(t) for k, t in tokens):
        return None
    template: Template = []
    guard = ""
    used: set[str] = set()
    inside: set[str] = set()
    for kind, text in tokens:
        if kind == COMMENT and (opened := _IF.match(text)):
            if guard:
                raise QueryError(f"{where}: /*if {opened.group(1)}*/ inside /*if {guard}*/; "
                                 "optional conditions do not nest")
            guard, inside = opened.group(1), set()
            if guard in choices:
                raise QueryError(f"{where}: {guard!r} is a choice, not a parameter")
            continue
        if kind == COMMENT and _END.match(text):
            if not guard:
                raise QueryError(f"{where}: /*end*/ without /*if name*/")
            if guard not in inside:
                raise QueryError(f"{where}: the condition /*if {guard}*/ does not use :{guard}")
            guard = ""
            continue
        if kind == PARAM:
            if text in choices:
                raise QueryError(f"{where}: {text!r} is a choice ({{{text}}}), not :{text}")
            inside.add(text)
        if kind != CODE:
            template.append((kind, text, guard))
            continue
        at = 0
        for ref in _CHOICE_REF.finditer(text):
            name = ref.group(1)
            if name not in choices:
                raise QueryError(f"{where}: {{{name}}} is not a declared choice; declare it "
                                 f"under the name line: '-- {name}: one of a, b'")
            template += [(CODE, text[at:ref.start()], guard), (CHOICE, name, guard)]
            used.add(name)
            at = ref.end()
        template.append((CODE, text[at:], guard))
    if guard:
        raise QueryError(f"{where}: /*if {guard}*/ has no /*end*/")
    unused = sorted(set(choices) - used)
    if unused:
        raise QueryError(f"{where}: choice {unused[0]!r} is declared but never used as "
                         f"{{{unused[0]}}}")
    return [t for t in template if t[1]]


def _rows(cur: Any, stmt: Statement, record: type | None, row: Sequence[Any]) -> Converter:
    """The statement's converter for ``record`` (None: dicts), built from the cursor's columns
    at the first row and kept; rebuilt if the row's width changes (a ``SELECT *`` after a
    migration)."""
    convert = stmt.converters.get(record)
    if convert is None or convert.width != len(row):  # type: ignore[attr-defined]
        columns = [d[0] for d in cur.description]
        convert = converter(record, columns, stmt.dialect, stmt.where)
        stmt.converters[record] = convert
    return convert


def _fetch_one(cur: Any, stmt: Statement, record: type | None) -> Any:
    row = cur.fetchone()
    if row is None:
        return None
    if cur.fetchone() is not None:
        raise QueryError(f"{stmt.where}: a :one query returned more than one row")
    convert = stmt.converters.get(record)
    if convert is None or convert.width != len(row):  # type: ignore[attr-defined]
        convert = _rows(cur, stmt, record, row)
    return convert(row)


def _fetch_many(cur: Any, stmt: Statement, record: type | None) -> Any:
    rows = cur.fetchall()
    if not rows:
        return []
    convert = stmt.converters.get(record)
    if convert is None or convert.width != len(rows[0]):  # type: ignore[attr-defined]
        convert = _rows(cur, stmt, record, rows[0])
    return list(map(convert, rows))


def _fetch_scalar(cur: Any, stmt: Statement, record: type | None) -> Any:
    row = cur.fetchone()
    return None if row is None else row[0]


def _fetch_scalar_sqlite(cur: Any, stmt: Statement, record: type | None) -> Any:
    row = cur.fetchone()
    if row is None:
        return None
    if cur.fetchone() is not None:  # rows left: end the reused cursor's statement
        cur.connection.fresh_cursor()
    return row[0]


def _fetch_affected_sqlite(cur: Any, stmt: Statement, record: type | None) -> Any:
    if cur.description is not None:  # it returns rows (RETURNING, a PRAGMA): end them
        count = cur.rowcount
        cur.connection.fresh_cursor()
        return count
    return cur.rowcount


def _fetch_exec_sqlite(cur: Any, stmt: Statement, record: type | None) -> Any:
    if cur.description is not None:
        cur.connection.fresh_cursor()
    return None


def _fetch_affected(cur: Any, stmt: Statement, record: type | None) -> Any:
    return cur.rowcount


def _fetch_exec(cur: Any, stmt: Statement, record: type | None) -> Any:
    return None


_UNKNOWN = object()

_FETCH: dict[str, Callable[[Any, Statement, type | None], Any]] = {
    "one": _fetch_one,
    "many": _fetch_many,
    "scalar": _fetch_scalar,
    "affected": _fetch_affected,
    "exec": _fetch_exec,
}
# The types each dialect's driver takes as they are (no adapter call): JSON that agentdb
# encoded once (JsonText, a str) binds as text on MariaDB and SQLite; psycopg needs it wrapped.
_AS_IS: dict[str, frozenset[type]] = {
    "postgresql": PLAIN, "mysql": PLAIN | {JsonText}, "sqlite": PLAIN | {JsonText},
}

_FETCH_SQLITE = {
    "scalar": _fetch_scalar_sqlite,
    "affected": _fetch_affected_sqlite,
    "exec": _fetch_exec_sqlite,
}


def _pg_cursor(conn: Any) -> Any:
    """The connection's own tuple-row cursor, made at its first query and reused for as long
    as the pooled connection lives: a psycopg cursor costs a few µs of Python to build, a
    measurable share of a get-by-id. (It keeps the last result until the next query; a
    discarded connection takes it along.)"""
    try:
        return conn.agentdb_cursor
    except AttributeError:
        from psycopg.rows import tuple_row

        cur = conn.agentdb_cursor = conn.cursor(row_factory=tuple_row)
        return cur


def _mysql_cursor(conn: Any) -> Any:
    """The connection's own tuple-row cursor, reused like PostgreSQL's: PyMySQL clears a
    cursor's last result at each execute, and its lazy-BEGIN check runs per execute, so a
    reused one behaves as a new one (a few hundred ns less a query)."""
    try:
        return conn.agentdb_cursor
    except AttributeError:
        from .pool.mysql import LazyBeginTupleCursor

        cur = conn.agentdb_cursor = conn.cursor(LazyBeginTupleCursor)
        return cur


def _sqlite_cursor(conn: Any) -> Any:
    """The connection's own tuple-row cursor, made with it and reused (0.4 µs a query less
    than a new one). A statement left mid-rows would pin a WAL read snapshot while the
    connection is idle: :scalar and errors end it (``fresh_cursor``); ``:one``/``:many`` read
    to the end, and sqlite3 resets a statement once it has stepped past its last row."""
    if conn.pending:
        conn._begin()  # the unit of work's lazy BEGIN, as conn.cursor() would send it
    return conn.agentdb_cursor


# A cursor with tuple rows (the drivers' cheapest), whatever the connection's default: users of
# db.acquire() keep their dict rows, queries convert tuples themselves (see agentdb.rows).
_CURSOR: dict[str, Callable[[Any], Any]] = {
    "postgresql": _pg_cursor,
    "mysql": _mysql_cursor,
    "sqlite": _sqlite_cursor,
}


class Statement:
    """One query as one dialect's driver receives it; everything a call needs, precomputed."""

    __slots__ = (
        "adapt", "aggregate", "choices", "converters", "copy", "count", "cursor", "dialect",
        "dropped", "expanding", "fetch", "file", "kind", "known", "line", "mark", "name",
        "names", "negated", "optional", "params", "parts", "plain", "sql", "template",
        "variants", "writes",
    )

    template: Template | None  # for a query with optional conditions or choices
    optional: tuple[str, ...]  # the parameters whose None leaves their condition out
    variants: dict[tuple[Any, ...], Statement] | None  # compiled variants, by pick()'s key
    choices: Mapping[str, tuple[str, ...]]

    def __init__(self, block: _Block, dialect: str, aggregate: str) -> None:
        self.name, self.kind, self.file, self.line = block.name, block.kind, block.file, block.line
        self.dialect, self.aggregate = dialect, aggregate
        self.fetch = _FETCH[block.kind]
        if dialect == "sqlite":  # the reused cursor must not be left mid-rows
            self.fetch = _FETCH_SQLITE.get(block.kind, self.fetch)
        self.cursor = _CURSOR[dialect]
        self.converters: dict[type | None, Converter] = {}  # per record class; None: dicts
        self.copy: Any = _UNKNOWN  # run_many's COPY plan, worked out at first use
        self.adapt: Adapter = ADAPTERS[dialect]
        self.plain = _AS_IS[dialect]
        self.mark = _mark(dialect)
        try:
            tokens = _trim(scan(block.sql, dialect))
        except _Unterminated as exc:
            line = block.body_line + block.sql.count("\n", 0, exc.offset)
            raise QueryError(f"{block.file}:{line}: query {block.name!r}: {exc} "
                             f"(as {dialect} reads it)") from None
        if not any(k != COMMENT and t.strip() for k, t in tokens):
            raise QueryError(f"{self.where}: query {self.name!r} has no SQL")
        template = _template(tokens, block.choices, self.where)
        self.choices = block.choices
        if template is None:
            self.template, self.optional, self.variants = None, (), None
            self._compile(tokens)
            return
        self.template = template
        self.optional = tuple(dict.fromkeys(g for _, _, g in template if g))
        self.variants = {}
        # What the query shows and accepts: every condition kept, each choice at its default.
        self._compile(self._tokens(frozenset(self.optional), {}))
        self.params = tuple(dict.fromkeys(
            [n for k, n, _ in template if k == PARAM] + list(self.choices)))
        self.names = self.known = frozenset(self.params)
        self.count = len(self.names)

    def _compile(self, tokens: list[Token]) -> None:
        """Everything a call needs from the final token list (one variant's, when dynamic)."""
        # The skeleton is the code alone (literals -> 0, comments -> space), for syntax checks.
        skeleton: list[str] = []
        spans: list[tuple[str, int, int]] = []
        size = 0
        for kind, text in tokens:
            piece = text if kind == CODE else "0" if kind in (QUOTED, PARAM) else " "
            if kind == PARAM:
                spans.append((text, size, size + 1))
            skeleton.append(piece)
            size += len(piece)
        skel = "".join(skeleton)
        if ";" in skel:
            raise QueryError(f"{self.where}: query {self.name!r} holds more than one statement "
                             "(one statement per query; split it or use a unit of work)")
        first = _FIRST_WORD.match(skel)
        keyword = first.group(1).upper() if first else ""
        self.writes = keyword not in _READS or _DML.search(skel) is not None

        expanding: set[str] = set()
        negated: set[str] = set()
        plain: set[str] = set()
        for name, start, end in spans:
            if _IN_BEFORE.search(skel, 0, start) and _IN_AFTER.match(skel, end):
                expanding.add(name)
                if _NOT_IN_BEFORE.search(skel, 0, start):
                    negated.add(name)
            else:
                plain.add(name)
        self.params = tuple(dict.fromkeys(name for name, _, _ in spans))
        for name in expanding:
            if name in plain:
                raise QueryError(f"{self.where}: :{name} is used both as an IN (...) list and "
                                 "as a single value; use two parameters")
            clash = [p for p in self.params if re.fullmatch(rf"{name}_\d+", p)]
            if clash:
                raise QueryError(f"{self.where}: parameter :{clash[0]} clashes with the names "
                                 f"IN (:{name}) expands to; rename it")
        self.expanding = frozenset(expanding)
        self.negated = frozenset(negated)
        self.names = frozenset(self.params)
        self.count = len(self.names)
        self.known = self.names  # widened by Queries to every dialect's names for this query
        self.dropped: frozenset[str] = frozenset()  # optional parameters this variant left out

        tag = f"/* agentdb:{_TAG_UNSAFE.sub('_', self.aggregate)}.{self.name} */"
        if keyword in ("INSERT", "REPLACE") and tokens[0][0] == CODE:
            # PyMySQL only rewrites executemany into one multi-row INSERT when the statement
            # starts with INSERT/REPLACE, so the tag goes right after the keyword.
            head, cut = tokens[0][1], len(keyword)  # _trim left it starting with the keyword
            tokens[0:1] = [(CODE, head[:cut] + " "), (COMMENT, tag), (CODE, head[cut:])]
        else:
            tokens[0:0] = [(COMMENT, tag), (CODE, " ")]
        parts = _render(tokens, self.dialect, self.expanding)
        self.parts: tuple[str, ...] | None = tuple(parts) if len(parts) > 1 else None
        shown = [p if i % 2 == 0 else self.mark.format(p) for i, p in enumerate(parts)]
        self.sql = "".join(shown)  # with IN lists unexpanded when there are any

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} ({self.aggregate}.{self.name})"

    def _tokens(self, kept: frozenset[str], chosen: Mapping[str, str]) -> list[Token]:
        """The template with the conditions not ``kept`` left out and each choice filled in
        from the whitelist (its declared text, never the caller's); blank lines dropped."""
        assert self.template is not None
        out: list[Token] = []
        for kind, text, guard in self.template:
            if guard and guard not in kept:
                continue
            if kind == CHOICE:
                kind, text = CODE, chosen.get(text) or self.choices[text][0]
            if kind == CODE and out and out[-1][0] == CODE:
                out[-1] = (CODE, out[-1][1] + text)
            else:
                out.append((kind, text))
        return [(k, _BLANK_LINES.sub("", t) if k == CODE else t) for k, t in out]

    def pick(self, params: dict[str, Any]) -> Statement:
        """The compiled variant for these parameters (cached): conditions whose parameter is
        None (or absent) are left out, choices are looked up in their whitelist. Removes the
        choices and the left-out parameters from ``params``."""
        variants = self.variants
        assert variants is not None
        key: list[Any] = [params.get(name) is not None for name in self.optional]
        for name, options in self.choices.items():
            value = params.pop(name, None)
            if value is not None and value not in options:
                raise ValidationError(name, f"must be one of {', '.join(options)}, "
                                            f"got {value!r}")
            key.append(value)
        frozen = tuple(key)
        variant = variants.get(frozen)
        if variant is None:
            variant = self._variant(frozen)
        for name in variant.dropped:
            if params.get(name, 0) is None:
                del params[name]
        return variant

    def _variant(self, key: tuple[Any, ...]) -> Statement:
        assert self.variants is not None
        kept = frozenset(n for n, on in zip(self.optional, key, strict=False) if on)
        chosen = {c: v for c, v in zip(self.choices, key[len(self.optional):], strict=True)
                  if v is not None}
        variant = Statement.__new__(Statement)
        for slot in ("aggregate", "adapt", "choices", "cursor", "dialect", "fetch", "file",
                     "kind", "line", "mark", "name", "plain"):
            setattr(variant, slot, getattr(self, slot))
        variant.converters, variant.copy = {}, _UNKNOWN
        variant.template, variant.optional, variant.variants = None, (), None
        variant._compile(self._tokens(kept, chosen))
        variant.known = self.known
        variant.dropped = frozenset(self.optional) - variant.names
        self.variants[key] = variant
        return variant

    def bind(self, params: dict[str, Any]) -> str:
        """Check and adapt ``params`` in place (adding IN-list items); return the SQL to run."""
        if len(params) != self.count or not self.names.issuperset(params):
            self._check(params)
        adapt, plain = self.adapt, self.plain
        last: Any = None
        done: Any = None
        for key, value in params.items():
            if type(value) not in plain and key not in self.expanding:
                if value is not last:  # one timestamp bound twice (created_at, run_at): once
                    last, done = value, adapt(key, value)
                params[key] = done
        return self.sql if self.parts is None else self._expand(params)

    def _check(self, params: Mapping[str, Any]) -> None:
        missing = sorted(self.names - params.keys())
        unknown = sorted(params.keys() - self.known)
        problems = []
        if missing:
            problems.append("missing parameter(s) " + ", ".join(missing))
        if unknown:
            problems.append("unknown parameter(s) " + ", ".join(unknown))
        if problems:
            raise QueryError(f"{self.where}: {'; '.join(problems)} "
                             f"(expects: {', '.join(self.params) or 'none'})")

    def _expand(self, params: dict[str, Any]) -> str:
        parts = self.parts
        assert parts is not None
        out = [parts[0]]
        lists: dict[str, str] = {}
        for i in range(1, len(parts), 2):
            name = parts[i]
            if name not in lists:
                lists[name] = self._expand_one(name, params)
            out += [lists[name], parts[i + 1]]
        for name in lists:
            del params[name]
        return "".join(out)

    def _expand_one(self, name: str, params: dict[str, Any]) -> str:
        values = params[name]
        if isinstance(values, str | bytes) or not isinstance(
            values, list | tuple | set | frozenset
        ):
            raise ValidationError(name, f"must be a list or tuple (it fills IN (:{name})), "
                                        f"got {type(values).__name__}")
        if not values:
            if name in self.negated:
                raise ValidationError(name, f"must not be empty: NOT IN (:{name}) with no values "
                                            "would match no row; handle the empty case first")
            return "NULL"  # IN (NULL) matches nothing: an empty IN list
        marks = []
        for j, value in enumerate(values):
            key = f"{name}_{j}"
            params[key] = value if type(value) in PLAIN else self.adapt(name, value)
            marks.append(self.mark.format(key))
        return ", ".join(marks)


# -- parsing files --------------------------------------------------------------------------------

_NAME_LINE = re.compile(r"--\s*name\s*:(.*)$")
_HEADER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::(\w+))?\s*$")


@dataclass
class _Block:
    name: str
    kind: Kind
    file: str
    line: int  # of the name line
    body_line: int  # where the SQL text starts
    doc: str
    sql: str
    choices: dict[str, tuple[str, ...]]


_CHOICE_LINE = re.compile(r"([A-Za-z_]\w*)\s*:\s*one of\s+(.*?)\s*$")
_OPTION = re.compile(r"[A-Za-z_][\w.]*\Z")


def _choice(file: str, number: int, name: str, spec: str) -> tuple[str, ...]:
    """The options of a ``-- name: one of a, b, c`` line: identifiers or keywords only, so a
    choice can only ever put one of them into the SQL."""
    options = tuple(o.strip() for o in spec.split(","))
    bad = [o for o in options if not _OPTION.match(o)]
    if bad or not options:
        raise QueryError(f"{file}:{number}: choice {name!r}: {bad[0] if bad else spec!r} is not "
                         "an identifier; options are identifiers or keywords, comma-separated")
    return tuple(dict.fromkeys(options))


def _parse(text: str, file: str) -> dict[str, _Block]:
    """The named blocks of one .sql file; every malformation is a QueryError naming file:line."""
    blocks: dict[str, _Block] = {}
    header: tuple[str, Kind, int] | None = None
    doc: list[str] = []
    body: list[str] = []
    choices: dict[str, tuple[str, ...]] = {}
    body_line = 0
    in_doc = False

    def finish() -> None:
        if header is None:
            return
        name, kind, line = header
        if name in blocks:
            raise QueryError(f"{file}:{line}: duplicate query name {name!r} "
                             f"(first defined at line {blocks[name].line})")
        blocks[name] = _Block(name, kind, file, line, body_line, "\n".join(doc), "\n".join(body),
                              choices)

    # split("\n"), not splitlines(): that also splits on \r, \x1e, \u2028..., which may sit
    # inside a string literal and must reach the server unchanged.
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        named = _NAME_LINE.match(line)
        if named:
            finish()
            header_match = _HEADER.match(named.group(1))
            if header_match is None:
                raise QueryError(f"{file}:{number}: malformed name line {line!r}; "
                                 "expected '-- name: <identifier> :<kind>'")
            name, kind = header_match.groups()
            if kind is None:
                raise QueryError(f"{file}:{number}: query {name!r} has no kind; add one of "
                                 + ", ".join(":" + k for k in KINDS))
            if kind not in KINDS:
                raise QueryError(f"{file}:{number}: query {name!r} has unknown kind :{kind}; "
                                 "use one of " + ", ".join(":" + k for k in KINDS))
            header = (name, cast(Kind, kind), number)
            doc, body, body_line, in_doc, choices = [], [], number + 1, True, {}
        elif header is None:
            if line and not line.startswith("--"):
                raise QueryError(f"{file}:{number}: SQL before the first '-- name:' line")
        elif in_doc and line.startswith("--"):
            doc.append(line[2:].strip())
            body_line = number + 1
            declared = _CHOICE_LINE.match(doc[-1])
            if declared:
                choices[declared.group(1)] = _choice(file, number, *declared.groups())
        else:
            in_doc = False
            body.append(raw)
    finish()
    return blocks


# -- the public objects ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """One named query, with its final SQL for each dialect."""

    name: str
    kind: Kind
    doc: str
    file: str
    line: int
    statements: Mapping[str, Statement]

    @property
    def writes(self) -> bool:
        """Whether it writes on any dialect (INSERT/UPDATE/DELETE/MERGE/REPLACE, a WITH that
        holds one, SELECT ... FOR UPDATE, DDL): on SQLite a write takes the write lock."""
        return any(s.writes for s in self.statements.values())

    @property
    def params(self) -> tuple[str, ...]:
        """Parameter names, in order of first use (the portable SQL's, plus overrides')."""
        names = dict.fromkeys(p for s in self.statements.values() for p in s.params)
        return tuple(names)

    def sql(self, dialect: str) -> str:
        """The SQL the driver gets on ``dialect`` (``IN (:ids)`` lists shown unexpanded)."""
        try:
            return self.statements[dialect].sql
        except KeyError:
            raise QueryError(f"unknown dialect {dialect!r}; use one of "
                             + ", ".join(DIALECTS)) from None


class Queries:
    """The queries of one aggregate (``sql/<aggregate>.sql`` and its dialect overrides)."""

    def __init__(self, aggregate: str, source: tuple[str, str],
                 overrides: Mapping[str, tuple[str, str]] | None = None) -> None:
        """``source`` and each override are ``(file label, SQL text)``."""
        self.aggregate = aggregate
        portable = _parse(source[1], source[0])
        variants: dict[str, dict[str, _Block]] = {}
        for dialect, (label, text) in (overrides or {}).items():
            if dialect not in DIALECTS:
                raise QueryError(f"{label}: unknown dialect {dialect!r}")
            variants[dialect] = blocks = _parse(text, label)
            for block in blocks.values():
                original = portable.get(block.name)
                if original is None:
                    raise QueryError(f"{block.file}:{block.line}: override {block.name!r} has "
                                     f"no portable original in {source[0]}")
                if not block.choices:  # an override shares the original's whitelists
                    block.choices = original.choices
                if block.kind != original.kind:
                    raise QueryError(
                        f"{block.file}:{block.line}: override {block.name!r} is :{block.kind} "
                        f"but {original.file}:{original.line} is :{original.kind}; a "
                        "repository must get the same shape of result on every dialect"
                    )
        self._queries: dict[str, Query] = {}
        self._by_dialect: dict[str, dict[str, Statement]] = {d: {} for d in DIALECTS}
        for name, block in portable.items():
            statements = {
                d: Statement(variants.get(d, {}).get(name, block), d, aggregate)
                for d in DIALECTS
            }
            known = frozenset(p for s in statements.values() for p in s.names)
            for dialect, statement in statements.items():
                statement.known = known
                self._by_dialect[dialect][name] = statement
            self._queries[name] = Query(name, block.kind, block.doc, block.file, block.line,
                                        statements)

    @classmethod
    def from_text(cls, text: str, aggregate: str = "inline",
                  overrides: Mapping[str, str] | None = None) -> Queries:
        """Queries from strings (tests, one-off scripts); overrides keyed by dialect."""
        return cls(aggregate, (f"<{aggregate}>", text),
                   {d: (f"<{d}/{aggregate}>", t) for d, t in (overrides or {}).items()})

    def __getitem__(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise self._unknown(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def __repr__(self) -> str:
        return f"<Queries {self.aggregate}: {', '.join(self._queries)}>"

    def show(self, name: str, dialect: str, /, **params: Any) -> str:
        """The final SQL of one query on one dialect (for debugging and docs). With
        ``params``, the variant those parameters select: optional conditions whose parameter
        is None or absent left out, choices filled in, IN lists expanded."""
        return self._prepare(name, dialect, params, True)[0] if params else self[name].sql(
            dialect)

    def prepare(self, name: str, dialect: str, /, **params: Any) -> tuple[str, dict[str, Any]]:
        """The SQL and the driver parameters a call with ``params`` would send (checked and
        adapted as :meth:`run` does), e.g. to EXPLAIN it."""
        return self._prepare(name, dialect, params, False)

    def _prepare(self, name: str, dialect: str, params: dict[str, Any],
                 lenient: bool) -> tuple[str, dict[str, Any]]:
        stmt = self._statement(dialect, name)
        if stmt.variants is not None:
            stmt = stmt.pick(params)
        if lenient:  # show() may leave parameters out: None stands in for them
            params.update(dict.fromkeys(stmt.names - params.keys()))
        return stmt.bind(params), params

    def _unknown(self, name: str) -> QueryError:
        close = difflib.get_close_matches(name, self._queries, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return QueryError(f"no query named {name!r} in {self.aggregate}{hint}")

    def _statement(self, dialect: str, name: str) -> Statement:
        try:
            return self._by_dialect[dialect][name]
        except KeyError:
            if dialect not in self._by_dialect:
                raise QueryError(f"unknown dialect {dialect!r}") from None
            raise self._unknown(name) from None

    def run(self, db: DatabaseLike, name: str, record: type | None = None, /,
            **params: Any) -> Any:
        """Run one query: bare (one round trip) outside a unit of work, on the unit's connection
        inside one. Returns per kind: dict | None, list[dict], a value, a row count, None.
        With a ``record`` dataclass, ``:one``/``:many`` rows come back as records instead,
        built straight from the driver's tuples (see :mod:`agentdb.rows`)."""
        try:
            stmt = self._by_dialect[db.dialect][name]
        except KeyError:
            stmt = self._statement(db.dialect, name)
        if stmt.variants is not None:
            stmt = stmt.pick(params)
        # The common call inline (right names, plain values): this is the hot path.
        sql = stmt.sql
        if stmt.parts or len(params) != stmt.count or not stmt.names.issuperset(params):
            sql = stmt.bind(params)
        else:
            plain = stmt.plain
            for value in params.values():
                if type(value) not in plain:
                    sql = stmt.bind(params)
                    break
        # Seeing what runs costs this one test while no hook, slow_query_ms or DEBUG log is on.
        watch = db.watch or _LOG.isEnabledFor(DEBUG)
        while True:  # again only after a replica failed a read: it is skipped from then on
            try:
                with db.connection(stmt.writes) as conn:
                    cur = stmt.cursor(conn)
                    args: dict[str, Any] | None = params
                    if stmt.dialect == "mysql" and _text_size(sql, params) > PACKET_CHECK_FROM:
                        sql, args = check_packet(db, cur, stmt, sql, params), None  # escaped once
                    start = perf_counter() if watch else 0.0
                    try:
                        cur.execute(sql, args)
                        result = stmt.fetch(cur, stmt, record)
                    except Exception as exc:
                        if stmt.dialect == "sqlite":  # the reused cursor may be mid-rows
                            conn.fresh_cursor()
                        error = translate(exc, stmt, conn)
                        if watch:
                            report(db, stmt, sql, params, perf_counter() - start, -1,
                                   error or exc)
                        if error is None:
                            raise
                        raise error from exc
                    if watch:
                        elapsed = perf_counter() - start
            except ReplicaUnavailable:
                continue  # the statement does not write: safe to run on another server
            if watch:
                report(db, stmt, sql, params, elapsed, _rowcount(stmt.kind, result, cur), None)
            return result

    def stream(self, db: DatabaseLike, name: str, /, *, batch_size: int = STREAM_BATCH,
               **params: Any) -> RowStream:
        """The rows of a ``:many`` query, fetched ``batch_size`` at a time instead of all at
        once: a server-side (named) cursor inside a unit of work on PostgreSQL (the caller's,
        or one of its own), an unbuffered cursor on MariaDB, the cursor itself on SQLite.
        Rows are dicts. Use it in a ``with`` block: leaving the block, an early ``break`` or an
        exception closes the cursor and hands the connection back clean. While a MariaDB
        stream is open, its connection can run nothing else."""
        stmt = self._statement(db.dialect, name)
        if stmt.kind != "many":
            raise QueryError(f"{stmt.where}: stream needs a :many query, not :{stmt.kind}")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValidationError("batch_size", "must be a positive integer")
        if stmt.variants is not None:
            stmt = stmt.pick(params)
        sql = stmt.bind(params)
        return RowStream(_stream(db, stmt, sql, params, batch_size))

    def run_many(self, db: DatabaseLike, name: str, rows: Iterable[Mapping[str, Any]], /,
                 *, chunk_size: int = CHUNK_SIZE) -> int:
        """Run an ``:exec``/``:affected`` query once per row, all or nothing, and return the
        number of rows affected.

        On PostgreSQL a plain ``INSERT INTO t (cols) VALUES (:a, :b, ...)`` becomes one
        ``COPY t (cols) FROM STDIN`` streamed from the rows (several times faster than
        executemany; one statement, so atomic even bare). Otherwise the rows go in one unit of
        work (the caller's, if it is in one), one round trip per chunk: psycopg pipelines
        executemany, PyMySQL folds an INSERT into one multi-row INSERT, sqlite3 loops in C."""
        stmt = self._statement(db.dialect, name)
        if stmt.kind not in ("exec", "affected"):
            raise QueryError(f"{stmt.where}: run_many needs an :exec or :affected query, "
                             f"not :{stmt.kind}")
        if stmt.parts is not None or stmt.variants is not None:
            raise QueryError(f"{stmt.where}: run_many cannot expand IN (...) lists, leave out "
                             "optional conditions or fill in choices")
        iterator = iter(rows)
        chunk = _chunk(iterator, chunk_size)
        if not chunk:
            return 0
        plan = _copy_plan(stmt)
        if plan is not None:
            return _copy(db, stmt, plan, chunk, iterator)
        total = 0
        with db.transaction() as conn:
            cur = stmt.cursor(conn)
            while chunk:
                memo: dict[int, Any] = {}  # per chunk: the chunk keeps its values alive
                args = [_bound(stmt, row, memo) for row in chunk]
                if stmt.dialect == "mysql":
                    for row_params in args:
                        if _text_size(stmt.sql, row_params) > PACKET_CHECK_FROM:
                            check_packet(db, cur, stmt, stmt.sql, row_params)
                watch = db.watch or _LOG.isEnabledFor(DEBUG)
                start = perf_counter()
                try:
                    cur.executemany(stmt.sql, args)
                except Exception as exc:
                    error = translate(exc, stmt, conn)
                    if watch:  # parameters of a batch are never logged: there are too many
                        report(db, stmt, stmt.sql, {}, perf_counter() - start, -1, error or exc)
                    if error is None:
                        raise
                    raise error from exc
                total += max(cur.rowcount, 0)
                if watch:
                    report(db, stmt, stmt.sql, {}, perf_counter() - start, cur.rowcount, None)
                chunk = _chunk(iterator, chunk_size)
        return total


class RowStream:
    """Rows as they arrive; closes its cursor on exhaustion, :meth:`close` or ``with`` exit."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Generator[dict[str, Any], None, None]) -> None:
        self._rows = rows

    def __iter__(self) -> RowStream:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._rows)

    def close(self) -> None:
        """Stop early: close the cursor and give the connection back (idempotent)."""
        self._rows.close()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stream(db: DatabaseLike, stmt: Statement, sql: str, params: dict[str, Any],
            batch_size: int) -> Generator[dict[str, Any], None, None]:
    """The generator behind :meth:`Queries.stream`. An early close arrives as GeneratorExit at
    a ``yield``: it is caught, so the connection's context sees a clean exit (a caller's unit
    of work is not doomed by a consumer that merely stopped reading). Reported (log, hooks)
    once, at the end, with the time from opening to closing and the rows handed out."""
    dialect = db.dialect
    watch = db.watch or _LOG.isEnabledFor(DEBUG)
    start = perf_counter()
    count = 0
    failure: BaseException | None = None
    # A PostgreSQL server-side cursor lives in a transaction: the caller's unit, or our own.
    scope = db.transaction(readonly=True) if dialect == "postgresql" else db.connection()
    with scope as conn:
        cur = _stream_cursor(conn, dialect, batch_size)

        def fetch() -> list[Any]:
            try:
                return list(cur.fetchmany(batch_size))
            except Exception as exc:
                error = translate(exc, stmt, conn)
                if error is None:
                    raise
                raise error from exc

        try:
            try:
                cur.execute(sql, params)
            except Exception as exc:
                error = translate(exc, stmt, conn)
                if error is None:
                    raise
                raise error from exc
            rows = fetch()
            names = None if not rows or isinstance(rows[0], dict) else [
                d[0] for d in cur.description]  # SQLite: tuples, made dicts here
            while rows:
                count += len(rows)
                if names is None:
                    yield from rows
                else:
                    for values in rows:
                        yield dict(zip(names, values, strict=True))
                rows = fetch()
        except GeneratorExit:
            pass
        except BaseException as exc:
            failure = exc
            raise
        finally:
            cur.close()  # PostgreSQL: CLOSE; MariaDB: reads off what is left; SQLite: reset
            if watch:
                report(db, stmt, sql, params, perf_counter() - start, count, failure)


_STREAMS = itertools.count()


def _stream_cursor(conn: Any, dialect: str, batch_size: int) -> Any:
    """A cursor that fetches as it goes, with dict rows, for one of the three drivers."""
    if dialect == "postgresql":
        from psycopg import Cursor
        from psycopg.rows import dict_row

        if getattr(conn, "begin_pending", False):  # the unit's lazy BEGIN, not yet sent
            conn.begin_pending = False
            Cursor(conn).execute("BEGIN")
        cur = conn.cursor(name=f"agentdb_stream_{next(_STREAMS)}", row_factory=dict_row)
        cur.itersize = batch_size
        return cur
    if dialect == "mysql":
        from pymysql.cursors import SSDictCursor

        if getattr(conn, "begin_pending", False):
            conn.begin_pending = False
            conn.begin()
        return conn.cursor(SSDictCursor)
    cur = conn.cursor()
    cur.row_factory = None  # tuples: _stream zips them with the column names once fetched
    cur.arraysize = batch_size
    return cur


def _bound(stmt: Statement, row: Mapping[str, Any], memo: dict[int, Any]) -> dict[str, Any]:
    """One row's parameters, checked and adapted (a copy: the caller's mapping is untouched).
    ``memo`` keeps each adapted object by identity for one chunk, so a value many rows share
    (a batch's timestamp) is adapted once; the chunk holds the rows, so no id is reused."""
    params = dict(row)
    if len(params) != stmt.count or not stmt.names.issuperset(params):
        stmt._check(params)
    plain = stmt.plain
    for key, value in params.items():
        if type(value) not in plain:
            done = memo.get(id(value), memo)
            if done is memo:
                done = memo[id(value)] = stmt.adapt(key, value)
            params[key] = done
    return params


_COPYABLE = re.compile(
    r"INSERT\s+(/\*[^*]*\*/)\s*INTO\s+([A-Za-z_][\w.]*)\s*\(([\w\s,]+)\)\s*"
    r"VALUES\s*\(((?:\s*%\(\w+\)s\s*,)*\s*%\(\w+\)s\s*)\)\s*", re.IGNORECASE)
_PG_PARAM = re.compile(r"%\((\w+)\)s")


def _copy_plan(stmt: Statement) -> tuple[str, tuple[str, ...]] | None:
    """(COPY statement, parameter per column) when ``stmt`` is a PostgreSQL INSERT whose
    VALUES are all lone placeholders (nothing else could be streamed as is); else None."""
    if stmt.copy is not _UNKNOWN:
        return stmt.copy  # type: ignore[no-any-return]
    plan = None
    match = _COPYABLE.fullmatch(stmt.sql) if stmt.dialect == "postgresql" else None
    if match is not None:
        tag, table, columns, values = match.groups()
        names = [c.strip() for c in columns.split(",")]
        params = tuple(_PG_PARAM.findall(values))
        if len(names) == len(params) and all(names):
            plan = (f"{tag} COPY {table} ({', '.join(names)}) FROM STDIN", params)
    stmt.copy = plan
    return plan


def _copy(db: DatabaseLike, stmt: Statement, plan: tuple[str, tuple[str, ...]],
          first: list[Mapping[str, Any]], rest: Iterator[Mapping[str, Any]]) -> int:
    """Stream every row through one COPY; a bad row (or any error) aborts all of it."""
    sql, order = plan
    count = 0
    watch = db.watch or _LOG.isEnabledFor(DEBUG)
    start = perf_counter()
    with db.connection(True) as conn:  # bare: one COPY is one atomic statement
        cur = stmt.cursor(conn)
        try:
            with cur.copy(sql) as copy:
                write = copy.write_row
                chunk = first
                while chunk:
                    memo: dict[int, Any] = {}  # per chunk, as in _bound
                    for row in chunk:
                        params = _bound(stmt, row, memo)
                        write([params[p] for p in order])
                    count += len(chunk)
                    chunk = _chunk(rest, CHUNK_SIZE)
        except Exception as exc:
            error = translate(exc, stmt, conn)
            if watch:  # reported as the statement it stands for, never with its rows
                report(db, stmt, stmt.sql, {}, perf_counter() - start, -1, error or exc)
            if error is None:
                raise
            raise error from exc
    if watch:
        report(db, stmt, stmt.sql, {}, perf_counter() - start, count, None)
    return count


def _chunk(rows: Iterator[Mapping[str, Any]], size: int) -> list[Mapping[str, Any]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            break
    return chunk


def load(aggregate: str, path: str | Path | None = None) -> Queries:
    """The queries of ``<path>/<aggregate>.sql`` plus ``<path>/<dialect>/<aggregate>.sql``
    overrides, parsed and converted once (cached per aggregate and resolved folder, however
    it is spelled); ``path`` is the application's SQL folder, agentdb's own ``sql/`` when left
    out."""
    if not re.fullmatch(r"[A-Za-z_]\w*", aggregate):
        raise QueryError(f"aggregate name {aggregate!r} must be an identifier")
    return _load(aggregate, (Path(path) if path is not None else sql_dir()).resolve())


@functools.cache
def _load(aggregate: str, root: Path) -> Queries:
    def label(file: Path) -> str:  # sql/postgresql/jobs.sql: short, and says which file
        return str(file.relative_to(root.parent))

    portable = root / f"{aggregate}.sql"
    overrides = {
        d: (label(p), p.read_text(encoding="utf-8"))
        for d in DIALECTS
        if (p := root / d / f"{aggregate}.sql").is_file()
    }
    if not portable.is_file():
        where = f" (overrides exist: {', '.join(v[0] for v in overrides.values())})"
        raise QueryError(f"{portable}: no such SQL file{where if overrides else ''}")
    return Queries(aggregate, (label(portable), portable.read_text(encoding="utf-8")), overrides)


# -- seeing what runs ----------------------------------------------------------------------------

_LOG = logging.getLogger("agentdb.sql")


def _rowcount(kind: str, result: Any, cur: Any) -> int:
    """Rows returned (or affected) by a finished statement; -1 when the driver cannot say."""
    if kind == "many":
        return len(result)
    if kind in ("one", "scalar"):
        return int(result is not None)
    if kind == "affected":
        return int(result)
    return int(cur.rowcount)


def report(db: DatabaseLike, stmt: Statement, sql: str, params: Mapping[str, Any],
           seconds: float, rowcount: int, error: BaseException | None) -> None:
    """Tell the ``agentdb.sql`` log and the database's hooks about one statement: DEBUG with
    its tag, duration and row count (parameter values only with ``log_parameters``), WARNING
    past ``slow_query_ms``. Never raises: a broken hook is logged, not propagated."""
    tag = f"{stmt.aggregate}.{stmt.name}"
    ms = seconds * 1000
    config = db.config
    slow = config.slow_query_ms
    level = WARNING if slow is not None and ms >= slow else DEBUG
    if _LOG.isEnabledFor(level):
        message = "%s %.3f ms, %d rows"
        args: tuple[Any, ...] = (tag, ms, rowcount)
        if level == WARNING:
            message = "slow statement " + message + f" (slow_query_ms={slow:g})"
        if error is not None:
            message += ", failed: %s"
            args += (type(error).__name__,)
        if config.log_parameters:
            message += ", params %r"
            args += (dict(params),)
        _LOG.log(level, message, *args, extra={
            "sql_tag": tag, "duration_ms": ms, "rowcount": rowcount})
    for hook in db.hooks:
        try:
            hook(tag, sql, ms, rowcount, error)
        except Exception:
            _LOG.warning("query hook %r failed for %s", hook, tag, exc_info=True)


# -- driver errors --------------------------------------------------------------------------------

_PG_KEY = re.compile(r"Key \((.*?)\)=\(")
_PG_GONE_STATES = frozenset({"57P01", "57P02", "57P03"})
_MY_GONE_CODES = frozenset({0, 1053, 1927, 2003, 2006, 2013, 2055})
_MY_DUP_KEY = re.compile(r"for key '([^']+)'")
_MY_FK_COLUMN = re.compile(r"FOREIGN KEY \(`([^`]+)`")
_MY_NULL_COLUMN = re.compile(r"Column '([^']+)'")
_MY_CHECK = re.compile(r"(?:constraint|CONSTRAINT) [`']([^`']+)[`']")


# -- MySQL's packet limit -------------------------------------------------------------------------

#: Statements whose text and parameters hold fewer characters than this are never measured:
#: even at 4 bytes a character they fit any max_allowed_packet worth running with (>= 64 KiB).
PACKET_CHECK_FROM = 16 * 1024
_PACKETS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _text_size(sql: str, params: Mapping[str, Any]) -> int:
    """Characters of SQL and text parameters: a cheap bound on a statement's size."""
    size = len(sql)
    for value in params.values():
        if type(value) is str or type(value) is bytes:
            size += len(value)
    return size


def check_packet(db: Any, cur: Any, stmt: Statement, sql: str, params: Mapping[str, Any]) -> str:
    """The statement as PyMySQL will send it, refused (before sending) if it is longer than
    the server's ``max_allowed_packet``: the server would answer error 1153 and drop the
    connection. The size is exact (the escaped text, as UTF-8); the limit is read once per
    pool. The ValidationError names the largest parameter."""
    query: str = cur.mogrify(sql, params)
    size = len(query.encode("utf-8", "surrogatepass")) + 1  # + the COM_QUERY byte
    limit = _PACKETS.get(db)
    if limit is None:
        import pymysql.cursors

        probe = cur.connection.cursor(pymysql.cursors.Cursor)  # plain rows; no lazy BEGIN
        probe.execute("SELECT @@max_allowed_packet")
        limit = int(probe.fetchone()[0])
        probe.close()
        with contextlib.suppress(TypeError):  # not weakly referenceable: ask again next time
            _PACKETS[db] = limit
    if size > limit - 1024:  # the server refuses size == limit already; keep a margin
        sized = [(len(v), k) for k, v in params.items() if isinstance(v, str | bytes)]
        field = max(sized)[1] if sized else "statement"
        raise ValidationError(field, f"too large for this server: {stmt.aggregate}.{stmt.name} "
                                     f"would be a {size}-byte statement, over its "
                                     f"max_allowed_packet of {limit} bytes")
    return query


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(exc: Exception, stmt: Statement, conn: Any) -> AgentDBError | None:
    """The agentdb error for a driver exception (None: not a driver error, re-raise as is).
    Conflict and validation messages name the constraint or column, never the values."""
    if isinstance(exc, AgentDBError):
        return None
    if stmt.dialect == "postgresql":
        return _translate_pg(exc, stmt, conn)
    if stmt.dialect == "mysql":
        return _translate_mysql(exc, stmt, conn)
    return _translate_sqlite(exc, stmt)


def _translate_pg(exc: Exception, stmt: Statement, conn: Any) -> AgentDBError | None:
    import psycopg
    from psycopg import errors as pe

    if not isinstance(exc, psycopg.Error):
        return None
    diag = exc.diag
    columns = _PG_KEY.match(diag.message_detail or "")
    if isinstance(exc, pe.UniqueViolation):
        what = f"({columns.group(1)})" if columns else "value"
        return ConflictError(f"duplicate {what} violates unique constraint "
                             f"{diag.constraint_name or '?'} on {diag.table_name or '?'}")
    if isinstance(exc, pe.ForeignKeyViolation):
        field = columns.group(1) if columns else "reference"
        if "still referenced" in (diag.message_detail or ""):
            return ValidationError(field, f"is still referenced (constraint "
                                          f"{diag.constraint_name or '?'})")
        return ValidationError(field, f"refers to a row that does not exist (constraint "
                                      f"{diag.constraint_name or '?'})")
    if isinstance(exc, pe.NotNullViolation):
        return ValidationError(diag.column_name or "value", "must not be null")
    if isinstance(exc, pe.CheckViolation):
        return ValidationError(diag.constraint_name or "value", "violates a check constraint")
    gone = isinstance(exc, psycopg.OperationalError) and (
        exc.sqlstate is None or exc.sqlstate.startswith("08") or exc.sqlstate in _PG_GONE_STATES
    )
    if gone or getattr(conn, "broken", False) or getattr(conn, "closed", False):
        return DatabaseUnavailable(f"{stmt.where}: lost the connection to postgresql: "
                                   f"{_first_line(exc)}")
    return QueryError(f"{stmt.where}: {_first_line(exc)}")


def _translate_mysql(exc: Exception, stmt: Statement, conn: Any) -> AgentDBError | None:
    import pymysql

    if not isinstance(exc, pymysql.err.Error):
        return None
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code == 1062:
        key = _MY_DUP_KEY.search(message)
        return ConflictError(f"duplicate value violates unique key {key.group(1) if key else '?'}")
    if code in (1451, 1452):
        column = _MY_FK_COLUMN.search(message)
        field = column.group(1) if column else "reference"
        if code == 1451:
            return ValidationError(field, "is still referenced (foreign key)")
        return ValidationError(field, "refers to a row that does not exist (foreign key)")
    if code == 1048:
        column = _MY_NULL_COLUMN.search(message)
        return ValidationError(column.group(1) if column else "value", "must not be null")
    if code in (3819, 4025):
        check = _MY_CHECK.search(message)
        return ValidationError(check.group(1) if check else "value", "violates a check constraint")
    if code in _MY_GONE_CODES or not getattr(conn, "open", True):
        return DatabaseUnavailable(f"{stmt.where}: lost the connection to mysql: {message}")
    return QueryError(f"{stmt.where}: ({code}) {message}")


def _translate_sqlite(exc: Exception, stmt: Statement) -> AgentDBError | None:
    import sqlite3

    if not isinstance(exc, sqlite3.Error):
        return None
    message = _first_line(exc)
    detail = message.partition(": ")[2]
    if isinstance(exc, sqlite3.IntegrityError):
        if message.startswith("UNIQUE constraint failed"):
            return ConflictError(f"duplicate value violates unique constraint on {detail}")
        if message.startswith("FOREIGN KEY constraint failed"):
            return ValidationError("reference", "refers to a row that does not exist, or is "
                                                "still referenced (foreign key)")
        if message.startswith("NOT NULL constraint failed"):
            return ValidationError(detail.rpartition(".")[2] or "value", "must not be null")
        if message.startswith("CHECK constraint failed"):
            return ValidationError(detail or "value", "violates a check constraint")
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_CANTOPEN":
        return DatabaseUnavailable(f"{stmt.where}: cannot open the sqlite database: {message}")
    return QueryError(f"{stmt.where}: {message}")


__all__ = [
    "CHUNK_SIZE",
    "DIALECTS",
    "KINDS",
    "DatabaseLike",
    "Kind",
    "Queries",
    "Query",
    "RowStream",
    "Statement",
    "convert",
    "load",
    "scan",
    "sql_dir",
    "translate",
]
