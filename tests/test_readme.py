"""README's repository example runs as written (on SQLite, in a temporary directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    text = README.read_text()
    return [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]


def test_the_repository_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(b for b in python_blocks() if 'agentdb.connect("sqlite:///app.db")' in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert (tmp_path / "app.db").exists()


def test_the_optional_conditions_example_loads_and_runs() -> None:
    from agentdb.queries import Queries

    text = README.read_text()
    block = next(p.split("```", 1)[0] for p in text.split("```sql\n")[1:] if "/*if " in p)
    queries = Queries.from_text(block, "jobs")
    sql = queries.show("list_jobs", "sqlite", status="failed", limit=20, sort_by="priority")
    assert "status = :status" in sql and "created_at >=" not in sql
    assert "ORDER BY priority desc, id desc" in sql


def test_the_queue_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(b for b in python_blocks() if 'agentdb.connect("sqlite:///queue.db")' in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})


def test_the_opentelemetry_hook_example_runs(tmp_path: Path) -> None:
    import agentdb
    from agentdb.queries import Queries

    example = next(b for b in python_blocks() if "span_per_statement" in b)
    db = agentdb.connect(f"sqlite:///{tmp_path / 'otel.db'}")
    try:
        scope: dict[str, object] = {"db": db}
        exec(compile(example, "README.md", "exec"), scope)
        assert db.hooks == (scope["span_per_statement"],)
        queries = Queries.from_text("-- name: q :scalar\nSELECT 1", "otel")
        assert queries.run(db, "q") == 1
        with pytest.raises(agentdb.QueryError):
            Queries.from_text("-- name: bad :scalar\nSELECT * FROM nowhere", "otel").run(
                db, "bad")
    finally:
        db.close()


def test_the_coming_from_sqlalchemy_example_runs(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(b for b in python_blocks() if 'agentdb.connect("sqlite:///ported.db"' in b)
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), {})
    assert (tmp_path / "ported.db").exists()


@pytest.mark.parametrize("url", ["sqlite:///x.db", "postgresql://u@127.0.0.1/app",
                                 "mysql://u@127.0.0.1/app"])
@pytest.mark.parametrize("option, pointer", [("pool_pre_ping", "use pre_ping"),
                                             ("poolclass", "pooling=False"),
                                             ("echo", "agentdb.sql")])
def test_sqlalchemy_keywords_point_to_agentdbs_own(url: str, option: str, pointer: str) -> None:
    import agentdb

    with pytest.raises(agentdb.ConfigError, match=pointer):
        agentdb.connect(url, **{option: True})
