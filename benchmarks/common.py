"""What pool_tuning.py and compare.py share: fresh databases, threads and timing, percentiles,
a progress bar, CPU meters, Markdown tables, CSV and PNG plots.

Nothing here is part of agentdb; it may use whatever the ``bench`` extra installs.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
import platform
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic, perf_counter, process_time
from typing import Any, TextIO

import psycopg
import pymysql

from agentdb.config import Config, parse_config

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"  # gitignored: every CSV and PNG of every run
PLOTS_DIR = HERE / "plots"  # committed: the plots RESULTS.md shows

DEFAULT_URLS = [
    "sqlite:///agentdb-bench.db",
    os.environ.get("AGENTDB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    os.environ.get("AGENTDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
]


# -- fresh databases ---------------------------------------------------------------------------


def admin_connection(config: Config) -> Any:
    """An autocommit driver connection to the server named by ``config``."""
    if config.dialect == "postgresql":
        return psycopg.connect(
            host=config.host, port=config.port, user=config.username,
            password=config.password, dbname=config.database or "postgres",
            autocommit=True, connect_timeout=5,
        )
    return pymysql.connect(
        host=config.host or "localhost", port=config.port or 3306, user=config.username,
        password=config.password or "", database=config.database, autocommit=True,
        connect_timeout=5, ssl_disabled=True,
    )


def with_database(url: str, name: str) -> str:
    """``url`` pointed at database ``name`` (query string kept)."""
    base, _, query = url.partition("?")
    head = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
    return f"{head}/{name}" + (f"?{query}" if query else "")


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """Create an empty database beside the one ``url`` names, yield its URL, drop it after.

    PostgreSQL and MariaDB: ``CREATE DATABASE agentdb_bench_<hex>`` on the same server (the
    user in the URL needs that right). SQLite: a new file in a temporary directory next to the
    URL's file, so the benchmark runs on the filesystem the URL chose.
    """
    config = parse_config(url)
    name = "agentdb_bench_" + uuid.uuid4().hex[:8]
    if config.dialect == "sqlite":
        where = os.path.dirname(os.path.abspath(str(config.path))) or "."
        tmp = tempfile.mkdtemp(prefix="agentdb-bench-", dir=where)
        try:
            _, _, query = url.partition("?")
            yield f"sqlite:///{tmp}/{name}.db" + (f"?{query}" if query else "")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    admin = admin_connection(config)
    try:
        with admin.cursor() as cur:
            if config.dialect == "postgresql":
                cur.execute(f'CREATE DATABASE "{name}"')
            else:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        admin.close()
    try:
        yield with_database(url, name)
    finally:
        admin = admin_connection(config)
        try:
            with admin.cursor() as cur:
                if config.dialect == "postgresql":
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                else:
                    # As PostgreSQL's FORCE: a run stopped by an error may have left sessions
                    # inside transactions on this database (only this run uses it), and their
                    # metadata locks would make DROP wait, and other clients behind it.
                    cur.execute("SELECT id FROM information_schema.PROCESSLIST "
                                "WHERE db = %s AND id <> CONNECTION_ID()", (name,))
                    for (session,) in cur.fetchall():
                        with contextlib.suppress(pymysql.err.MySQLError):  # gone already
                            cur.execute(f"KILL {int(session)}")
                    cur.execute("SET SESSION lock_wait_timeout = 60")
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            admin.close()


def delete_jobs(url: str, tool_name: str) -> None:
    """Untimed tidy-up between measurements: delete the jobs a workload created (results and
    logs go by ON DELETE CASCADE), so the next measurement sees the seeded data again;
    PostgreSQL then vacuums the dead rows and SQLite empties its WAL."""
    config = parse_config(url)
    if config.dialect == "sqlite":
        import sqlite3

        conn = sqlite3.connect(str(config.path), isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("DELETE FROM jobs WHERE tool_name = ?", (tool_name,))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        return
    conn = admin_connection(config)
    try:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM jobs WHERE tool_name = %s", (tool_name,))
            if config.dialect == "postgresql":
                cur.execute("VACUUM jobs")
                cur.execute("VACUUM job_results")
    finally:
        conn.close()


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def server_version(config: Config) -> str:
    if config.dialect == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    admin = admin_connection(config)
    try:
        with admin.cursor() as cur:
            if config.dialect == "postgresql":
                cur.execute("SHOW server_version")
                return f"PostgreSQL {cur.fetchone()[0]}"
            cur.execute("SELECT VERSION()")
            return f"MariaDB/MySQL {cur.fetchone()[0]}"
    finally:
        admin.close()


def usable_urls(asked: Sequence[str] | None) -> list[str] | None:
    """The URLs to benchmark: those asked for (None if one does not answer: an error), else
    SQLite plus whichever local servers answer (the others skipped, with the reason)."""
    urls = list(asked or [
        f"sqlite:///{tempfile.gettempdir()}/agentdb-bench.db", *DEFAULT_URLS[1:]
    ])
    usable = []
    for url in urls:
        why = reachable(url)
        if why is None:
            usable.append(url)
        elif asked:
            print(f"error: {why}", file=sys.stderr)
            return None
        else:
            print(f"skipped: {why}", file=sys.stderr)
    return usable


def reachable(url: str) -> str | None:
    """None if the server behind ``url`` answers, else why not."""
    config = parse_config(url)
    if config.dialect == "sqlite":
        return None
    try:
        admin_connection(config).close()
    except Exception as exc:
        return f"{config.dialect} at {config.target} not reachable: {exc}"
    return None


def machine() -> dict[str, str]:
    """The machine and library versions, for RESULTS.md."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    libs = []
    for dist in ("psycopg", "psycopg-pool", "PyMySQL", "DBUtils", "SQLAlchemy"):
        with contextlib.suppress(PackageNotFoundError):
            libs.append(f"{dist} {version(dist)}")
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "libraries": ", ".join(libs),
    }


def code_version() -> str:
    """The agentdb revision measured: git commit, and the files changed since, if any."""
    import subprocess

    root = HERE.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "agentdb", "sql"],
                               cwd=root, text=True, capture_output=True, timeout=5,
                               check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in dirty if line.strip()]
    return head + (f" + uncommitted changes in {', '.join(changed)}" if changed else "")


def describe_machine(urls: Sequence[str] = ()) -> str:
    m = machine()
    servers = []
    for url in urls:
        with contextlib.suppress(Exception):
            servers.append(server_version(parse_config(url)))
    lines = [
        f"machine: {m['cores']} cores ({m['cpu']}), {m['os']}, Python {m['python']}; "
        f"load average at start {load_average()}",
        f"libraries: {m['libraries']}",
        f"agentdb: {code_version()}",
    ]
    if servers:
        lines.append("servers: " + ", ".join(servers))
    return "\n".join(lines)


# -- CPU ---------------------------------------------------------------------------------------


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


class CpuMeter:
    """CPU used between start and stop, in cores: this process (the Python client, every
    thread) and the whole machine (client + database server + anything else)."""

    def __init__(self) -> None:
        self.client = 0.0
        self.machine = 0.0
        self.seconds = 0.0  # CPU seconds of this process

    def __enter__(self) -> CpuMeter:
        self._wall = monotonic()
        self._proc = process_time()
        self._ticks = _machine_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(monotonic() - self._wall, 1e-9)
        self.seconds = process_time() - self._proc
        self.client = self.seconds / wall
        busy0, total0 = self._ticks
        busy1, total1 = _machine_ticks()
        if total1 > total0:
            self.machine = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)


# -- threads and timing ------------------------------------------------------------------------

Op = Callable[[], object]


@dataclass
class RunResult:
    """What a timed run of N threads did."""

    threads: int
    wall: float  # seconds from the common start to the last thread's finish
    latencies: list[float]  # seconds, one per completed operation
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # when ops name their kind
    timeouts: int = 0  # expected exceptions (pool timeouts) counted, not raised
    cpu_client: float = 0.0  # cores
    cpu_machine: float = 0.0  # cores
    cpu_seconds: float = 0.0  # CPU time of this process (all threads) during the run

    @property
    def cpu_us_per_op(self) -> float:
        """Client CPU per operation: what the Python side costs, whatever else runs."""
        return self.cpu_seconds / self.ops * 1e6 if self.ops else 0.0

    @property
    def ops(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.ops / self.wall if self.wall > 0 else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self._sorted(), q)

    def _sorted(self) -> list[float]:
        cached: list[float] | None = getattr(self, "_sorted_cache", None)
        if cached is None or len(cached) != len(self.latencies):
            cached = sorted(self.latencies)
            self._sorted_cache = cached
        return cached


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, by the nearest-rank rule."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]


def run_threads(
    threads: int,
    make_op: Callable[[int], Op],
    *,
    duration: float | None = None,
    iterations: int | None = None,
    expected: tuple[type[BaseException], ...] = (),
    on_start: Callable[[], None] | None = None,
) -> RunResult:
    """Run ``make_op(i)()`` in a loop on ``threads`` threads, started together, for
    ``duration`` seconds or ``iterations`` operations per thread, timing every call.

    An op may return a str naming its kind (``"get"``, ``"list"``): latencies are then also
    kept per kind (any other return value is ignored). Exceptions in ``expected`` (pool
    timeouts) are counted; any other stops the run and is raised here.
    """
    if (duration is None) == (iterations is None):
        raise ValueError("give exactly one of duration and iterations")
    ops = [make_op(i) for i in range(threads)]
    lat: list[list[float]] = [[] for _ in range(threads)]
    kinds: list[dict[str, list[float]]] = [{} for _ in range(threads)]
    timeouts = [0] * threads
    ends = [0.0] * threads
    errors: list[BaseException] = []
    clock: dict[str, float] = {}
    stop = threading.Event()  # set when some thread failed

    def begin() -> None:
        clock["start"] = perf_counter()
        if on_start is not None:
            on_start()

    barrier = threading.Barrier(threads, action=begin)

    def worker(i: int) -> None:
        op, out, mine = ops[i], lat[i], kinds[i]
        append = out.append
        barrier.wait()
        deadline = clock["start"] + duration if duration is not None else float("inf")
        remaining = iterations if iterations is not None else -1
        t0 = perf_counter()
        try:
            while remaining and t0 < deadline and not stop.is_set():
                try:
                    kind = op()
                except expected:
                    timeouts[i] += 1
                    t0 = perf_counter()
                    continue
                t1 = perf_counter()
                append(t1 - t0)
                if type(kind) is str:  # ops may return their result: only a str names a kind
                    mine.setdefault(kind, []).append(t1 - t0)
                t0 = t1
                remaining -= 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()
        ends[i] = perf_counter()

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    with CpuMeter() as cpu:
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
    merged: dict[str, list[float]] = {}
    for k in kinds:
        for name, values in k.items():
            merged.setdefault(name, []).extend(values)
    return RunResult(
        threads=threads,
        wall=max(ends) - clock["start"],
        latencies=[x for part in lat for x in part],
        by_kind=merged,
        timeouts=sum(timeouts),
        cpu_client=cpu.client,
        cpu_machine=cpu.machine,
        cpu_seconds=cpu.seconds,
    )


class Sampler:
    """Calls ``probe()`` every ``interval`` seconds on a background thread and averages what
    it returns. With probe = callers waiting for a connection, the mean is (Little's law) the
    total time spent waiting divided by the wall time."""

    def __init__(self, probe: Callable[[], float], interval: float = 0.02) -> None:
        self.probe = probe
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(float(self.probe()))

    def stop(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return sum(self.samples) / len(self.samples) if self.samples else 0.0


# -- output ------------------------------------------------------------------------------------


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 28) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self.started = monotonic()

    def show(self, label: str) -> None:
        """Say what runs now (the step about to be done)."""
        frac = self.done / self.total
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = monotonic() - self.started
        eta = f" eta {elapsed / frac * (1 - frac):4.0f}s" if self.done else ""
        text = f"[{bar}] {self.done}/{self.total} {elapsed:4.0f}s{eta}  {label}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def advance(self) -> None:
        self.done += 1

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K")
        elapsed = monotonic() - self.started
        self.stream.write(f"done: {self.done} steps in {elapsed:.0f} s\n")
        self.stream.flush()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, padded so it also reads well in a terminal; numbers right-aligned."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v))
    numeric = []
    for i in range(len(headers)):
        filled = [row[i] for row in rows if row[i] is not None and row[i] != ""]
        numeric.append(bool(filled) and all(_is_number(v) for v in filled))

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if numeric[i] else ("-" * (w + 2)) for i, w in enumerate(widths)
    ) + "|"
    return "\n".join([line(list(headers)), rule, *(line(r) for r in cells)])


def _is_number(value: object) -> bool:
    if isinstance(value, int | float):
        return True
    text = str(value).rstrip("x%").replace(",", "")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        if value >= 100:
            return f"{value:.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def write_csv(path: Path, rows: Sequence[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fieldnames: list[str] = []
    for row in rows:
        for key in row:
            if key not in fieldnames:
                fieldnames.append(key)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


@functools.cache
def can_plot() -> bool:
    """Whether matplotlib (the bench extra) is installed; says so once when it is not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("note: matplotlib is not installed (pip install -e '.[bench]'): no plots",
              file=sys.stderr)
        return False
    return True


def line_plot(
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    log2_x: bool = True,
    log_y: bool = False,
    ranges: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
    mark: tuple[float, str] | None = None,
) -> Path:
    """One PNG: a line per series, x ticks at the x values given. ``ranges`` (per series:
    lows, highs) draws min-max bars around each point; ``mark`` = (x, label) draws a dashed
    vertical line there (a recommendation)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    xs_all: set[float] = set()
    for label, (xs, ys) in series.items():
        if ranges is not None and label in ranges:
            lows, highs = ranges[label]
            err = [[max(y - lo, 0.0) for y, lo in zip(ys, lows, strict=True)],
                   [max(hi - y, 0.0) for y, hi in zip(ys, highs, strict=True)]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=label)
        else:
            ax.plot(xs, ys, marker="o", label=label)
        xs_all.update(xs)
    if mark is not None:
        ax.axvline(mark[0], color="black", linestyle="--", linewidth=0.9)
        ax.annotate(mark[1], xy=(mark[0], 0.97), xycoords=("data", "axes fraction"),
                    xytext=(4, 0), textcoords="offset points", ha="left", va="top",
                    fontsize=8)
    if log2_x and xs_all and min(xs_all) > 0:
        ax.set_xscale("log", base=2)
    ticks = sorted(xs_all)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    if log_y:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def dialect_of(url: str) -> str:
    return parse_config(url).dialect


def parse_int_list(text: str) -> list[int]:
    values = [int(x) for x in text.split(",") if x.strip()]
    if not values or any(v < 1 for v in values):
        raise ValueError(f"expected a comma-separated list of positive integers, got {text!r}")
    return values


# -- the SQLAlchemy ORM baseline's models --------------------------------------------------------


@functools.cache
def sqlalchemy_job_models() -> tuple[Any, Any]:
    """``(JobRow, JobResultRow)``: agentdb's jobs and job_results tables mapped for the
    SQLAlchemy ORM baselines (compare.py sync, async_ops.py asyncio), declared once here and
    only when asked, since SQLAlchemy is a bench-extra dependency."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlalchemy import orm
    from sqlalchemy.dialects.postgresql import JSONB

    class UtcDateTime(sa.types.TypeDecorator[datetime]):
        """Aware UTC datetimes stored as agentdb stores them: timestamptz on PostgreSQL, naive
        UTC DATETIME(6) on MariaDB, fixed-width ISO-8601 text on SQLite."""

        impl = sa.DateTime(timezone=True)
        cache_ok = True

        def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
            if dialect.name == "sqlite":
                return dialect.type_descriptor(sa.String())
            return dialect.type_descriptor(sa.DateTime(timezone=dialect.name == "postgresql"))

        def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
            if value is None:
                return None
            if dialect.name == "sqlite":
                return value.astimezone(UTC).isoformat(timespec="microseconds")
            if dialect.name == "mysql":
                return value.astimezone(UTC).replace(tzinfo=None)
            return value

        def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
            if value is None:
                return None
            stamp: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
            return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)

    class Base(orm.DeclarativeBase):
        pass

    json_type = sa.JSON().with_variant(JSONB(), "postgresql")

    class JobRow(Base):
        __tablename__ = "jobs"

        id = orm.mapped_column(sa.String(36), primary_key=True)
        tool_name = orm.mapped_column(sa.String(255))
        status = orm.mapped_column(sa.String(16))
        priority = orm.mapped_column(sa.Integer)
        batch_id = orm.mapped_column(sa.String(36))
        workflow_id = orm.mapped_column(sa.String(36))
        user_id = orm.mapped_column(sa.String(36))
        parameters = orm.mapped_column(json_type)
        worker_id = orm.mapped_column(sa.String(255))
        created_at = orm.mapped_column(UtcDateTime)
        updated_at = orm.mapped_column(UtcDateTime)
        started_at = orm.mapped_column(UtcDateTime)
        completed_at = orm.mapped_column(UtcDateTime)
        duration = orm.mapped_column(sa.Float)
        error_message = orm.mapped_column(sa.Text)

    class JobResultRow(Base):
        __tablename__ = "job_results"

        job_id = orm.mapped_column(sa.String(36), sa.ForeignKey("jobs.id"), primary_key=True)
        stdout = orm.mapped_column(sa.Text)
        stderr = orm.mapped_column(sa.Text)
        return_code = orm.mapped_column(sa.Integer)
        output_files = orm.mapped_column(json_type)
        created_at = orm.mapped_column(UtcDateTime)

    return JobRow, JobResultRow
