"""JobStore against the raw driver, a batch against a loop, and a filtered list on 100,000 rows.

    python benchmarks/jobs.py [--database URL ...] [--quick] [--threads 1,4,16] [--rounds 3]
                              [--seconds 1.0]

1. ops/s of JobStore ``create``, ``get`` and a full lifecycle (create, claim_next,
   save_result, complete) at 1, 4 and 16 threads, beside the same SQL (the text JobStore's
   loader produces for the dialect) run through the raw driver on one dedicated autocommit
   connection per thread, with the driver's default tuple rows. Raw and JobStore alternate
   within every round (the order flips each round) so machine drift hits both alike; the table
   shows each side's median round. JobStore runs on ``agentdb.connect(url, pool_size=16,
   max_overflow=0)``: one pooled connection per thread at 16 threads.
2. ``create_job_batch`` of 10,000 jobs against a loop of 10,000 ``create`` calls.
3. ``list(status=...)`` latency on 100,000 jobs (spread over 30 days, 20 tools, mostly
   finished), after ANALYZE, with the plan the database shows for that query.
4. Where a ``get`` spends its client CPU, one layer at a time (process CPU time per call,
   median of alternating batches, so other load on the machine hardly moves it): the raw
   driver with tuple rows, with dict rows, plus a pool checkout, plus the query loader, and
   the whole JobStore.get (input check and the typed record).

Each --database gets a fresh database (created and dropped here; SQLite: a temporary file).
Default: the three local servers. Targets (issue 3): JobStore >= 0.90x raw at every thread
count; batch >= 10x the loop; the filtered list uses an index.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psycopg
import pymysql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

import agentdb
from agentdb.config import Config, parse_config
from agentdb.migrate import migrate
from agentdb.repositories import JobStore

DEFAULT_URLS = [
    os.environ.get("AGENTDB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    os.environ.get("AGENTDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
    "sqlite:///{tmp}/jobs-bench.db",
]
OPS = ("create", "get", "lifecycle")
TARGET_RATIO = 0.90
TARGET_BATCH = 10.0
PARAMS = {"input": "file.txt", "flags": ["-v"], "retries": 3}
STATUS_MIX = {"completed": 70, "failed": 15, "cancelled": 5, "pending": 8, "running": 2}
LIST_STATUSES = ("pending", "running", "completed")


class Settings:
    def __init__(self, args: argparse.Namespace) -> None:
        quick = args.quick
        self.threads: list[int] = common.parse_int_list(args.threads)
        self.rounds: int = args.rounds or (1 if quick else 3)
        self.seconds: float = args.seconds or (0.3 if quick else 1.0)
        self.batch: int = 2_000 if quick else 10_000
        self.list_rows: int = 10_000 if quick else 100_000
        self.list_calls: int = 30 if quick else 300
        self.seed: int = 2_000  # jobs the get benchmark reads


# -- the raw driver ------------------------------------------------------------------------------


def raw_connect(config: Config) -> Any:
    """One autocommit connection, configured as agentdb configures its pooled ones (TLS off on
    loopback, the same prepare threshold, the same SQLite PRAGMAs) but with default rows."""
    c = config
    if c.dialect == "postgresql":
        return psycopg.connect(host=c.host, port=c.port, user=c.username, password=c.password,
                               dbname=c.database, autocommit=True,
                               prepare_threshold=c.prepare_threshold)
    if c.dialect == "mysql":  # the session agentdb's pool opens: READ COMMITTED, FOUND_ROWS
        return pymysql.connect(host=c.host or "localhost", port=c.port or 3306,
                               user=c.username, password=c.password or "", database=c.database,
                               charset="utf8mb4", autocommit=True, ssl_disabled=True,
                               client_flag=pymysql.constants.CLIENT.FOUND_ROWS,
                               init_command="SET SESSION TRANSACTION ISOLATION LEVEL "
                                            "READ COMMITTED")
    conn = sqlite3.connect(str(c.path), isolation_level=None, check_same_thread=False,
                           timeout=c.busy_timeout / 1000)
    for pragma in (f"busy_timeout = {c.busy_timeout}", "journal_mode = WAL",
                   "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


class RawSQL:
    """The driver SQL of each statement JobStore sends, and values bound the way agentdb's
    adapters bind them, so the raw side does the same work minus agentdb."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        q = JobStore.queries
        self.sql = {name: q.show(name, dialect) for name in (
            "insert_job", "get_job", "mark_claimed", "save_result", "get_result",
            "finish_job")}
        # list() with no filter, newest first: the variant JobStore.list() runs for it
        self.sql["list_jobs"] = q.show("list_jobs", dialect, limit=0, offset=0)
        # claims of any tool: the variant without the tool_name condition
        for name in ("claim_due_jobs", "lock_due_jobs"):
            self.sql[name] = q.show(name, dialect, limit=1)
        # finish_job's IN (:from_statuses) expanded for one status, as the loader does for it
        mark = ":{}" if dialect == "sqlite" else "%({})s"
        self.sql["finish_job"] = self.sql["finish_job"].replace(
            mark.format("from_statuses"), mark.format("from_statuses_0"))
        self.sql["mark_claimed"] = self.sql["mark_claimed"].replace(
            mark.format("ids"), mark.format("ids_0"))

    def now(self, after: float = 0.0) -> Any:
        now = datetime.now(UTC) + timedelta(seconds=after)
        if self.dialect == "mysql":
            return now.replace(tzinfo=None)
        if self.dialect == "sqlite":
            return now.isoformat(timespec="microseconds")
        return now

    def json(self, value: Any) -> Any:
        return Jsonb(value) if self.dialect == "postgresql" else json.dumps(value)


def raw_ops(raw: RawSQL, conn: Any, thread: int, ids: list[str]) -> dict[str, common.Op]:
    sql, cursor = raw.sql, conn.cursor
    next_id = id_cycle(ids, thread)
    worker = f"raw-{thread}"

    def create() -> None:
        cursor().execute(sql["insert_job"], {
            "id": str(uuid.uuid4()), "tool_name": "bench", "status": "pending", "priority": 0,
            "batch_id": None, "workflow_id": None, "user_id": None,
            "parameters": raw.json(PARAMS), "created_at": raw.now(),
            "run_at": raw.now(), "max_attempts": 1, "dedupe_key": None,
        })

    def get() -> Any:
        cur = cursor()
        cur.execute(sql["get_job"], {"id": next_id()})
        return cur.fetchone()

    def claim_one_statement() -> Any:
        cur = cursor()
        cur.execute(sql["claim_due_jobs"], {"worker_id": worker, "now": raw.now(),
                                            "lease_until": raw.now(30), "limit": 1})
        row = cur.fetchone()
        return None if row is None else row[0]

    def claim_two_statements() -> Any:  # MariaDB: no UPDATE ... RETURNING
        conn.begin()
        try:
            cur = cursor()
            cur.execute(sql["lock_due_jobs"], {"now": raw.now(), "limit": 1})
            row = cur.fetchone()
            if row is not None:
                cur.execute(sql["mark_claimed"], {"ids_0": row[0], "worker_id": worker,
                                                  "now": raw.now(),
                                                  "lease_until": raw.now(30)})
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return None if row is None else row[0]

    claim = claim_two_statements if raw.dialect == "mysql" else claim_one_statement

    def lifecycle() -> Any:
        create()
        job_id = claim()
        if job_id is None:
            return None
        cur = cursor()
        cur.execute(sql["save_result"], {"job_id": job_id, "stdout": "done", "stderr": "",
                                         "return_code": 0, "output_files": raw.json(["out"]),
                                         "now": raw.now(), "worker_id": worker, "anyone": False})
        cur.execute(sql["finish_job"], {"id": job_id, "status": "completed", "now": raw.now(),
                                        "error_message": None, "from_statuses_0": "running",
                                        "worker_id": worker, "anyone": False})
        cur.execute(sql["get_job"], {"id": job_id})
        return cur.fetchone()

    return {"create": create, "get": get, "lifecycle": lifecycle}


def store_ops(jobs: JobStore, thread: int, ids: list[str]) -> dict[str, common.Op]:
    next_id = id_cycle(ids, thread)
    worker = f"store-{thread}"

    def create() -> None:
        jobs.create("bench", PARAMS)

    def get() -> Any:
        return jobs.get(next_id())

    def lifecycle() -> Any:
        jobs.create("bench", PARAMS)
        job = jobs.claim_next(worker)
        if job is None:
            return None
        jobs.save_result(job.id, "done", "", 0, ["out"], worker_id=worker)
        return jobs.complete(job.id, worker_id=worker)

    return {"create": create, "get": get, "lifecycle": lifecycle}


def pick(side: Callable[[int], dict[str, common.Op]], op: str) -> Callable[[int], common.Op]:
    """``make_op`` for common.run_threads: thread i's ``op`` on this side."""
    return lambda thread: side(thread)[op]


def id_cycle(ids: list[str], thread: int) -> Callable[[], str]:
    n, state = len(ids), [(thread * 7919) % len(ids)]

    def next_id() -> str:
        i = state[0]
        state[0] = i + 1 if i + 1 < n else 0
        return ids[i]

    return next_id


# -- the three measurements ----------------------------------------------------------------------


def throughput(url: str, s: Settings, progress: common.Progress) -> list[dict[str, Any]]:
    config = parse_config(url)
    raw = RawSQL(config.dialect)
    db = agentdb.connect(url, pool_size=max(s.threads), max_overflow=0)
    conns = [raw_connect(config) for _ in range(max(s.threads))]
    rows = []
    try:
        jobs = JobStore(db)
        ids = [j.id for j in jobs.get_batch_jobs(
            jobs.create_job_batch([{"tool_name": "seed", "parameters": PARAMS}] * s.seed))]
        sides: dict[str, Callable[[int], dict[str, common.Op]]] = {
            "raw": lambda t: raw_ops(raw, conns[t], t, ids),
            "JobStore": lambda t: store_ops(jobs, t, ids),
        }
        for op in OPS:
            for threads in s.threads:
                progress.show(f"{config.dialect} {op} x{threads}")
                for side in sides.values():  # warm up: prepared statements, pool, caches
                    common.run_threads(threads, pick(side, op), duration=0.1)
                got: dict[str, list[float]] = {"raw": [], "JobStore": []}
                for r in range(s.rounds):
                    order = list(sides) if r % 2 == 0 else list(reversed(sides))
                    for name in order:
                        make = sides[name]
                        run = common.run_threads(threads, pick(make, op), duration=s.seconds)
                        got[name].append(run.throughput)
                base, ours = statistics.median(got["raw"]), statistics.median(got["JobStore"])
                rows.append({"backend": config.dialect, "op": op, "threads": threads,
                             "raw ops/s": base, "JobStore ops/s": ours,
                             "ratio": ours / base, "met": ours / base >= TARGET_RATIO})
                progress.advance()
    finally:
        for conn in conns:
            conn.close()
        db.close()
    return rows


def batch_vs_loop(url: str, s: Settings) -> dict[str, Any]:
    db = agentdb.connect(url, pool_size=2, max_overflow=0)
    try:
        jobs = JobStore(db)
        specs: list[dict[str, Any]] = [
            {"tool_name": f"tool{i % 20}", "parameters": {"i": i, **PARAMS}, "priority": i % 3}
            for i in range(s.batch)
        ]
        start = perf_counter()
        jobs.create_job_batch(specs)
        batch = perf_counter() - start
        start = perf_counter()
        for spec in specs:
            jobs.create(**spec)
        loop = perf_counter() - start
        return {"backend": db.dialect, "jobs": s.batch, "batch s": batch, "loop s": loop,
                "speedup": loop / batch, "met": loop / batch >= TARGET_BATCH}
    finally:
        db.close()


def seed_history(jobs: JobStore, rows: int) -> None:
    """``rows`` jobs over the last 30 days in the STATUS_MIX proportions, written with the
    loader's own insert_job (status and created_at chosen here)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    statuses = [s for s, weight in STATUS_MIX.items() for _ in range(weight)]
    batch = []
    for i in range(rows):
        created = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        batch.append({"id": str(uuid.uuid4()), "tool_name": f"tool{i % 20}",
                      "status": rng.choice(statuses), "priority": rng.randrange(3),
                      "batch_id": None, "workflow_id": None, "user_id": None,
                      "parameters": {"i": i}, "created_at": created, "run_at": created,
                      "max_attempts": 1, "dedupe_key": None})
    jobs.run_many("insert_job", batch, chunk_size=2000)


def analyze_and_explain(url: str, config: Config, status: str) -> str:
    """ANALYZE the jobs table, then the plan of list(status=...) as the database shows it."""
    params: dict[str, Any] = {"status": status, "limit": 100, "offset": 0}
    sql = JobStore.queries.show("list_jobs", config.dialect, **params)
    conn = raw_connect(config)
    try:
        cur = conn.cursor()
        if config.dialect == "postgresql":
            cur.execute("ANALYZE jobs")
            cur.execute("EXPLAIN " + sql, params)
            return "\n".join(r[0] for r in cur.fetchall())
        if config.dialect == "mysql":
            cur.execute("ANALYZE TABLE jobs")
            cur.fetchall()
            cur.execute("EXPLAIN " + sql, params)
            names = [d[0] for d in cur.description]
            return "\n".join(", ".join(f"{k}={v}" for k, v in zip(names, r, strict=True)
                                       if v is not None) for r in cur.fetchall())
        cur.execute("ANALYZE")
        cur.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(r[3] for r in cur.fetchall())
    finally:
        conn.close()


def list_latency(url: str, s: Settings) -> tuple[list[dict[str, Any]], dict[str, str]]:
    config = parse_config(url)
    db = agentdb.connect(url, pool_size=2, max_overflow=0)
    rows, plans = [], {}
    try:
        jobs = JobStore(db)
        seed_history(jobs, s.list_rows)
        for status in LIST_STATUSES:
            plans[status] = analyze_and_explain(url, config, status)
            matching = jobs.count(status=status)
            for _ in range(10):  # warm up (and past psycopg's prepare threshold)
                jobs.list(status=status)
            times = []
            for _ in range(s.list_calls):
                start = perf_counter()
                found = jobs.list(status=status)
                times.append(perf_counter() - start)
            assert len(found) == min(100, matching)
            times.sort()
            rows.append({"backend": config.dialect, "rows": s.list_rows, "status": status,
                         "matching": matching, "p50 ms": common.percentile(times, 0.5) * 1000,
                         "p95 ms": common.percentile(times, 0.95) * 1000,
                         "plan": plans[status].splitlines()[0][:70]})
    finally:
        db.close()
    return rows, plans


def get_layers(url: str, s: Settings) -> list[dict[str, Any]]:
    """Client CPU per get_job through each layer JobStore.get adds, one at a time."""
    config = parse_config(url)
    db = agentdb.connect(url, pool_size=1, max_overflow=0)
    conns = [raw_connect(config), raw_connect(config)]
    try:
        jobs = JobStore(db)
        job_id = jobs.create("layers", PARAMS).id
        sql = RawSQL(config.dialect).sql["get_job"]
        with_dicts = conns[1]
        if config.dialect == "postgresql":
            with_dicts.row_factory = dict_row
        elif config.dialect == "mysql":
            with_dicts.cursorclass = pymysql.cursors.DictCursor
        else:
            pooled_conn = db.backend.getconn()
            with_dicts.row_factory = pooled_conn.row_factory  # the pool's own
            db.backend.putconn(pooled_conn)
        run = JobStore.queries.run

        def on(conn: Any) -> Callable[[], Any]:
            def get() -> Any:
                cur = conn.cursor()
                cur.execute(sql, {"id": job_id})
                return cur.fetchone()
            return get

        def pooled() -> Any:
            with db.connection() as conn:
                cur = conn.cursor()
                cur.execute(sql, {"id": job_id})
                return cur.fetchone()

        layers: dict[str, Callable[[], Any]] = {
            "raw driver, tuple rows": on(conns[0]),
            "raw driver, dict rows": on(with_dicts),
            "+ pool checkout": pooled,
            "+ query loader": lambda: run(db, "get_job", id=job_id),
            "JobStore.get (+ check, record)": lambda: jobs.get(job_id),
        }
        n = 3000 if config.dialect == "sqlite" else 300
        n = n // 10 if s.rounds == 1 else n
        samples: dict[str, list[float]] = {name: [] for name in layers}
        for f in layers.values():
            for _ in range(50):
                f()
        for i in range(40 if s.rounds > 1 else 6):
            for name in (list(layers) if i % 2 else list(reversed(layers))):
                f = layers[name]
                start = process_time()
                for _ in range(n):
                    f()
                samples[name].append((process_time() - start) / n * 1e6)
        rows, base, prev = [], 0.0, 0.0
        for name, values in samples.items():
            us = statistics.median(values)
            base = base or us
            rows.append({"backend": config.dialect, "layer": name, "cpu µs": us,
                         "added µs": us - prev if prev else None, "vs raw": base / us})
            prev = us
        return rows
    finally:
        for conn in conns:
            conn.close()
        db.close()


def prepare(url: str) -> None:
    db = agentdb.connect(url, pool_size=1, max_overflow=0)
    try:
        migrate(db)
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", action="append",
                        help="URL (repeatable); a fresh database is created beside it")
    parser.add_argument("--quick", action="store_true", help="a smoke run: short and small")
    parser.add_argument("--threads", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=0.0, help="per measurement")
    args = parser.parse_args(argv)
    s = Settings(args)
    throughput_rows: list[dict[str, Any]] = []
    batch_rows: list[dict[str, Any]] = []
    list_rows: list[dict[str, Any]] = []
    layer_rows: list[dict[str, Any]] = []
    plans: dict[str, dict[str, str]] = {}  # dialect -> status -> plan
    with tempfile.TemporaryDirectory() as tmp:
        urls = [u.format(tmp=tmp) for u in (args.database or DEFAULT_URLS)]
        progress = common.Progress(len(urls) * len(OPS) * len(s.threads))
        for url in urls:
            reason = common.reachable(url)
            if reason:
                print(f"skipped: {reason}", file=sys.stderr)
                continue
            with common.fresh_database(url) as fresh:
                prepare(fresh)
                throughput_rows += throughput(fresh, s, progress)
                layer_rows += get_layers(fresh, s)
            with common.fresh_database(url) as fresh:
                prepare(fresh)
                batch_rows.append(batch_vs_loop(fresh, s))
            with common.fresh_database(url) as fresh:
                prepare(fresh)
                found, plan = list_latency(fresh, s)
                list_rows += found
                plans[parse_config(url).dialect] = plan
        progress.close()
        print(common.describe_machine(urls))
    ok = all(r["met"] for r in throughput_rows + batch_rows)
    print(f"\nops/s, median of {s.rounds} round(s) of {s.seconds:g} s; ratio = JobStore / raw "
          f"(target >= {TARGET_RATIO:.2f})")
    print(common.markdown_table(
        ["backend", "op", "threads", "raw ops/s", "JobStore ops/s", "ratio", "target"],
        [[r["backend"], r["op"], r["threads"], r["raw ops/s"], r["JobStore ops/s"],
          f"{r['ratio']:.2f}x", "met" if r["met"] else "MISSED"] for r in throughput_rows]))
    print(f"\ncreate_job_batch vs a loop of create() (target >= {TARGET_BATCH:.0f}x)")
    print(common.markdown_table(
        ["backend", "jobs", "batch s", "loop s", "speedup", "target"],
        [[r["backend"], r["jobs"], r["batch s"], r["loop s"], f"{r['speedup']:.1f}x",
          "met" if r["met"] else "MISSED"] for r in batch_rows]))
    print(f"\nlist(status=...) newest 100, one thread, {s.list_calls} calls")
    print(common.markdown_table(
        ["backend", "rows", "status", "matching", "p50 ms", "p95 ms", "plan (first line)"],
        [[r["backend"], r["rows"], r["status"], r["matching"], r["p50 ms"], r["p95 ms"],
          r["plan"]] for r in list_rows]))
    print("\nclient CPU per get, one layer at a time (median of alternating batches)")
    print(common.markdown_table(
        ["backend", "layer", "cpu µs", "added µs", "vs raw"],
        [[r["backend"], r["layer"], r["cpu µs"], r["added µs"], f"{r['vs raw']:.2f}x"]
         for r in layer_rows]))
    for dialect, by_status in plans.items():
        for status, text in by_status.items():
            print(f"\n{dialect} plan, list(status={status!r}):\n{text}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
