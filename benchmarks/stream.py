"""Peak memory while streaming a large result with Queries.stream.

    python benchmarks/stream.py                        # SQLite + local servers, 1,000,000 rows
    python benchmarks/stream.py --rows 100000 --database sqlite:///x.db

Each backend generates ``--rows`` rows itself (generate_series, MariaDB's sequence engine, a
recursive CTE on SQLite), about 120 bytes each, and the client iterates them with
``stream()``, keeping none. A thread samples the process's resident set every 10 ms; the table
shows the peak growth over the RSS just before the stream opened (target: <= 50 MB for 1,000,000
rows), the wall time and the rows per second.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

import agentdb
from agentdb.queries import Queries

PAD = 100  # characters of padding per row
SERIES = Queries.from_text(
    "-- name: series :many\n"
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < :n)\n"
    f"SELECT n, printf('%.{PAD}c', 'x') AS pad, 'stream' AS label FROM c WHERE n <= :n;\n",
    "stream_bench",
    {
        "postgresql": "-- name: series :many\n"
                      f"SELECT g AS n, repeat('x', {PAD}) AS pad, 'stream' AS label\n"
                      "FROM generate_series(1, :n) AS g",
        "mysql": "-- name: series :many\n"
                 f"SELECT seq AS n, REPEAT('x', {PAD}) AS pad, 'stream' AS label\n"
                 "FROM seq_1_to_100000000 WHERE seq <= :n",
    },
)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measure(url: str, rows: int, batch_size: int) -> list[object]:
    db = agentdb.connect(url, pool_size=1, max_overflow=0)
    try:
        assert len(SERIES.run(db, "series", n=3)) == 3  # warm up: connect, load the driver
        gc.collect()
        base = rss_bytes()
        sampler = common.Sampler(rss_bytes, interval=0.01)
        sampler.start()
        count = total = 0
        start = perf_counter()
        with SERIES.stream(db, "series", n=rows, batch_size=batch_size) as stream:
            for row in stream:
                count += 1
                total += len(row["pad"])
        seconds = perf_counter() - start
        sampler.stop()
        peak = max([base, *(int(s) for s in sampler.samples), rss_bytes()])
        assert count == rows and total == rows * PAD, (count, total)
        growth = (peak - base) / 2**20
        return [db.dialect, rows, batch_size, round(growth, 1), "yes" if growth <= 50 else "NO",
                round(seconds, 2), round(rows / seconds)]
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", action="append", help="a URL; repeat for several "
                        "(default: SQLite plus whichever local servers answer)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    urls = common.usable_urls(args.database)
    if urls is None:
        return 2
    print(f"## stream(): {args.rows} rows of ~{PAD + 20} bytes, peak RSS growth\n")
    print(common.describe_machine(urls) + "\n")
    table = [measure(url, args.rows, args.batch_size) for url in urls]
    print(common.markdown_table(
        ["backend", "rows", "batch", "peak RSS growth MB", "<= 50 MB", "seconds", "rows/s"],
        table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
