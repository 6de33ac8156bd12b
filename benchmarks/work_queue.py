"""The job queue: how fast agentdb's Worker drains a backlog, how soon it starts a new job, and
what one claim reads and locks; procrastinate and pgqueuer beside it on PostgreSQL.

    python benchmarks/work_queue.py                      # SQLite + whichever local servers answer
    python benchmarks/work_queue.py --database postgresql://postgres@127.0.0.1:5432/postgres \\
        --jobs 2000 --workers 1,4,16 --batch 1,10 --modes threads,processes --peers
    python benchmarks/work_queue.py --footprint --database mysql://root@127.0.0.1:3306/test

Drain: ``--jobs`` no-op jobs are enqueued, then N workers start together and run until the
queue is empty; jobs/s = jobs / (last worker done - start). "threads" = N Worker objects
(concurrency 1 each) in one process sharing one pool; "processes" = N processes with one Worker
each (procrastinate and pgqueuer: one worker process each, concurrency 1, the same no-op).
``batch`` is the jobs claimed per round trip (procrastinate fetches one at a time). Every run
checks that each job ran exactly once (the handlers' own record, and the table afterwards).

Latency: one idle worker; a job is enqueued every 50 ms; enqueue-to-start p50/p95 (PostgreSQL
wakes the worker with LISTEN/NOTIFY, the others poll with a backoff capped at --poll).

Footprint (--footprint): 100k finished jobs and 20k pending jobs of another tool, then one
claim of a "rare" tool, batch 1 and 10, and one claim of any tool: EXPLAIN, and on MariaDB the
rows the claim's transaction holds locked (information_schema.INNODB_TRX.trx_rows_locked).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import common

import agentdb
from agentdb.config import parse_config
from agentdb.repositories.jobs import JobStore
from agentdb.worker import JobContext, Worker

TOOL = "noop"


# -- agentdb ------------------------------------------------------------------------------------


def _connect(url: str, size: int) -> agentdb.Database:
    return agentdb.connect(url, pool_size=size, max_overflow=2)


def enqueue(url: str, n: int) -> None:
    db = _connect(url, 1)
    try:
        JobStore(db).create_job_batch([{"tool_name": TOOL, "parameters": {"n": i}}
                                       for i in range(n)])
    finally:
        db.close()


def reset(url: str) -> None:
    db = _connect(url, 1)
    try:
        with db.connection(write=True) as conn:
            conn.cursor().execute("DELETE FROM jobs")
    finally:
        db.close()


def check_table(url: str, n: int) -> str:
    """The table's side of exactly-once: every job completed, each after one attempt."""
    db = _connect(url, 1)
    try:
        jobs = JobStore(db)
        done = jobs.count(status="completed")
        with db.connection() as conn:
            cur = conn.cursor()
            cur.execute("SELECT COUNT(*) AS c FROM jobs WHERE attempt <> 1")
            retried = next(iter(cur.fetchone().values()))
        return "ok" if done == n and retried == 0 else f"BAD: {done} completed, {retried} retried"
    finally:
        db.close()


def _exactly_once(seen: list[int], n: int) -> str:
    counts = Counter(seen)
    if len(seen) == n and set(counts) == set(range(n)):
        return "ok"
    twice = sum(1 for c in counts.values() if c > 1)
    return f"BAD: {len(seen)} runs, {len(counts)} distinct, {twice} twice"


def drain_threads(url: str, workers: int, batch: int, n: int) -> tuple[float, str, float]:
    """N Worker objects in threads sharing one pool; (jobs/s, exactly-once check, CPU s/job)."""
    seen: list[int] = []
    db = _connect(url, workers + 1)
    try:
        jobs = JobStore(db)
        jobs.count()  # warm

        def noop(ctx: JobContext) -> None:
            seen.append(ctx.parameters["n"])  # list.append is atomic under the GIL

        pool = [Worker(jobs, {TOOL: noop}, batch_size=batch, poll_interval=0.05,
                       worker_id=f"t{i}") for i in range(workers)]
        threads = [threading.Thread(target=w.run, kwargs={"handle_signals": False,
                                                          "until_idle": True})
                   for w in pool]
        cpu0, t0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        db.close()
    return n / elapsed, _exactly_once(seen, n), cpu / n


def _agentdb_process(url: str, batch: int, go: Any, out: Any) -> None:
    db = _connect(url, 1)
    seen: list[int] = []

    def noop(ctx: JobContext) -> None:
        seen.append(ctx.parameters["n"])

    jobs = JobStore(db)
    jobs.count()
    worker = Worker(jobs, {TOOL: noop}, batch_size=batch, poll_interval=0.05)
    out.put(("ready", None, 0.0))
    go.wait(60)
    cpu0 = time.process_time()
    worker.run(handle_signals=False, until_idle=True)
    out.put((time.time(), seen, time.process_time() - cpu0))
    db.close()


def drain_processes(target: Any, args: tuple[Any, ...], workers: int,
                    n: int) -> tuple[float, str, float]:
    """N processes of ``target(*args, go, out)``; (jobs/s, exactly-once check, CPU s/job)."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, go, out)) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            assert out.get(timeout=120)[0] == "ready"
        t0 = time.time()
        go.set()
        results = [out.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    elapsed = max(r[0] for r in results) - t0
    seen = [x for r in results for x in r[1]]
    return n / elapsed, _exactly_once(seen, n), sum(r[2] for r in results) / n


def latency(url: str, samples: int, poll: float) -> tuple[float, float]:
    """Enqueue-to-start of a job enqueued while one worker idles: (p50, p95) in ms."""
    started: dict[str, float] = {}
    db = _connect(url, 3)
    try:
        jobs = JobStore(db)
        worker = Worker(jobs, {TOOL: lambda ctx: started.__setitem__(ctx.job.id,
                                                                     time.perf_counter())},
                        poll_interval=poll).start()
        time.sleep(0.5)
        delays = []
        for _ in range(samples):
            time.sleep(0.05)
            t0 = time.perf_counter()
            job = jobs.create(TOOL)
            deadline = t0 + 5
            while job.id not in started and time.perf_counter() < deadline:
                time.sleep(0.0005)
            delays.append((started.get(job.id, deadline) - t0) * 1000)
        worker.stop()
        worker.join(10)
    finally:
        db.close()
    delays.sort()
    return common.percentile(delays, 0.50), common.percentile(delays, 0.95)


# -- peers on PostgreSQL -------------------------------------------------------------------------


def _conninfo(url: str) -> str:
    c = parse_config(url)
    parts = [f"host={c.host}", f"port={c.port or 5432}", f"dbname={c.database}",
             f"user={c.username}"]
    if c.password:
        parts.append(f"password={c.password}")
    return " ".join(parts)


def _pgqueuer_process(url: str, batch: int, go: Any, out: Any) -> None:
    import psycopg
    from pgqueuer.models import Job
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    seen: list[int] = []

    async def main() -> None:
        conn = await psycopg.AsyncConnection.connect(_conninfo(url), autocommit=True)
        qm = QueueManager(Queries.from_psycopg_connection(conn))

        @qm.entrypoint(TOOL)
        async def noop(job: Job) -> None:
            seen.append(int(job.payload or b"-1"))

        out.put(("ready", None, 0.0))
        await asyncio.get_running_loop().run_in_executor(None, go.wait, 60)
        cpu0 = time.process_time()
        await qm.run(batch_size=batch, mode=QueueExecutionMode.drain,
                     dequeue_timeout=timedelta(seconds=0.001))
        out.put((time.time(), seen, time.process_time() - cpu0))
        await conn.close()

    asyncio.run(main())


def _pgqueuer_setup(url: str, n: int) -> None:
    import psycopg
    from pgqueuer.queries import Queries

    async def main() -> None:
        conn = await psycopg.AsyncConnection.connect(_conninfo(url), autocommit=True)
        queries = Queries.from_psycopg_connection(conn)
        with contextlib.suppress(Exception):
            await queries.install()
        await conn.execute("TRUNCATE pgqueuer, pgqueuer_log")
        await queries.enqueue([TOOL] * n, [str(i).encode() for i in range(n)], [0] * n)
        await conn.close()

    asyncio.run(main())


def _procrastinate_app(url: str) -> Any:
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo(url)))


def _procrastinate_process(url: str, batch: int, go: Any, out: Any) -> None:
    seen: list[int] = []
    app = _procrastinate_app(url)

    @app.task(name=TOOL)
    def noop(n: int) -> None:
        seen.append(n)

    with app.open():
        out.put(("ready", None, 0.0))
        go.wait(60)
        cpu0 = time.process_time()
        app.run_worker(wait=False, concurrency=1, install_signal_handlers=False,
                       delete_jobs="never", listen_notify=False)
        out.put((time.time(), seen, time.process_time() - cpu0))


def _procrastinate_setup(url: str, n: int) -> None:
    app = _procrastinate_app(url)

    @app.task(name=TOOL)
    def noop(n: int) -> None: ...

    with app.open():
        with contextlib.suppress(Exception):
            app.schema_manager.apply_schema()
        with psycopg_connect(url) as conn:
            conn.execute("TRUNCATE procrastinate_jobs CASCADE")
        noop.batch_defer(*[{"n": i} for i in range(n)])


def psycopg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(_conninfo(url), autocommit=True)


# -- footprint --------------------------------------------------------------------------------


def footprint(url: str) -> str:
    """EXPLAIN of the claims, and on MariaDB the rows their transaction holds locked."""
    db = _connect(url, 2)
    lines = []
    try:
        agentdb.migrate(db)
        jobs = JobStore(db)
        old = datetime.now(UTC) - timedelta(days=1)
        for start in range(0, 100_000, 10_000):
            jobs.run_many("insert_job", [
                {"id": agentdb.validate.new_id(), "tool_name": f"t{i % 7}", "status": "completed",
                 "priority": 0, "batch_id": None, "workflow_id": None, "user_id": None,
                 "parameters": None, "created_at": old, "run_at": old, "max_attempts": 1,
                 "dedupe_key": None} for i in range(start, start + 10_000)], chunk_size=2000)
        jobs.create_job_batch([{"tool_name": "busy"} for _ in range(20_000)])
        jobs.create_job_batch([{"tool_name": "rare"} for _ in range(20)])
        dialect = db.dialect
        with db.connection() as conn:
            cur = conn.cursor()
            cur.execute({"postgresql": "ANALYZE jobs", "mysql": "ANALYZE TABLE jobs",
                         "sqlite": "ANALYZE"}[dialect])
            if dialect == "mysql":
                cur.fetchall()
        lines.append(f"#### {dialect}: 100k finished jobs, 20k pending 'busy', 20 pending 'rare'")
        for tool, limit in (("rare", 1), ("rare", 10), (None, 1), (None, 10)):
            now = datetime.now(UTC)
            if dialect == "mysql":
                sql, params = JobStore.queries.prepare("lock_due_jobs", dialect, tool_name=tool,
                                                       now=now, limit=limit)
            else:
                sql, params = JobStore.queries.prepare(
                    "claim_due_jobs", dialect, tool_name=tool, now=now, limit=limit,
                    worker_id="x", lease_until=now)
            label = f"claim of {'any tool' if tool is None else repr(tool)}, batch {limit}"
            with db.connection() as conn:
                cur = conn.cursor()
                cur.execute(("EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN ") + sql,
                            params)
                plan = [" | ".join(str(v) for v in r.values() if v is not None)
                        for r in cur.fetchall()]
            if dialect == "mysql":
                with db.transaction() as conn:  # the claim's step 1, then its locks
                    took = len(jobs.run("lock_due_jobs", tool_name=tool, now=now, limit=limit))
                    cur = conn.cursor()
                    for _ in range(30):  # INNODB_TRX: a snapshot, refreshed when 0.1 s old
                        time.sleep(0.15)
                        cur.execute("SELECT trx_rows_locked FROM information_schema.INNODB_TRX "
                                    "WHERE trx_mysql_thread_id = CONNECTION_ID()")
                        found = cur.fetchone()
                        if found is not None:
                            break
                    locked = found["trx_rows_locked"] if found else "?"
                label += f": took {took} job(s), trx_rows_locked = {locked}"
            lines.append(f"- {label}")
            lines += [f"      {line}" for line in plan]
    finally:
        db.close()
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


PEERS = {  # name: (setup, one worker process); procrastinate has no batch size (it fetches
    # one job at a time), so it runs the same way in every batch row
    "pgqueuer": (_pgqueuer_setup, _pgqueuer_process),
    "procrastinate": (_procrastinate_setup, _procrastinate_process),
}


def _say(row: list[object]) -> None:
    print(" | ".join(map(str, row)), file=sys.stderr, flush=True)


def matrix(url: str, args: argparse.Namespace) -> tuple[list[list[object]], int]:
    """agentdb alone on one backend: every mode x workers x batch, then the latency."""
    rows: list[list[object]] = []
    bad = 0
    dialect = common.dialect_of(url)
    with common.fresh_database(url) as fresh:
        db = _connect(fresh, 1)
        agentdb.migrate(db)
        db.close()
        for mode in args.modes.split(","):
            for workers in args.workers:
                for batch in args.batch:
                    reset(fresh)
                    enqueue(fresh, args.jobs)
                    if mode == "threads":
                        rate, once, cpu = drain_threads(fresh, workers, batch, args.jobs)
                    else:
                        rate, once, cpu = drain_processes(_agentdb_process, (fresh, batch),
                                                          workers, args.jobs)
                    table = check_table(fresh, args.jobs)
                    bad += once != "ok" or table != "ok"
                    rows.append([dialect, mode, workers, batch, round(rate), round(cpu * 1e6),
                                 f"{once} / {table}"])
                    _say(rows[-1])
        p50, p95 = latency(fresh, args.latency_samples, args.poll)
        how = "LISTEN/NOTIFY" if dialect == "postgresql" else f"poll <= {args.poll * 1e3:.0f} ms"
        rows.append([dialect, "enqueue-to-start", 1, "-", f"p50 {p50:.1f} ms",
                     f"p95 {p95:.1f} ms", how])
        _say(rows[-1])
    return rows, bad


def peers(url: str, args: argparse.Namespace) -> tuple[list[list[object]], int]:
    """agentdb, pgqueuer and procrastinate on one PostgreSQL server, each in its own fresh
    database, worker processes, the same no-op jobs; rounds interleaved, medians reported."""
    rows: list[list[object]] = []
    bad = 0
    with contextlib.ExitStack() as stack:
        dbs = {name: stack.enter_context(common.fresh_database(url))
               for name in ("agentdb", *PEERS)}
        db = _connect(dbs["agentdb"], 1)
        agentdb.migrate(db)
        db.close()
        for workers in args.workers:
            for batch in args.batch:
                rates: dict[str, list[float]] = {}
                cpus: dict[str, list[float]] = {}
                for _ in range(args.rounds):
                    for name in ("agentdb", *PEERS):
                        if name == "agentdb":
                            reset(dbs[name])
                            enqueue(dbs[name], args.jobs)
                            target: Any = _agentdb_process
                        else:
                            PEERS[name][0](dbs[name], args.jobs)
                            target = PEERS[name][1]
                        rate, once, cpu = drain_processes(target, (dbs[name], batch), workers,
                                                          args.jobs)
                        if name == "agentdb":
                            table = check_table(dbs[name], args.jobs)
                            once = once if table == "ok" else f"{once} / {table}"
                        bad += once != "ok"
                        rates.setdefault(name, []).append(rate)
                        cpus.setdefault(name, []).append(cpu)
                        _say([name, workers, batch, round(rate), once])
                ours = rates["agentdb"]
                for name, got in rates.items():
                    ratios = [a / b for a, b in zip(ours, got, strict=True)]
                    ratio = "" if name == "agentdb" else f"{statistics.median(ratios):.2f}x"
                    rows.append([name, workers, batch, round(statistics.median(got)),
                                 round(statistics.median(cpus[name]) * 1e6), ratio,
                                 f"{len(got)} rounds, exactly once: "
                                 + ("ok" if not bad else "see stderr")])
    return rows, bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--database", action="append", metavar="URL",
                   help="a backend to run on (repeatable; default: SQLite + local servers)")
    p.add_argument("--jobs", type=int, default=2000, help="jobs per drain (2000)")
    p.add_argument("--workers", type=common.parse_int_list, default=[1, 4, 16])
    p.add_argument("--batch", type=common.parse_int_list, default=[1, 10])
    p.add_argument("--modes", default="threads,processes")
    p.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                   help="procrastinate and pgqueuer beside agentdb on PostgreSQL (default: on)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the peers (3)")
    p.add_argument("--latency-samples", type=int, default=40)
    p.add_argument("--poll", type=float, default=0.1, help="idle poll cap in s (0.1)")
    p.add_argument("--footprint", action="store_true", help="only the claim footprint")
    args = p.parse_args(argv)
    urls = common.usable_urls(args.database)
    if urls is None:
        return 2
    print(common.describe_machine(urls))
    from importlib.metadata import version

    with contextlib.suppress(Exception):
        print(f"peers: procrastinate {version('procrastinate')}, pgqueuer {version('pgqueuer')}")
    print()
    if args.footprint:
        for url in urls:
            with common.fresh_database(url) as fresh:
                print(footprint(fresh), "\n")
        return 0
    rows: list[list[object]] = []
    peer_rows: list[list[object]] = []
    bad = 0
    for url in urls:
        got, failed = matrix(url, args)
        rows += got
        bad += failed
        if common.dialect_of(url) == "postgresql" and args.peers:
            got, failed = peers(url, args)
            peer_rows += got
            bad += failed
    print(f"### agentdb Worker: {args.jobs} no-op jobs drained\n")
    print(common.markdown_table(["backend", "workers as", "workers", "batch", "jobs/s",
                                 "worker CPU µs/job", "exactly once (handlers / table)"], rows))
    if peer_rows:
        print(f"\n### PostgreSQL: agentdb vs pgqueuer vs procrastinate, worker processes, "
              f"{args.jobs} no-op jobs, medians of {args.rounds} interleaved rounds\n")
        print(common.markdown_table(["queue", "workers", "batch", "jobs/s",
                                     "worker CPU µs/job", "agentdb ÷ it", "checks"], peer_rows))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
