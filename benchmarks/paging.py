"""Keyset vs OFFSET paging of JobStore.list(): page 1 against a deep page, per backend.

    python benchmarks/paging.py                        # SQLite + local servers, 100k jobs
    python benchmarks/paging.py --rows 2000 --page-size 20 --database sqlite:///x.db

For each backend: a fresh, migrated database with ``--rows`` jobs (created_at spread over 30
days, priority 0-2), ANALYZE; then, for each sort (created_at and priority, newest / highest
first), page 1 and page ``--page`` (1,000 by default, or the last page when there are fewer)
are fetched through ``JobStore.list()`` both ways: with ``offset=(page - 1) * page_size`` and
with ``after=`` the cursor of the page before it. Times are the client's wall time of the whole
call (what a caller waits), medians of ``--repeat`` interleaved rounds after a warm-up. The
target (issue 12): the keyset deep page within 2x of page 1.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from explain import analyze, plan_of, seed

import agentdb
from agentdb import JobStore, migrate
from agentdb.pool import Database

SORTS = ("created_at", "priority")
TARGET = 2.0


def plan(db: Database, sort_by: str, cursor: str, page_size: int) -> str:
    """The server's plan of the keyset page (the SQL list() runs for it)."""
    from agentdb.repositories.jobs import _KEYSET

    params: dict[str, Any] = {"limit": page_size + 1, "offset": 0, "sort_by": sort_by,
                              "sort_order": "desc"}
    params.update(_KEYSET.where(cursor, 0, sort_by, "desc", db.config.cursor_secret))
    return plan_of(db, **params)


def measure(url: str, rows: int, page_size: int, deep: int,
            repeat: int) -> tuple[list[list[Any]], list[tuple[str, str]]]:
    dialect = common.dialect_of(url)
    table: list[list[Any]] = []
    plans: list[tuple[str, str]] = []
    with common.fresh_database(url) as fresh:
        db = agentdb.connect(fresh, pool_size=1, max_overflow=0)
        try:
            migrate(db)
            seed(db, rows)
            analyze(db)
            jobs = JobStore(db)
            for sort_by in SORTS:
                sort: dict[str, Any] = {"sort_by": sort_by, "sort_order": "desc"}
                offset = (deep - 1) * page_size
                cursor = jobs.list(limit=page_size, offset=offset - page_size, **sort).next_cursor
                assert cursor is not None
                calls = {
                    "offset, page 1": lambda s=sort: jobs.list(limit=page_size, **s),
                    "offset, deep": lambda s=sort, o=offset: jobs.list(limit=page_size, offset=o,
                                                                        **s),
                    "keyset, deep": lambda s=sort, c=cursor: jobs.list(limit=page_size, after=c,
                                                                        **s),
                }
                deep_ids = [j.id for j in calls["offset, deep"]()]
                assert [j.id for j in calls["keyset, deep"]()] == deep_ids  # the same page
                times: dict[str, list[float]] = {name: [] for name in calls}
                for _ in range(repeat):  # interleaved: load drift hits every call alike
                    for name, call in calls.items():
                        start = perf_counter()
                        call()
                        times[name].append(perf_counter() - start)
                ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
                first = ms["offset, page 1"]  # page 1 is the same SQL either way (no after)
                keyset_ratio = ms["keyset, deep"] / first
                table.append([dialect, sort_by, deep, round(first, 3), round(ms["keyset, deep"], 3),
                              round(keyset_ratio, 2), round(ms["offset, deep"], 3),
                              round(ms["offset, deep"] / first, 1),
                              "yes" if keyset_ratio <= TARGET else "no"])
                plans.append((sort_by, plan(db, sort_by, cursor, page_size)))
        finally:
            db.close()
    return table, plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", action="append", help="a URL; repeat for several "
                        "(default: SQLite plus whichever local servers answer)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--page", type=int, default=1000, help="the deep page (1,000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds per cell")
    parser.add_argument("--out", help="ignored (the smoke test passes it to every script)")
    args = parser.parse_args(argv)
    urls = common.usable_urls(args.database)
    if urls is None:
        return 2
    deep = max(2, min(args.page, args.rows // args.page_size))
    print(f"## Paging JobStore.list(): {args.rows} jobs, pages of {args.page_size}, page 1 vs "
          f"page {deep}, median of {args.repeat} rounds (client wall ms per call)\n")
    print(common.describe_machine(urls) + "\n")
    everything: list[list[Any]] = []
    all_plans: dict[str, list[tuple[str, str]]] = {}
    for url in urls:
        table, plans = measure(url, args.rows, args.page_size, deep, args.repeat)
        everything += table
        all_plans[common.dialect_of(url)] = plans
    print(common.markdown_table(
        ["backend", "sort_by (desc)", "deep page", "page 1 ms", "keyset deep ms",
         "keyset deep / page 1", "OFFSET deep ms", "OFFSET deep / page 1",
         f"keyset within {TARGET:g}x"], everything))
    met = all(row[-1] == "yes" for row in everything)
    print(f"\nkeyset target (deep page within {TARGET:g}x of page 1): "
          f"{'targets met' if met else 'targets missed'}")
    for dialect, plans in all_plans.items():
        print(f"\n### {dialect}: plan of the keyset page\n")
        for sort_by, text in plans:
            print(f"`sort_by={sort_by}`\n```\n{text}\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
