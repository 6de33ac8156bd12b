"""One SQLite operation N times, for valgrind's instruction counts (immune to machine load).

Runs one way of compare.py (raw, agentdb, aiosql) or of batch.py (agentdb, executemany) on a
fresh SQLite file seeded the same way each time (fixed random ids), warms it up, then runs the
operation N times. Instructions per operation = the difference between a run with N and one
with 0 (or a smaller N), divided by the difference in operations: setup cancels out.

    valgrind --tool=callgrind --callgrind-out-file=cg.agentdb.get.0 \\
        .venv/bin/python benchmarks/callgrind_ops.py agentdb get 0
    valgrind --tool=callgrind --callgrind-out-file=cg.agentdb.get.3000 \\
        .venv/bin/python benchmarks/callgrind_ops.py agentdb get 3000
    # (Ir of the second - Ir of the first) / 3000 = instructions per get

Operations: insert, get, list, lifecycle (compare.py's); batch (batch.py's ``agentdb`` or
``executemany`` way, N rows per call, called twice after a warm-up, so per row = difference /
(2 x difference in N)).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
random.seed(1)
uuid.uuid4 = lambda: uuid.UUID(int=random.getrandbits(128), version=4)  # the same ids each run

import agentdb  # noqa: E402
from agentdb import JobStore  # noqa: E402
from agentdb.migrate import migrate  # noqa: E402


def main(way: str, op: str, n: int) -> None:
    path = os.path.join(tempfile.gettempdir(), f"agentdb-callgrind-{way}-{op}-{n}.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    url = f"sqlite:///{path}"
    if op == "batch":
        import batch

        db = agentdb.connect(url)
        migrate(db)
        jobs = JobStore(db)
        ways = batch.ways(url, jobs, batch.raw_connect(db.config), n, 10)
        ways[way]()
        ways[way]()
        return
    import compare

    ids = compare.seed(url, 200)
    ctx = compare.build_context(url, ids)
    kinds = {"raw": compare.Raw, "agentdb": compare.AgentDB, **compare.aiosql_way()}
    runner = kinds[way](ctx, 1)
    run = runner.op(op, 0)
    for _ in range(20):  # warm: converters, statement caches
        run()
    for _ in range(n):
        run()
    runner.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
