"""The wheel is complete: built from the sources, installed into a new virtual environment, its
``agentdb`` command runs the demo and lists migrations from an empty directory.

How it stays fast and offline-friendly (about 10 s): the wheel is built with ``pip wheel
--no-deps`` from a copy of the sources (so no build/ or egg-info lands in the checkout; the
build backend comes from the package index or pip's cache unless this environment already has
setuptools >= 77). The new venv has no pip and no dependencies of its own: a ``.pth`` file
points it at this environment's site-packages for psycopg, PyMySQL, yoyo and friends -- and for
pip itself, which installs the wheel into the new venv with ``--no-deps --no-index
--ignore-installed``. Only agentdb comes from the wheel, which the test checks: the venv's own
site-packages comes first on sys.path, and ``agentdb.__file__``, the SQL and the migrations
must all resolve inside it. Marked ``slow`` but not skipped: CI runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "agentdb", "sql", "migrations")
TIMEOUT = 300


def _run(argv: list[str | Path], cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _modern_setuptools() -> bool:
    """Whether this environment can build the wheel itself (pyproject's license field needs
    setuptools >= 77); if not, pip builds in isolation with a fresh setuptools."""
    try:
        from importlib.metadata import version

        return int(version("setuptools").split(".")[0]) >= 77
    except Exception:
        return False


def _site_dirs() -> list[str]:
    """Where this interpreter finds its packages (dependencies, and pip)."""
    import site

    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return list(dict.fromkeys(d for d in dirs if os.path.isdir(d)))


def test_wheel_installs_and_runs_from_an_empty_directory(tmp_path: Path) -> None:
    # 1. Build the wheel from a copy of the sources.
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.db", "*.db-*")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, src / name)
    wheels = tmp_path / "wheels"
    build: list[str | Path] = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                               "--wheel-dir", wheels]
    if _modern_setuptools():
        build.append("--no-build-isolation")
    _run([*build, src])
    (wheel,) = wheels.glob("agentdb-*.whl")

    # 2. It carries the SQL files and the migrations, beside the code.
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"agentdb/sql/{p.relative_to(ROOT / 'sql')}" for p in (ROOT / "sql").rglob("*.sql")}
    shipped |= {f"agentdb/migrations/{p.relative_to(ROOT / 'migrations')}"
                for p in (ROOT / "migrations").rglob("*") if p.suffix in (".sql", ".py")
                and "__pycache__" not in p.parts}
    assert shipped and shipped <= names, sorted(shipped - names)
    assert {"agentdb/cli.py", "agentdb/__main__.py", "agentdb/py.typed",
            "agentdb/aio_types.pyi"} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "agentdb = agentdb.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    # 3. A new venv: dependencies through a .pth file, agentdb only from the wheel.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                       "['purelib'])"]).stdout.strip())
    (purelib / "_agentdb_test_dependencies.pth").write_text("\n".join(_site_dirs()) + "\n")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
          "--ignore-installed", "--no-warn-script-location", wheel])

    # 4. From an empty directory, with no configuration in the environment.
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DB_", "PYTHON", "AGENTDB_")) and k not in (
               "DATABASE_URL", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    agentdb = bin_dir / "agentdb"

    where = _run([python, "-c", "import agentdb; from agentdb.queries import sql_dir; "
                                "from agentdb.migrate import migrations_dir; "
                                "print(agentdb.__file__); print(sql_dir()); "
                                "print(migrations_dir('sqlite'))"],
                 cwd=empty, env=env).stdout.split()
    for found in where:
        assert Path(found).resolve().is_relative_to(env_dir.resolve()), where

    demo = _run([agentdb, "demo"], cwd=empty, env=env)
    assert "completed/failed" in demo.stdout and "job_logs" in demo.stdout
    assert (empty / "agentdb-demo.db").is_file()

    migrations = len([p for p in (ROOT / "migrations" / "sqlite").iterdir()
                      if p.suffix in (".sql", ".py") and ".rollback" not in p.name
                      and not p.name.startswith("__")])
    status = _run([agentdb, "migrate", "--status"], cwd=empty, env=env)
    assert re.search(rf"\b0 applied, {migrations} pending", status.stdout), status.stdout
    status = _run([agentdb, "--database", "sqlite:///agentdb-demo.db", "migrate", "--status"],
                  cwd=empty, env=env)
    assert re.search(rf"\b{migrations} applied, 0 pending", status.stdout), status.stdout

    version = _run([python, "-m", "agentdb", "--version"], cwd=empty, env=env)
    assert version.stdout.startswith("agentdb ")
    assert sorted(p.name for p in empty.iterdir()) == ["agentdb-demo.db"]
