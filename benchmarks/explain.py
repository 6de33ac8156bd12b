"""EXPLAIN plans and timings of JobStore.list() for each filter, before and after optional
conditions and migration 0008's composite indexes.

    python benchmarks/explain.py                       # SQLite + local servers, 100k jobs
    python benchmarks/explain.py --rows 10000 --database sqlite:///x.db

For each backend: a fresh database at migration 0007 (no composite indexes), ``--rows`` jobs,
ANALYZE; then each filter of ``list()`` (one page of 100, newest first) is timed with the old
``(col = :x OR :x IS NULL)`` SQL; then migration 0008 is applied, ANALYZE again, and the old SQL
and the SQL ``list()`` runs now (only the filter given) are timed in interleaved rounds, and the
new one EXPLAINed. Times are medians of ``--repeat`` runs: the server's own execution time
(EXPLAIN ANALYZE / ANALYZE FORMAT=JSON) on PostgreSQL and MariaDB, the call's wall time on SQLite
(in process). PostgreSQL times are of custom plans, which fold ``:x IS NULL`` away; a generic
plan (a prepared statement run often enough) cannot, and scans like SQLite does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

import agentdb
from agentdb import JobStore, migrate, migration_status, rollback
from agentdb.pool import Database
from agentdb.queries import Queries

INDEXES = "0008_list_indexes"
NOW = datetime(2026, 1, 31, tzinfo=UTC)
WORKFLOWS = 1000  # 100 jobs per workflow at 100k rows
BATCHES = 2000
TOOLS = 20
STATUSES = ["completed"] * 70 + ["failed"] * 15 + ["pending"] * 10 + ["running"] * 5

# JobStore.list() before optional conditions: one query per sort order, each filter written
# (col = :x OR :x IS NULL). Kept here only to measure against.
BEFORE = Queries.from_text("""
-- name: list_jobs :many
SELECT id, tool_name, status, priority, batch_id, workflow_id, user_id, parameters, worker_id,
       created_at, updated_at, started_at, completed_at, duration, error_message
FROM jobs
WHERE (status = :status OR :status IS NULL)
  AND (workflow_id = :workflow_id OR :workflow_id IS NULL)
  AND (tool_name = :tool_name OR :tool_name IS NULL)
  AND (batch_id = :batch_id OR :batch_id IS NULL)
  AND (created_at >= :created_after OR :created_after IS NULL)
  AND (created_at < :created_before OR :created_before IS NULL)
ORDER BY created_at DESC, id DESC
LIMIT :limit OFFSET :offset;
""", "before")
FILTER_NAMES = ("status", "workflow_id", "tool_name", "batch_id", "created_after",
                "created_before")


def filters() -> list[tuple[str, dict[str, Any]]]:
    """Each filter list() takes, alone, with a value that matches some rows (and none)."""
    return [
        ("(none)", {}),
        ("status=running", {"status": "running"}),
        ("status=completed", {"status": "completed"}),
        ("workflow_id=", {"workflow_id": f"wf-{7:04d}"}),
        ("tool_name=", {"tool_name": "tool3"}),
        ("batch_id=", {"batch_id": f"batch-{11:04d}"}),
        ("created_after=now-1d", {"created_after": NOW - timedelta(days=1)}),
        ("created_before=now-29d", {"created_before": NOW - timedelta(days=29)}),
    ]


def seed(db: Database, rows: int) -> None:
    rng = random.Random(7)
    batch = []
    for i in range(rows):
        created = NOW - timedelta(seconds=rng.uniform(0, 30 * 86400))
        batch.append({"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                      "tool_name": f"tool{i % TOOLS}", "status": rng.choice(STATUSES),
                      "priority": rng.randrange(3), "batch_id": f"batch-{i % BATCHES:04d}",
                      "workflow_id": f"wf-{rng.randrange(WORKFLOWS):04d}", "user_id": None,
                      "parameters": {"i": i}, "created_at": created, "run_at": created,
                      "max_attempts": 1, "dedupe_key": None})
    JobStore(db).run_many("insert_job", batch, chunk_size=2000)


def analyze(db: Database) -> None:
    statement = {"postgresql": "ANALYZE jobs", "mysql": "ANALYZE TABLE jobs",
                 "sqlite": "ANALYZE"}[db.dialect]
    with db.connection(write=True) as conn:
        cur = conn.cursor()
        cur.execute(statement)
        if cur.description:
            cur.fetchall()


def plan(db: Database, given: dict[str, Any]) -> str:
    """The plan of the SQL list() runs for these filters, as the server shows it."""
    return plan_of(db, **page(given, True))


def plan_of(db: Database, **params: Any) -> str:
    """The server's plan of ``list_jobs`` compiled with these parameters (filters, page,
    sort, keyset conditions): PostgreSQL's text, SQLite's details, MariaDB's main columns."""
    sql, params = JobStore.queries.prepare("list_jobs", db.dialect, **params)
    explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute(explain + sql, params)
        names = [d[0] for d in cur.description]
        rows = [r if isinstance(r, dict) else dict(zip(names, r, strict=True))
                for r in cur.fetchall()]
    if db.dialect == "postgresql":
        return "\n".join(r["QUERY PLAN"] for r in rows)
    if db.dialect == "sqlite":
        return "\n".join(r["detail"] for r in rows)
    keep = ("table", "type", "possible_keys", "key", "key_len", "ref", "rows", "Extra")
    return "\n".join(", ".join(f"{k}={r[k]}" for k in keep if r.get(k) is not None)
                     for r in rows)


def page(given: dict[str, Any], new: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": 100, "offset": 0}
    if new:
        params.update(given, sort_by="created_at", sort_order="desc")
    else:
        params.update(dict.fromkeys(FILTER_NAMES), **given)
    return params


def timed(db: Database, queries: Queries, given: dict[str, Any], new: bool) -> float:
    """Seconds the server spends on one page: its own figure from EXPLAIN ANALYZE on
    PostgreSQL and MariaDB (so client load does not blur the plans' difference), the wall time
    of the in-process call on SQLite."""
    params = page(given, new)
    if db.dialect == "sqlite":
        start = perf_counter()
        queries.run(db, "list_jobs", **params)
        return perf_counter() - start
    sql, bound = queries.prepare("list_jobs", db.dialect, **params)
    with db.connection() as conn:
        cur = conn.cursor()
        if db.dialect == "postgresql":
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, bound)
            return float(first(cur.fetchone())[0]["Execution Time"]) / 1000
        cur.execute("ANALYZE FORMAT=JSON " + sql, bound)
        report = json.loads(first(cur.fetchone()))
        return float(report["query_block"]["r_total_time_ms"]) / 1000


def first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def medians_ms(db: Database, given: dict[str, Any], repeat: int,
               sides: list[tuple[Queries, bool]]) -> list[float]:
    """Median ms of each side's SQL, timed in interleaved rounds (so drift in the machine's
    load hits every side alike), after one untimed warm-up run each."""
    times: list[list[float]] = [[] for _ in sides]
    for queries, new in sides:
        timed(db, queries, given, new)
    for _ in range(repeat):
        for i, (queries, new) in enumerate(sides):
            times[i].append(timed(db, queries, given, new))
    return [statistics.median(t) * 1000 for t in times]


def measure(url: str, rows: int, repeat: int) -> tuple[list[list[Any]], list[tuple[str, str]]]:
    dialect = common.dialect_of(url)
    table: list[list[Any]] = []
    plans: list[tuple[str, str]] = []
    with common.fresh_database(url) as fresh:
        db = agentdb.connect(fresh, pool_size=1, max_overflow=0)
        try:
            migrate(db)
            seed(db, rows)  # on today's schema; the rollback keeps the rows
            ids = [s.id for s in migration_status(db)]
            rollback(db, steps=len(ids) - ids.index(INDEXES))  # back to before 0008
            analyze(db)
            before = {label: medians_ms(db, given, repeat, [(BEFORE, False)])[0]
                      for label, given in filters()}
            migrate(db)
            analyze(db)
            for label, given in filters():
                found = len(JobStore.queries.run(db, "list_jobs", **page(given, True)))
                assert found == len(BEFORE.run(db, "list_jobs", **page(given, False)))
                old, new = medians_ms(db, given, repeat,
                                      [(BEFORE, False), (JobStore.queries, True)])
                table.append([dialect, label, found, round(before[label], 3), round(old, 3),
                              round(new, 3), round(before[label] / new, 1)])
                plans.append((label, plan(db, given)))
        finally:
            db.close()
    return table, plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", action="append", help="a URL; repeat for several "
                        "(default: SQLite plus whichever local servers answer)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per cell")
    args = parser.parse_args(argv)
    urls = common.usable_urls(args.database)
    if urls is None:
        return 2
    print(f"## list() filters: {args.rows} jobs, median of {args.repeat} runs of one page of "
          "100, newest first\n")
    print(common.describe_machine(urls) + "\n")
    everything: list[list[Any]] = []
    all_plans: dict[str, list[tuple[str, str]]] = {}
    for url in urls:
        table, plans = measure(url, args.rows, args.repeat)
        everything += table
        all_plans[common.dialect_of(url)] = plans
    print(common.markdown_table(
        ["backend", "filter", "rows", "before: OR IS NULL, 0007 ms", "OR IS NULL, 0008 ms",
         "after: only the filter, 0008 ms", "before / after"], everything))
    for dialect, plans in all_plans.items():
        print(f"\n### {dialect}: plans of the SQL list() runs now\n")
        for label, text in plans:
            print(f"`{label}`\n```\n{text}\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
