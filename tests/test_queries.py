"""The query loader and executor: what every repository trusts.

Loader tests need no database. Placeholder conversion is property-tested (generated SQL made of
literals, identifiers, comments, dollar quotes, casts and placeholders: the placeholders found
are exactly the generated ones and everything else survives), then the same round trip goes
through the real drivers. Execution tests run on sqlite, postgresql and mysql, on tables they
create themselves.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import DIALECTS, Databases, _admin, require_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentdb import ConflictError, DatabaseUnavailable, QueryError, ValidationError
from agentdb.convert import adapt_mysql, adapt_postgresql, adapt_sqlite, from_json, to_bool, to_utc
from agentdb.pool import Database
from agentdb.queries import (
    CHUNK_SIZE,
    KINDS,
    PARAM,
    Queries,
    _copy_plan,
    convert,
    load,
    scan,
    sql_dir,
)
from agentdb.records import Record

FIXTURES = Path(__file__).parent / "sql_fixtures"


def one(sql: str, **overrides: str) -> Queries:
    """Queries holding a single query ``q`` (kind :many) made of ``sql``."""
    return Queries.from_text(f"-- name: q :many\n{sql}\n", "t",
                             {d: f"-- name: q :many\n{s}\n" for d, s in overrides.items()})


# -- loading ------------------------------------------------------------------------------------


def test_load_reads_names_kinds_docs_and_overrides() -> None:
    queries = load("items", FIXTURES)
    assert load("items", FIXTURES) is queries  # parsed once
    assert load("items", path=str(FIXTURES)) is queries  # however the folder is spelled
    assert "get_item" in queries and len(queries) == len(list(queries))
    q = queries["list_items"]
    assert (q.kind, q.doc, q.params) == ("many", "Items with the given ids, in id order.", ("ids",))
    assert q.file == "sql_fixtures/items.sql" and q.line == 12
    assert {queries[n].kind for n in queries} == set(KINDS)
    assert queries["echo"].doc.startswith("A parameter and a literal")
    assert "CAST(%(value)s AS text)" in queries.show("echo", "postgresql")
    assert "\\'q\\'" in queries.show("echo", "mysql")
    assert "'100% :x ;-- /* ''q'' */'" in queries.show("echo", "sqlite")  # portable version
    assert queries["echo"].statements["postgresql"].file == "sql_fixtures/postgresql/items.sql"
    assert queries["get_item"].writes is False and queries["add_item"].writes is True
    with pytest.raises(QueryError, match="unknown dialect 'oracle'"):
        queries.show("get_item", "oracle")


def test_sql_dir_finds_the_shipped_sql() -> None:
    assert sql_dir().is_dir() and sql_dir().name == "sql"


@pytest.mark.parametrize(
    ("aggregate", "message"),
    [
        ("duplicate", "duplicate.sql:7: duplicate query name 'a' (first defined at line 1)"),
        ("bad_kind", "bad_kind.sql:4: query 'b' has unknown kind :first"),
        ("no_kind", "no_kind.sql:4: query 'b' has no kind"),
        ("preamble", "preamble.sql:3: SQL before the first '-- name:' line"),
        ("no_sql", "no_sql.sql:1 (no_sql.a): query 'a' has no SQL"),
        ("orphan", "postgresql/orphan.sql:4: override 'zzz' has no portable original"),
        ("override_only", "override_only.sql: no such SQL file (overrides exist: "),
        ("missing", "missing.sql: no such SQL file"),
        ("../etc", "must be an identifier"),
    ],
)
def test_malformed_files_name_file_line_and_query(aggregate: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        load(aggregate, FIXTURES)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- name: get-job :one\nSELECT 1", "<t>:1: malformed name line"),
        ("-- name: a :one\nSELECT 1; SELECT 2", "<t>:1 (t.a): query 'a' holds more than one"),
        ("-- name: a :one\n\nSELECT 'oops", "<t>:3: query 'a': unterminated string literal"),
        ("-- name: a :one\nSELECT 1 /* open", "<t>:2: query 'a': unterminated /* comment"),
        ("-- name: a :one\nSELECT 'C:\\'", "unterminated string literal (as mysql reads it)"),
        ("-- name: a :one\nSELECT 1 FROM t WHERE a IN (:a) OR b = :a", "used both as an IN"),
        ("-- name: a :one\nSELECT 1 FROM t WHERE a IN (:a) OR b = :a_0", ":a_0 clashes"),
    ],
)
def test_malformed_text_is_refused_at_load(text: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        Queries.from_text(text, "t")
    assert message in str(info.value)


def test_an_override_must_keep_the_kind() -> None:
    with pytest.raises(QueryError, match=r"<postgresql/t>:1: override 'a' is :many but <t>:1"):
        Queries.from_text("-- name: a :one\nSELECT 1", "t",
                          {"postgresql": "-- name: a :many\nSELECT 1"})


def test_unknown_query_suggests_a_close_name() -> None:
    with pytest.raises(QueryError, match="no query named 'get_iten' in items; did you mean "
                                         "'get_item'"):
        load("items", FIXTURES)["get_iten"]


def test_statement_text_is_trimmed_and_tagged() -> None:
    queries = Queries.from_text(
        "-- name: add :exec\n-- doc\n\n-- a comment before the statement\n"
        "  INSERT INTO t (a) VALUES (:a);  -- trailing\n-- more\n\n"
        "-- name: get :one\nSELECT a FROM t WHERE a = :a -- why\n;\n", "jobs")
    assert queries.show("add", "mysql") == (
        "INSERT /* agentdb:jobs.add */ INTO t (a) VALUES (%(a)s)")
    assert queries.show("get", "sqlite") == "/* agentdb:jobs.get */ SELECT a FROM t WHERE a = :a"
    assert queries["add"].doc == "doc"


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT 1", False),
        ("(SELECT 1) UNION (SELECT 2)", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("SELECT 'update me', updated_at, \"delete\" FROM t", False),
        ("INSERT INTO t VALUES (1)", True),
        ("update t SET a = 1", True),
        ("DELETE FROM t", True),
        ("REPLACE INTO t VALUES (1)", True),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", True),
        ("WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x", True),
        ("SELECT id FROM jobs LIMIT 1 FOR UPDATE SKIP LOCKED", True),
        ("CREATE TABLE t (a int)", True),
    ],
)
def test_writes_is_detected_from_the_syntax(sql: str, writes: bool) -> None:
    assert one(sql)["q"].writes is writes


def test_mysql_executemany_rewrite_recognises_our_inserts() -> None:
    from pymysql.cursors import RE_INSERT_VALUES

    sql = load("items", FIXTURES).show("add_item", "mysql")
    assert RE_INSERT_VALUES.match(sql), sql


# -- placeholder conversion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "pyformat", "sqlite"),
    [
        ("a = :id", "a = %(id)s", "a = :id"),
        (":id::text", "%(id)s::text", ":id::text"),
        ("a::int = :b", "a::int = %(b)s", "a::int = :b"),
        ("'100%' LIKE :p", "'100%%' LIKE %(p)s", "'100%' LIKE :p"),
        ("a % 2 = :x", "a %% 2 = %(x)s", "a % 2 = :x"),
        ("'it''s :no' = :yes", "'it''s :no' = %(yes)s", "'it''s :no' = :yes"),
        ('"col:no" = :yes', '"col:no" = %(yes)s', '"col:no" = :yes'),
        ("`col:no` = :yes", "`col:no` = %(yes)s", "`col:no` = :yes"),
        ("a -- :no\n= :yes", "a -- :no\n= %(yes)s", "a -- :no\n= :yes"),
        ("a /* :no */ = :yes", "a /* :no */ = %(yes)s", "a /* :no */ = :yes"),
        ("x[1:2], a:b, :=, :1", "x[1:2], a:b, :=, :1", "x[1:2], a:b, :=, :1"),
        ("f(:a,:b)", "f(%(a)s,%(b)s)", "f(:a,:b)"),
    ],
)
def test_placeholders_convert_outside_literals_and_comments(
    sql: str, pyformat: str, sqlite: str
) -> None:
    assert convert(sql, "postgresql")[0] == pyformat
    assert convert(sql, "mysql")[0] == pyformat
    assert convert(sql, "sqlite")[0] == sqlite


def test_dialect_specific_quoting() -> None:
    pg = "SELECT $$ :no $$, $t$ '$$ :no $t$, E'\\' :no', '\\', :yes /* /* :no */ :no */"
    assert convert(pg, "postgresql")[1] == ["yes"]
    assert convert("SELECT '\\' :no', \"\\\" :no\", :yes # :no\n", "mysql")[1] == ["yes"]
    assert convert("SELECT $1, a$b, :yes", "postgresql")[1] == ["yes"]


def test_in_lists_expand_on_every_dialect() -> None:
    queries = one("SELECT * FROM t WHERE a IN (:ids) AND b NOT IN ( :xs ) AND c = :c")
    stmt = queries["q"].statements["postgresql"]
    params: dict[str, Any] = {"ids": [1, 2, 3], "xs": ("x",), "c": 0}
    assert stmt.bind(params).endswith(
        "a IN (%(ids_0)s, %(ids_1)s, %(ids_2)s) AND b NOT IN ( %(xs_0)s ) AND c = %(c)s")
    assert params == {"c": 0, "ids_0": 1, "ids_1": 2, "ids_2": 3, "xs_0": "x"}
    lite = queries["q"].statements["sqlite"]
    assert lite.bind({"ids": [], "xs": ["y"], "c": 0}).endswith(
        "a IN (NULL) AND b NOT IN ( :xs_0 ) AND c = :c")
    with pytest.raises(ValidationError, match="xs: must not be empty: NOT IN"):
        lite.bind({"ids": [1], "xs": [], "c": 0})
    with pytest.raises(ValidationError, match="ids: must be a list or tuple"):
        lite.bind({"ids": "abc", "xs": [1], "c": 0})
    assert "a IN (:ids)" in queries.show("q", "sqlite")  # shown unexpanded


def test_missing_and_unknown_parameters_name_the_query() -> None:
    queries = load("items", FIXTURES)
    stmt = queries["rename"].statements["sqlite"]
    with pytest.raises(QueryError, match=r"items.sql:\d+ \(items.rename\): missing parameter\(s\)"
                                         r" label; unknown parameter\(s\) nope"):
        stmt.bind({"id": 1, "nope": 2})
    # A parameter only some dialect's override uses is accepted (and ignored) elsewhere.
    both = Queries.from_text("-- name: q :one\nSELECT :a", "t",
                             {"postgresql": "-- name: q :one\nSELECT :a, :b"})
    assert both["q"].params == ("a", "b")
    both["q"].statements["sqlite"].bind({"a": 1, "b": 2})
    with pytest.raises(QueryError, match="missing parameter"):
        both["q"].statements["postgresql"].bind({"a": 1})


# Fragments of SQL: ("sql text", placeholder name or None). Joined with spaces.
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
# Text biased towards what could fool a scanner: quotes, comment openers, placeholders, casts.
_BITS = [":x", ":id", "::", "%", "%(x)s", "'", "''", '"', "`", "--", "/*", "*/", "$$", "$q$",
         "\\", "\n", "\r", ";", " ", "E'", "#"]
_chars = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_text = st.lists(st.one_of(st.sampled_from(_BITS), st.text(_chars, max_size=3)), max_size=6).map(
    "".join)
_code = st.sampled_from(["SELECT", "x", "=", "(", ")", ",", "1", "%", "%s", "%%", "%(a)s",
                         "::text", "a::int", "x[1:2]", "a:b", ":", "::", "+", "$1", "1e3"])


def _fragment(dialect: str) -> st.SearchStrategy[tuple[str, str | None]]:
    backslash = dialect == "mysql"

    def quoted(q: str, escape_backslash: bool) -> st.SearchStrategy[str]:
        def build(t: str) -> str:
            if escape_backslash:
                t = t.replace("\\", "\\\\")
            return q + t.replace(q, q + q) + q
        return _text.map(build)

    parts: list[st.SearchStrategy[str]] = [
        _code,
        quoted("'", backslash),
        quoted('"', backslash),
        quoted("`", False),
        # MySQL's -- needs whitespace after it; its /*! ... */ is code, not a comment
        _text.filter(lambda t: "\n" not in t and "\r" not in t).map(
            lambda t: f"-- {t}\n" if backslash else f"--{t}\n"),
        _text.map(lambda t: f"/*{t}*/").filter(
            lambda c: c.find("*/", 2) == len(c) - 2
            and (dialect != "postgresql" or c.find("/*", 1) == -1)
            and (dialect != "mysql" or not c.startswith(("/*!", "/*M!")))),
    ]
    if dialect == "postgresql":
        parts.append(st.tuples(st.sampled_from(["$$", "$q$", "$tag_1$"]), _text)
                     .filter(lambda p: (p[1] + p[0]).find(p[0]) == len(p[1]))
                     .map(lambda p: p[0] + p[1] + p[0]))
        parts.append(_text.map(lambda t: "E'" + t.replace("\\", "\\\\").replace("'", "\\'")
                               + "'"))
    if dialect == "mysql":
        parts.append(_text.filter(lambda t: "\n" not in t and "\r" not in t)
                     .map(lambda t: f"#{t}\n"))
        parts.append(_text.map(lambda t: "'" + t.replace("\\", "\\\\").replace("'", "\\'")
                               + "'"))
    plain = st.one_of(parts).map(lambda s: (s, None))
    return st.one_of(plain, _names.map(lambda n: (":" + n, n)))


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_property_placeholders_found_are_exactly_the_generated_ones(
    dialect: str, data: st.DataObject
) -> None:
    fragments = data.draw(st.lists(_fragment(dialect), max_size=12))
    sql = " ".join(text for text, _ in fragments)
    converted, found = convert(sql, dialect)
    assert found == [name for _, name in fragments if name]
    expected = " ".join(f"<{name}>" if name else text for text, name in fragments)
    if dialect == "sqlite":
        assert converted == sql  # sqlite3 reads :name itself
    else:  # what psycopg / PyMySQL do with the text and a dict of parameters
        assert converted % {name: f"<{name}>" for name in found} == expected
    tokens = scan(sql, dialect)  # lossless: the pieces put back together are the input
    assert "".join(":" + text if kind == PARAM else text for kind, text in tokens) == sql


# -- value conversion ---------------------------------------------------------------------------


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


AT = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_adapters_per_dialect() -> None:
    local = AT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert adapt_sqlite("at", local) == "2024-01-02T03:04:05.000006+00:00"
    assert adapt_sqlite("at", AT.replace(microsecond=0)) == "2024-01-02T03:04:05.000000+00:00"
    assert adapt_mysql("at", local) == datetime(2024, 1, 2, 3, 4, 5, 6)
    assert adapt_postgresql("at", local) is local
    for adapt in (adapt_sqlite, adapt_mysql, adapt_postgresql):
        with pytest.raises(ValidationError, match=r"^due: must be a timezone-aware datetime"):
            adapt("due", datetime(2024, 1, 2))
        assert adapt("c", Color.RED) == "red"
        assert adapt("u", uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert adapt_sqlite("d", {"é": [1, AT]}) == '{"é":[1,"2024-01-02T03:04:05.000006+00:00"]}'
    assert adapt_mysql("d", [1, "x"]) == '[1,"x"]'
    assert type(adapt_postgresql("d", {"a": 1})).__name__ == "Jsonb"
    with pytest.raises(ValidationError, match=r"^d: cannot be stored as JSON"):
        adapt_sqlite("d", {"a": object()})


def test_result_helpers() -> None:
    assert to_utc(None) is None
    assert to_utc("2024-01-02T03:04:05.000006+00:00") == AT
    assert to_utc("2024-01-02 03:04:05.000006") == AT
    assert to_utc(datetime(2024, 1, 2, 3, 4, 5, 6)) == AT
    aware = to_utc(AT.astimezone(timezone(timedelta(hours=-7))))
    assert aware == AT and aware is not None and aware.tzinfo is UTC
    assert from_json('{"a": [1]}') == {"a": [1]} and from_json(b"[1]") == [1]
    assert from_json({"a": 1}) == {"a": 1} and from_json(None) is None
    assert [to_bool(v) for v in (True, 1, 0, b"\x01", b"\x00", "t", "false")] == [
        True, True, False, True, False, True, False]
    with pytest.raises(ValueError):
        to_bool(None)


# -- execution on the three backends ------------------------------------------------------------

_DDL = {
    "postgresql": [
        "CREATE TABLE q_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE q_items (id INTEGER PRIMARY KEY, label VARCHAR(200) NOT NULL "
        "CONSTRAINT q_items_label_key UNIQUE, body TEXT, data JSONB, at TIMESTAMPTZ, "
        "flag BOOLEAN, parent_id INTEGER REFERENCES q_parent (id), qty INTEGER)",
    ],
    "mysql": [
        "CREATE TABLE q_parent (id INTEGER PRIMARY KEY) ENGINE=InnoDB",
        "CREATE TABLE q_items (id INTEGER PRIMARY KEY, label VARCHAR(200) NOT NULL, "
        "body TEXT, data JSON, at DATETIME(6), flag BOOLEAN, parent_id INTEGER, qty INTEGER, "
        "UNIQUE KEY q_items_label_key (label), "
        "FOREIGN KEY (parent_id) REFERENCES q_parent (id)) ENGINE=InnoDB",
    ],
    "sqlite": [
        "CREATE TABLE q_parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE q_items (id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE, body TEXT, "
        "data TEXT, at TEXT, flag INTEGER, parent_id INTEGER REFERENCES q_parent (id), "
        "qty INTEGER)",
    ],
}
Q = load("items", FIXTURES)


@pytest.fixture(scope="module", params=DIALECTS)
def shared_db(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One fresh database per dialect for this module, with the q_ tables."""
    require_server(request.param)
    dbs = Databases(tmp_path_factory.mktemp("queries"))
    db = dbs(request.param)
    with db.connection() as conn:
        for ddl in _DDL[db.dialect]:
            conn.cursor().execute(ddl)
    yield db
    with db.connection() as conn:
        for table in ("q_items", "q_parent"):
            conn.cursor().execute(f"DROP TABLE {table}")
    dbs.cleanup()


@pytest.fixture
def qdb(shared_db: Database) -> Database:
    """The module's database for one dialect, with empty tables."""
    Q.run(shared_db, "delete_items")
    Q.run(shared_db, "delete_parents")
    return shared_db


def item(i: int, **values: Any) -> dict[str, Any]:
    row = {"id": i, "label": f"item {i}", "body": None, "data": None, "at": None, "flag": None,
           "parent_id": None, "qty": None}
    row.update(values)
    return row


TRICKY = [
    "héllo wörld ✓ 𝄞 日本語",
    "O'Reilly \"quoted\" `ticks` ''",
    "100% done, %s, %(x)s, %%",
    ":x, ::text, :=, $1, $$ $q$",
    "'; DROP TABLE q_items; --",
    "/* not a comment */ -- nor this\nsecond line",
    "C:\\path\\ends\\with\\",
    "",
]


def test_kinds_return_what_they_say(qdb: Database) -> None:
    assert Q.run(qdb, "get_item", id=1) is None
    assert Q.run(qdb, "count_items") == 0
    assert Q.run(qdb, "all_items") == []
    Q.run(qdb, "add_item", **item(1, qty=3))
    Q.run(qdb, "add_item", **item(2))
    assert Q.run(qdb, "get_item", id=1)["qty"] == 3
    assert Q.run(qdb, "all_items") == [{"id": 1, "label": "item 1"}, {"id": 2, "label": "item 2"}]
    assert Q.run(qdb, "count_items") == 2
    assert Q.run(qdb, "body_of", id=9) is None
    assert Q.run(qdb, "rename", id=1, label="renamed") == 1
    assert Q.run(qdb, "rename", id=9, label="nobody") == 0
    assert Q.run(qdb, "add_parent", id=1) is None


def test_one_refuses_more_than_one_row(qdb: Database) -> None:
    queries = Queries.from_text("-- name: two :one\nSELECT id FROM q_items", "t")
    Q.run(qdb, "add_item", **item(1))
    Q.run(qdb, "add_item", **item(2))
    with pytest.raises(QueryError, match=r"<t>:1 \(t.two\): a :one query returned more than"):
        queries.run(qdb, "two")


@pytest.mark.parametrize("value", TRICKY)
def test_text_round_trips_unchanged(qdb: Database, value: str) -> None:
    Q.run(qdb, "add_item", **item(1, label=value, body=value))
    assert Q.run(qdb, "body_of", id=1) == value
    assert Q.run(qdb, "echo", value=value) == {"value": value, "literal": "100% :x ;-- /* 'q' */"}


def test_json_and_bool_round_trip(qdb: Database) -> None:
    big = {f"key {i} ✓": {"list": list(range(20)), "text": TRICKY, "n": None, "ok": True}
           for i in range(1000)}
    assert len(json.dumps(big)) > 200_000
    Q.run(qdb, "add_item", **item(1, data=big, flag=True))
    Q.run(qdb, "add_item", **item(2, data=["a", 1, {"b": None}], flag=False))
    assert from_json(Q.run(qdb, "data_of", id=1)) == big
    assert from_json(Q.run(qdb, "data_of", id=2)) == ["a", 1, {"b": None}]
    assert to_bool(Q.run(qdb, "get_item", id=1)["flag"]) is True
    assert to_bool(Q.run(qdb, "get_item", id=2)["flag"]) is False


def test_datetimes_round_trip_as_utc_and_order_correctly(qdb: Database) -> None:
    base = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
    times = [
        base,
        base + timedelta(microseconds=1),
        (base + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=-8))),
        (base - timedelta(hours=1)).astimezone(timezone(timedelta(hours=9))),
        base.replace(microsecond=500000),
    ]
    for i, at in enumerate(times):
        Q.run(qdb, "add_item", **item(i, at=at, label=f"t{i}"))
    for i, at in enumerate(times):
        assert to_utc(Q.run(qdb, "get_item", id=i)["at"]) == at
    rows = Q.run(qdb, "items_since", since=base)
    assert [to_utc(r["at"]) for r in rows] == sorted(t for t in times if t >= base)
    with pytest.raises(ValidationError, match="since: must be a timezone-aware"):
        Q.run(qdb, "items_since", since=datetime(2024, 1, 1))


def test_enums_are_stored_by_value(qdb: Database) -> None:
    Q.run(qdb, "add_item", **item(1, label=Color.RED))
    assert Q.run(qdb, "get_item", id=1)["label"] == "red"


@dataclasses.dataclass(frozen=True, slots=True)
class ItemRecord(Record):
    id: int
    label: Color
    data: dict[str, Any] | None
    at: datetime | None
    flag: bool | None
    qty: int | None
    body: str | None


@dataclasses.dataclass(frozen=True)
class Loose:  # not slotted: built by a positional call instead of slot by slot
    id: int
    label: str
    qty: int = 7  # not in the query: the default fills in


def test_records_come_straight_from_tuple_rows(qdb: Database) -> None:
    at = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    Q.run(qdb, "add_item", **item(1, label=Color.RED, data={"a": [1, None]}, at=at, flag=True))
    Q.run(qdb, "add_item", **item(2, label="blue", qty=4))
    one = Q.run(qdb, "get_item", ItemRecord, id=1)
    assert one == ItemRecord(1, Color.RED, {"a": [1, None]}, at, True, None, None)
    assert Q.run(qdb, "get_item", ItemRecord, id=2).qty == 4
    assert one.label is Color.RED and one.at is not None and one.at.tzinfo is UTC
    assert one.flag is True and Q.run(qdb, "get_item", ItemRecord, id=2).flag is None
    assert Q.run(qdb, "get_item", ItemRecord, id=9) is None
    assert Q.run(qdb, "all_items", Loose) == [Loose(1, "red"), Loose(2, "blue")]
    # dict rows for users who ask for no record, from the same statement's tuple cursor
    assert Q.run(qdb, "all_items") == [{"id": 1, "label": "red"}, {"id": 2, "label": "blue"}]
    assert ItemRecord.from_row(Q.run(qdb, "get_item", id=1)) == one


def test_each_backend_reuses_one_tuple_cursor_per_connection(qdb: Database) -> None:
    Q.run(qdb, "add_item", **item(1))
    with qdb.transaction() as conn:
        assert Q.run(qdb, "count_items") == 1
        first = conn.agentdb_cursor
        assert Q.run(qdb, "all_items") == [{"id": 1, "label": "item 1"}]
        assert conn.agentdb_cursor is first


def test_a_reused_cursor_carries_nothing_into_the_next_statement(qdb: Database) -> None:
    """Rows, description and row count of one statement never reach the next on the
    connection's reused cursor, after an error either; the unit's BEGIN is still sent."""
    for i in (1, 2, 3):
        Q.run(qdb, "add_item", **item(i))
    any_item = Queries.from_text("-- name: any_item :one\nSELECT id, label FROM q_items", "t")
    with pytest.raises(QueryError, match="more than one row"):
        any_item.run(qdb, "any_item")
    assert Q.run(qdb, "all_items")[:2] == [{"id": 1, "label": "item 1"},
                                           {"id": 2, "label": "item 2"}]
    assert Q.run(qdb, "get_item", ItemRecord, id=9) is None
    assert Q.run(qdb, "count_items") == 3
    with pytest.raises(RuntimeError), qdb.transaction():
        Q.run(qdb, "add_item", **item(4))
        raise RuntimeError
    assert Q.run(qdb, "count_items") == 3  # the insert ran inside the unit's BEGIN


READS = Queries.from_text(
    "-- name: first_id :scalar\nSELECT id FROM r ORDER BY id\n\n"
    "-- name: one_id :one\nSELECT id FROM r\n\n"
    "-- name: peek :exec\nSELECT id FROM r\n\n"
    "-- name: pairs :many\nSELECT id, id * 2 AS twice FROM r ORDER BY id\n\n"
    "-- name: label :one\nSELECT 'x' AS a, id AS b, 3 AS c FROM r WHERE id = :id\n\n"
    "-- name: add :affected\nINSERT INTO r (id) VALUES (:id)\n", "t")


def test_sqlite_reused_cursor_never_pins_a_read_snapshot(make_db: Any) -> None:
    """SQLite reuses one tuple cursor per connection. A statement left mid-rows on it (a
    :scalar or :exec over several rows, a :one that found two) would hold a WAL read snapshot
    while the connection sits idle in the pool, and no checkpoint could pass it."""
    db = make_db("sqlite", pool_size=1, max_overflow=0)
    with db.connection(write=True) as conn:
        conn.execute("CREATE TABLE r (id INTEGER PRIMARY KEY)")
    for i in (1, 2, 3):
        assert READS.run(db, "add", id=i) == 1
    with db.acquire() as conn:
        cursor = conn.agentdb_cursor
    other = sqlite3.connect(str(db.config.path), isolation_level=None)

    def checkpoint_passes() -> bool:
        other.execute("INSERT INTO r (id) SELECT max(id) + 1 FROM r")
        busy, log, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy == 0 and log == done

    try:
        assert checkpoint_passes()
        assert READS.run(db, "first_id") == 1
        assert checkpoint_passes()
        assert READS.run(db, "peek") is None
        assert checkpoint_passes()
        with pytest.raises(QueryError, match="more than one row"):
            READS.run(db, "one_id")
        assert checkpoint_passes()
        # what the last statement left (its rows, its description) never reaches the next
        assert READS.run(db, "pairs")[:2] == [{"id": 1, "twice": 2}, {"id": 2, "twice": 4}]
        assert READS.run(db, "label", id=2) == {"a": "x", "b": 2, "c": 3}
        assert READS.run(db, "add", id=100) == 1
        assert READS.run(db, "label", id=99) is None
        assert checkpoint_passes()
        with db.acquire() as conn:  # replaced only where a statement was left mid-rows
            assert conn.agentdb_cursor is not cursor
            cursor = conn.agentdb_cursor
        READS.run(db, "pairs")
        READS.run(db, "label", id=1)
        with db.acquire() as conn:
            assert conn.agentdb_cursor is cursor
    finally:
        other.close()


def test_sqlite_reused_cursor_sends_the_units_lazy_begin(make_db: Any) -> None:
    db = make_db("sqlite", pool_size=1, max_overflow=0)
    with db.connection(write=True) as conn:
        conn.execute("CREATE TABLE r (id INTEGER PRIMARY KEY)")
    with pytest.raises(RuntimeError), db.transaction() as conn:
        READS.run(db, "add", id=1)
        assert conn.in_transaction
        raise RuntimeError
    assert READS.run(db, "pairs") == []  # rolled back: it ran inside the unit's BEGIN


def test_a_record_field_the_query_does_not_return_is_named(qdb: Database) -> None:
    Q.run(qdb, "add_item", **item(1))
    with pytest.raises(QueryError, match=r"all_items\): returns no column 'data', which "
                                         r"ItemRecord needs"):
        Q.run(qdb, "all_items", ItemRecord)


def test_converters_are_generated_once_per_record(qdb: Database) -> None:
    Q.run(qdb, "add_item", **item(1))
    stmt = Q._statement(qdb.dialect, "all_items")
    Q.run(qdb, "all_items", Loose)
    first = stmt.converters[Loose]
    Q.run(qdb, "all_items", Loose)
    assert stmt.converters[Loose] is first
    assert "_record(" in first.source and "r[1]" in first.source  # positional, by index


def test_in_lists_on_the_server(qdb: Database) -> None:
    for i in range(1, 6):
        Q.run(qdb, "add_item", **item(i))
    assert [r["id"] for r in Q.run(qdb, "list_items", ids=[4, 2, 99])] == [2, 4]
    assert [r["id"] for r in Q.run(qdb, "list_items", ids=(1,))] == [1]
    assert Q.run(qdb, "list_items", ids=[]) == []
    assert [r["id"] for r in Q.run(qdb, "items_except", ids={1, 2, 3})] == [4, 5]


def test_run_many_batches_in_one_unit_of_work(qdb: Database) -> None:
    rows = [item(i, data={"i": i}, at=AT) for i in range(1, 1201)]
    assert Q.run_many(qdb, "add_item", rows) == 1200
    assert Q.run(qdb, "count_items") == 1200
    assert Q.run_many(qdb, "add_item", []) == 0
    # A failure in a later chunk undoes the earlier chunks too.
    Q.run(qdb, "delete_items")
    bad = [item(i) for i in range(1, 700)] + [item(1000, label="item 1")]
    with pytest.raises(ConflictError):
        Q.run_many(qdb, "add_item", bad)
    assert Q.run(qdb, "count_items") == 0
    with pytest.raises(QueryError, match="run_many needs an :exec or :affected query"):
        Q.run_many(qdb, "get_item", [{"id": 1}])


def test_run_many_streams_plain_inserts_through_copy_on_postgresql(qdb: Database) -> None:
    stmt = Q._statement(qdb.dialect, "add_item")
    plan = _copy_plan(stmt)
    if qdb.dialect == "postgresql":
        assert plan is not None and plan[0].startswith("/* agentdb:items.add_item */ COPY q_items")
    else:
        assert plan is None  # executemany: PyMySQL's multi-row INSERT, sqlite3's C loop
    rows = [item(i, data={"i": i, "s": TRICKY[0]}, at=AT, flag=i % 2 == 0, body=TRICKY[i % 8])
            for i in range(1, 301)]
    assert Q.run_many(qdb, "add_item", rows) == 300
    got = Q.run(qdb, "get_item", id=7)
    assert from_json(got["data"]) == {"i": 7, "s": TRICKY[0]} and to_utc(got["at"]) == AT
    assert got["body"] == TRICKY[7] and to_bool(got["flag"]) is False
    # a row that fails its check halfway through the stream: nothing of the batch stays
    Q.run(qdb, "delete_items")
    bad = [item(i) for i in range(1, 200)] + [{"id": 500, "label": "x"}]
    with pytest.raises(QueryError, match="missing parameter"):
        Q.run_many(qdb, "add_item", bad)
    assert Q.run(qdb, "count_items") == 0


def test_run_many_joins_the_callers_unit(qdb: Database) -> None:
    class Stop(Exception):
        pass

    with pytest.raises(Stop), qdb.transaction():
        Q.run_many(qdb, "add_item", [item(1), item(2)])
        assert Q.run(qdb, "count_items") == 2
        raise Stop
    assert Q.run(qdb, "count_items") == 0


def test_mysql_sends_one_multi_row_insert_per_chunk(make_db: Any) -> None:
    db = make_db("mysql")
    with db.connection() as conn:
        for ddl in _DDL["mysql"]:
            conn.cursor().execute(ddl)
    with db.transaction() as conn:
        cur = conn.cursor()
        cur.execute("SHOW SESSION STATUS LIKE 'Com_insert'")
        before = int(cur.fetchone()["Value"])
        Q.run_many(db, "add_item", [item(i) for i in range(1, 2 * CHUNK_SIZE + 201)])
        cur.execute("SHOW SESSION STATUS LIKE 'Com_insert'")
        assert int(cur.fetchone()["Value"]) - before == 3  # a chunk, a chunk, 200


def test_statements_carry_their_name_to_the_server(qdb: Database) -> None:
    if qdb.dialect == "sqlite":
        seen: list[str] = []
        with qdb.transaction() as conn:
            conn.set_trace_callback(seen.append)
            try:
                Q.run(qdb, "count_items")
            finally:
                conn.set_trace_callback(None)
        assert any("/* agentdb:items.count_items */" in s for s in seen), seen
    else:
        statement = Q.run(qdb, "current_statement")
        assert statement.startswith("/* agentdb:items.current_statement */ SELECT")


def test_unique_violation_is_a_conflict_without_the_value(qdb: Database) -> None:
    Q.run(qdb, "add_item", **item(1, label="secret-value"))
    with pytest.raises(ConflictError) as info:
        Q.run(qdb, "add_item", **item(2, label="secret-value"))
    assert "secret-value" not in str(info.value)
    assert "label" in str(info.value)
    assert info.value.__cause__ is not None


def test_foreign_key_and_not_null_violations_are_validation_errors(qdb: Database) -> None:
    with pytest.raises(ValidationError) as info:
        Q.run(qdb, "add_item", **item(1, parent_id=42))
    assert info.value.field == ("reference" if qdb.dialect == "sqlite" else "parent_id")
    Q.run(qdb, "add_parent", id=1)
    Q.run(qdb, "add_item", **item(1, parent_id=1))
    with pytest.raises(ValidationError, match="still referenced"):
        Q.run(qdb, "delete_parent", id=1)
    with pytest.raises(ValidationError) as null:
        Q.run(qdb, "add_item", **item(2, label=None))
    assert null.value.field == "label"


def test_other_driver_errors_are_query_errors_naming_the_query(qdb: Database) -> None:
    with pytest.raises(QueryError, match=r"items.sql:\d+ \(items.no_such_table\): .*q_no_such"):
        Q.run(qdb, "no_such_table", id=1)
    with pytest.raises(QueryError, match="missing parameter"):
        Q.run(qdb, "get_item")
    with pytest.raises(QueryError, match="no query named"):
        Q.run(qdb, "nope")


def test_a_killed_connection_is_database_unavailable(qdb: Database) -> None:
    if qdb.dialect == "sqlite":
        pytest.skip("a local file has no connection to lose")
    pid_sql = {"postgresql": "SELECT pg_backend_pid() AS pid", "mysql": "SELECT CONNECTION_ID()"}
    kill = {"postgresql": "SELECT pg_terminate_backend(%s)", "mysql": "KILL %s"}
    queries = Queries.from_text(f"-- name: pid :scalar\n{pid_sql[qdb.dialect]}", "t")
    lost = r"\(items.count_items\): lost the connection"
    with pytest.raises(DatabaseUnavailable, match=lost), qdb.transaction():
        pid = queries.run(qdb, "pid")
        admin = _admin(qdb.dialect)
        try:
            admin.cursor().execute(kill[qdb.dialect], (pid,))
        finally:
            admin.close()
        Q.run(qdb, "count_items")
    assert Q.run(qdb, "count_items") == 0  # the pool replaced the dead connection


def _literal(text: str, dialect: str) -> str:
    if dialect == "mysql":  # backslash escapes, and \' rather than '' to exercise them
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + text.replace("'", "''") + "'"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_text, value=st.one_of(_text, st.integers(-(2**31), 2**31 - 1)))
def test_property_literals_and_parameters_survive_the_real_drivers(
    shared_db: Database, text: str, value: Any
) -> None:
    sql = f"SELECT {_literal(text, shared_db.dialect)} AS lit, :value AS value, '%' AS pct"
    # The literal is written for one dialect (MySQL's backslashes are not portable): an override.
    queries = Queries.from_text("-- name: q :one\nSELECT 1", "prop",
                                {shared_db.dialect: f"-- name: q :one\n{sql}"})
    row = queries.run(shared_db, "q", value=value)
    assert row["lit"] == text and row["value"] == value and row["pct"] == "%"


def test_sqlite_fixed_width_timestamps_sort_as_text() -> None:
    times = [AT + timedelta(microseconds=m) for m in (0, 1, 999999, 10, 100000)]
    texts = [adapt_sqlite("at", t) for t in times]
    assert sorted(texts) == [adapt_sqlite("at", t) for t in sorted(times)]
    assert len({len(t) for t in texts}) == 1


def test_literals_keep_odd_line_breaks_and_percent_without_parameters(qdb: Database) -> None:
    text = "a\rb\x1ec\u2028d\r\ne%"
    queries = Queries.from_text(f"-- name: q :scalar\r\nSELECT {_literal(text, qdb.dialect)}"
                                " AS v;\r\n", "t")
    assert queries.run(qdb, "q") == text


def test_affected_counts_matched_rows_on_every_backend(qdb: Database) -> None:
    Q.run(qdb, "add_item", **item(1))
    assert Q.run(qdb, "rename", id=1, label="item 1") == 1  # matched, though nothing changed


# -- optional conditions and choices ---------------------------------------------------------------

FIND = "-- name: q :many\n-- sort: one of a, b\nSELECT 1 FROM t WHERE TRUE\n"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_optional_conditions_compile_only_the_filters_given(dialect: str) -> None:
    show = Q.show
    every = show("find_items", dialect, min_qty=1, body="x", ids=[1], limit=1)
    none = show("find_items", dialect, limit=1)
    mark = ":{}" if dialect == "sqlite" else "%({})s"
    assert mark.format("min_qty") in every and mark.format("body") in every
    assert "qty >=" not in none and "body =" not in none and " IN (" not in none
    assert "/*if" not in every + none and "/*end*/" not in every + none
    assert "ORDER BY id asc, id asc" in none  # each choice's first option is its default
    only = show("find_items", dialect, body="x", limit=1, sort_by="qty", sort_order="desc")
    assert "qty >=" not in only and "body =" in only and "ORDER BY qty desc, id desc" in only
    # What the query shows and accepts with no parameters: every condition, default choices.
    assert Q["find_items"].params == ("min_qty", "body", "ids", "limit", "sort_by",
                                      "sort_order")
    assert "qty >=" in Q.show("find_items", dialect)


def test_choices_come_from_the_whitelist_never_from_the_caller() -> None:
    for bad in ("qty; DROP TABLE q_items", "QTY", "created_at", 1):
        with pytest.raises(ValidationError, match="sort_by: must be one of id, qty, label"):
            Q.show("find_items", "postgresql", sort_by=bad, limit=1)
    with pytest.raises(ValidationError, match="sort_order"):
        Q.show("find_items", "sqlite", sort_order="desc, (SELECT 1)", limit=1)


def test_each_variant_is_compiled_once() -> None:
    queries = Queries.from_text(FIND + "  /*if x*/ AND x = :x /*end*/ ORDER BY {sort}", "t")
    stmt = queries["q"].statements["sqlite"]
    assert stmt.variants == {}
    first = stmt.pick({"x": 1, "sort": "b"})
    assert stmt.pick({"x": 2, "sort": "b"}) is first
    assert stmt.pick({"x": None}) is not first and stmt.pick({}) is stmt.pick({"x": None})
    assert len(stmt.variants) == 2
    params: dict[str, Any] = {"x": None, "sort": "a"}
    stmt.pick(params)
    assert params == {}  # the left-out parameter and the choice are not sent to the driver


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("/*if x*/ AND x = :x ORDER BY {sort}", "/*if x*/ has no /*end*/"),
        ("AND x = :x /*end*/ ORDER BY {sort}", "/*end*/ without /*if name*/"),
        ("/*if x*/ AND y = :y /*end*/ ORDER BY {sort}", "/*if x*/ does not use :x"),
        ("/*if x*/ AND x = :x /*if y*/ AND y = :y /*end*/ /*end*/ ORDER BY {sort}", "do not nest"),
        ("ORDER BY {sortt}", "{sortt} is not a declared choice"),
        ("ORDER BY a", "choice 'sort' is declared but never used"),
        ("AND a = :sort ORDER BY {sort}", "'sort' is a choice ({sort}), not :sort"),
        ("/*if sort*/ AND a = 1 /*end*/ ORDER BY {sort}", "'sort' is a choice, not a parameter"),
    ],
)
def test_malformed_optional_conditions_are_refused_at_load(body: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        Queries.from_text(FIND + body, "t")
    assert "<t>:1 (t.q)" in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("spec", ["a, b c", "a, 'b'", "a, b;--", "a,", "a, (SELECT 1)"])
def test_choice_options_must_be_identifiers(spec: str) -> None:
    with pytest.raises(QueryError, match="<t>:2: choice 'sort'"):
        Queries.from_text(f"-- name: q :many\n-- sort: one of {spec}\nSELECT 1 ORDER BY {{sort}}",
                          "t")


def test_no_shipped_query_uses_the_is_null_or_pattern() -> None:
    """Optional filters are /*if x*/ conditions: `(col = :x OR :x IS NULL)` stops SQLite (and
    PostgreSQL's generic plans) from using the column's index."""
    import re

    pattern = re.compile(r":(\w+)\s+IS\s+NULL", re.IGNORECASE)
    for path in sql_dir().rglob("*.sql"):
        assert not pattern.search(path.read_text()), path


def test_optional_conditions_on_the_server(qdb: Database) -> None:
    Q.run_many(qdb, "add_item", [item(i, qty=i % 3, body=f"b{i % 2}") for i in range(1, 9)])

    def ids(**params: Any) -> list[int]:
        return [r["id"] for r in Q.run(qdb, "find_items", limit=100, **params)]

    assert ids() == list(range(1, 9))
    assert ids(min_qty=2) == [2, 5, 8]
    assert ids(min_qty=1, body="b0") == [2, 4, 8]
    assert ids(min_qty=None, body="b1", ids=[1, 3, 4]) == [1, 3]
    assert ids(ids=[], body=None) == []
    assert ids(sort_by="qty", sort_order="desc") == [8, 5, 2, 7, 4, 1, 6, 3]
    assert ids(sort_by="label", sort_order="desc", min_qty=1) == [8, 7, 5, 4, 2, 1]
    with pytest.raises(QueryError, match="unknown parameter"):
        Q.run(qdb, "find_items", limit=1, qty=1)
    with pytest.raises(QueryError, match="missing parameter"):
        Q.run(qdb, "find_items", min_qty=1)
    dynamic = Queries.from_text(
        "-- name: q :exec\nDELETE FROM q_items WHERE TRUE /*if id*/ AND id = :id /*end*/", "t")
    with pytest.raises(QueryError, match="run_many cannot"):
        dynamic.run_many(qdb, "q", [{"id": 1}])


# -- the scanner reads SQL as each server reads it ---------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql", "found"),
    [
        # MySQL: -- is a comment only before whitespace or a control character (5--1 is 6)
        ("mysql", "UPDATE t SET n = n--1 WHERE id = :id", ["id"]),
        ("mysql", "SELECT 1--:a", ["a"]),
        ("mysql", "SELECT 1-- :a\n, 2--\t:b\n, :c --", ["c"]),
        ("postgresql", "SELECT 1--:a\n, :b", ["b"]),
        # PostgreSQL: the colon of an array slice is never a placeholder
        ("postgresql", "SELECT a[:hi], a[lo :hi], a[array_lower(a,1):array_upper(a,1)] FROM t "
                       "WHERE id = :id", ["id"]),
        ("postgresql", "SELECT a[1:n], a[lo:hi], a[:i][1: :j], a[(:k):2], a[f(:m) : :n]",
         ["j", "k", "m", "n"]),
        ("postgresql", "SELECT ARRAY[:a, :b], ARRAY[[:c], [:d]], (ARRAY[:e])[1], x [ :f]",
         ["a", "b", "c", "d", "e"]),
        # MySQL / MariaDB: /*! ... */ and /*M! ... */ are code
        ("mysql", "SELECT /*! :a, */ /*!50100 :b, */ /*M!100100 :c */ /* :no */", ["a", "b", "c"]),
        ("postgresql", "SELECT /*! :no */ :a", ["a"]),
        # SQLite: [bracket] identifiers; a /* comment may stay open to the end
        ("sqlite", "SELECT [it's], [x :y] FROM t WHERE a = :a", ["a"]),
        ("sqlite", "SELECT :a /* open :z", ["a"]),
        ("postgresql", "SELECT x[:a]", []),
    ],
)
def test_scanner_reads_sql_as_the_server_does(dialect: str, sql: str, found: list[str]) -> None:
    assert convert(sql, dialect)[1] == found


def test_unterminated_constructs_still_fail_where_the_server_fails() -> None:
    with pytest.raises(QueryError, match="unterminated /\\* comment"):
        Queries.from_text("-- name: a :one\nSELECT 1 /* open", "t")  # PostgreSQL, MySQL
    with pytest.raises(QueryError, match="unterminated /\\*! comment"):
        Queries.from_text("-- name: a :one\nSELECT 1", "t",
                          {"mysql": "-- name: a :one\nSELECT /*! 1"})
    with pytest.raises(QueryError, match="unterminated \\[quoted identifier\\]"):
        Queries.from_text("-- name: a :one\nSELECT 1", "t",
                          {"sqlite": "-- name: a :one\nSELECT [x"})
    lone = Queries.from_text("-- name: a :one\nSELECT 1", "t",
                             {"sqlite": "-- name: a :one\nSELECT :a AS [it's] /* open"})
    assert lone.show("a", "sqlite").endswith("SELECT :a AS [it's]")


def _select_items(dialect: str) -> st.SearchStrategy[list[tuple[str, Any, dict[str, Any]]]]:
    """Items of a SELECT list as (SQL, the value the server should return, parameters):
    literals and comments full of look-alike placeholders, real placeholders, and each
    dialect's constructs that fooled the scanner once."""
    def fits(t: str) -> bool:  # as a /*block*/ (not nested, not /*!), and as a -- line
        c = f"/*{t}*/"
        return (c.find("*/", 2) == len(c) - 2 and c.find("/*", 1) == -1
                and not t.startswith(("!", "M!")) and "\n" not in t and "\r" not in t)

    def item(kind: str, i: int, text: str) -> tuple[str, Any, dict[str, Any]]:
        p = f"p{i}"
        if kind == "param":
            return f":{p}", f"v{i}", {p: f"v{i}"}
        if kind == "literal":
            return _literal(text, dialect), text, {}
        if kind == "block":
            return f"{i} /*{text}*/", i, {}
        if kind == "line":
            return f"{i} -- {text}\n", i, {}
        if kind == "my_minus":  # MySQL: 7--2 is 7 - (-2)
            return f"{i}--{i + 2}", 2 * i + 2, {}
        if kind == "my_exec":
            return f"/*!50000 :{p} */", f"v{i}", {p: f"v{i}"}
        if kind == "my_mariadb":
            return f"/*M! CONCAT(:{p}, '-') */", f"v{i}-", {p: f"v{i}"}
        arr = "(ARRAY[1,2,3,4])"
        if kind == "pg_upper":
            return f"{arr}[:2]", [1, 2], {}
        if kind == "pg_spaced":
            return f"{arr}[2 :3]", [2, 3], {}
        if kind == "pg_bounds":
            return f"{arr}[array_lower({arr},1):array_upper({arr},1)]", [1, 2, 3, 4], {}
        if kind == "pg_param_bound":
            return f"{arr}[2: :{p}]", [2, 3], {p: 3}
        if kind == "pg_array":
            return f"ARRAY[:{p}, 'x']", [f"v{i}", "x"], {p: f"v{i}"}
        if kind == "lite_bracket":  # the alias is the item's own: see below
            return f"{i}", i, {}
        raise AssertionError(kind)

    kinds = ["param", "literal", "block", "line"] + {
        "mysql": ["my_minus", "my_exec", "my_mariadb"],
        "postgresql": ["pg_upper", "pg_spaced", "pg_bounds", "pg_param_bound", "pg_array"],
        "sqlite": ["lite_bracket"],
    }[dialect]
    return st.lists(st.tuples(st.sampled_from(kinds), _text.filter(fits)),
                    min_size=1, max_size=8).map(
        lambda drawn: [item(k, i, t) for i, (k, t) in enumerate(drawn)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_placeholders_found_are_what_the_real_server_accepts(
    shared_db: Database, data: st.DataObject
) -> None:
    """Generated SELECTs mixing placeholders with literals, comments and each dialect's tricky
    constructs: the server must accept the converted SQL and return every item's value, which
    it can only do if the placeholders found are exactly the ones it reads as code."""
    dialect = shared_db.dialect
    items = data.draw(_select_items(dialect))
    columns = []
    params: dict[str, Any] = {}
    for i, (sql, _, item_params) in enumerate(items):
        alias = f"[c{i} :x it's]" if dialect == "sqlite" and i % 2 else f"c{i}"
        columns.append(f"{sql} AS {alias}")
        params.update(item_params)
    sql = "SELECT " + ",\n".join(columns)
    if dialect == "sqlite" and data.draw(st.booleans()):
        sql += " /* left open :z"
    assert convert(sql, dialect)[1] == list(params)
    queries = Queries.from_text("-- name: q :one\nSELECT 1", "gen",
                                {dialect: f"-- name: q :one\n{sql}"})
    row = queries.run(shared_db, "q", **params)
    values = list(row.values()) if isinstance(row, dict) else list(row)
    assert values == [expected for _, expected, _ in items]


def test_maker_builds_the_same_record_as_its_constructor() -> None:
    from agentdb.repositories.jobs import Job
    from agentdb.rows import maker

    values = ["id", "tool", "pending", 1, {"a": [1]}, None, None, None, None,
              datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), None, None,
              None, None, 0, 3, None, None, None, False]
    made = maker(Job)(*values)
    assert type(made) is Job and made == Job(*values)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.priority = 2  # type: ignore[misc]

    @dataclasses.dataclass
    class Plain:  # not slotted: its own constructor is used
        a: int

    assert maker(Plain) is Plain
