"""The ``agentdb`` command: demo, migrate, seed, stats, check, cleanup, backup, export,
restore.

One entry point for a person at a terminal and for scripts: human tables by default, ``--json``
where a machine reads the answer, and exit codes a readiness probe can trust (``check`` exits 0
only when the database answers and has no pending migration). Every failure is one line on
stderr, never a traceback, and never the password (set ``AGENTDB_TRACEBACK=1`` to see the
traceback while debugging). The database comes from ``--database URL``, else ``DATABASE_URL``
(or the ``DB_*`` variables), else the SQLite file ``agentdb.db`` in the current directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from time import perf_counter
from typing import IO, Any
from urllib.parse import quote, unquote

from .config import Config, parse_config, parse_url
from .errors import AgentDBError, ConfigError
from .pool import Database

__all__ = ["main"]

PROG = "agentdb"
DEMO_FILE = "agentdb-demo.db"


class CommandError(AgentDBError):
    """A command cannot do what was asked (bad combination of options, missing file...)."""


# -- output ------------------------------------------------------------------------------------


def _print(*lines: str, file: IO[str] | None = None) -> None:
    out = file or sys.stdout
    for line in lines:
        print(line, file=out)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          align: str | None = None) -> list[str]:
    """Rows as aligned text columns; ``align`` has one ``l``/``r`` per column (numbers right)."""
    body = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    align = align or "l" * len(headers)

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if a == "r" else c.ljust(w)
                 for c, w, a in zip(cells, widths, align, strict=True)]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _dump_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=str))


class Progress:
    """A one-line progress bar on stderr, redrawn in place; silent when stderr is not a
    terminal (logs and CI want the summary, not 500 carriage returns)."""

    def __init__(self, total: int, *, enabled: bool | None = None,
                 stream: IO[str] | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = max(total, 1)
        self.done = 0
        self.width = width
        self._last: tuple[int, str] | None = None

    def advance(self, label: str, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        percent = 100 * self.done // self.total
        if (filled, label) == self._last and self.done < self.total:
            return  # nothing visible changed; spare the terminal
        self._last = (filled, label)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {percent:3d}% {label[:30]:<30}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 40) + "\r")
            self.stream.flush()


# -- opening the database ----------------------------------------------------------------------


def _url(args: argparse.Namespace) -> str | None:
    """The --database given before or after the command (argparse keeps it only if given)."""
    url: str | None = getattr(args, "database", None)
    return url


def _config(args: argparse.Namespace) -> Config:
    url = _url(args)
    return parse_config(url) if url else parse_config()


def _require_file(config: Config) -> None:
    """Commands that only read must not create an empty SQLite file as a side effect."""
    if config.dialect == "sqlite" and not Path(str(config.path)).is_file():
        raise CommandError(f"no SQLite database at {config.path}; create it with "
                           f"`{PROG} migrate` (or pass --database / set DATABASE_URL)")


def _open(config: Config) -> Database:
    return Database(config)


def _describe(config: Config) -> str:
    return f"{config.dialect} {config.target}"


# -- migrate -----------------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrate import migrate, migration_status, rollback

    config = _config(args)
    extra = args.dir or []
    if args.status:
        states = _status(config, extra)
        if args.json:
            _dump_json({
                "database": _describe(config),
                "migrations": [{"id": s.id, "applied": s.applied, "applied_at": s.applied_at}
                               for s in states],
            })
            return 0
        applied = sum(s.applied for s in states)
        _print(f"database: {_describe(config)}", "")
        _print(*table(["migration", "status", "applied at (UTC)"],
                      [(s.id, "applied" if s.applied else "pending",
                        s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else None)
                       for s in states]))
        _print("", f"{applied} applied, {len(states) - applied} pending")
        return 0
    if args.rollback is not None:
        _require_file(config)
        start = perf_counter()
        ids = rollback(config, args.rollback, extra=extra)
        if args.json:
            _dump_json({"database": _describe(config), "rolled_back": ids})
        elif ids:
            _print(f"rolled back {len(ids)} migration(s) on {_describe(config)} in "
                   f"{perf_counter() - start:.2f} s:", *(f"  {i}" for i in ids))
        else:
            _print(f"nothing to roll back on {_describe(config)}")
        return 0
    start = perf_counter()
    ids = migrate(config, extra=extra)
    if args.json:
        _dump_json({"database": _describe(config), "applied": ids})
    elif ids:
        _print(f"applied {len(ids)} migration(s) to {_describe(config)} in "
               f"{perf_counter() - start:.2f} s:", *(f"  {i}" for i in ids))
    else:
        total = len(migration_status(config, extra=extra))
        _print(f"{_describe(config)} is up to date ({total} migrations applied)")
    return 0


def _status(config: Config, extra: list[str] | None = None) -> list[Any]:
    """migration_status, except that a missing SQLite file is reported, not created."""
    from .migrate import MigrationState, migration_sources, migration_status

    if config.dialect == "sqlite" and not Path(str(config.path)).is_file():
        import glob

        import yoyo

        sources = migration_sources(config.dialect, extra or [])
        ids = [str(m.id) for m in yoyo.read_migrations(*(glob.escape(str(s)) for s in sources))]
        return [MigrationState(i, False, None) for i in ids]
    return migration_status(config, extra=extra or [])


# -- check -------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    config = _config(args)
    report: dict[str, Any] = {"database": _describe(config)}
    problems: list[str] = []
    if config.dialect == "sqlite" and not Path(str(config.path)).is_file():
        health: dict[str, Any] = {"status": "unhealthy", "latency_ms": None,
                                  "error": f"no SQLite database at {config.path}"}
        report["pool"] = None
    else:
        try:
            db = _open(config)  # the PostgreSQL pool connects at once, and may fail here
        except AgentDBError as exc:
            health = {"status": "unhealthy", "latency_ms": None, "error": str(exc)}
            report["pool"] = None
        else:
            with db:
                health = dict(db.health())
                report["pool"] = db.stats().to_dict()
    report["connection"] = health
    if health["status"] != "healthy":
        problems.append(f"cannot reach the database: {health['error']}")
    else:
        try:
            states = _status(config, args.dir)
        except AgentDBError as exc:
            problems.append(f"cannot read the migration status: {exc}")
            report["migrations"] = {"error": str(exc)}
        else:
            pending = [s.id for s in states if not s.applied]
            report["migrations"] = {"applied": len(states) - len(pending), "pending": pending}
            if pending:
                dirs = "".join(f" --dir {d}" for d in args.dir or [])
                problems.append(f"{len(pending)} pending migration(s): {', '.join(pending)}; "
                                f"run `{PROG} migrate{dirs}`")
    report["status"] = "unhealthy" if problems else "healthy"
    report["problems"] = problems
    if args.json:
        _dump_json(report)
    else:
        pool = report["pool"]
        migrations = report.get("migrations") or {}
        lines = [
            f"database    {report['database']}",
            f"connection  {health['status']}"
            + (f" ({health['latency_ms']:.1f} ms)" if health["latency_ms"] is not None else ""),
        ]
        if "applied" in migrations:
            lines.append(f"migrations  {migrations['applied']} applied, "
                         f"{len(migrations['pending'])} pending")
        if pool:
            lines.append(_pool_line(pool))
        lines.append(f"status      {report['status']}")
        _print(*lines)
        for problem in problems:
            _print(f"{PROG}: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _pool_line(pool: dict[str, Any]) -> str:
    return (f"pool        {pool['size']} open of max {pool['max_size']} "
            f"(pool_size {pool['pool_size']}), {pool['in_use']} in use, "
            f"{pool['waiting']} waiting, {pool['acquired']} checkouts, "
            f"{pool['timeouts']} timeouts, {pool['errors']} errors")


# -- stats -------------------------------------------------------------------------------------


def collect_stats(db: Database) -> dict[str, Any]:
    """Row counts per table, job and task statistics and the pool's numbers, as plain data."""
    from .queries import load
    from .repositories.jobs import JobStore

    admin = load("admin")
    counts = {k: int(v) for k, v in admin.run(db, "table_counts").items()}
    return {
        "database": _describe(db.config),
        "tables": counts,
        "jobs": JobStore(db).stats().to_dict(),
        "tasks": task_stats(db),
        "pool": db.stats().to_dict(),
    }


def task_stats(db: Database) -> dict[str, Any]:
    """Tasks per status, runs per status and the runs' success rate (succeeded over
    finished, as the tasks' own counters have it)."""
    from .queries import load
    from .repositories.tasks import RunStatus, TaskStatus

    admin = load("admin")
    tasks = {s.value: 0 for s in TaskStatus}
    for row in admin.run(db, "tasks_by_status"):
        tasks[row["status"]] = int(row["tasks"])
    runs = {s.value: 0 for s in RunStatus}
    for row in admin.run(db, "task_runs_by_status"):
        runs[row["status"]] = int(row["runs"])
    totals = {k: int(v) for k, v in admin.run(db, "task_run_totals").items()}
    finished = totals["succeeded"] + totals["failed"]
    return {
        "total": sum(tasks.values()),
        "by_status": tasks,
        "runs": sum(runs.values()),
        "runs_by_status": runs,
        "run_success_rate": totals["succeeded"] / finished if finished else None,
    }


def print_stats(stats: dict[str, Any]) -> None:
    tables = stats["tables"]
    _print(*table(["table", "rows"], [*tables.items(), ("total", sum(tables.values()))],
                  align="lr"))
    jobs = stats["jobs"]
    by_status = _nonzero(jobs["by_status"])
    tools = ", ".join(f"{name} ({n})" for name, n in jobs["top_tools"]) or "-"
    mean = jobs["mean_duration"]
    _print("", f"jobs   {jobs['total']} total: {by_status}",
           f"       success rate {_percent(jobs['success_rate'])}, mean duration "
           f"{_seconds(mean)}; top tools: {tools}")
    tasks = stats["tasks"]
    _print(f"tasks  {tasks['total']} total: {_nonzero(tasks['by_status'])}",
           f"       {tasks['runs']} runs: {_nonzero(tasks['runs_by_status'])}; "
           f"run success rate {_percent(tasks['run_success_rate'])}")
    _print(_pool_line(stats["pool"]).replace("pool        ", "pool   ", 1))


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.1f} ms"


def _nonzero(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items() if n) or "none"


def cmd_stats(args: argparse.Namespace) -> int:
    config = _config(args)
    _require_file(config)
    with _open(config) as db:
        _require_migrated(config)
        stats = collect_stats(db)
    if args.json:
        _dump_json(stats)
    else:
        _print(f"database: {stats['database']}", "")
        print_stats(stats)
    return 0


def _require_migrated(config: Config) -> None:
    pending = [s.id for s in _status(config) if not s.applied]
    if pending:
        raise CommandError(f"{_describe(config)} has {len(pending)} pending migration(s); "
                           f"run `{PROG} migrate` first")


# -- cleanup -----------------------------------------------------------------------------------


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .repositories.jobs import JobStore

    config = _config(args)
    _require_file(config)
    with _open(config) as db:
        jobs = JobStore(db)
        start = perf_counter()
        deleted = jobs.cleanup_old_jobs(args.days)
        elapsed = perf_counter() - start
    if args.json:
        _dump_json({"database": _describe(config), "days": args.days, "deleted_jobs": deleted})
    else:
        _print(f"deleted {deleted} job(s) that finished more than {args.days} day(s) ago, "
               f"with their results and logs ({elapsed:.2f} s)")
    return 0


# -- worker ------------------------------------------------------------------------------------


def _handlers(spec: str) -> dict[str, Any]:
    """``module:attribute`` -> the handlers dict it names (tool name -> function)."""
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"handlers must be given as module:attribute, got {spec!r}")
    sys.path.insert(0, os.getcwd())  # like `python -m`: modules of the current folder
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"cannot import {module_name!r}: {exc}") from exc
    handlers = getattr(module, attribute, None)
    if not isinstance(handlers, dict) or not handlers or not all(
        isinstance(k, str) and callable(v) for k, v in handlers.items()
    ):
        raise CommandError(f"{spec} must be a non-empty dict of tool name -> function")
    return handlers


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from .repositories.jobs import JobStore
    from .worker import Worker

    handlers = _handlers(args.handlers)
    config = _config(args)
    _require_file(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with _open(config) as db:
        jobs = JobStore(db, lease=args.lease)
        worker = Worker(jobs, handlers, concurrency=args.concurrency,
                        batch_size=args.batch_size, grace_period=args.grace,
                        poll_interval=args.poll)
        worker.run()  # until SIGTERM / SIGINT, then a graceful shutdown
    return 0


# -- backup / restore --------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    from .backup import backup

    config = _config(args)
    result = backup(config, args.path, overwrite=args.force)
    _print(f"backed up {_describe(config)} to {result.path} "
           f"({_size(result.size_bytes)}, {result.tool}, {result.seconds:.2f} s)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .backup import export_jobs

    config = _config(args)
    _require_file(config)
    with _open(config) as db:
        result = export_jobs(db, args.path, overwrite=args.force)
    _print(f"exported the jobs of {_describe(config)} to {result.path} "
           f"({_size(result.size_bytes)}, {result.seconds:.2f} s)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from .backup import restore

    config = _config(args)
    result = restore(config, args.path, overwrite=args.force)
    _print(f"restored {result.path} from {args.path} ({_size(result.size_bytes)}, "
           f"{result.seconds:.2f} s)")
    return 0


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


# -- seed / demo -------------------------------------------------------------------------------


def cmd_seed(args: argparse.Namespace) -> int:
    from .seed import plan, seed

    config = _config(args)
    _require_file(config)
    with _open(config) as db:
        _require_migrated(config)
        progress = Progress(plan(args.scale).total, enabled=args.progress)
        try:
            report = seed(db, scale=args.scale, seed=args.seed, progress=progress.advance)
        finally:
            progress.close()
    if args.json:
        _dump_json({"database": _describe(config), **report.to_dict()})
        return 0 if not report.failed else 1
    _print(f"seeded {_describe(config)} (scale {args.scale}, seed {args.seed}) in "
           f"{report.seconds:.2f} s", "")
    _print(*table(["created", "rows"], report.created.items(), align="lr"))
    _print("", f"operations: {report.succeeded} succeeded, {report.failed} failed "
               f"({_percent(report.success_rate)} success rate)")
    _report_errors(report.errors)
    return 0 if not report.failed else 1


def _report_errors(errors: list[str], shown: int = 5) -> None:
    for error in errors[:shown]:
        _print(f"{PROG} seed: {error}", file=sys.stderr)
    if len(errors) > shown:
        _print(f"{PROG} seed: ... and {len(errors) - shown} more", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from .migrate import migrate
    from .seed import demo_jobs, plan, seed

    fresh = not _url(args)
    if fresh:
        path = Path(args.path)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        config = parse_config(f"sqlite:///{path}")
    else:
        config = parse_config(_url(args))
        if config.dialect == "sqlite" and not Path(str(config.path)).is_file():
            fresh = True
    if not fresh:
        _require_empty(config)  # before migrating: refuse without touching the database
    title = f"{PROG} demo on {_describe(config)}" + (" (fresh)" if fresh else "")
    _print(title, "=" * len(title))
    start = perf_counter()
    applied = migrate(config)
    _print(f"migrate  {len(applied)} migration(s) applied in {perf_counter() - start:.2f} s")
    with _open(config) as db:
        progress = Progress(plan(args.scale).total, enabled=args.progress)
        try:
            report = seed(db, scale=args.scale, seed=args.seed, progress=progress.advance)
        finally:
            progress.close()
        _print(f"seed     {sum(report.created.values())} rows in {report.seconds:.2f} s "
               f"({_percent(report.success_rate)} of operations succeeded)")
        _report_errors(report.errors)
        ran = demo_jobs(db)
        _print(f"jobs     ran {len(ran)} jobs through claim -> logs -> result -> "
               f"{'/'.join(sorted({j.status.value for j in ran}))}")
        for job in ran:
            _print(f"         {job.tool_name:<14} {job.status.value:<10} "
                   f"{(job.duration or 0) * 1000:7.1f} ms  {job.error_message or ''}".rstrip())
        _print("")
        print_stats(collect_stats(db))
    _print("", f"done in {perf_counter() - start:.2f} s. Explore: {PROG} stats --database "
               f"{config.url()}")
    return 0 if not report.failed else 1


def _require_empty(config: Config) -> None:
    """The demo writes only into a blank database, or a fully migrated one with no rows."""
    from .queries import load

    admin = load("admin")
    with _open(config) as db:
        if not int(admin.run(db, "count_tables")):
            return
        pending = [s.id for s in _status(config) if not s.applied]
        rows = 0 if pending else sum(int(n) for n in admin.run(db, "table_counts").values())
    if pending or rows:
        what = f"{len(pending)} pending migration(s)" if pending else f"{rows} rows"
        raise CommandError(f"demo needs an empty database, and {_describe(config)} has "
                           f"{what}; omit --database for a fresh {DEMO_FILE}, or use "
                           f"`{PROG} migrate` and `{PROG} seed`")


# -- the parser --------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database", "-d", metavar="URL", default=argparse.SUPPRESS,
        help="database URL (default: $DATABASE_URL, else the DB_* variables, else "
             "sqlite:///agentdb.db)")
    parser = argparse.ArgumentParser(
        prog=PROG, parents=[common],
        description="Manage an agentdb database: migrations, demo data, statistics, health, "
                    "retention and backups.",
        epilog=f"Start with `{PROG} demo`. `{PROG} COMMAND --help` shows a command's options.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], summary: str,
                description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=summary, description=description)
        p.set_defaults(func=func)
        return p

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON for machines")

    def progress_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="draw a progress bar on stderr (default: when it is a terminal)")

    p = command("demo", cmd_demo, "migrate, seed and run jobs on a fresh SQLite file",
                f"Create a fresh SQLite file ({DEMO_FILE}, replaced on every run), apply the "
                "migrations, seed demo data, run a few jobs through their lifecycle and print "
                "a summary. Ignores DATABASE_URL; with an explicit --database it runs there "
                "instead, on an empty database only.")
    p.add_argument("--path", default=DEMO_FILE, help=f"the demo file (default: {DEMO_FILE})")
    p.add_argument("--scale", type=_positive, default=1, help="size of the demo data (1)")
    p.add_argument("--seed", type=int, default=42, help="random seed (42)")
    progress_flag(p)

    p = command("migrate", cmd_migrate, "apply, roll back or list schema migrations",
                "Apply pending migrations (the default), roll back the newest N, or list "
                "every migration with its status. The same yoyo migrations as "
                "agentdb.migrate() and the yoyo command line.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--status", action="store_true", help="list applied and pending "
                      "migrations (a missing SQLite file is not created)")
    mode.add_argument("--rollback", type=_non_negative, metavar="N",
                      help="roll back the newest N applied migrations (drops their tables)")
    p.add_argument("--dir", action="append", metavar="PATH",
                   help="a folder of the application's own yoyo migrations, applied after "
                   "agentdb's (per-dialect subfolders, or one dialect's files); repeatable")
    json_flag(p)

    p = command("seed", cmd_seed, "add realistic demo data across every aggregate",
                "Add users, workflows with versions and shares, executions with history, "
                "agent versions, articles, alerts, tasks with runs, metrics and artifacts, and "
                "jobs with results and logs. The same --seed gives the same data (ids and "
                "timestamps aside). Exits 1 if any operation failed.")
    p.add_argument("--scale", type=_positive, default=1, help="multiplies every count (1)")
    p.add_argument("--seed", type=int, default=42, help="random seed (42)")
    progress_flag(p)
    json_flag(p)

    p = command("stats", cmd_stats, "row counts, job and task statistics, pool stats",
                "Row counts of every table, job statistics (per status, success rate, top "
                "tools, mean duration), task statistics and this process's pool numbers.")
    json_flag(p)

    p = command("check", cmd_check, "health check: connectivity, migrations, pool",
                "Connect, time a SELECT 1, look for pending migrations and show the pool. Exits "
                "0 only when the database answers and no migration is pending, so it can serve "
                "as a readiness probe.")
    p.add_argument("--dir", action="append", metavar="PATH",
                   help="a folder of the application's own yoyo migrations, counted with "
                   "agentdb's when looking for pending ones (as for migrate --dir); repeatable")
    json_flag(p)

    p = command("cleanup", cmd_cleanup, "delete old finished jobs (retention)",
                "Delete jobs that finished (completed, failed or cancelled) more than N days "
                "ago, with their results and logs, in short chunks.")
    p.add_argument("--days", type=_non_negative, required=True, metavar="N",
                   help="keep jobs that finished within the last N days")
    json_flag(p)

    p = command("worker", cmd_worker, "run queued jobs through handler functions",
                "Claim jobs of the tools named in HANDLERS (module:attribute, a dict of tool "
                "name -> function taking a JobContext) and run them in N threads, with leases, "
                "heartbeats and retries. SIGTERM or SIGINT stops claiming, lets running jobs "
                "finish within --grace seconds, then releases the rest.")
    p.add_argument("handlers", metavar="HANDLERS", help="module:attribute, e.g. tools:handlers")
    p.add_argument("--concurrency", "-c", type=_positive, default=1, metavar="N",
                   help="jobs run at once, one thread each (1)")
    p.add_argument("--batch-size", type=_positive, default=None, metavar="N",
                   help="jobs claimed per round trip (default: --concurrency)")
    p.add_argument("--lease", type=float, default=30.0, metavar="SECONDS",
                   help="lease per claim, renewed every third of it while a job runs (30)")
    p.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                   help="how long running jobs may finish after SIGTERM/SIGINT (10)")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS",
                   help="longest idle wait between claims (0.5; PostgreSQL wakes on NOTIFY)")

    p = command("backup", cmd_backup, "back up the database to a file",
                "SQLite: a consistent copy through the online backup API, safe while writers "
                "run. PostgreSQL / MariaDB: a plain SQL dump through pg_dump / mariadb-dump "
                "(or mysqldump), which must be on PATH; the password goes through the "
                "environment, never the command line.")
    p.add_argument("path", help="the backup file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = command("export", cmd_export, "export every job to a JSON Lines file",
                "One job per line, oldest first, on any backend; the rows are streamed from "
                "the database, so memory stays flat however many jobs there are.")
    p.add_argument("path", help="the .jsonl file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")

    p = command("restore", cmd_restore, "restore an SQLite database from a backup",
                "Replace the SQLite database with a backup made by `agentdb backup`, through "
                "the backup API. For PostgreSQL / MariaDB dumps use psql / mariadb.")
    p.add_argument("path", help="the backup file to read")
    p.add_argument("--force", action="store_true",
                   help="replace a database that already has tables")
    return parser


def _version() -> str:
    from . import __version__

    return __version__


# -- main --------------------------------------------------------------------------------------


def _secrets(args: argparse.Namespace) -> list[str]:
    """Every form the password may take, and its pieces between reserved characters, so no
    message can show it or a part of it (config errors never quote a URL; this is the net)."""
    found: list[str] = []
    for url in (_url(args), os.environ.get("DATABASE_URL")):
        if not url or "://" not in url:
            continue
        candidates: list[str] = []
        with contextlib.suppress(ConfigError):
            candidates.append(parse_url(url).get("password") or "")
        auth = url.split("://", 1)[1].rsplit("@", 1)[0] if "@" in url else ""
        candidates.append(auth.partition(":")[2])  # everything up to the last '@'
        for password in filter(None, candidates):
            found += [password, unquote(password), quote(unquote(password), safe="")]
            found += [p for p in re.split(r"[/?#@:&=]", password) if len(p) >= 4]
    if os.environ.get("DB_PASSWORD"):
        found.append(os.environ["DB_PASSWORD"])
    return sorted({s for s in found if s}, key=len, reverse=True)


def _mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    secrets = _secrets(args)
    try:
        return args.func(args)  # type: ignore[no-any-return]
    except KeyboardInterrupt:
        _print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `agentdb stats | head`: the reader left; nothing to report
        sys.stderr.close()
        return 1
    except Exception as exc:
        if os.environ.get("AGENTDB_TRACEBACK"):
            traceback.print_exc()
        _print(f"{PROG} {args.command}: error: {_mask(_message(exc), secrets)}",
               file=sys.stderr)
        return 1


def _message(exc: BaseException) -> str:
    """One line: our errors speak for themselves; anything else is named by its type."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, AgentDBError):
        return text
    return f"{type(exc).__name__}: {text}"
