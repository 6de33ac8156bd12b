"""examples/orders -- an application's own table, migrations, SQL, repository, records and
tests -- runs its own test suite (with agentdb's pytest plugin) on every backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Databases, require_server

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "orders"


@pytest.mark.parametrize("where", ["memory", "postgresql", "mysql"])
def test_the_orders_example_suite_passes(where: str, make_db: Databases) -> None:
    args = []
    if where != "memory":
        require_server(where)
        args = ["--agentdb-url", make_db.url(where)]
    env = {k: v for k, v in os.environ.items() if k != "AGENTDB_TEST_URL"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout


def test_the_orders_record_is_built_by_the_same_converter_as_agentdbs(make_db: Databases) -> None:
    """record=Order goes through agentdb.rows' generated converter, as agentdb's own records."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from orders import MIGRATIONS, Order, OrderRepository  # type: ignore[import-not-found]

        import agentdb

        db = make_db("sqlite")
        agentdb.migrate(db, extra=[MIGRATIONS])
        user = agentdb.UserRepository(db).create("conv", "c@example.org", "a long password!")
        repo = OrderRepository(db)
        placed = repo.place(user.id, "x", 1, 5)
        assert repo.get(placed.id) == placed
        stmt = repo.queries._by_dialect["sqlite"]["get_order"]
        assert Order in stmt.converters  # generated once, kept on the statement
        with pytest.raises(agentdb.QueryError, match="many"):
            repo.many("get_order", Order, id=placed.id)
    finally:
        sys.path.remove(str(EXAMPLE))
