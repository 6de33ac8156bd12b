"""A job-runner API on agentdb's JobStore: submit a tool run, follow it, read its logs.

Run it (any backend; the schema is migrated at startup)::

    pip install 'agentdb[fastapi]' uvicorn
    DATABASE_URL=sqlite:///jobs.db uvicorn examples.jobs_api:app

    curl -X POST localhost:8000/api/run -H 'content-type: application/json' \\
         -d '{"tool": "word_count", "parameters": {"text": "hello pooled world"}}'
    curl 'localhost:8000/api/jobs?status=completed&limit=10'
    curl localhost:8000/api/jobs/<id>/logs
    curl localhost:8000/health/db

``POST /api/run`` answers at once (202) with the new job; the tool runs after the response, as
a FastAPI background task, and stores its result and log lines as it goes. Endpoints are
``async def`` and await agentdb's async repositories (``AsyncJobStoreDep``), which run the
blocking drivers in agentdb's own threads, bounded by the pool; the tools themselves run in a
worker thread (``asyncio.to_thread``), so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import BackgroundTasks, FastAPI, Query
from pydantic import BaseModel, Field

from agentdb import AsyncRepository, Database, DatabaseUnavailable, NotFound, ValidationError
from agentdb.integrations.fastapi import (
    AsyncJobStoreDep,
    health_route,
    install_error_handlers,
    lifespan,
)
from agentdb.repositories.jobs import JobStore

WORKER_ID = f"api-{os.getpid()}"
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


async def run_job(jobs: AsyncRepository[JobStore], job_id: str) -> None:
    """Run one job: take it (pending -> running), run its tool in a worker thread, store the
    result and logs, then complete it; if anything fails on the way (the tool, or saving its
    output), the job ends ``failed`` with the reason. Runs after the response, on the loop."""
    try:
        job = await jobs.start(job_id, worker_id=WORKER_ID)
    except (NotFound, ValidationError):  # deleted, cancelled or taken meanwhile: not ours
        return
    except DatabaseUnavailable:  # still pending: a worker (or a retry) takes it later
        return
    try:
        await jobs.add_log(job_id, "INFO", f"{WORKER_ID} started {job.tool_name}")
        stdout, files = await asyncio.to_thread(TOOLS[job.tool_name], job.parameters or {})
        await jobs.save_result(job_id, stdout=stdout, return_code=0, output_files=files)
        await jobs.add_log(job_id, "INFO", f"finished: {len(stdout)} characters of output")
        await jobs.complete(job_id)
    except Exception as exc:
        await _fail(jobs, job_id, exc)


async def _fail(jobs: AsyncRepository[JobStore], job_id: str, exc: Exception,
                patience: float = 30.0) -> None:
    """Mark the job failed with the reason, retrying for a while if the database is away.
    The reason is cleaned and cut so that it can always be saved itself."""
    reason = f"{type(exc).__name__}: {exc}"
    reason = reason.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:2000]
    deadline = time.monotonic() + patience
    delay = 0.1
    while True:
        try:
            with contextlib.suppress(ValidationError, NotFound):
                await jobs.save_result(job_id, stderr=reason, return_code=1)
                await jobs.add_log(job_id, "ERROR", reason)
            await jobs.fail(job_id, error_message=reason)
            return
        except (NotFound, ValidationError):  # finished or gone meanwhile: nothing to mark
            return
        except DatabaseUnavailable:
            if time.monotonic() >= deadline:
                return  # left running; a lease rescue or an operator picks it up
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


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
    app = FastAPI(title="agentdb jobs API", lifespan=lifespan(database, migrate=True,
                                                                **options))
    install_error_handlers(app)
    health_route(app, "/health/db")

    @app.post("/api/run", status_code=202)
    async def run(request: RunRequest, background: BackgroundTasks, jobs: AsyncJobStoreDep,
                  ) -> dict[str, Any]:
        if request.tool not in TOOLS:
            raise ValidationError("tool", f"must be one of {', '.join(TOOLS)}; "
                                          f"got {request.tool!r}")
        async with jobs.adb.transaction():  # the job and its first log line, or neither
            job = await jobs.create(request.tool, parameters=request.parameters,
                                    priority=request.priority)
            await jobs.add_log(job.id, "INFO", "queued")
        background.add_task(run_job, jobs, job.id)
        return job.to_dict()

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
