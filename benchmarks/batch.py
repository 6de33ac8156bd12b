"""Batch inserts: create_job_batch against the driver's own executemany, COPY and a create() loop.

    python benchmarks/batch.py [--database URL ...] [--jobs 10000] [--loop 1000] [--rounds 3]

Per backend, on a fresh migrated database, each round runs (order rotated per round):
  agentdb      JobStore.create_job_batch(N specs): validation, one transaction (PostgreSQL:
               one COPY), every field checked
  executemany  hand-written driver code: N parameter dicts (uuid, json.dumps, now) and one
               cursor.executemany of agentdb's insert_job SQL in one transaction
  copy         PostgreSQL only: hand-written COPY jobs (...) FROM STDIN with write_row
  loop         JobStore.create() --loop times (jobs/s scaled: the per-job cost of a loop)
The jobs are deleted after each measurement (untimed). Shown: jobs/s (median round), client CPU
µs per job, and the ratios issue 13 asks for: agentdb >= 0.9x executemany on every backend, and
>= 20x the create() loop on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psycopg
import pymysql
from psycopg.types.json import Jsonb

import agentdb
from agentdb.config import Config, parse_config
from agentdb.migrate import migrate
from agentdb.repositories import JobStore

BENCH_TOOL = "bench_batch"
PARAMS = {"input": "file.txt", "flags": ["-v"], "retries": 3}
TARGET_EXECUTEMANY = 0.90
TARGET_LOOP_PG = 20.0


def raw_connect(c: Config) -> Any:
    if c.dialect == "postgresql":
        return psycopg.connect(host=c.host, port=c.port, user=c.username, password=c.password,
                               dbname=c.database, autocommit=True)
    if c.dialect == "mysql":
        return pymysql.connect(host=c.host or "localhost", port=c.port or 3306, user=c.username,
                               password=c.password or "", database=c.database,
                               charset="utf8mb4", autocommit=True, ssl_disabled=True)
    conn = sqlite3.connect(str(c.path), isolation_level=None, timeout=c.busy_timeout / 1000)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def raw_rows(dialect: str, n: int) -> list[dict[str, Any]]:
    """What hand-written code binds: ids, JSON and timestamps as its driver takes them."""
    now: Any = datetime.now(UTC)
    if dialect == "mysql":
        now = now.replace(tzinfo=None)
    elif dialect == "sqlite":
        now = now.isoformat(timespec="microseconds")
    batch = str(uuid.uuid4())
    return [{"id": str(uuid.uuid4()), "tool_name": BENCH_TOOL, "status": "pending",
             "priority": i % 3, "batch_id": batch, "workflow_id": None, "user_id": None,
             "parameters": Jsonb(PARAMS) if dialect == "postgresql" else json.dumps(PARAMS),
             "created_at": now, "run_at": now, "max_attempts": 3, "dedupe_key": None}
            for i in range(n)]


def ways(url: str, jobs: JobStore, conn: Any, n: int, loop: int) -> dict[str, Callable[[], int]]:
    dialect = jobs.db.dialect
    insert_sql = JobStore.queries["insert_job"].sql(dialect)
    specs = [{"tool_name": BENCH_TOOL, "parameters": PARAMS, "priority": i % 3}
             for i in range(n)]

    def agentdb_batch() -> int:
        jobs.create_job_batch(specs)
        return n

    def executemany() -> int:
        rows = raw_rows(dialect, n)
        cur = conn.cursor()
        cur.execute("BEGIN")
        cur.executemany(insert_sql, rows)
        cur.execute("COMMIT")
        return n

    def copy() -> int:
        rows = raw_rows(dialect, n)
        with conn.cursor() as cur, cur.copy(
            "COPY jobs (id, tool_name, status, priority, batch_id, workflow_id, user_id, "
            "parameters, created_at, updated_at, run_at, max_attempts) FROM STDIN"
        ) as cp:
            for r in rows:
                cp.write_row((r["id"], r["tool_name"], r["status"], r["priority"], r["batch_id"],
                              None, None, r["parameters"], r["created_at"], r["created_at"],
                              r["run_at"], r["max_attempts"]))
        return n

    def create_loop() -> int:
        for spec in specs[:loop]:
            jobs.create(**spec)
        return loop

    out = {"agentdb": agentdb_batch, "executemany": executemany}
    if dialect == "postgresql":
        out["copy"] = copy
    out["loop"] = create_loop
    return out


def measure(url: str, n: int, loop: int, rounds: int) -> tuple[str, str, list[str]]:
    with common.fresh_database(url) as fresh:
        db = agentdb.connect(fresh, pool_size=1, max_overflow=0)
        conn = raw_connect(parse_config(fresh))
        try:
            migrate(db)
            jobs = JobStore(db)
            table = ways(fresh, jobs, conn, n, loop)
            names = list(table)
            rates: dict[str, list[float]] = {k: [] for k in names}
            cpu: dict[str, list[float]] = {k: [] for k in names}
            for name in names:  # warm-up: statements prepared, caches filled
                table[name]() if name != "loop" else None
                common.delete_jobs(fresh, BENCH_TOOL)
            for r in range(rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    c, t = process_time(), perf_counter()
                    done = table[name]()
                    wall, used = perf_counter() - t, process_time() - c
                    rates[name].append(done / wall)
                    cpu[name].append(used / done * 1e6)
                    common.delete_jobs(fresh, BENCH_TOOL)
        finally:
            conn.close()
            db.close()
    dialect = parse_config(url).dialect
    med = {k: statistics.median(v) for k, v in rates.items()}
    rows: list[list[object]] = []
    for name in names:
        rows.append([name, med[name], f"{min(rates[name]):,.0f}-{max(rates[name]):,.0f}",
                     statistics.median(cpu[name]), f"{med['agentdb'] / med[name]:.2f}x"])
    missed = []
    vs_many = med["agentdb"] / med["executemany"]
    vs_loop = med["agentdb"] / med["loop"]
    verdict = [f"agentdb / executemany = {vs_many:.2f}x (target >= {TARGET_EXECUTEMANY:.2f}x: "
               f"{'met' if vs_many >= TARGET_EXECUTEMANY else 'MISSED'})",
               f"agentdb / create() loop = {vs_loop:.1f}x"
               + (f" (target >= {TARGET_LOOP_PG:g}x: "
                  f"{'met' if vs_loop >= TARGET_LOOP_PG else 'MISSED'})"
                  if dialect == "postgresql" else "")]
    if vs_many < TARGET_EXECUTEMANY:
        missed.append(f"{dialect}: agentdb {vs_many:.2f}x executemany")
    if dialect == "postgresql" and vs_loop < TARGET_LOOP_PG:
        missed.append(f"{dialect}: agentdb {vs_loop:.1f}x the create() loop")
    text = (f"### {dialect}: {n:,} jobs per batch, {loop:,} per loop, {rounds} rounds\n\n"
            + common.markdown_table(["way", "jobs/s", "min-max", "client CPU µs/job",
                                     "agentdb/this"], rows)
            + "\n\n" + "\n".join(f"- {line}" for line in verdict))
    return dialect, text, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", action="append", metavar="URL",
                        help="URL (repeatable); default: SQLite, PostgreSQL and MariaDB")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per batch")
    parser.add_argument("--loop", type=int, default=1000, help="create() calls per loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=common.OUT_DIR)  # accepted for symmetry
    args = parser.parse_args(argv)
    usable = common.usable_urls(args.database)
    if usable is None:
        return 2
    print(common.describe_machine(usable))
    print()
    missed: list[str] = []
    for url in usable:
        _, text, miss = measure(url, args.jobs, min(args.loop, args.jobs), args.rounds)
        print(text)
        print()
        missed += miss
    print("targets missed:\n" + "\n".join(f"- {m}" for m in missed) if missed
          else "targets met")
    print(f"load average at the end: {common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
