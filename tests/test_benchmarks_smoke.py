"""The tuning and comparison benchmarks still run: each for about a second on SQLite.

They run as scripts (the way README shows them), in a temporary directory, writing their CSV
and plots there; the committed plots in benchmarks/plots/ are never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def run_script(name: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name),
         "--database", f"sqlite:///{tmp_path / 'bench.db'}", "--out", str(tmp_path / "out"),
         *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_pool_tuning_runs_and_prints_its_table(tmp_path: Path) -> None:
    done = run_script("pool_tuning.py", tmp_path, "--threads", "1,2", "--pool-sizes", "1,2",
                      "--duration", "0.08", "--warmup", "0.03", "--seed", "40",
                      "--workload", "mixed,lifecycle", "--passes", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| threads | pool | ops/s |" in out
    assert "### sqlite · mixed" in out and "### sqlite · lifecycle" in out
    assert "is within 5% of the best" in out
    assert "**recommended for sqlite · mixed: pool_size=" in out
    assert "throughput knee" in out and "max_overflow=" in out and "within noise" in out
    csv_path = tmp_path / "out" / "pool_tuning.csv"
    csv = csv_path.read_text()
    assert csv.startswith("backend,workload,duration_s,threads,pool_size,")
    assert "ops_per_s_min,ops_per_s_max" in csv.splitlines()[0]
    assert len(csv.strip().splitlines()) == 1 + 2 * 4  # header + 2 workloads x 4 cells
    # --report redraws an earlier run's tables from its CSV, running nothing
    again = run_script("pool_tuning.py", tmp_path, "--report", str(csv_path), "--no-plots")
    assert again.returncode == 0, again.stderr
    assert "### sqlite · mixed · 0.08 s per cell" in again.stdout
    assert "**recommended for sqlite · mixed" in again.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "out" / "pool_tuning_sqlite_mixed_throughput.png").stat().st_size > 0
    assert (tmp_path / "out" / "pool_tuning_sqlite_lifecycle_p95.png").stat().st_size > 0
    # the temporary database directory is gone again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("agentdb-bench-")]


def test_compare_runs_and_prints_its_table(tmp_path: Path) -> None:
    done = run_script("compare.py", tmp_path, "--threads", "1,2", "--rounds", "1",
                      "--iterations", "3", "--seed", "40")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| threads | operation | raw ops/s | agentdb ops/s |" in out
    assert "| operation | raw CPU µs/op | agentdb CPU µs/op |" in out
    for op in ("insert", "get", "list", "lifecycle", "batch"):
        assert f"| {op}" in out
    assert "targets met" in out or "targets missed" in out
    try:
        import aiosql  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        pytest.skip("bench extra not installed: only raw and agentdb were compared")
    assert "aiosql ops/s" in out and "core ops/s" in out and "orm ops/s" in out
    assert "raw/agentdb CPU" in out and "<= aiosql" in out


def test_explain_shows_each_list_filter_using_its_index(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "explain.py"), "--rows", "2000", "--repeat", "2",
         "--database", f"sqlite:///{tmp_path / 'bench.db'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| sqlite  | workflow_id=" in out
    for index in ("status", "workflow_id", "tool_name"):
        assert f"USING INDEX ix_jobs_{index}_created_at ({index}=?)" in out


def test_paging_benchmark_compares_keyset_and_offset(tmp_path: Path) -> None:
    done = run_script("paging.py", tmp_path, "--rows", "2000", "--page-size", "20",
                      "--repeat", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| backend | sort_by (desc) | deep page | page 1 ms | keyset deep ms |" in out
    assert "| sqlite  | created_at     |       100 |" in out
    assert "targets met" in out or "targets missed" in out
    for column in ("created_at", "priority"):
        assert f"USING INDEX ix_jobs_{column}_id (({column},id)<(?,?))" in out


def test_stream_benchmark_prints_the_peak_rss(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "stream.py"), "--rows", "20000",
         "--database", f"sqlite:///{tmp_path / 'bench.db'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "| sqlite  | 20000 |" in done.stdout and "| yes " in done.stdout


def test_batch_runs_and_prints_its_table(tmp_path: Path) -> None:
    done = run_script("batch.py", tmp_path, "--jobs", "300", "--loop", "30", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| way " in out and "| jobs/s |" in out
    for way in ("agentdb", "executemany", "loop"):
        assert f"| {way}" in out
    assert "agentdb / executemany =" in out
    assert "targets met" in out or "targets missed" in out


def test_queue_benchmark_drains_exactly_once(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "work_queue.py"), "--jobs", "60", "--workers", "1,2",
         "--batch", "1,10", "--latency-samples", "3", "--poll", "0.05",
         "--database", f"sqlite:///{tmp_path / 'bench.db'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in done.stdout.splitlines()
            if line.startswith("| sqlite")]
    drained = {(r[1], r[2], r[3]): r[6] for r in rows if r[1] != "enqueue-to-start"}
    assert set(drained) == {(mode, w, b) for mode in ("threads", "processes")
                            for w in ("1", "2") for b in ("1", "10")}
    assert set(drained.values()) == {"ok / ok"}  # every job ran exactly once, every run
    assert any(r[1] == "enqueue-to-start" for r in rows)
