"""Outages on real throwaway servers: how fast calls fail, how fast they recover, and whether
anything acknowledged is lost across restarts under load.

Per backend (PostgreSQL, MariaDB), each on its own throwaway server from tests/servers.py (a
temp dir, a free loopback port; the shared servers on 5432/3306 are never touched):

- time to fail while the server is down (stopped) and while it is frozen (SIGSTOP), per call;
- time to recover: from the server answering again to the first call that succeeds, after a
  short and after a long outage;
- 8 threads writing through two immediate-mode restarts: writes acknowledged vs rows found,
  and the writes reported as ``CommitUnknown`` (ambiguous: sent, no reply).

    python benchmarks/outage.py [--calls 5] [--long 20] [--load 4] [--backend postgresql ...]

Targets (issue 9): fail <= connect_timeout + 1 s (down) or <= statement_timeout + 1 s
(frozen); recover <= 1 s; found == acknowledged (plus at most the ambiguous ones).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from servers import SERVER_CLASSES, ThrowawayServer

import agentdb
from agentdb import CommitUnknown, Database, DatabaseUnavailable

OPTIONS = {"connect_timeout": 2.0, "statement_timeout": 2.0, "pool_size": 8}


def select_one(db: Database) -> None:
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()


def time_to_fail(db: Database, calls: int) -> list[float]:
    """Seconds each call took to raise DatabaseUnavailable."""
    times = []
    for _ in range(calls):
        start = time.monotonic()
        try:
            select_one(db)
        except DatabaseUnavailable:
            times.append(time.monotonic() - start)
        else:
            raise AssertionError("a call succeeded while the server was away")
    return times


def time_to_recover(db: Database, limit: float = 30) -> float:
    """Seconds from now (the server answers again) to the first call that succeeds."""
    start = time.monotonic()
    while True:
        try:
            select_one(db)
            return time.monotonic() - start
        except DatabaseUnavailable:
            if time.monotonic() - start > limit:
                return float("inf")
            time.sleep(0.005)


def warm(db: Database, n: int) -> None:
    """Open ``n`` pooled connections and leave them idle."""
    conns = [db.backend.getconn() for _ in range(n)]
    for conn in conns:
        db.backend.putconn(conn)


def restarts_under_load(server: ThrowawayServer, seconds: float) -> dict[str, int]:
    db = agentdb.connect(server.url, **OPTIONS)
    with db.connection(write=True) as conn:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS outage_items")
        cur.execute("CREATE TABLE outage_items (id BIGINT PRIMARY KEY)")
    acknowledged: set[int] = set()
    unknown: set[int] = set()
    other: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            item = n * 10_000_000 + i
            i += 1
            try:
                with db.connection(write=True) as conn:
                    conn.cursor().execute("INSERT INTO outage_items (id) VALUES (%s)", (item,))
                with lock:
                    acknowledged.add(item)
            except CommitUnknown:
                with lock:
                    unknown.add(item)
            except DatabaseUnavailable:
                time.sleep(0.005)
            except Exception as exc:  # an untyped error is a finding: count it
                other.append(type(exc).__name__)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for _ in range(2):
        time.sleep(seconds / 3)
        server.restart("immediate")
    time.sleep(seconds / 3)
    stop.set()
    for t in threads:
        t.join()
    with db.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT id FROM outage_items")
        found = {row["id"] for row in cur.fetchall()}
    db.close()
    return {
        "acknowledged": len(acknowledged),
        "found": len(found),
        "lost": len(acknowledged - found),
        "ambiguous": len(unknown),
        "ambiguous_committed": len(unknown & found),
        "unexplained": len(found - acknowledged - unknown),
        "untyped_errors": len(other),
    }


def measure(dialect: str, calls: int, long_outage: float, load: float) -> dict[str, Any]:
    server = SERVER_CLASSES[dialect].create()
    try:
        out: dict[str, Any] = {}
        db = agentdb.connect(server.url, **OPTIONS)
        warm(db, 4)
        server.stop("immediate")
        out["down"] = time_to_fail(db, calls)
        server.start()
        out["recover_short"] = time_to_recover(db)

        warm(db, 4)
        server.freeze()
        out["frozen"] = time_to_fail(db, calls)
        start = time.monotonic()
        db.health()
        out["health_frozen"] = time.monotonic() - start
        server.thaw()
        time_to_recover(db)

        warm(db, 4)
        server.stop("immediate")
        deadline = time.monotonic() + long_outage
        while time.monotonic() < deadline:  # callers keep failing through the outage
            time_to_fail(db, 1)
            time.sleep(0.5)
        server.start()
        out["recover_long"] = time_to_recover(db)
        db.close()
        out["load"] = restarts_under_load(server, load)
        return out
    finally:
        server.remove()


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} / {max(values) * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=sorted(SERVER_CLASSES))
    parser.add_argument("--calls", type=int, default=5, help="calls timed per state")
    parser.add_argument("--long", type=float, default=20.0, help="long outage, seconds")
    parser.add_argument("--load", type=float, default=4.0, help="seconds of writing load")
    args = parser.parse_args()
    backends = args.backend or ["postgresql", "mysql"]
    print(f"options: {OPTIONS}; {args.calls} calls per state; long outage {args.long:g} s\n")
    print("| backend | fail, down (ms, median / max) | fail, frozen (ms, median / max) "
          "| health(), frozen (ms) | recover, short outage (ms) | recover, "
          f"{args.long:g} s outage (ms) |")
    print("|---|---|---|---|---|---|")
    results = {}
    for dialect in backends:
        r = results[dialect] = measure(dialect, args.calls, args.long, args.load)
        print(f"| {dialect} | {ms(r['down'])} | {ms(r['frozen'])} | "
              f"{r['health_frozen'] * 1000:.0f} | {r['recover_short'] * 1000:.0f} | "
              f"{r['recover_long'] * 1000:.0f} |", flush=True)
    print("\n8 threads inserting through two immediate-mode restarts:\n")
    print("| backend | acknowledged | found | lost | ambiguous (CommitUnknown) "
          "| of those committed | found, never acknowledged nor reported | untyped errors |")
    print("|---|---|---|---|---|---|---|---|")
    for dialect, r in results.items():
        x = r["load"]
        print(f"| {dialect} | {x['acknowledged']} | {x['found']} | {x['lost']} | "
              f"{x['ambiguous']} | {x['ambiguous_committed']} | {x['unexplained']} | "
              f"{x['untyped_errors']} |")


if __name__ == "__main__":
    main()
