"""Issue 13's question: would a thin LIFO of idle connections in front of psycopg_pool / PooledDB
be the fast path? A prototype, measured here only (agentdb does not use it).

Both sides run behind the same ``Slots`` gate and do the same checkout checks agentdb's backend
does (the idle socket's poll, the connection's age); they differ in where an idle connection
waits between uses:

    current    backend.getconn() / backend.putconn(): psycopg_pool's getconn/putconn, or
               PooledDB's connection()/close() with its ping hook (what agentdb runs)
    thin LIFO  a list under one lock in front of the pool: a connection given back is kept
               there, and the next checkout pops it, with the same checks; the wrapped pool
               is asked only when the list is empty

CPU per checkout + return (``time.process_time``, one thread), interleaved rounds, medians.

    python benchmarks/thin_lifo.py [--iterations 20000] [--rounds 7] [--database URL ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
from collections.abc import Callable
from time import monotonic, process_time
from typing import Any

import agentdb
from agentdb.pool.base import Backend

DEFAULT_URLS = [
    os.environ.get("AGENTDB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    os.environ.get("AGENTDB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
]


class ThinLifo:
    """The prototype: idle connections kept in a list in front of the backend's pool."""

    def __init__(self, backend: Any, keep: int) -> None:
        self.backend, self.keep = backend, keep
        self.slots = backend._slots
        self.lock = threading.Lock()
        self.idle: list[Any] = []
        self.recycle = backend.config.pool_recycle

    def getconn(self) -> Any:
        self.slots.take()
        with self.lock:
            conn = self.idle.pop() if self.idle else None
        if conn is not None:
            # the same checks the backends make at checkout: the socket's poll, the age
            if not conn.poller.poll(0) and (
                self.recycle is None or monotonic() - conn.born <= self.recycle
            ):
                return conn
            self.backend.putconn(conn, broken=True)  # frees the slot; the pool replaces it
        else:
            self.slots.give()
        return self.backend.getconn()

    def putconn(self, conn: Any) -> None:
        conn.last_used = monotonic()
        with self.lock:
            kept = len(self.idle) < self.keep
            if kept:
                self.idle.append(conn)
        if kept:
            self.slots.give()
        else:
            self.backend.putconn(conn)

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            self.slots.take()
            self.backend.putconn(conn)


def cpu_us(op: Callable[[], None], n: int) -> float:
    start = process_time()
    for _ in range(n):
        op()
    return (process_time() - start) / n * 1e6


def measure(url: str, iterations: int, rounds: int) -> tuple[str, float, float]:
    db = agentdb.connect(url, pool_size=4, max_overflow=0)
    try:
        backend: Backend = db.backend
        lifo = ThinLifo(backend, keep=4)

        def current() -> None:
            backend.putconn(backend.getconn())

        def thin() -> None:
            lifo.putconn(lifo.getconn())

        cpu_us(current, 1000), cpu_us(thin, 1000)  # warm up: connections open
        a, b = [], []
        for _ in range(rounds):
            a.append(cpu_us(current, iterations))
            b.append(cpu_us(thin, iterations))
        lifo.close()
        return db.dialect, statistics.median(a), statistics.median(b)
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append", help="URL (repeatable); default: both")
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    rows = []
    for url in args.database or DEFAULT_URLS:
        try:
            rows.append(measure(url, args.iterations, args.rounds))
        except agentdb.DatabaseUnavailable as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    print(f"checkout + return of an idle connection, client CPU µs per op "
          f"(median of {args.rounds} interleaved rounds x {args.iterations})\n")
    print("| backend | current (wrapped pool) | thin LIFO in front | saved µs | saved % |")
    print("|---|---:|---:|---:|---:|")
    for dialect, current, thin in rows:
        print(f"| {dialect} | {current:.2f} | {thin:.2f} | {current - thin:.2f} | "
              f"{(current - thin) / current * 100:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
