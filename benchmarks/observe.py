"""What seeing what runs costs a statement: off (target <= 0.2 us), and with a hook or logging on.

    python benchmarks/observe.py                       # SQLite in a temporary directory
    python benchmarks/observe.py --rounds 15 --loops 200000

Off: the exact test ``Queries.run`` makes per statement when no hook is set, slow_query_ms is
off and agentdb.sql is not at DEBUG (read ``db.watch``, ask the logger, and the two ``if watch``
branches), timed over ``--loops`` iterations against the same loop with nothing in it; client
CPU (time.process_time), median of ``--rounds`` interleaved rounds. Then a whole ``run()`` of
``SELECT :v`` on SQLite per call: as shipped, with a no-op hook, and with DEBUG logging to a
handler that drops the records.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from time import perf_counter, process_time

import agentdb
from agentdb.queries import _LOG, Queries

DEBUG = logging.DEBUG
Q = Queries.from_text("-- name: echo :one\nSELECT :v AS v;", "observe")


def guard_loop(db: agentdb.Database, loops: int) -> float:
    """CPU seconds for ``loops`` statements' worth of the off-path test (as in Queries.run)."""
    log = _LOG
    start = process_time()
    for _ in range(loops):
        watch = db.watch or log.isEnabledFor(DEBUG)
        begin = perf_counter() if watch else 0.0
        if watch:
            begin += 1
        if watch:
            begin += 1
    return process_time() - start


def empty_loop(db: agentdb.Database, loops: int) -> float:
    start = process_time()
    for _ in range(loops):
        pass
    return process_time() - start


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = process_time()
    for _ in range(calls):
        fn()
    return (process_time() - start) / calls * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--loops", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=5_000, help="run() calls per round")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = agentdb.connect(f"sqlite:///{Path(tmp) / 'observe.db'}", pool_size=1)
        try:
            assert not db.watch and not _LOG.isEnabledFor(DEBUG)
            guard, empty = [], []
            for _ in range(args.rounds):
                guard.append(guard_loop(db, args.loops))
                empty.append(empty_loop(db, args.loops))
            off_ns = max(0.0, statistics.median(g - e for g, e in zip(guard, empty,
                                                                         strict=True)))
            off_ns = off_ns / args.loops * 1e9

            def call() -> object:
                return Q.run(db, "echo", v=1)

            def hook(*_: object) -> None:
                return None

            drop = logging.NullHandler()
            sides: dict[str, list[float]] = {"shipped (off)": [], "a no-op hook": [],
                                             "DEBUG log, handler drops": []}
            call()
            for _ in range(args.rounds):
                sides["shipped (off)"].append(per_call_us(call, args.calls))
                db.add_hook(hook)
                sides["a no-op hook"].append(per_call_us(call, args.calls))
                db.remove_hook(hook)
                _LOG.addHandler(drop)
                _LOG.setLevel(DEBUG)
                sides["DEBUG log, handler drops"].append(per_call_us(call, args.calls))
                _LOG.setLevel(logging.NOTSET)
                _LOG.removeHandler(drop)
        finally:
            db.close()
    print(f"## Cost of observing statements (median of {args.rounds} interleaved rounds, "
          "client CPU)\n")
    verdict = "met" if off_ns <= 200 else "MISSED"
    print(f"off-path test per statement: {off_ns:.0f} ns (target <= 200 ns: {verdict})\n")
    print("| run() of SELECT :v on SQLite | CPU us per call |")
    print("|---|---:|")
    for name, values in sides.items():
        print(f"| {name} | {statistics.median(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
