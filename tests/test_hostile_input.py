"""Hostile input is one rule on three backends.

Every public repository method's text, JSON and number fields are fed hostile values (NUL,
lone surrogates, deep or huge JSON, floats that do not round-trip, numbers out of range). The
only outcomes allowed: the value comes back exactly (from the method and from a fresh read),
or a ValidationError naming the field, raised before any SQL runs. Never a driver error, and
never a connection left unusable: the next call on the same pool works.

A fixed list of known-bad values goes through every field on every backend; hypothesis then
adds random ones (a bounded number of examples, so the test takes seconds per backend).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentdb
from agentdb import validate as v
from agentdb.errors import AgentDBError, NotFound, ValidationError
from agentdb.repositories import (
    AgentVersionRepository,
    AlertRepository,
    ArticleRepository,
    ExecutionRepository,
    JobStore,
    TaskRepository,
    UserRepository,
    WorkflowRepository,
)

# -- the repositories, and a few parent records every case may hang its record on -------------


class Ctx:
    """Repositories over one Database, with parents made on first use."""

    def __init__(self, db: agentdb.Database) -> None:
        self.db = db
        self.jobs = JobStore(db)
        self.users = UserRepository(db, bcrypt_rounds=4)
        self.workflows = WorkflowRepository(db)
        self.executions = ExecutionRepository(db)
        self.agents = AgentVersionRepository(db)
        self.articles = ArticleRepository(db)
        self.alerts = AlertRepository(db)
        self.tasks = TaskRepository(db)
        self.n = 0
        self._user: str | None = None
        self._workflow: str | None = None
        self._task: str | None = None

    def unique(self) -> str:
        self.n += 1
        return f"u{self.n}"

    @property
    def user(self) -> str:
        if self._user is None:
            self._user = self.users.create("owner", "owner@example.org", "owner-password").id
        return self._user

    @property
    def workflow(self) -> str:
        if self._workflow is None:
            self._workflow = self.workflows.create(self.user, "wf", {"steps": []}).id
        return self._workflow

    @property
    def task(self) -> str:
        if self._task is None:
            self._task = self.tasks.create_task("task").id
        return self._task

    def job(self) -> str:
        return self.jobs.create("tool").id

    def run(self) -> str:
        return self.tasks.start_run(self.task).id

    def execution(self) -> str:
        return self.executions.start(workflow_name="wf").id


# -- every field, as (what it is, how to write a value and read it back) -----------------------

Pair = tuple[Any, Any]  # (what the method returned, what a fresh read found)


@dataclass(frozen=True)
class Field:
    name: str  # Repository.method.field
    kind: str  # text | json | object | number | int | lookup
    write: Callable[[Ctx, Any], Pair]
    expect: Callable[[Any], Any] = lambda value: value


def _job_create(c: Ctx, x: Any) -> Pair:
    job = c.jobs.create(x)
    return job.tool_name, c.jobs.get(job.id).tool_name


def _job_parameters(c: Ctx, x: Any) -> Pair:
    job = c.jobs.create("t", parameters=x)
    return job.parameters, c.jobs.get(job.id).parameters


def _job_priority(c: Ctx, x: Any) -> Pair:
    job = c.jobs.create("t", priority=x)
    return job.priority, c.jobs.get(job.id).priority


def _job_batch(c: Ctx, x: Any) -> Pair:
    batch = c.jobs.create_job_batch([{"tool_name": "t", "parameters": x}])
    return x, c.jobs.get_batch_jobs(batch)[0].parameters


def _result(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        job = c.job()
        saved = c.jobs.save_result(job, **{field: x})
        found = c.jobs.get_result(job)
        assert found is not None
        return getattr(saved, field), getattr(found, field)

    return write


def _log(c: Ctx, x: Any) -> Pair:
    job = c.job()
    line = c.jobs.add_log(job, "INFO", x)
    return line.message, c.jobs.get_logs(job)[0].message


def _job_fail(c: Ctx, x: Any) -> Pair:
    job = c.jobs.fail(c.job(), x)
    return job.error_message, c.jobs.get(job.id).error_message


def _worker(c: Ctx, x: Any) -> Pair:
    job = c.jobs.start(c.job(), worker_id=x)
    return job.worker_id, c.jobs.get(job.id).worker_id


def _username(c: Ctx, x: Any) -> Pair:
    user = c.users.create(x, None, "a-good-password")
    return user.username, c.users.get(user.id).username


def _password(c: Ctx, x: Any) -> Pair:
    user = c.users.create("p" + c.unique(), None, x)
    return x, x if c.users.authenticate(user.username, x) == user else None


def _settings(c: Ctx, x: Any) -> Pair:
    return c.users.put_settings(c.user, x), c.users.get_settings(c.user)


def _patch(c: Ctx, x: Any) -> Pair:
    c.users.put_settings(c.user, {})
    return c.users.patch_settings(c.user, {"k": x})["k"], c.users.get_settings(c.user)["k"]


def _workflow(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"name": "wf", "definition": {"s": 1}}
        args[field] = x
        wf = c.workflows.create(c.user, **args)
        return getattr(wf, field), getattr(c.workflows.get(wf.id), field)

    return write


def _version(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"definition": {"s": 2}}
        args[field] = x
        saved = c.workflows.save_version(c.workflow, **args)
        found = c.workflows.get_version(c.workflow, saved.version_number)
        return getattr(saved, field), getattr(found, field)

    return write


def _execution_start(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        ex = c.executions.start(**{field: x})
        return getattr(ex, field), getattr(c.executions.get(ex.id), field)

    return write


def _execution_step(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"step": "s"}
        args[field] = x
        ex = c.execution()
        c.executions.update_step(ex, **args)
        entry = c.executions.get_history(ex)[-1]
        return x, getattr(entry, field)

    return write


def _execution_fail(c: Ctx, x: Any) -> Pair:
    ex = c.executions.fail(c.execution(), x)
    return ex.error_message, c.executions.get(ex.id).error_message


def _agent(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"agent_name": "a", "version": c.unique(), "code": "pass"}
        args[field] = x
        added = c.agents.add_version(**args)
        found = c.agents.get_version(added.agent_name, added.version)
        return getattr(added, field), getattr(found, field)

    return write


def _article(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"title": "t", "url": f"https://example.org/{c.unique()}"}
        args[field] = x
        article = c.articles.insert(**args)
        return getattr(article, field), getattr(c.articles.get(article.id), field)

    return write


def _articles_many(c: Ctx, x: Any) -> Pair:
    url = f"https://example.org/{c.unique()}"
    c.articles.insert_many([{"title": "t", "url": url, "content": x}])
    found = c.articles.get_by_url(url)
    return x, None if found is None else found.content


def _alert(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"title": "t", "message": "m"}
        args[field] = x
        alert = c.alerts.create(**args)
        return getattr(alert, field), getattr(c.alerts.get(alert.id), field)

    return write


def _task(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"name": "t"}
        args[field] = x
        task = c.tasks.create_task(**args)
        return getattr(task, field), getattr(c.tasks.get_task(task.id), field)

    return write


def _task_update(c: Ctx, x: Any) -> Pair:
    task = c.tasks.update_task(c.task, config=x)
    return task.config, c.tasks.get_task(c.task).config


def _run_plan(c: Ctx, x: Any) -> Pair:
    run = c.tasks.start_run(c.task, plan=x)
    return run.plan, c.tasks.get_run(run.id).plan


def _run_results(c: Ctx, x: Any) -> Pair:
    run = c.tasks.complete_run(c.run(), results=x)
    return run.results, c.tasks.get_run(run.id).results


def _run_fail(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"error_message": "e"}
        args[field] = x
        run = c.tasks.fail_run(c.run(), **args)
        return getattr(run, field), getattr(c.tasks.get_run(run.id), field)

    return write


def _metric(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"name": "m", "metric_type": "gauge", "value": 1.0}
        args[field] = x
        name = args["name"] if field == "name" else f"m{c.unique()}"
        args["name"] = name
        snap = c.tasks.record_metric(**args, task_id=c.task)
        found = c.tasks.metrics(task_id=c.task, name=name)[-1]
        return getattr(snap, field), getattr(found, field)

    return write


def _artifact(field: str) -> Callable[[Ctx, Any], Pair]:
    def write(c: Ctx, x: Any) -> Pair:
        args: dict[str, Any] = {"name": "a", "artifact_type": "text"}
        args[field] = x
        art = c.tasks.add_artifact(**args, task_id=c.task)
        return getattr(art, field), getattr(c.tasks.get_artifact(art.id), field)

    return write


def _lookup(call: Callable[[Ctx, Any], Any]) -> Callable[[Ctx, Any], Pair]:
    """A read that takes text: any normal answer (NotFound included) is fine."""

    def write(c: Ctx, x: Any) -> Pair:
        with contextlib.suppress(NotFound):
            call(c, x)
        return None, None

    return write


def _number(value: Any) -> float:
    return float(value) + 0.0


FIELDS: list[Field] = [
    Field("JobStore.create.tool_name", "text", _job_create),
    Field("JobStore.create.parameters", "object", _job_parameters),
    Field("JobStore.create.priority", "int", _job_priority),
    Field("JobStore.create_job_batch.parameters", "object", _job_batch),
    Field("JobStore.save_result.stdout", "text", _result("stdout")),
    Field("JobStore.save_result.stderr", "text", _result("stderr")),
    Field("JobStore.save_result.return_code", "int", _result("return_code")),
    Field("JobStore.save_result.output_files", "json", _result("output_files")),
    Field("JobStore.add_log.message", "text", _log),
    Field("JobStore.fail.error_message", "text", _job_fail),
    Field("JobStore.start.worker_id", "text", _worker),
    Field("JobStore.list.tool_name", "lookup", _lookup(lambda c, x: c.jobs.list(tool_name=x))),
    Field("JobStore.count.tool_name", "lookup", _lookup(lambda c, x: c.jobs.count(tool_name=x))),
    Field("JobStore.claim_next.worker_id", "lookup",
          _lookup(lambda c, x: c.jobs.claim_next(worker_id=x, tool_name="none"))),
    Field("JobStore.get.job_id", "lookup", _lookup(lambda c, x: c.jobs.get(x))),
    Field("UserRepository.create.username", "text", _username),
    Field("UserRepository.create.password", "text", _password),
    Field("UserRepository.authenticate.username", "lookup",
          _lookup(lambda c, x: c.users.authenticate(x, "a-good-password"))),
    Field("UserRepository.authenticate.password", "lookup",
          _lookup(lambda c, x: c.users.authenticate("owner", x))),
    Field("UserRepository.get_by_email.email", "lookup",
          _lookup(lambda c, x: c.users.get_by_email(x))),
    Field("UserRepository.put_settings.data", "object", _settings),
    Field("UserRepository.patch_settings.changes", "json", _patch),
    Field("WorkflowRepository.create.name", "text", _workflow("name")),
    Field("WorkflowRepository.create.description", "text", _workflow("description")),
    Field("WorkflowRepository.create.definition", "object", _workflow("definition")),
    Field("WorkflowRepository.save_version.definition", "object", _version("definition")),
    Field("WorkflowRepository.save_version.change_notes", "text", _version("change_notes")),
    Field("ExecutionRepository.start.workflow_name", "text", _execution_start("workflow_name")),
    Field("ExecutionRepository.start.current_step", "text", _execution_start("current_step")),
    Field("ExecutionRepository.start.state", "object", _execution_start("state")),
    Field("ExecutionRepository.update_step.step", "text", _execution_step("step")),
    Field("ExecutionRepository.update_step.state", "object", _execution_step("state")),
    Field("ExecutionRepository.update_step.message", "text", _execution_step("message")),
    Field("ExecutionRepository.fail.error_message", "text", _execution_fail),
    Field("ExecutionRepository.list.workflow_name", "lookup",
          _lookup(lambda c, x: c.executions.list(workflow_name=x))),
    Field("AgentVersionRepository.add_version.agent_name", "text", _agent("agent_name")),
    Field("AgentVersionRepository.add_version.version", "text", _agent("version")),
    Field("AgentVersionRepository.add_version.code", "text", _agent("code")),
    Field("AgentVersionRepository.add_version.description", "text", _agent("description")),
    Field("AgentVersionRepository.get_active.agent_name", "lookup",
          _lookup(lambda c, x: c.agents.get_active(x))),
    Field("ArticleRepository.insert.title", "text", _article("title")),
    Field("ArticleRepository.insert.url", "text", _article("url")),
    Field("ArticleRepository.insert.source", "text", _article("source")),
    Field("ArticleRepository.insert.summary", "text", _article("summary")),
    Field("ArticleRepository.insert.content", "text", _article("content")),
    Field("ArticleRepository.insert.metadata", "object", _article("metadata")),
    Field("ArticleRepository.insert_many.content", "text", _articles_many),
    Field("ArticleRepository.get_by_url.url", "lookup",
          _lookup(lambda c, x: c.articles.get_by_url(x))),
    Field("ArticleRepository.recent.source", "lookup",
          _lookup(lambda c, x: c.articles.recent(source=x))),
    Field("AlertRepository.create.title", "text", _alert("title")),
    Field("AlertRepository.create.message", "text", _alert("message")),
    Field("AlertRepository.create.source_url", "text", _alert("source_url")),
    Field("AlertRepository.create.metadata", "object", _alert("metadata")),
    Field("AlertRepository.by_source_url.source_url", "lookup",
          _lookup(lambda c, x: c.alerts.by_source_url(x))),
    Field("TaskRepository.create_task.name", "text", _task("name")),
    Field("TaskRepository.create_task.description", "text", _task("description")),
    Field("TaskRepository.create_task.config", "object", _task("config")),
    Field("TaskRepository.create_task.max_rounds", "int", _task("max_rounds")),
    Field("TaskRepository.create_task.memory_size", "int", _task("memory_size")),
    Field("TaskRepository.update_task.config", "object", _task_update),
    Field("TaskRepository.start_run.plan", "json", _run_plan),
    Field("TaskRepository.complete_run.results", "json", _run_results),
    Field("TaskRepository.fail_run.error_message", "text", _run_fail("error_message")),
    Field("TaskRepository.fail_run.error_details", "json", _run_fail("error_details")),
    Field("TaskRepository.record_metric.name", "text", _metric("name")),
    Field("TaskRepository.record_metric.value", "number", _metric("value"), _number),
    Field("TaskRepository.record_metric.unit", "text", _metric("unit")),
    Field("TaskRepository.record_metric.labels", "object", _metric("labels")),
    Field("TaskRepository.add_artifact.name", "text", _artifact("name")),
    Field("TaskRepository.add_artifact.path", "text", _artifact("path")),
    Field("TaskRepository.add_artifact.content", "text", _artifact("content")),
    Field("TaskRepository.add_artifact.metadata", "object", _artifact("metadata")),
    Field("TaskRepository.add_artifact.size_bytes", "int", _artifact("size_bytes")),
    Field("TaskRepository.metrics.name", "lookup",
          _lookup(lambda c, x: c.tasks.metrics(name=x))),
]


# -- hostile values ------------------------------------------------------------------------------


def _nest(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _nest_objects(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


HOSTILE_TEXT = [
    "\x00", "a\x00b", "\ud800", "x\udfffy", "\udbff\udc00", "", " ", "🚀", "é" * 3,
    "'; DROP TABLE jobs; --", "\\", "%s %(x)s :name ?", "\u2028\ufeff\uffff", "x" * 256,
]
HOSTILE_JSON: list[Any] = [
    {"a": "\x00"}, {"\x00": 1}, {"a": "\ud800"}, {"\udc00": 1}, {"a": "\\u0000"},
    _nest(v.MAX_JSON_DEPTH), _nest(v.MAX_JSON_DEPTH + 1), _nest(31), _nest(5000),
    _nest_objects(v.MAX_JSON_DEPTH), _nest_objects(v.MAX_JSON_DEPTH + 1),
    [1e16], [1e308], [-1e15], [float("nan")], [float("inf")], [-0.0], [5e-324], [1e-7],
    {"big": 10**30}, {"n": -(2**63)}, {1: "x"}, {"d": datetime.now(UTC)}, {"s": {1, 2}},
]
HOSTILE_NUMBERS: list[Any] = [
    float("nan"), float("inf"), -float("inf"), 1e308, -1.7976931348623157e308, 5e-324, -0.0,
    10**20, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**400, True, 0,
    -1, "1", None,
]
EXPLICIT = {
    "text": HOSTILE_TEXT, "lookup": HOSTILE_TEXT, "json": HOSTILE_JSON,
    "object": [x for x in HOSTILE_JSON if isinstance(x, dict)],
    "number": HOSTILE_NUMBERS, "int": HOSTILE_NUMBERS,
}

_any_char = st.characters(codec=None, categories=None)  # surrogates and NUL included
TEXT = st.one_of(st.text(_any_char, max_size=40), st.sampled_from(HOSTILE_TEXT))
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(), TEXT,
)
JSON = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
OBJECTS = st.dictionaries(TEXT, JSON, max_size=5)
NUMBERS = st.one_of(st.integers(), st.floats(), st.integers(min_value=2**30, max_value=2**70),
                    st.sampled_from(HOSTILE_NUMBERS))
STRATEGIES = {"text": TEXT, "lookup": TEXT, "json": JSON, "object": OBJECTS,
              "number": NUMBERS, "int": NUMBERS}


# -- the property --------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values are: tuples are lists, and floats compare by value (-0.0 == 0.0)."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return (type(a) is type(b) and a == b) and not (isinstance(a, float) and math.isnan(a))
    return type(a) is type(b) and a == b


def check(ctx: Ctx, field: Field, value: Any) -> str:
    """Write ``value`` through ``field``: a ValidationError naming a field, or the exact value
    back from the method and from a fresh read. Then the pool must still answer."""
    try:
        returned, found = field.write(ctx, value)
    except ValidationError as exc:
        assert exc.field, f"{field.name}: a ValidationError must name its field"
        outcome = "refused"
    except AgentDBError as exc:
        raise AssertionError(f"{field.name} with {value!r:.80}: {type(exc).__name__}: "
                             f"{exc}") from exc
    else:
        if field.kind != "lookup":
            expected = field.expect(value)
            assert _same(returned, expected), f"{field.name}: returned {returned!r:.200}"
            assert _same(found, expected), f"{field.name}: read back {found!r:.200}"
        outcome = "kept"
    assert ctx.db.health()["status"] == "healthy"  # no connection poisoned on the way
    return outcome


@pytest.fixture
def ctx(db: agentdb.Database) -> Ctx:
    return Ctx(db)


def test_every_field_refuses_or_keeps_each_known_hostile_value(ctx: Ctx) -> None:
    outcomes: dict[str, set[str]] = {}
    for field in FIELDS:
        for value in EXPLICIT[field.kind]:
            outcomes.setdefault(field.name, set()).add(check(ctx, field, value))
    # the rules really bite: every field refused something (lookups included), except
    # authenticate, which answers None to any bad credential by design
    lenient = {"UserRepository.authenticate.username", "UserRepository.authenticate.password"}
    assert {name for name, seen in outcomes.items() if "refused" not in seen} == lenient


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_hostile_values_are_refused_or_kept_exactly(ctx: Ctx, data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(FIELDS), label="field")
    value = data.draw(STRATEGIES[field.kind], label="value")
    check(ctx, field, value)


# -- the documented limits work on every backend --------------------------------------------------


def test_json_at_the_depth_and_size_limits_round_trips(ctx: Ctx) -> None:
    deepest = {"a": _nest_objects(v.MAX_JSON_DEPTH - 1)}
    job = ctx.jobs.create("t", parameters=deepest)
    assert ctx.jobs.get(job.id).parameters == deepest
    largest = ["é" * ((v.MAX_JSON_BYTES - 4) // 2)]
    saved = ctx.jobs.save_result(job.id, output_files=largest)
    assert saved.output_files == largest
    found = ctx.jobs.get_result(job.id)
    assert found is not None and found.output_files == largest
    with pytest.raises(ValidationError, match="deeper than 20"):
        ctx.jobs.create("t", parameters={"a": _nest_objects(v.MAX_JSON_DEPTH)})


def test_text_at_the_byte_limit_round_trips(ctx: Ctx) -> None:
    job = ctx.job()
    text = "🚀" * (v.MAX_TEXT_BYTES // 4)
    assert ctx.jobs.save_result(job, stdout=text).stdout == text
    found = ctx.jobs.get_result(job)
    assert found is not None and found.stdout == text
    with pytest.raises(ValidationError, match=r"stdout.*bytes"):
        ctx.jobs.save_result(job, stdout=text + "x")
    with pytest.raises(ValidationError, match=r"stdout.*bytes"):
        ctx.jobs.save_result(job, stdout="🚀" * 4 * 1024 * 1024)  # issue 9's example


def test_offsets_limits_and_day_counts(ctx: Ctx) -> None:
    assert ctx.jobs.list(offset=v.INT64) == []
    assert ctx.tasks.metrics(offset=v.INT64) == []
    for bad in (10**20, v.INT64 + 1, -1):
        with pytest.raises(ValidationError, match="offset"):
            ctx.jobs.list(offset=bad)
    for bad in (0, 1001, 10**20):
        with pytest.raises(ValidationError, match="limit"):
            ctx.jobs.list(limit=bad)
    assert ctx.jobs.cleanup_old_jobs(days=v.MAX_DAYS) == 0
    for bad in (10**9, v.MAX_DAYS + 1, -1):
        with pytest.raises(ValidationError, match="days"):
            ctx.jobs.cleanup_old_jobs(days=bad)
    old = datetime(v.MIN_YEAR, 1, 1, tzinfo=UTC)
    assert ctx.jobs.list(created_after=old, created_before=datetime.now(UTC)) is not None
    for when in (datetime(999, 12, 31, tzinfo=UTC),
                 datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),  # overflows in UTC
                 datetime.max.replace(tzinfo=timezone(timedelta(hours=-5)))):
        with pytest.raises(ValidationError, match="created_after"):
            ctx.jobs.list(created_after=when)


def test_a_statement_over_mysqls_packet_is_refused_before_it_is_sent(ctx: Ctx) -> None:
    """Each field within its limit, but the escaped statement over max_allowed_packet (16 MiB
    on MariaDB by default): refused up front on MySQL, kept on the others; the pool works on."""
    job = ctx.job()
    quotes = "'" * v.MAX_TEXT_BYTES  # PyMySQL escapes each quote as two bytes
    outputs = ["\\" * (v.MAX_JSON_BYTES // 2 - 4)]
    if ctx.db.dialect == "mysql":
        with pytest.raises(ValidationError, match="max_allowed_packet"):
            ctx.jobs.save_result(job, stdout=quotes, stderr=quotes, output_files=outputs)
    else:
        ctx.jobs.save_result(job, stdout=quotes, stderr=quotes, output_files=outputs)
    assert ctx.jobs.get(job).id == job
    saved = ctx.jobs.save_result(job, stdout=quotes)
    assert saved.stdout == quotes
