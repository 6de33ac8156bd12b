"""Realistic demo data across every aggregate, and a short job run for the demo.

Everything goes through the repositories -- the same validation, SQL and units of work as an
application's own writes -- so seeding also exercises the whole stack on the chosen backend.
Each item (a user, a workflow with its versions and shares, an execution with its history, a
task with its runs...) is one unit of work: a failure rolls that item back, is counted and
reported, and seeding goes on. The same ``seed`` gives the same names, choices and outcomes;
ids and timestamps are new on every run. Seeding a database twice reuses the users, agent
versions and articles already there (they are unique by name or URL) and adds the rest again.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .errors import AgentDBError, ConflictError
from .repositories.workflows import Permission

if TYPE_CHECKING:
    from .pool import Database
    from .repositories.jobs import Job

__all__ = ["TABLES", "Plan", "SeedReport", "demo_jobs", "plan", "seed"]

ProgressFn = Callable[[str, int], None]  # (what is being seeded, items just finished)

#: bcrypt cost for seeded accounts. Their passwords are printed in the docs anyway; the default
#: cost (12) would spend a quarter of a second per user and make the demo slow.
SEED_BCRYPT_ROUNDS = 4
SEED_PASSWORD = "demo-password"

_FIRST = ("ada", "grace", "alan", "edsger", "barbara", "donald", "margaret", "ken", "dennis",
          "frances", "john", "radia", "leslie", "tim", "katherine", "linus", "guido", "bjarne")
_TOOLS = ("web_search", "summarize", "extract_entities", "translate", "code_review",
          "sql_query", "fetch_url", "classify")
_TOPICS = ("databases", "agents", "python", "security", "cloud", "ml", "devops", "research")
_SOURCES = ("hn", "arxiv", "blog", "rss", "newsletter")
_STEPS = ("plan", "fetch", "analyse", "draft", "review", "publish")
_AGENTS = ("researcher", "writer", "reviewer", "planner", "coder", "critic")
_WORDS = ("fast", "pooled", "connection", "query", "index", "agent", "workflow", "retry",
          "latency", "schema", "migration", "backup", "vector", "cache", "stream", "batch")


#: Every table, in the order the migrations create them: the order reports list them in.
TABLES = ("jobs", "job_results", "job_logs", "users", "settings", "workflows",
          "workflow_versions", "workflow_shares", "executions", "execution_history",
          "agent_versions", "articles", "alerts", "tasks", "task_runs", "metric_snapshots",
          "artifacts")


@dataclass(frozen=True, slots=True)
class Plan:
    """How many top-level items a scale seeds (each may bring children: versions, runs...)."""

    users: int
    workflows: int
    executions: int
    agents: int
    articles: int
    alerts: int
    tasks: int
    jobs: int

    @property
    def total(self) -> int:
        return (self.users + self.workflows + self.executions + self.agents + self.articles
                + self.alerts + self.tasks + self.jobs)


def plan(scale: int = 1) -> Plan:
    """The item counts for ``scale`` (1 seeds a few hundred rows in well under a second on
    SQLite; every count grows linearly with it)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        from .errors import ValidationError

        raise ValidationError("scale", f"must be an integer >= 1; got {scale!r}")
    return Plan(users=8 * scale, workflows=12 * scale, executions=24 * scale,
                agents=3 * scale, articles=15 * scale, alerts=8 * scale, tasks=4 * scale,
                jobs=30 * scale)


@dataclass(slots=True)
class SeedReport:
    """What seeding did: rows created per kind, items reused, and the operations that failed."""

    created: Counter[str] = field(default_factory=Counter)
    reused: Counter[str] = field(default_factory=Counter)
    succeeded: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def success_rate(self) -> float:
        """Items seeded (or reused) over items attempted."""
        attempted = self.succeeded + self.failed
        return self.succeeded / attempted if attempted else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": dict(self.created),
            "reused": dict(self.reused),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "success_rate": self.success_rate,
            "errors": list(self.errors),
            "seconds": self.seconds,
        }


class _Seeder:
    def __init__(self, db: Database, rng: random.Random, report: SeedReport,
                 progress: ProgressFn | None) -> None:
        from .repositories.agents import AgentVersionRepository
        from .repositories.content import AlertRepository, ArticleRepository
        from .repositories.executions import ExecutionRepository
        from .repositories.jobs import JobStore
        from .repositories.tasks import TaskRepository
        from .repositories.users import UserRepository
        from .repositories.workflows import WorkflowRepository

        self.db = db
        self.rng = rng
        self.report = report
        self.progress = progress
        self.users = UserRepository(db, bcrypt_rounds=SEED_BCRYPT_ROUNDS)
        self.workflows = WorkflowRepository(db)
        self.executions = ExecutionRepository(db)
        self.agents = AgentVersionRepository(db)
        self.articles = ArticleRepository(db)
        self.alerts = AlertRepository(db)
        self.tasks = TaskRepository(db)
        self.jobs = JobStore(db)
        self.user_ids: list[str] = []
        self.workflow_ids: list[str] = []

    def item(self, kind: str, label: str, make: Callable[[], None], *,
             unit: bool = True, advance: int = 1) -> None:
        """Seed one item, in its own unit of work unless ``unit=False``; count what happened."""
        try:
            if unit:
                with self.db.transaction():
                    make()
            else:
                make()
            self.report.succeeded += 1
        except AgentDBError as exc:
            self.report.failed += 1
            self.report.errors.append(f"{kind} {label}: {exc}")
        if self.progress is not None and advance:
            self.progress(kind, advance)

    def count(self, kind: str, n: int = 1) -> None:
        self.report.created[kind] += n

    # -- users ---------------------------------------------------------------------------------

    def user(self, i: int) -> None:
        name = f"{_FIRST[i % len(_FIRST)]}{i // len(_FIRST) or ''}"
        theme = self.rng.choice(("light", "dark", "system"))
        notify = self.rng.random() < 0.7

        def make() -> None:
            try:
                user = self.users.create(name, email=f"{name}@example.com",
                                         password=SEED_PASSWORD)
                self.count("users")
            except ConflictError:  # seeded before: reuse the account
                user = self.users.get_by_username(name)
                self.report.reused["users"] += 1
            self.users.put_settings(user.id, {"theme": theme, "notifications": notify,
                                              "language": "en"})
            self.count("settings")
            self.user_ids.append(user.id)

        self.item("users", name, make, unit=False)  # a caught conflict must not doom a unit

    # -- workflows, executions -----------------------------------------------------------------

    def workflow(self, i: int) -> None:
        rng = self.rng
        if not self.user_ids:
            return self.skip("workflows")
        owner = rng.choice(self.user_ids)
        topic = rng.choice(_TOPICS)
        name = f"{topic}-{rng.choice(_STEPS)}-pipeline-{i + 1}"
        steps = rng.sample(_STEPS, rng.randint(2, 5))
        versions = rng.randint(1, 3)
        others = [u for u in self.user_ids if u != owner]
        shares = rng.sample(others, min(len(others), rng.randint(0, 2)))
        permissions = [rng.choice(("read", "read", "write")) for _ in shares]
        public = rng.random() < 0.3

        def make() -> None:
            workflow = self.workflows.create(
                owner_id=owner, name=name, definition={"steps": steps[:1]},
                description=f"Collects and processes {topic} sources", is_public=public)
            self.count("workflows")
            for n in range(versions):
                definition = {"steps": steps[: max(1, len(steps) * (n + 1) // versions)],
                              "retries": n}
                self.workflows.save_version(workflow.id, definition=definition,
                                            change_notes=f"revision {n + 1}", created_by=owner)
                self.count("workflow_versions")
            for user_id, permission in zip(shares, permissions, strict=True):
                self.workflows.share(workflow.id, user_id, permission=Permission(permission))
                self.count("workflow_shares")
            self.workflow_ids.append(workflow.id)

        self.item("workflows", name, make)

    def execution(self, i: int) -> None:
        rng = self.rng
        if not self.workflow_ids:
            return self.skip("executions")
        workflow_id = rng.choice(self.workflow_ids)
        user_id = rng.choice(self.user_ids)
        steps = rng.sample(_STEPS, rng.randint(1, 4))
        outcome = rng.choices(("completed", "failed", "cancelled", "running"),
                              (70, 18, 5, 7))[0]

        def make() -> None:
            execution = self.executions.start(workflow_id=workflow_id, user_id=user_id,
                                              state={"attempt": 1}, current_step=steps[0])
            self.count("executions")
            self.count("execution_history")
            for n, step in enumerate(steps[1:], start=2):
                self.executions.update_step(execution.id, step,
                                            state={"attempt": 1, "step": n})
                self.count("execution_history")
            if outcome == "completed":
                self.executions.complete(execution.id, state={"output": f"report-{i}.md"},
                                         message="done")
            elif outcome == "failed":
                self.executions.fail(execution.id, f"step {steps[-1]} timed out after 30 s")
            elif outcome == "cancelled":
                self.executions.cancel(execution.id, message="cancelled by user")
            if outcome != "running":
                self.count("execution_history")

        self.item("executions", f"#{i + 1}", make)

    # -- agents, content -----------------------------------------------------------------------

    def agent(self, i: int) -> None:
        name = f"{_AGENTS[i % len(_AGENTS)]}{i // len(_AGENTS) or ''}"
        versions = self.rng.randint(2, 3)
        for n in range(1, versions + 1):
            version = f"1.{n - 1}.0"
            code = (f"def run(task):\n    \"\"\"{name} v{version}\"\"\"\n"
                    f"    return {{'agent': {name!r}, 'version': {version!r}}}\n")

            def make(version: str = version, code: str = code, active: bool = n == versions,
                     ) -> None:
                try:
                    self.agents.add_version(name, version, code=code,
                                            description=f"{name} release {version}",
                                            activate=active)
                    self.count("agent_versions")
                except ConflictError:
                    self.report.reused["agent_versions"] += 1

            # one progress step per agent, however many versions it has
            self.item("agents", f"{name} {version}", make, unit=False,
                      advance=int(n == versions))

    def article(self, i: int) -> None:
        rng = self.rng
        topic = rng.choice(_TOPICS)
        words = rng.sample(_WORDS, 4)
        title = " ".join(words).capitalize() + f" ({topic})"
        url = f"https://news.example.com/{topic}/{'-'.join(words)}-{i + 1}"
        source = rng.choice(_SOURCES)
        summary = f"Why {words[0]} {words[1]} matters for {topic}."

        def make() -> None:
            try:
                self.articles.insert(title=title, url=url, source=source, summary=summary,
                                     content=" ".join(rng.choices(_WORDS, k=60)),
                                     metadata={"topic": topic, "words": 60})
                self.count("articles")
            except ConflictError:
                self.report.reused["articles"] += 1

        self.item("articles", url, make, unit=False)

    def alert(self, i: int) -> None:
        rng = self.rng
        severity = rng.choices(("info", "warning", "error", "critical"), (50, 30, 15, 5))[0]
        topic = rng.choice(_TOPICS)

        def make() -> None:
            items = rng.randint(1, 40)
            self.alerts.create(title=f"{severity.title()}: {topic} feed",
                               message=f"{topic} source changed ({items} new items)",
                               severity=severity, source_url=f"https://news.example.com/{topic}",
                               metadata={"items": items})
            self.count("alerts")

        self.item("alerts", f"#{i + 1}", make)

    # -- tasks ---------------------------------------------------------------------------------

    def task(self, i: int) -> None:
        rng = self.rng
        topic = rng.choice(_TOPICS)
        runs = [rng.random() < 0.8 for _ in range(rng.randint(2, 5))]
        tokens = [rng.randint(800, 12000) for _ in runs]
        latencies = [round(rng.uniform(0.2, 9.5), 3) for _ in runs]

        def make() -> None:
            task = self.tasks.create_task(name=f"watch-{topic}-{i + 1}",
                                          description=f"Track {topic} news",
                                          config={"topic": topic, "interval_minutes": 30},
                                          max_rounds=5, memory_size=20)
            self.count("tasks")
            for ok, used, latency in zip(runs, tokens, latencies, strict=True):
                run = self.tasks.start_run(task.id, plan={"steps": ["fetch", "rank", "notify"]})
                self.count("task_runs")
                self.tasks.record_metric("tokens", "counter", used, unit="tokens",
                                         labels={"model": "small"}, task_run_id=run.id)
                self.tasks.record_metric("latency", "timer", latency, unit="s",
                                         task_run_id=run.id)
                self.tasks.record_metric("items", "gauge", used // 400, task_run_id=run.id)
                self.count("metric_snapshots", 3)
                report = f"# {topic} digest\n\n{used // 400} items, {latency} s\n"
                self.tasks.add_artifact(f"digest-{run.run_number}.md", "text",
                                        task_run_id=run.id, content=report,
                                        metadata={"format": "markdown"})
                self.count("artifacts")
                if ok:
                    self.tasks.complete_run(run.id, results={"items": used // 400})
                else:
                    self.tasks.fail_run(run.id, "rate limited by source",
                                        error_details={"retry_after": 60})

        self.item("tasks", f"#{i + 1}", make)

    # -- jobs ----------------------------------------------------------------------------------

    def job(self, i: int) -> None:
        rng = self.rng
        tool = rng.choice(_TOOLS)
        outcome = rng.choices(("completed", "failed", "cancelled", "running", "pending"),
                              (65, 15, 5, 5, 10))[0]
        priority = rng.randint(0, 9)
        workflow_id = rng.choice(self.workflow_ids) if self.workflow_ids and \
            rng.random() < 0.5 else None
        user_id = rng.choice(self.user_ids) if self.user_ids else None
        query = " ".join(rng.sample(_WORDS, 3))

        def make() -> None:
            job = self.jobs.create(tool, parameters={"query": query,
                                                     "limit": rng.randint(5, 50)},
                                   priority=priority, workflow_id=workflow_id, user_id=user_id)
            self.count("jobs")
            if outcome == "pending":
                return
            if outcome == "cancelled":
                self.jobs.cancel(job.id, reason="superseded by a newer request")
                return
            self.jobs.start(job.id, worker_id=f"worker-{i % 4 + 1}")
            self.jobs.add_log(job.id, "INFO", f"{tool} started: {query!r}")
            self.count("job_logs")
            if outcome == "running":
                return
            if outcome == "completed":
                out = hashlib.sha256(query.encode()).hexdigest()[:16]
                self.jobs.add_log(job.id, "DEBUG", f"{len(query.split())} terms processed")
                self.jobs.save_result(job.id, stdout=f"{tool}: {out}\n", return_code=0,
                                      output_files=[f"out/{job.id[:8]}.json"])
                self.jobs.add_log(job.id, "INFO", "finished")
                self.jobs.complete(job.id)
                self.count("job_logs", 2)
            else:
                self.jobs.save_result(job.id, stderr=f"{tool}: upstream returned 503\n",
                                      return_code=1)
                self.jobs.add_log(job.id, "ERROR", "upstream returned 503")
                self.jobs.fail(job.id, error_message="upstream returned 503")
                self.count("job_logs")
            self.count("job_results")

        self.item("jobs", f"#{i + 1} {tool}", make)

    def skip(self, kind: str) -> None:
        self.report.failed += 1
        self.report.errors.append(f"{kind}: nothing to attach it to (every earlier item failed)")
        if self.progress is not None:
            self.progress(kind, 1)


def seed(db: Database, *, scale: int = 1, seed: int = 42,
         progress: ProgressFn | None = None) -> SeedReport:
    """Seed demo data into a migrated database; ``progress(kind, n)`` is called as items
    finish (``plan(scale).total`` items in all). Returns what was created and what failed."""
    counts = plan(scale)
    rng = random.Random(seed)
    report = SeedReport()
    seeder = _Seeder(db, rng, report, progress)
    start = perf_counter()
    for kind, n in (
        (seeder.user, counts.users),
        (seeder.workflow, counts.workflows),
        (seeder.execution, counts.executions),
        (seeder.agent, counts.agents),
        (seeder.article, counts.articles),
        (seeder.alert, counts.alerts),
        (seeder.task, counts.tasks),
        (seeder.job, counts.jobs),
    ):
        for i in range(n):
            kind(i)
    report.seconds = perf_counter() - start
    report.created = Counter({t: report.created[t] for t in TABLES if report.created[t]})
    return report


# -- the demo's job run -------------------------------------------------------------------------


def _word_count(text: str) -> str:
    return f"{len(text.split())} words, {len(set(text.lower().split()))} distinct"


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _reverse(text: str) -> str:
    return " ".join(reversed(text.split()))


def _divide(text: str) -> str:
    return str(len(text) / text.count("!"))  # no "!" in the input: ZeroDivisionError


DEMO_TOOLS: dict[str, Callable[[str], str]] = {
    "demo.word_count": _word_count,
    "demo.checksum": _checksum,
    "demo.reverse": _reverse,
    "demo.divide": _divide,  # fails on purpose: the demo shows a failed job too
}


def demo_jobs(db: Database, worker_id: str = "demo-worker") -> list[Job]:
    """Queue one job per demo tool and work the queue like a worker would: claim, log, run the
    tool, save its result, complete or fail. Returns the finished jobs in the order run."""
    from .repositories.jobs import JobStore

    jobs = JobStore(db)
    text = "agentdb keeps connections pooled and SQL in plain files"
    jobs.create_job_batch([
        {"tool_name": name, "parameters": {"text": text}, "priority": 100}
        for name in DEMO_TOOLS
    ])
    finished = []
    for name, tool in DEMO_TOOLS.items():
        job = jobs.claim_next(worker_id=worker_id, tool_name=name)
        if job is None:  # another worker took it: nothing of ours to do
            continue
        jobs.add_log(job.id, "INFO", f"{worker_id} claimed {name}")
        try:
            output = tool(str((job.parameters or {}).get("text", "")))
        except Exception as exc:
            jobs.save_result(job.id, stderr=f"{type(exc).__name__}: {exc}\n", return_code=1,
                             worker_id=worker_id)
            jobs.add_log(job.id, "ERROR", f"{type(exc).__name__}: {exc}")
            finished.append(jobs.fail(job.id, error_message=f"{type(exc).__name__}: {exc}",
                                      worker_id=worker_id))
        else:
            jobs.save_result(job.id, stdout=output + "\n", return_code=0, worker_id=worker_id)
            jobs.add_log(job.id, "INFO", "result saved")
            finished.append(jobs.complete(job.id, worker_id=worker_id))
    return finished
