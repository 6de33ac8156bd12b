"""A job-runner API on agentdb's JobStore: submit a tool run, follow it, read its logs.

Run it (any backend; the schema is migrated at startup)::

    pip install 'agentdb[fastapi]' uvicorn
    DATABASE_URL=sqlite:///jobs.db uvicorn examples.jobs_api:app

    curl -X POST localhost:8000/api/run -H 'content-type: application/json' \\
         -d '{"tool": "word_count", "parameters": {"text": "hello pooled world"}}'
    curl 'localhost:8000/api/jobs?status=completed&limit=10'
    curl localhost:8000/api/jobs/<id>/logs
    curl localhost:8000/health/db

``POST /api/run`` answers at once (202) with the new job; an :class:`agentdb.Worker` started
with the app claims it (woken by NOTIFY on PostgreSQL, polling elsewhere), runs its tool under a
lease with heartbeats, and stores its result and log lines. A job whose tool fails, or whose
output cannot be saved, ends ``failed`` with the reason; a process killed mid-job loses its
lease and another worker takes the job. Endpoints are ``async def`` and await agentdb's async
repositories (``AsyncJobStoreDep``), which run the blocking drivers in agentdb's own threads,
bounded by the pool, so the event loop never blocks. Several API processes can run side by side:
each has its own worker, and each job runs once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from agentdb import Database, NotFound, ValidationError, Worker
from agentdb.integrations.fastapi import (
    AsyncJobStoreDep,
    health_route,
    install_error_handlers,
    lifespan,
)
from agentdb.repositories.jobs import JobStore
from agentdb.worker import JobContext

WORKER_ID = f"api-{os.getpid()}"
MAX_ATTEMPTS = 1  # these tools are deterministic: a failed run would fail again
ToolOutput = tuple[str, list[str]]  # stdout, output files


# -- the tools a client may run ------------------------------------------------------------------


def _text(parameters: dict[str, Any]) -> str:
    text = parameters.get("text", "")
    if not isinstance(text, str):
        raise TypeError("parameter 'text' must be a string")
    return text


def echo(parameters: dict[str, Any]) -> ToolOutput:
    return _text(parameters), []


def word_count(parameters: dict[str, Any]) -> ToolOutput:
    words = _text(parameters).split()
    return f"{len(words)} words, {len({w.lower() for w in words})} distinct", []


def sha256(parameters: dict[str, Any]) -> ToolOutput:
    digest = hashlib.sha256(_text(parameters).encode()).hexdigest()
    return digest, [f"checksums/{digest[:12]}.sha256"]


def sleep(parameters: dict[str, Any]) -> ToolOutput:
    seconds = min(float(parameters.get("seconds", 0.1)), 5.0)
    time.sleep(seconds)
    return f"slept {seconds} s", []


def fail(parameters: dict[str, Any]) -> ToolOutput:
    raise RuntimeError(str(parameters.get("message", "this tool always fails")))


TOOLS: dict[str, Callable[[dict[str, Any]], ToolOutput]] = {
    "echo": echo,
    "word_count": word_count,
    "sha256": sha256,
    "sleep": sleep,
    "fail": fail,
}


def _handler(tool: Callable[[dict[str, Any]], ToolOutput]) -> Callable[[JobContext], Any]:
    """A Worker handler for one tool: log lines around it, its output as the job's result,
    and a failing tool's reason saved as stderr before the Worker fails the job with it."""

    def handle(ctx: JobContext) -> dict[str, Any]:
        ctx.log("INFO", f"{ctx.worker_id} started {ctx.job.tool_name}")
        try:
            stdout, files = tool(ctx.parameters)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            ctx.jobs.save_result(ctx.job.id, stderr=reason, return_code=1,
                                 worker_id=ctx.worker_id)
            raise
        ctx.log("INFO", f"finished: {len(stdout)} characters of output")
        return {"stdout": stdout, "return_code": 0, "output_files": files}

    return handle


HANDLERS = {name: _handler(tool) for name, tool in TOOLS.items()}


# -- the API ------------------------------------------------------------------------------------


class RunRequest(BaseModel):
    tool: str = Field(description=f"one of: {', '.join(TOOLS)}")
    parameters: dict[str, Any] = Field(default_factory=dict)
    priority: int = 0


def _job_id(job_id: str) -> str:
    """Ids are UUIDs; anything else names no job (404, not a validation error)."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        raise NotFound("job", job_id) from None


def create_app(database: str | Database | None = None, **options: Any) -> FastAPI:
    """The service on ``database`` (a URL or an open Database; default: ``DATABASE_URL``,
    else ``sqlite:///agentdb.db``); the schema is migrated at startup, or, if the database
    is down then, by the first request after it comes back (until then: 503)."""
    database_lifespan = lifespan(database, migrate=True, **options)

    @asynccontextmanager
    async def with_worker(app: FastAPI) -> AsyncIterator[None]:
        """The database's lifespan, plus a Worker running the tools while the app runs (it
        claims nothing while the database is down, and picks up once it is back)."""
        async with database_lifespan(app):
            worker = Worker(JobStore(app.state.db), HANDLERS, concurrency=2,
                            worker_id=WORKER_ID, poll_interval=0.2).start()
            try:
                yield
            finally:
                worker.stop()
                await asyncio.to_thread(worker.join, 15)

    app = FastAPI(title="agentdb jobs API", lifespan=with_worker)
    install_error_handlers(app)
    health_route(app, "/health/db")

    @app.post("/api/run", status_code=202)
    async def run(request: RunRequest, jobs: AsyncJobStoreDep) -> dict[str, Any]:
        if request.tool not in TOOLS:
            raise ValidationError("tool", f"must be one of {', '.join(TOOLS)}; "
                                          f"got {request.tool!r}")
        async with jobs.adb.transaction():  # the job and its first log line, or neither
            job = await jobs.create(request.tool, parameters=request.parameters,
                                    priority=request.priority, max_attempts=MAX_ATTEMPTS)
            await jobs.add_log(job.id, "INFO", "queued")
        return job.to_dict()  # the worker takes it from here

    @app.get("/api/jobs")
    async def list_jobs(
        jobs: AsyncJobStoreDep,
        status: Annotated[str | None, Query(description="pending, running, completed, "
                                                        "failed or cancelled")] = None,
        tool: Annotated[str | None, Query(description="tool name")] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 20,
        offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
    ) -> dict[str, Any]:
        items = await jobs.list(status=status, tool_name=tool, limit=limit, offset=offset,
                                sort_by="created_at", sort_order="desc")
        total = await jobs.count(status=status, tool_name=tool)
        return {"items": [j.to_dict() for j in items], "total": total, "limit": limit,
                "offset": offset}

    @app.get("/api/jobs/{job_id}")
    async def get_job(job_id: str, jobs: AsyncJobStoreDep) -> dict[str, Any]:
        job = await jobs.get(_job_id(job_id))
        result = await jobs.get_result(job.id)
        return {**job.to_dict(), "result": None if result is None else result.to_dict()}

    @app.get("/api/jobs/{job_id}/logs")
    async def get_logs(job_id: str, jobs: AsyncJobStoreDep) -> dict[str, Any]:
        job = await jobs.get(_job_id(job_id))  # 404 for an unknown job, not an empty list
        logs = await jobs.get_logs(job.id)
        return {"job_id": job.id, "logs": [line.to_dict() for line in logs]}

    @app.get("/api/stats")
    async def stats(jobs: AsyncJobStoreDep) -> dict[str, Any]:
        return {"jobs": (await jobs.stats()).to_dict(), "pool": jobs.adb.stats().to_dict()}

    @app.get("/api/tools")
    async def tools() -> dict[str, list[str]]:
        return {"tools": list(TOOLS)}

    return app


app = create_app()  # no connection yet: the lifespan opens the pool when the server starts
