"""Seeing what runs: the agentdb.sql log, slow_query_ms and query hooks, on every backend."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from conftest import Databases

from agentdb import ConfigError, ValidationError
from agentdb.config import parse_config
from agentdb.pool import Database
from agentdb.queries import Queries

SECRET = "s3cret-token-value"
Q = Queries.from_text(
    "-- name: echo :one\nSELECT :value AS v;\n"
    "-- name: many :many\n"
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < :n)\n"
    "SELECT n FROM c WHERE n <= :n ORDER BY n;\n"
    "-- name: fail :one\nSELECT * FROM no_such_table WHERE a = :value;\n",
    "obs",
    {
        "postgresql": "-- name: echo :one\nSELECT CAST(:value AS text) AS v;\n"
                      "-- name: many :many\n"
                      "SELECT g AS n FROM generate_series(1, :n) AS g ORDER BY g",
        "mysql": "-- name: many :many\n"
                 "SELECT seq AS n FROM seq_1_to_1000000 WHERE seq <= :n ORDER BY seq",
    },
)

Call = tuple[str, str, float, int, "BaseException | None"]


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="agentdb.sql")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """This test's own agentdb.sql records (other threads of the session may log too)."""
    me = threading.get_ident()
    return [r for r in caplog.records if r.name == "agentdb.sql" and r.thread == me
            and getattr(r, "sql_tag", "").startswith("obs.")]


def test_debug_log_names_the_statement_its_time_and_rows_never_the_values(
    dialect: str, make_db: Databases, debug_log: pytest.LogCaptureFixture
) -> None:
    db = make_db(dialect)
    assert Q.run(db, "echo", value=SECRET) == {"v": SECRET}
    assert len(Q.run(db, "many", n=3)) == 3
    with pytest.raises(Exception, match="no_such_table"):
        Q.run(db, "fail", value=SECRET)
    echo, many, fail = lines(debug_log)
    assert echo.levelno == logging.DEBUG and echo.getMessage().startswith("obs.echo ")
    assert echo.getMessage().endswith(" ms, 1 rows")
    assert many.getMessage().endswith(" ms, 3 rows") and many.rowcount == 3  # type: ignore[attr-defined]
    assert many.sql_tag == "obs.many" and many.duration_ms > 0  # type: ignore[attr-defined]
    assert "failed: QueryError" in fail.getMessage()
    assert all(SECRET not in r.getMessage() for r in debug_log.records)


def test_log_parameters_shows_the_values_when_asked(
    make_db: Databases, debug_log: pytest.LogCaptureFixture
) -> None:
    db = make_db("sqlite", log_parameters=True)
    Q.run(db, "echo", value=SECRET)
    assert f"params {{'value': '{SECRET}'}}" in lines(debug_log)[0].getMessage()


def test_slow_statements_log_at_warning(dialect: str, make_db: Databases,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="agentdb.sql")
    fast = make_db(dialect, slow_query_ms=60_000)
    Q.run(fast, "echo", value="x")
    assert lines(caplog) == []
    slow = make_db(dialect, slow_query_ms=0)  # every statement is "slow"
    Q.run(slow, "echo", value=SECRET)
    (record,) = lines(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("slow statement obs.echo ")
    assert "(slow_query_ms=0)" in record.getMessage() and SECRET not in record.getMessage()


def test_hooks_see_every_statement_and_cannot_break_one(dialect: str, db: Database) -> None:
    calls: list[Call] = []

    def hook(tag: str, sql: str, ms: float, rowcount: int, error: BaseException | None) -> None:
        calls.append((tag, sql, ms, rowcount, error))

    def broken(*args: Any) -> None:
        raise RuntimeError("a metrics bug")

    db.add_hook(hook)
    db.add_hook(broken)
    try:
        assert Q.run(db, "echo", value="a") == {"v": "a"}  # the broken hook changes nothing
        with pytest.raises(Exception, match="no_such_table"):
            Q.run(db, "fail", value="a")
        with Q.stream(db, "many", n=7, batch_size=3) as rows:
            assert [r["n"] for r in rows][-1] == 7
        from agentdb import JobStore

        JobStore(db).create_job_batch([{"tool_name": "t"}] * 3)
    finally:
        db.remove_hook(broken)
    tags = [c[0] for c in calls]
    assert tags == ["obs.echo", "obs.fail", "obs.many", "jobs.insert_job"]
    echo, fail, many, batch = calls
    assert "agentdb:obs.echo" in echo[1] and echo[2] > 0 and echo[3] == 1 and echo[4] is None
    assert type(fail[4]).__name__ == "QueryError" and fail[3] == -1
    assert many[3] == 7 and batch[3] == 3
    db.remove_hook(hook)
    Q.run(db, "echo", value="b")
    assert len(calls) == 4 and db.watch is False
    with pytest.raises(ValidationError, match="hook"):
        db.add_hook("not callable")  # type: ignore[arg-type]


def test_options_come_from_the_url_too() -> None:
    config = parse_config("sqlite:///x.db?slow_query_ms=250&log_parameters=true")
    assert config.slow_query_ms == 250 and config.log_parameters is True
    assert parse_config("sqlite:///x.db").slow_query_ms is None
    assert parse_config("sqlite:///x.db?slow_query_ms=-1").slow_query_ms is None
    with pytest.raises(ConfigError, match="slow_query_ms"):
        parse_config("sqlite:///x.db?slow_query_ms=soon")
