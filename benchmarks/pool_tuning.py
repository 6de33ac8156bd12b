"""Pool tuning: throughput and latency of a JobStore workload for every (threads, pool size).

For each cell the script opens a fresh ``agentdb.connect(url, pool_size=P, max_overflow=0)``
(so P is the hard limit on connections), warms it up, then runs the workload on T threads for
``--duration`` seconds and records: throughput, per-operation latency p50/p95/p99, how long
callers waited for a connection (``db.stats()`` p50/p95 of recent checkouts, and the share of
thread time spent waiting, sampled from the pool's waiting count: Little's law), pool
timeouts, and the CPU used by this Python process and by the whole machine (in cores).

    python benchmarks/pool_tuning.py --database URL --threads 1,4,16,64 \
        --pool-sizes 1,2,4,8,16 --duration 5 --workload read|write|mixed|lifecycle

Workloads (all through agentdb.repositories.JobStore, on a database seeded with --seed jobs):
  read       3 x get(id) : 1 x list(status="failed", limit=20)
  write      create() — one INSERT, autocommit
  mixed      7 x get : 2 x list : 1 x create
  lifecycle  create -> claim_next -> save_result -> complete (one op = the whole life; its
             jobs outrank the seeded queue, so claims take them)
The jobs a cell creates are deleted after it (untimed), so every cell sees the same data.

Every cell runs --passes times (default 3; later passes walk the grid backwards so drift does
not favour one corner): tables and plots show the median pass, with the min-max range of
throughput (error bars on the plots). Two pool sizes are within noise of each other when each
median lies inside the other's range (or they are within 5 %).

The recommendation, per workload (printed, and marked on the throughput plot):
  pool_size     the throughput knee: the smallest pool whose throughput is within noise (or
                5 %) of the best, at every thread count tested;
  max_overflow  what it takes, on top, for the p95 wait for a connection at the highest thread
                count to fall to <= 1 ms without losing throughput: connections a burst may
                open and the pool closes again.

Each run creates its own database (PostgreSQL/MariaDB: CREATE DATABASE on the URL's server;
SQLite: a file in a temporary directory beside the URL's file), migrates it with
``agentdb.migrate`` and drops it at the end. Output: a Markdown table per backend and workload
on stdout, the smallest pool size within 5 % of the best throughput per thread count, notes
where waits or timeouts dominate; CSV and PNG plots in ``benchmarks/out/`` (``--out``);
``--publish`` also copies the plots to ``benchmarks/plots/`` (the ones RESULTS.md shows).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

import agentdb
from agentdb.migrate import migrate
from agentdb.repositories import JobStore

WORKLOADS = ("read", "write", "mixed", "lifecycle")
BENCH_TOOL = "bench_tool"  # the jobs a workload creates; deleted after every cell
# Lifecycle jobs outrank the seeded queue, so claims take them and the seeded data stays as is.
LIFECYCLE_PRIORITY = 10
NEAR_BEST = 0.05  # "within 5 % of the best throughput"
WAIT_OK_MS = 1.0  # a p95 wait for a connection at or below this is no queue worth paying for
DEFAULTS = (5, 10)  # agentdb's pool_size, max_overflow
WAITS_DOMINATE = 0.5  # threads spend at least half their time waiting for a connection


# -- the workloads -----------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the workloads read: ids of existing jobs."""

    ids: list[str]


def seed(db: agentdb.Database, count: int) -> Seeded:
    """``count`` jobs: half pending (queue for claims), a quarter failed (the page that
    ``list`` reads, which no workload adds to), a quarter completed."""
    jobs = JobStore(db)
    specs = [
        {"tool_name": f"tool_{i % 7}", "parameters": {"n": i, "input": f"file_{i}.txt"},
         "priority": 0}
        for i in range(count)
    ]
    batch = jobs.create_job_batch(specs) if specs else None
    ids = [j.id for j in jobs.get_batch_jobs(batch)] if batch else []
    quarter = len(ids) // 4
    for job_id in ids[:quarter]:
        jobs.fail(job_id, "seeded failure")
    for job_id in ids[quarter:2 * quarter]:
        jobs.start(job_id, "seed")
        jobs.save_result(job_id, stdout="ok", stderr="", return_code=0, output_files=["out.txt"])
        jobs.complete(job_id)
    return Seeded(ids)


def make_workload(name: str, jobs: JobStore, seeded: Seeded) -> Callable[[int], common.Op]:
    """``make_op(thread_index)``: one thread's operation; it returns the kind it ran."""
    ids = seeded.ids or ["00000000-0000-0000-0000-000000000000"]

    def id_stream(i: int) -> Iterator[str]:
        # Each thread walks the ids from its own offset: no shared state, no random() cost.
        start = (i * 7919) % len(ids)
        return itertools.cycle(ids[start:] + ids[:start])

    def get(next_id: Callable[[], str]) -> str:
        jobs.get(next_id())
        return "get"

    def list_page() -> str:
        jobs.list(status="failed", limit=20)
        return "list"

    def create() -> str:
        jobs.create(BENCH_TOOL, {"input": "file.txt", "flags": ["-v"]})
        return "create"

    def lifecycle(worker: str) -> str:
        jobs.create(BENCH_TOOL, {"input": "file.txt"}, priority=LIFECYCLE_PRIORITY)
        claimed = jobs.claim_next(worker)
        if claimed is not None:
            jobs.save_result(claimed.id, stdout="done", stderr="", return_code=0,
                             output_files=["out.txt"], worker_id=worker)
            jobs.complete(claimed.id, worker_id=worker)
        return "lifecycle"

    patterns = {"read": "GGGL", "write": "C", "mixed": "GGGLGGGLGC", "lifecycle": "F"}
    pattern = patterns[name]

    def make_op(i: int) -> common.Op:
        stream = id_stream(i)
        steps = itertools.cycle(pattern)
        worker = f"bench-{i}"

        def next_id() -> str:
            return next(stream)

        table: dict[str, Callable[[], str]] = {
            "G": lambda: get(next_id),
            "L": list_page,
            "C": create,
            "F": lambda: lifecycle(worker),
        }

        def op() -> str:
            return table[next(steps)]()

        return op

    return make_op


# -- one cell ----------------------------------------------------------------------------------


@dataclass
class Cell:
    threads: int
    pool_size: int
    ops: int
    throughput: float  # ops/s
    p50_ms: float
    p95_ms: float
    p99_ms: float
    wait_share: float  # mean callers waiting for a connection / threads
    wait_p50_ms: float
    wait_p95_ms: float
    timeouts: int
    cpu_client: float  # cores
    cpu_machine: float  # cores
    kinds: dict[str, tuple[int, float, float, float]]  # kind -> (ops, p50, p95, p99) ms
    tp_min: float = 0.0  # throughput range over the passes (0: one pass, see throughput)
    tp_max: float = 0.0

    @property
    def low(self) -> float:
        return self.tp_min or self.throughput

    @property
    def high(self) -> float:
        return self.tp_max or self.throughput

    def near(self, other: Cell) -> bool:
        """Within noise of ``other``: within NEAR_BEST, or each median inside the other's
        min-max range (overlapping ranges alone are not enough: one wild pass would make
        every size look alike)."""
        if self.throughput >= (1 - NEAR_BEST) * other.throughput:
            return True
        return (self.low <= other.throughput <= self.high
                and other.low <= self.throughput <= other.high)

    @property
    def flags(self) -> list[str]:
        out = []
        if self.timeouts:
            out.append("timeouts")
        if self.wait_share >= WAITS_DOMINATE:
            out.append("waits")
        return out


def run_cell(url: str, workload: str, seeded: Seeded, threads: int, pool_size: int,
             duration: float, warmup: float, pool_timeout: float) -> Cell:
    db = agentdb.connect(url, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
    try:
        jobs = JobStore(db)
        make_op = make_workload(workload, jobs, seeded)
        if warmup > 0:  # opens connections, fills psycopg's prepared statements
            common.run_threads(threads, make_op, duration=warmup, expected=(agentdb.PoolTimeout,))
        timeouts_before = db.stats().timeouts
        backend = db.backend
        sampler = common.Sampler(lambda: backend.counts().waiting)
        result = common.run_threads(threads, make_op, duration=duration,
                                    expected=(agentdb.PoolTimeout,), on_start=sampler.start)
        mean_waiting = sampler.stop()
        stats = db.stats()
    finally:
        db.close()
    kinds = {}
    for kind, values in sorted(result.by_kind.items()):
        values.sort()
        kinds[kind] = (len(values), common.percentile(values, 0.50) * 1e3,
                       common.percentile(values, 0.95) * 1e3,
                       common.percentile(values, 0.99) * 1e3)
    return Cell(
        threads=threads,
        pool_size=pool_size,
        ops=result.ops,
        throughput=result.throughput,
        p50_ms=result.percentile(0.50) * 1e3,
        p95_ms=result.percentile(0.95) * 1e3,
        p99_ms=result.percentile(0.99) * 1e3,
        wait_share=min(mean_waiting / threads, 1.0),
        wait_p50_ms=stats.wait_ms_p50,
        wait_p95_ms=stats.wait_ms_p95,
        timeouts=max(result.timeouts, stats.timeouts - timeouts_before),
        cpu_client=result.cpu_client,
        cpu_machine=result.cpu_machine,
        kinds=kinds,
    )


# -- reporting ---------------------------------------------------------------------------------


def best_pool_sizes(cells: list[Cell]) -> dict[int, tuple[int, Cell, Cell]]:
    """Per thread count: (smallest pool within 5 % of the best throughput, that cell, best)."""
    out = {}
    for threads in sorted({c.threads for c in cells}):
        row = sorted((c for c in cells if c.threads == threads), key=lambda c: c.pool_size)
        best = max(row, key=lambda c: c.throughput)
        pick = next(c for c in row if c.near(best))
        out[threads] = (pick.pool_size, pick, best)
    return out


@dataclass
class Recommendation:
    pool_size: int
    max_overflow: int
    reasons: list[str]


def recommend(cells: list[Cell]) -> Recommendation:
    """pool_size at the throughput knee, max_overflow from the p95 wait (module docstring)."""
    picks = best_pool_sizes(cells)
    knee_threads = max(picks, key=lambda t: (picks[t][0], t))
    size, pick, best = picks[knee_threads]
    others = ", ".join(f"{t}: {picks[t][0]}" for t in picks if t != knee_threads)
    reasons = [
        f"pool_size={size}: the throughput knee. At {knee_threads} threads pool {size} gives "
        f"{pick.throughput:,.0f} ops/s ({pick.low:,.0f}-{pick.high:,.0f}), within noise of "
        f"the best ({best.throughput:,.0f} at pool {best.pool_size})"
        + (f"; the knees at other thread counts are smaller or equal ({others})"
           if others else "")]
    top = max(c.threads for c in cells)
    row = sorted((c for c in cells if c.threads == top), key=lambda c: c.pool_size)
    best_top = picks[top][2]
    calm = [c for c in row if c.pool_size >= size and c.wait_p95_ms <= WAIT_OK_MS
            and not c.timeouts and c.near(best_top)]
    at_size = next((c for c in row if c.pool_size == size), None)
    waited = f"{at_size.wait_p95_ms:.2f} ms" if at_size is not None else "?"
    if calm:
        burst = calm[0].pool_size
        overflow = burst - size
        reasons.append(
            f"max_overflow={overflow}: at {top} threads the p95 wait for a connection is "
            f"{waited} at pool {size} and {calm[0].wait_p95_ms:.2f} ms (<= {WAIT_OK_MS:g} ms) "
            f"from {burst} connections on, with throughput still within noise of the best")
    else:
        overflow = max(c.pool_size for c in row) - size
        reasons.append(
            f"max_overflow={overflow}: at {top} threads no pool size tested brings the p95 "
            f"wait to {WAIT_OK_MS:g} ms without losing throughput (it is {waited} at pool "
            f"{size}); up to the largest size tested, no further: past the knee more "
            "connections only queue on the server instead")
    return Recommendation(size, overflow, reasons)


def noise_notes(cells: list[Cell]) -> list[str]:
    """Per thread count: which pool sizes are within noise of the best (ranges overlap)."""
    lines = []
    for threads in sorted({c.threads for c in cells}):
        row = sorted((c for c in cells if c.threads == threads), key=lambda c: c.pool_size)
        best = max(row, key=lambda c: c.throughput)
        same = [c.pool_size for c in row if c.near(best)]
        spread = max((c.high - c.low) / c.throughput for c in row if c.throughput) * 100
        plural = "s" if threads > 1 else ""
        if len(same) == len(row):
            lines.append(f"- {threads} thread{plural}: every pool size is within noise of the "
                         f"best (run-to-run spread up to {spread:.0f}%): pool size does not "
                         "matter here")
        else:
            lines.append(f"- {threads} thread{plural}: pool sizes {', '.join(map(str, same))} "
                         f"are within noise of the best ({best.pool_size}); the others are "
                         f"measurably worse (run-to-run spread up to {spread:.0f}%)")
    return lines


def report(dialect: str, workload: str, cells: list[Cell], duration: float) -> str:
    lines = [f"### {dialect} · {workload} · {duration:g} s per cell", ""]
    rows = []
    for c in cells:
        rows.append([
            c.threads, c.pool_size, c.throughput, f"{c.low:,.0f}-{c.high:,.0f}",
            c.p50_ms, c.p95_ms, c.p99_ms,
            f"{c.wait_share * 100:.0f}%", c.wait_p95_ms, c.timeouts,
            f"{c.cpu_client:.2f}/{c.cpu_machine:.2f}", " ".join(c.flags),
        ])
    lines.append(common.markdown_table(
        ["threads", "pool", "ops/s", "min-max", "p50 ms", "p95 ms", "p99 ms", "waiting",
         "wait p95 ms", "timeouts", "CPU client/all", "dominated by"],
        rows,
    ))
    lines.append("")
    lines.append("waiting = share of thread time spent waiting for a connection; CPU in cores "
                 f"(this machine has {common.machine()['cores']}): the Python client process / "
                 "the whole machine (client + server)")
    lines.append("")
    for threads, (size, pick, best) in best_pool_sizes(cells).items():
        note = (f"- {threads} thread{'s' if threads > 1 else ''}: pool_size={size} "
                f"({pick.throughput:,.0f} ops/s) is within {NEAR_BEST:.0%} of the best "
                f"({best.throughput:,.0f} ops/s at pool_size={best.pool_size})")
        lines.append(note)
    lines += noise_notes(cells)
    rec = recommend(cells)
    same = (rec.pool_size, rec.max_overflow) == DEFAULTS
    lines.append("")
    lines.append(f"**recommended for {dialect} · {workload}: pool_size={rec.pool_size}, "
                 f"max_overflow={rec.max_overflow}** (agentdb's defaults are pool_size="
                 f"{DEFAULTS[0]}, max_overflow={DEFAULTS[1]}"
                 + ("; they agree)" if same else ")"))
    lines += [f"- {reason}" for reason in rec.reasons]
    lines.append("")
    for c in cells:
        if c.timeouts:
            lines.append(f"- {c.threads} threads / pool {c.pool_size}: {c.timeouts} pool "
                         "timeouts — the pool is far too small for this concurrency")
    dominated = [c for c in cells if c.wait_share >= WAITS_DOMINATE and not c.timeouts]
    picks = best_pool_sizes(cells)
    for threads in sorted({c.threads for c in dominated}):
        top = picks[threads][2].throughput
        mine = [c for c in dominated if c.threads == threads]
        starved = [c for c in mine if c.throughput < (1 - NEAR_BEST) * top]
        harmless = [c for c in mine if c not in starved]
        best_size = picks[threads][2].pool_size
        small = [c for c in starved if c.pool_size < best_size]
        if small:
            text = ", ".join(f"{c.pool_size} ({c.wait_share:.0%} of the time waiting, "
                             f"{1 - c.throughput / top:.0%} below the best)" for c in small)
            lines.append(f"- {threads} threads: waits for a connection dominate and cost "
                         f"throughput at pool_size {text}: the pool is too small")
        large = [c for c in starved if c.pool_size > best_size]
        if large:
            text = ", ".join(f"{c.pool_size} ({1 - c.throughput / top:.0%} below)"
                             for c in large)
            lines.append(f"- {threads} threads: larger pools did worse than pool_size "
                         f"{best_size} ({text}): more connections than the CPUs can serve only "
                         "add contention (or the machine was busier then)")
        if harmless:
            text = ", ".join(f"{c.pool_size} ({c.wait_share:.0%})" for c in harmless)
            lines.append(f"- {threads} threads: waits for a connection dominate at pool_size "
                         f"{text}, yet throughput is within {NEAR_BEST:.0%} of the best: the "
                         "pool is not the bottleneck (CPU or the database is) and only moves "
                         "the queue from the server into the pool")
    return "\n".join(lines)


def csv_rows(dialect: str, workload: str, cells: list[Cell],
             duration: float | None = None) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for c in cells:
        row: dict[str, object] = {
            "backend": dialect, "workload": workload, "duration_s": duration,
            "threads": c.threads,
            "pool_size": c.pool_size, "ops": c.ops, "ops_per_s": round(c.throughput, 1),
            "ops_per_s_min": round(c.low, 1), "ops_per_s_max": round(c.high, 1),
            "p50_ms": round(c.p50_ms, 3), "p95_ms": round(c.p95_ms, 3),
            "p99_ms": round(c.p99_ms, 3), "wait_share": round(c.wait_share, 3),
            "wait_p50_ms": round(c.wait_p50_ms, 3), "wait_p95_ms": round(c.wait_p95_ms, 3),
            "timeouts": c.timeouts, "cpu_client_cores": round(c.cpu_client, 2),
            "cpu_machine_cores": round(c.cpu_machine, 2),
        }
        for kind, (n, p50, p95, p99) in c.kinds.items():
            row[f"{kind}_ops"] = n
            row[f"{kind}_p50_ms"] = round(p50, 3)
            row[f"{kind}_p95_ms"] = round(p95, 3)
            row[f"{kind}_p99_ms"] = round(p99, 3)
        rows.append(row)
    return rows


def plots(out: Path, dialect: str, workload: str, cells: list[Cell]) -> list[Path]:
    series_tp: dict[str, tuple[list[float], list[float]]] = {}
    ranges: dict[str, tuple[list[float], list[float]]] = {}
    series_p95: dict[str, tuple[list[float], list[float]]] = {}
    for threads in sorted({c.threads for c in cells}):
        row = sorted((c for c in cells if c.threads == threads), key=lambda c: c.pool_size)
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        xs = [float(c.pool_size) for c in row]
        series_tp[label] = (xs, [c.throughput for c in row])
        ranges[label] = ([c.low for c in row], [c.high for c in row])
        series_p95[label] = (xs, [c.p95_ms for c in row])
    stem = f"pool_tuning_{dialect}_{workload}"
    rec = recommend(cells)
    mark = (float(rec.pool_size),
            f"recommended: pool_size={rec.pool_size}\nmax_overflow={rec.max_overflow}")
    return [
        common.line_plot(out / f"{stem}_throughput.png",
                         f"{dialect}, {workload}: throughput vs pool size (median, min-max "
                         "of passes)",
                         "pool_size (max_overflow=0)", "operations / s", series_tp,
                         ranges=ranges, mark=mark),
        common.line_plot(out / f"{stem}_p95.png",
                         f"{dialect}, {workload}: p95 latency vs pool size",
                         "pool_size (max_overflow=0)", "p95 latency (ms)", series_p95,
                         log_y=True, mark=mark),
    ]


# -- main --------------------------------------------------------------------------------------


def cells_from_csv(path: Path) -> dict[tuple[str, str, float | None], list[Cell]]:
    """The cells of an earlier run, grouped by (backend, workload, seconds per cell)."""
    import csv

    groups: dict[tuple[str, str, float | None], list[Cell]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            kinds = {}
            for key in row:
                if key.endswith("_ops") and key != "ops" and row[key]:
                    kind = key[:-4]
                    kinds[kind] = (int(row[key]), float(row[f"{kind}_p50_ms"]),
                                   float(row[f"{kind}_p95_ms"]), float(row[f"{kind}_p99_ms"]))
            cell = Cell(
                threads=int(row["threads"]), pool_size=int(row["pool_size"]),
                ops=int(row["ops"]), throughput=float(row["ops_per_s"]),
                p50_ms=float(row["p50_ms"]), p95_ms=float(row["p95_ms"]),
                p99_ms=float(row["p99_ms"]), wait_share=float(row["wait_share"]),
                wait_p50_ms=float(row["wait_p50_ms"]), wait_p95_ms=float(row["wait_p95_ms"]),
                timeouts=int(row["timeouts"]), cpu_client=float(row["cpu_client_cores"]),
                cpu_machine=float(row["cpu_machine_cores"]), kinds=kinds,
                tp_min=float(row.get("ops_per_s_min") or 0),
                tp_max=float(row.get("ops_per_s_max") or 0),
            )
            seconds = float(row["duration_s"]) if row.get("duration_s") else None
            groups.setdefault((row["backend"], row["workload"], seconds), []).append(cell)
    return groups


def rerender(args: argparse.Namespace) -> int:
    pngs: list[Path] = []
    for (dialect, workload, duration), cells in cells_from_csv(args.report).items():
        print(report(dialect, workload, cells, duration or args.duration))
        print()
        if not args.no_plots and common.can_plot():
            pngs += plots(args.out, dialect, workload, cells)
    for png in pngs:
        print(f"plot: {png}")
    publish(args, pngs)
    return 0


def publish(args: argparse.Namespace, pngs: list[Path]) -> None:
    if args.publish and pngs:
        common.PLOTS_DIR.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            shutil.copy2(png, common.PLOTS_DIR / png.name)
        print(f"plots copied to {common.PLOTS_DIR}")


def run_backend(url: str, workloads: list[str], threads: list[int], sizes: list[int],
                args: argparse.Namespace, progress: common.Progress
                ) -> Iterator[tuple[str, str, list[Cell]]]:
    dialect = common.dialect_of(url)
    with common.fresh_database(url) as fresh:
        db = agentdb.connect(fresh, pool_size=1, max_overflow=0)
        try:
            migrate(db)
            seeded = seed(db, args.seed)
        finally:
            db.close()
        for workload in workloads:
            grid = list(itertools.product(threads, sizes))
            runs: dict[tuple[int, int], list[Cell]] = {key: [] for key in grid}
            for n in range(args.passes):
                # Later passes walk the grid backwards, so drift does not favour one corner.
                for t, p in grid if n % 2 == 0 else grid[::-1]:
                    progress.show(f"{dialect} {workload}: {t} threads, pool_size={p}"
                                  + (f" (pass {n + 1})" if args.passes > 1 else ""))
                    runs[(t, p)].append(run_cell(fresh, workload, seeded, t, p, args.duration,
                                                 args.warmup, args.pool_timeout))
                    if workload != "read":
                        common.delete_jobs(fresh, BENCH_TOOL)
                    progress.advance()
            # Each cell is represented by its median pass (by throughput).
            cells = []
            for key in grid:
                ordered = sorted(runs[key], key=lambda c: c.throughput)
                median = ordered[len(ordered) // 2]
                median.tp_min, median.tp_max = ordered[0].throughput, ordered[-1].throughput
                cells.append(median)
            yield dialect, workload, cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument("--database", action="append", metavar="URL",
                        help="server or file URL (repeatable); default: SQLite, and the local "
                             "PostgreSQL and MariaDB when they answer")
    parser.add_argument("--threads", type=common.parse_int_list, default=[1, 4, 16, 64])
    parser.add_argument("--pool-sizes", type=common.parse_int_list, default=[1, 2, 4, 8, 16])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of unmeasured warm-up per cell (default: duration / 5, "
                             "at most 1)")
    parser.add_argument("--workload", default="mixed",
                        help=f"one of {', '.join(WORKLOADS)}, or several, comma-separated")
    parser.add_argument("--passes", type=int, default=3,
                        help="run the whole grid this many times (alternating direction) and "
                             "keep each cell's median pass: steadier on a busy machine")
    parser.add_argument("--seed", type=int, default=2000, help="jobs in the database first")
    parser.add_argument("--pool-timeout", type=float, default=5.0,
                        help="pool_timeout of every pool (seconds)")
    parser.add_argument("--out", type=Path, default=common.OUT_DIR,
                        help="where the CSV and PNGs go (default benchmarks/out/)")
    parser.add_argument("--publish", action="store_true",
                        help="also copy the plots to benchmarks/plots/ for RESULTS.md")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--report", type=Path, metavar="CSV",
                        help="print the tables and redraw the plots of an earlier run from its "
                             "pool_tuning.csv, without running anything")
    args = parser.parse_args(argv)
    if args.report is not None:
        return rerender(args)
    workloads = [w.strip() for w in args.workload.split(",") if w.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    if args.warmup is None:
        args.warmup = min(1.0, args.duration / 5)

    usable = common.usable_urls(args.database)
    if usable is None:
        return 2

    print(common.describe_machine(usable))
    print(f"pool_tuning: threads {args.threads}, pool sizes {args.pool_sizes} "
          f"(max_overflow=0, pool_timeout={args.pool_timeout:g} s), {args.duration:g} s per cell "
          f"after {args.warmup:g} s warm-up, {args.passes} pass(es), {args.seed} seeded jobs")
    print()
    progress = common.Progress(
        len(usable) * len(workloads) * len(args.threads) * len(args.pool_sizes) * args.passes
    )
    all_rows: list[dict[str, object]] = []
    pngs: list[Path] = []
    reports: list[str] = []
    for url in usable:
        for dialect, workload, cells in run_backend(url, workloads, args.threads,
                                                    args.pool_sizes, args, progress):
            reports.append(report(dialect, workload, cells, args.duration))
            all_rows += csv_rows(dialect, workload, cells, args.duration)
            common.write_csv(args.out / f"pool_tuning_{dialect}_{workload}.csv",
                             csv_rows(dialect, workload, cells, args.duration))
            if not args.no_plots and common.can_plot():
                pngs += plots(args.out, dialect, workload, cells)
    progress.close()
    for text in reports:
        print(text)
        print()
    csv_path = common.write_csv(args.out / "pool_tuning.csv", all_rows)
    print(f"load average at the end: {common.load_average()}")
    print(f"CSV: {csv_path}")
    for png in pngs:
        print(f"plot: {png}")
    publish(args, pngs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
