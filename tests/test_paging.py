"""Keyset pagination (agentdb.paging) on every backend: walking every list with ``after``
returns each row once, in the order OFFSET paging gives; pages stay put while rows are
inserted; cursors that are malformed, tampered with, or meant for another list or sort are
refused with a ValidationError naming ``after``."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import agentdb
from agentdb import (
    AlertRepository,
    ArticleRepository,
    Database,
    ExecutionRepository,
    JobStore,
    Page,
    TaskRepository,
    UserRepository,
    ValidationError,
    WorkflowRepository,
    aio,
)
from agentdb import validate as v
from agentdb.paging import Keyset, _mac
from agentdb.repositories.jobs import _KEYSET as _JOBS

ROWS = 23
PAGE = 5
Lister = Callable[..., Page[Any]]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """``freeze(True)`` makes every timestamp written the same instant (ties on the sort
    column, so id must break them); ``freeze(False)`` lets the clock run again."""
    real = v.utcnow
    instant = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

    def freeze(on: bool) -> None:
        monkeypatch.setattr(v, "utcnow", (lambda: instant) if on else real)

    return freeze


def _lists(db: Database) -> dict[str, tuple[Callable[[int], object], Lister]]:
    """Per list: (make the i-th row, list(limit=..., offset=..., after=...))."""
    owner = UserRepository(db).create("pager", None, "a-long-password")
    task = TaskRepository(db).create_task("runs-of")
    jobs, execs, flows = JobStore(db), ExecutionRepository(db), WorkflowRepository(db)
    tasks, articles, alerts = TaskRepository(db), ArticleRepository(db), AlertRepository(db)
    return {
        "jobs": (lambda i: jobs.create(f"tool{i % 3}", priority=i % 3), jobs.list),
        "executions": (lambda i: execs.start(workflow_name=f"w{i}"), execs.list),
        "workflows": (lambda i: flows.create(owner.id, f"wf{i}"), flows.list),
        "tasks": (lambda i: tasks.create_task(f"t{i}"), tasks.list_tasks),
        "runs": (lambda i: tasks.start_run(task.id),
                 lambda **kw: tasks.list_runs(task.id, **kw)),
        "articles": (lambda i: articles.insert(f"a{i}", f"https://example.com/{i}"),
                     articles.recent),
        "alerts": (lambda i: alerts.create(f"a{i}", "m"), alerts.recent),
        "alerts_by_source_url": (lambda i: alerts.create(f"s{i}", "m", source_url="https://s"),
                                 lambda **kw: alerts.by_source_url("https://s", **kw)),
    }


def walk(lister: Lister, limit: int = PAGE, between: Callable[[], object] | None = None,
         **kw: Any) -> list[str]:
    """Every id, following next_cursor from the first page to the last."""
    ids: list[str] = []
    page = lister(limit=limit, **kw)
    while True:
        assert isinstance(page, Page) and isinstance(page, list)
        ids += [row.id for row in page]
        if page.next_cursor is None:
            assert len(page) <= limit
            return ids
        assert len(page) == limit
        if between is not None:
            between()
        page = lister(limit=limit, after=page.next_cursor, **kw)


@pytest.mark.parametrize("name", ["jobs", "executions", "workflows", "tasks", "runs",
                                  "articles", "alerts", "alerts_by_source_url"])
def test_walking_a_list_returns_every_row_once_in_order(
        db: Database, name: str, frozen_clock: Callable[[bool], None]) -> None:
    make, lister = _lists(db)[name]
    for i in range(ROWS):
        frozen_clock(8 <= i < 16)  # eight rows share one timestamp: id breaks the tie
        make(i)
    frozen_clock(False)
    everything = [row.id for row in lister(limit=1000)]
    extra = name == "tasks"  # _lists' own task, the runs' parent
    assert len(everything) == ROWS + extra and lister(limit=1000).next_cursor is None
    assert walk(lister) == everything
    assert walk(lister, limit=1) == everything
    by_offset = [r.id for off in range(0, ROWS, PAGE) for r in lister(limit=PAGE, offset=off)]
    assert by_offset == everything  # OFFSET paging as before, the same order


@pytest.mark.parametrize("sort_by", ["created_at", "updated_at", "priority", "status",
                                     "tool_name"])
@pytest.mark.parametrize("sort_order", ["desc", "asc"])
def test_jobs_every_sort_and_direction(db: Database, sort_by: str, sort_order: str,
                                       frozen_clock: Callable[[bool], None]) -> None:
    jobs = JobStore(db)
    for i in range(ROWS):
        frozen_clock(i % 2 == 0)  # half the rows tie on created_at and updated_at
        job = jobs.create(f"tool{i % 3}", priority=i % 4)
        if i % 5 == 0:
            jobs.cancel(job.id)  # a second status
    frozen_clock(False)
    sort: dict[str, Any] = {"sort_by": sort_by, "sort_order": sort_order}
    everything = [j.id for j in jobs.list(limit=1000, **sort)]
    assert walk(jobs.list, **sort) == everything
    assert walk(jobs.list, limit=3, **sort) == everything


def test_filters_combine_with_after(db: Database) -> None:
    jobs = JobStore(db)
    for i in range(ROWS):
        jobs.create(f"tool{i % 3}", priority=i % 2)
    for order in ("desc", "asc"):
        given: dict[str, Any] = {"tool_name": "tool1", "sort_by": "priority",
                                 "sort_order": order}
        expected = [j.id for j in jobs.list(limit=1000, **given)]
        assert len(expected) == 8
        assert walk(jobs.list, limit=3, **given) == expected


@pytest.mark.parametrize("sort_order", ["desc", "asc"])
def test_pages_are_stable_under_concurrent_inserts(db: Database, sort_order: str) -> None:
    jobs = JobStore(db)
    before = [jobs.create("t").id for _ in range(12)]
    expected = [j.id for j in jobs.list(limit=1000, sort_order=sort_order)]
    added: list[str] = []

    def insert() -> None:  # newer than every row seen: ahead of page 1 in desc order
        added.extend(jobs.create("t").id for _ in range(3))

    walked = walk(jobs.list, limit=PAGE, between=insert, sort_order=sort_order)
    assert len(walked) == len(set(walked))  # nothing twice
    seen = [i for i in walked if i in set(before)]
    assert seen == expected  # every pre-existing row, in order, none skipped
    if sort_order == "asc":
        assert walked[len(before):] == added  # newer rows come after, in order
    else:
        assert walked == expected  # newer rows sit before page 1: not in this walk


def _forge(payload: dict[str, Any], secret: str | None = None) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_mac(secret, raw) + raw).rstrip(b"=").decode()


def _payload(cursor: str) -> dict[str, Any]:
    blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    data: dict[str, Any] = json.loads(blob[16:])
    return data


def test_malformed_or_tampered_cursors_are_refused(db: Database) -> None:
    jobs, articles = JobStore(db), ArticleRepository(db)
    for i in range(4):
        jobs.create("t", priority=i)
        articles.insert(f"a{i}", f"https://example.com/{i}")
    cursor = jobs.list(limit=2).next_cursor
    assert cursor is not None
    payload = _payload(cursor)
    flipped = cursor[:30] + ("A" if cursor[30] != "A" else "B") + cursor[31:]
    unsigned = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    moved = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(cursor + "==")[:16]
        + json.dumps({**payload, "v": "2000-01-01T00:00:00+00:00"}).encode()).decode()
    bad: list[tuple[Any, dict[str, Any], str]] = [
        (flipped, {}, "not a valid cursor"),
        (cursor[:-3], {}, "not a valid cursor"),
        (cursor + "!", {}, "bad encoding"),
        ("", {}, "cursor string"),
        (42, {}, "cursor string"),
        ("x" * 5000, {}, "cursor string"),
        (unsigned, {}, "not a valid cursor"),
        (moved, {}, "altered"),
        (cursor, {"sort_order": "asc"}, "sort_order='desc'"),
        (cursor, {"sort_by": "priority"}, "sort_by='created_at'"),
        (cursor, {"offset": 2}, "offset"),
        (articles.recent(limit=2).next_cursor, {}, "another list ('articles')"),
        # well signed (the default key is no secret) but of the wrong shape or type
        (_forge({**payload, "v": 7}), {}, "must be text"),
        (_forge({**payload, "v": "yesterday"}), {}, "timestamp"),
        (_forge({**payload, "v": "2026-01-01T00:00:00"}), {}, "timestamp"),  # naive
        (_forge({**payload, "i": 5}), {}, "bad id"),
        (_forge({**payload, "x": 1}), {}, "bad payload"),
        (_forge({**payload, "s": "priority", "v": "1"}), {"sort_by": "priority"}, "integer"),
        (_forge({**payload, "s": "priority", "v": True}), {"sort_by": "priority"}, "integer"),
    ]
    for after, kw, message in bad:
        with pytest.raises(ValidationError, match=re.escape(message)) as exc:
            jobs.list(limit=2, after=after, **kw)
        assert exc.value.field == "after", (after, kw)
    # a well-formed forged cursor only moves where the page starts (values are parameters)
    forged = _forge({**payload, "v": "9999-01-01T00:00:00+00:00", "i": "'; DROP TABLE jobs"})
    assert len(jobs.list(limit=10, after=forged)) == 4


def test_cursor_secret_makes_cursors_unforgeable(db: Database) -> None:
    url = db.config.url(hide_password=False)
    jobs = JobStore(db)
    for _ in range(3):
        jobs.create("t")
    plain = jobs.list(limit=1).next_cursor
    assert plain is not None
    with agentdb.connect(url, cursor_secret="s3cret-for-cursors") as signed_db:
        assert "s3cret" not in repr(signed_db.config) and "s3cret" not in repr(signed_db)
        signed = JobStore(signed_db)
        page = signed.list(limit=1)
        assert page.next_cursor is not None and page.next_cursor != plain
        assert [j.id for j in signed.list(limit=5, after=page.next_cursor)] == [
            j.id for j in jobs.list(limit=5, offset=1)]
        with pytest.raises(ValidationError, match="cursor_secret"):
            signed.list(limit=1, after=plain)  # signed with the library's default key
        with pytest.raises(ValidationError, match="cursor_secret"):
            jobs.list(limit=1, after=page.next_cursor)
    with pytest.raises(agentdb.ConfigError, match="cursor_secret"):
        agentdb.connect(url, cursor_secret="")


def test_page_is_a_list() -> None:
    page: Page[int] = Page([1, 2], "c")
    assert page == [1, 2] and page.next_cursor == "c" and Page().next_cursor is None
    keys = Keyset("k", {"n": "int"})
    assert keys.page([1], 1, "n", "asc", None).next_cursor is None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_async_walk(db: Database, anyio_backend: str) -> None:
    adb = agentdb.AsyncDatabase(db, owned=False)
    jobs = aio(JobStore)(adb)
    made = [(await jobs.create("t")).id for _ in range(7)]
    ids: list[str] = []
    page = await jobs.list(limit=3, sort_order="asc")
    while True:
        ids += [j.id for j in page]
        if page.next_cursor is None:
            break
        page = await jobs.list(limit=3, sort_order="asc", after=page.next_cursor)
    assert ids == made
    with pytest.raises(ValidationError, match="after"):
        await jobs.list(after="nope")


@pytest.mark.parametrize("sort_by", ["created_at", "priority"])
def test_explain_a_deep_page_is_an_index_range(db: Database, sort_by: str) -> None:
    """A deep keyset page is read as a range of the (sort column, id) index of migration 0011,
    in order, on every backend: no full scan, no sort of the rows before it."""
    jobs = JobStore(db)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    jobs.run_many("insert_job", [
        {"id": str(uuid.UUID(int=n, version=4)), "tool_name": "t", "status": "pending",
         "priority": n % 3, "batch_id": None, "workflow_id": None, "user_id": None,
         "parameters": {}, "created_at": start + timedelta(seconds=n), "run_at": start,
         "max_attempts": 1, "dedupe_key": None} for n in range(3000)])
    analyze = {"sqlite": "ANALYZE", "postgresql": "ANALYZE jobs",
               "mysql": "ANALYZE TABLE jobs"}[db.dialect]
    with db.connection(write=True) as conn:
        cur = conn.cursor()
        cur.execute(analyze)
        if cur.description:
            cur.fetchall()
    cursor = jobs.list(limit=100, offset=2800, sort_by=sort_by).next_cursor  # page 29 of 30
    params: dict[str, Any] = {"limit": 101, "offset": 0, "sort_by": sort_by,
                              "sort_order": "desc"}
    params.update(_JOBS.where(cursor, 0, sort_by, "desc", None))
    sql, bound = JobStore.queries.prepare("list_jobs", db.dialect, **params)
    explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    with db.connection() as conn:
        cur = conn.cursor()
        if db.dialect == "postgresql":  # the plan chosen at this size may differ; the index
            cur.execute("SET enable_bitmapscan = off")  # range must be there to choose
            cur.execute("SET enable_seqscan = off")
        cur.execute(explain + sql, bound)
        text = " | ".join(" ".join(str(v) for v in (r.values() if isinstance(r, dict) else r))
                          for r in cur.fetchall())
        if db.dialect == "postgresql":
            cur.execute("RESET ALL")
    index = f"ix_jobs_{sort_by}_id"
    assert index in text, text
    if db.dialect == "sqlite":
        assert f"({sort_by},id)<(?,?)" in text and "TEMP B-TREE" not in text, text
    elif db.dialect == "postgresql":
        assert re.search(rf"Index Cond: \(+ROW\({sort_by}, ", text) and "Sort" not in text, text
    else:
        assert " range " in text and "filesort" not in text, text
