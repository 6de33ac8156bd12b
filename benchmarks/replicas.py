"""Replicas and PgBouncer: read throughput, fallbacks under writes, staleness, PgBouncer cost.

Builds its own topology with tests/servers.py (throwaway servers on spare loopback ports,
removed at the end; the shared servers on 5432/3306 are never touched): a PostgreSQL primary
with a streaming replica and a PgBouncer 1.18 (pool_mode=transaction) in front, and a MariaDB
primary with a GTID replica. Then, per dialect:

1. read throughput at 16 threads (``JobStore.get`` of random ids): primary only vs primary +
   1 replica, interleaved rounds, medians; and client CPU per read in one thread;
2. under a write load (threads that each create a job, read it back, update it, read it back,
   then read others' jobs): the share of reads that went to the primary, and why;
3. staleness: every read-your-writes read is checked against what its thread just wrote
   (must be 0 stale); for contrast, the same read from a fresh context (no token);
4. PostgreSQL only: throughput direct vs through PgBouncer (16 threads, reads + writes).
"""

from __future__ import annotations

import argparse
import contextvars
import random
import statistics
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from time import monotonic, process_time
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the topology fixtures: one source of truth

from common import describe_machine  # noqa: E402

import agentdb  # noqa: E402
from agentdb import JobStatus, JobStore, NotFound  # noqa: E402


def threads_for(seconds: float, n: int, work: Callable[[int, Callable[[], bool]], int]) -> float:
    """Run ``work(i, running)`` in ``n`` threads for ``seconds``; ops per second."""
    deadline = monotonic() + seconds
    counts = [0] * n
    errors: list[BaseException] = []
    barrier = threading.Barrier(n + 1)

    def run(i: int) -> None:
        barrier.wait()
        try:
            counts[i] = work(i, lambda: monotonic() < deadline)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    start = monotonic()
    deadline = start + seconds
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts) / (monotonic() - start)


def reads(db: agentdb.Database, ids: list[str]) -> Callable[[int, Callable[[], bool]], int]:
    jobs = JobStore(db)

    def work(i: int, running: Callable[[], bool]) -> int:
        rng = random.Random(i)
        done = 0
        while running():
            jobs.get(rng.choice(ids))
            done += 1
        return done

    return work


def cpu_per_read(db: agentdb.Database, ids: list[str], n: int = 2000) -> float:
    jobs = JobStore(db)
    start = process_time()
    for k in range(n):
        jobs.get(ids[k % len(ids)])
    return (process_time() - start) / n * 1e6


def read_throughput(topo: Any, rounds: int, seconds: float) -> dict[str, Any]:
    alone = agentdb.connect(topo.primary.url, pool_size=16, max_overflow=0)
    both = agentdb.connect(topo.primary.url, replicas=[topo.replica.url], pool_size=16,
                           max_overflow=0)
    try:
        ids = [JobStore(alone).create("bench").id for _ in range(200)]
        topo.replica.wait_caught_up()
        a_runs, b_runs = [], []
        for _ in range(rounds):  # interleaved, so drift hits both alike
            a_runs.append(threads_for(seconds, 16, reads(alone, ids)))
            b_runs.append(threads_for(seconds, 16, reads(both, ids)))
        routing = both.stats().routing or {}
        return {
            "primary only": statistics.median(a_runs),
            "primary + 1 replica": statistics.median(b_runs),
            "ratio": statistics.median(b / a for a, b in zip(a_runs, b_runs, strict=True)),
            "cpu_us_alone": cpu_per_read(alone, ids),
            "cpu_us_replica": contextvars.Context().run(cpu_per_read, both, ids),
            "replica share": routing.get("replica_reads", 0)
            / max(1, routing.get("replica_reads", 0) + routing.get("primary_reads", 0)),
        }
    finally:
        alone.close()
        both.close()


def write_load(topo: Any, seconds: float, n: int = 8) -> dict[str, Any]:
    """Each thread: create, read back, update, read back (read-your-writes), 4 reads of
    others' jobs; and the read-back once more from a fresh context, for contrast."""
    db = agentdb.connect(topo.primary.url, replicas=[topo.replica.url], pool_size=8,
                         max_overflow=8)
    jobs = JobStore(db)
    shared = [jobs.create("seed").id for _ in range(50)]
    topo.replica.wait_caught_up()
    stale = [0] * n
    stale_fresh_context = [0] * n
    ryw_reads = [0] * n
    lock = threading.Lock()
    before = dict(db.stats().routing or {})

    def fresh_read(job_id: str, status: JobStatus) -> bool:
        try:
            return jobs.get(job_id).status != status
        except NotFound:
            return True

    def work(i: int, running: Callable[[], bool]) -> int:
        rng = random.Random(i)
        done = 0
        while running():
            job = jobs.create("load")
            if jobs.get(job.id).id != job.id:
                stale[i] += 1
            jobs.update_status(job.id, JobStatus.RUNNING)
            if jobs.get(job.id).status != JobStatus.RUNNING:
                stale[i] += 1
            ryw_reads[i] += 2
            if contextvars.Context().run(fresh_read, job.id, JobStatus.RUNNING):
                stale_fresh_context[i] += 1
            for _ in range(4):
                jobs.get(rng.choice(shared))
            with lock:
                shared.append(job.id)
            done += 1
        return done

    try:
        rate = threads_for(seconds, n, work)
        after = db.stats().routing or {}
        delta = {k: after[k] - before.get(k, 0) for k in after}
        total_reads = delta["replica_reads"] + delta["primary_reads"]
        return {
            "units/s": rate,
            "reads": total_reads,
            "primary share": delta["primary_reads"] / max(1, total_reads),
            "fallback share": delta["fallbacks"] / max(1, total_reads),
            "ryw reads": sum(ryw_reads),
            "stale ryw": sum(stale),
            "stale fresh context": sum(stale_fresh_context),
            "fresh context reads": sum(ryw_reads) // 2,
        }
    finally:
        db.close()


def mixed(db: agentdb.Database, ids: list[str]) -> Callable[[int, Callable[[], bool]], int]:
    jobs = JobStore(db)

    def work(i: int, running: Callable[[], bool]) -> int:
        rng = random.Random(i)
        done = 0
        while running():
            for _ in range(4):
                jobs.get(rng.choice(ids))
            job = jobs.create("mixed")
            jobs.update_status(job.id, JobStatus.RUNNING)
            done += 6
        return done

    return work


def pgbouncer_vs_direct(topo: Any, rounds: int, seconds: float) -> dict[str, Any]:
    direct = agentdb.connect(topo.primary.url, pool_size=16, max_overflow=0)
    bounced = agentdb.connect(topo.bouncer.url, pool_size=16, max_overflow=0)
    try:
        assert bounced.pgbouncer
        ids = [JobStore(direct).create("bench").id for _ in range(200)]
        d_runs, b_runs = [], []
        for _ in range(rounds):
            d_runs.append(threads_for(seconds, 16, mixed(direct, ids)))
            b_runs.append(threads_for(seconds, 16, mixed(bounced, ids)))
        return {
            "direct": statistics.median(d_runs),
            "pgbouncer": statistics.median(b_runs),
            "ratio": statistics.median(b / d for d, b in zip(d_runs, b_runs, strict=True)),
            "cpu_us_direct": cpu_per_read(direct, ids),
            "cpu_us_pgbouncer": cpu_per_read(bounced, ids),
        }
    finally:
        direct.close()
        bounced.close()


def build(dialect: str) -> Any:
    from servers import (
        MariaDBReplica,
        MariaDBServer,
        PgBouncer,
        PostgresPrimary,
        PostgresReplica,
    )

    class Topology:
        primary: Any
        replica: Any
        bouncer: Any = None

        def remove(self) -> None:
            for server in (self.bouncer, self.replica, self.primary):
                if server is not None:
                    server.remove()

    topo = Topology()
    topo.replica = None
    if dialect == "postgresql":
        topo.primary = PostgresPrimary.create()
    else:
        topo.primary = MariaDBServer.create(binlog=True)
    try:
        db = agentdb.connect(topo.primary.url)
        agentdb.migrate(db)
        db.close()
        if dialect == "postgresql":
            topo.replica = PostgresReplica.create(upstream=topo.primary)
            topo.bouncer = PgBouncer.create(upstream=topo.primary)
        else:
            topo.replica = MariaDBReplica.create(upstream=topo.primary)
    except BaseException:
        topo.remove()
        raise
    return topo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--dialects", nargs="+", default=["postgresql", "mysql"])
    args = parser.parse_args(argv)
    print(describe_machine())
    print(f"rounds {args.rounds} x {args.seconds:g} s per cell, 16 threads unless said\n")
    out: dict[str, dict[str, Any]] = {}
    for dialect in args.dialects:
        topo = build(dialect)
        try:
            out[dialect] = {
                "reads": read_throughput(topo, args.rounds, args.seconds),
                "writes": write_load(topo, args.seconds * 2),
            }
            if dialect == "postgresql":
                out[dialect]["bouncer"] = pgbouncer_vs_direct(topo, args.rounds, args.seconds)
        finally:
            topo.remove()

    print("read throughput, JobStore.get, 16 threads (reads/s, median of rounds)")
    print("dialect      primary only  primary+1 replica  ratio  replica share  "
          "CPU µs/read alone  with replica")
    for dialect, r in out.items():
        x = r["reads"]
        print(f"{dialect:<12} {x['primary only']:>12.0f}  {x['primary + 1 replica']:>17.0f}  "
              f"{x['ratio']:>5.2f}x {x['replica share']:>13.0%}  {x['cpu_us_alone']:>17.0f}  "
              f"{x['cpu_us_replica']:>12.0f}")
    print("\nunder a write load, 8 threads: create, read, update, read (read-your-writes), "
          "4 other reads")
    print("dialect      units/s  reads   to primary  fell back (RYW)  stale RYW  "
          "stale without token")
    for dialect, r in out.items():
        w = r["writes"]
        print(f"{dialect:<12} {w['units/s']:>7.0f}  {w['reads']:>5}  {w['primary share']:>10.1%}"
              f"  {w['fallback share']:>15.1%}  {w['stale ryw']:>4}/{w['ryw reads']:<5}"
              f"  {w['stale fresh context']:>5}/{w['fresh context reads']}")
    if "postgresql" in out and "bouncer" in out["postgresql"]:
        b = out["postgresql"]["bouncer"]
        print("\nPgBouncer (transaction mode) vs direct, 16 threads, 4 gets + create + update "
              "(statements/s)")
        print(f"direct {b['direct']:.0f}  pgbouncer {b['pgbouncer']:.0f}  ratio "
              f"{b['ratio']:.2f}x  CPU µs/read direct {b['cpu_us_direct']:.0f}  "
              f"pgbouncer {b['cpu_us_pgbouncer']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
