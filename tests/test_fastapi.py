"""The FastAPI integration and the example service, end to end over HTTP on every backend.

``fastapi.testclient.TestClient`` speaks real HTTP semantics through httpx, runs the app's
lifespan, and runs background tasks before it returns the response that queued them.
"""

from __future__ import annotations

import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

import agentdb
from agentdb import AsyncRepository

pytest.importorskip("fastapi")
from fastapi import Depends, FastAPI

with warnings.catch_warnings():  # starlette's nudge towards httpx2; httpx is what we ship
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from agentdb.integrations.fastapi import (
    AsyncDatabaseDep,
    AsyncJobStoreDep,
    DatabaseDep,
    JobStoreDep,
    UserRepositoryDep,
    async_repository,
    health_route,
    install_error_handlers,
    lifespan,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from examples.jobs_api import TOOLS, create_app


@pytest.fixture
def client(db: agentdb.Database) -> Iterator[TestClient]:
    """The example service on the test database (migrated, empty), one per backend."""
    with TestClient(create_app(db)) as c:
        yield c


def run_tool(client: TestClient, tool: str, **parameters: Any) -> dict[str, Any]:
    """POST /api/run, then wait (bounded) until the service's worker has finished the job."""
    response = client.post("/api/run", json={"tool": tool, "parameters": parameters})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    deadline = time.monotonic() + 20
    while client.get(f"/api/jobs/{body['id']}").json()["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, f"job {body['id']} did not finish"
        time.sleep(0.02)
    return body


# -- the example service ------------------------------------------------------------------------


def test_run_stores_result_and_logs(client: TestClient) -> None:
    queued = run_tool(client, "word_count", text="the quick the lazy")
    assert queued["status"] == "pending" and queued["tool_name"] == "word_count"

    job = client.get(f"/api/jobs/{queued['id']}").json()  # the worker has run it
    assert job["status"] == "completed" and job["worker_id"].startswith("api-")
    assert job["result"]["stdout"] == "4 words, 3 distinct"
    assert job["result"]["return_code"] == 0
    assert job["duration"] is not None and job["duration"] >= 0

    logs = client.get(f"/api/jobs/{queued['id']}/logs").json()
    assert logs["job_id"] == queued["id"]
    messages = [line["message"] for line in logs["logs"]]
    assert messages[0] == "queued" and messages[-1].startswith("finished")
    assert [line["level"] for line in logs["logs"]] == ["INFO"] * len(messages)


def test_failing_tool_fails_the_job(client: TestClient) -> None:
    queued = run_tool(client, "fail", message="disk full")
    job = client.get(f"/api/jobs/{queued['id']}").json()
    assert job["status"] == "failed" and job["error_message"] == "RuntimeError: disk full"
    assert job["result"]["return_code"] == 1 and "disk full" in job["result"]["stderr"]
    levels = [line["level"] for line in client.get(f"/api/jobs/{job['id']}/logs").json()["logs"]]
    assert "ERROR" in levels


def test_list_is_paginated_newest_first_and_filtered(client: TestClient) -> None:
    ids = [run_tool(client, tool, text=f"t{i}")["id"]
           for i, tool in enumerate(["echo", "sha256", "echo", "fail", "echo"])]
    page = client.get("/api/jobs", params={"limit": 2}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 0
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]
    rest = client.get("/api/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in rest["items"]] == ids[::-1][2:4]

    echoes = client.get("/api/jobs", params={"tool": "echo"}).json()
    assert echoes["total"] == 3 and {j["tool_name"] for j in echoes["items"]} == {"echo"}
    failed = client.get("/api/jobs", params={"status": "failed"}).json()
    assert [j["id"] for j in failed["items"]] == [ids[3]]
    both = client.get("/api/jobs", params={"status": "completed", "tool": "echo"}).json()
    assert both["total"] == 3
    none = client.get("/api/jobs", params={"status": "pending"}).json()
    assert none == {"items": [], "total": 0, "limit": 20, "offset": 0}


def test_stats(client: TestClient) -> None:
    for tool in ("echo", "echo", "fail"):
        run_tool(client, tool)
    stats = client.get("/api/stats").json()
    assert stats["jobs"]["total"] == 3
    assert stats["jobs"]["by_status"]["completed"] == 2
    assert stats["jobs"]["by_status"]["failed"] == 1
    assert stats["jobs"]["success_rate"] == pytest.approx(2 / 3)
    assert stats["jobs"]["top_tools"][0] == ["echo", 2]
    assert stats["pool"]["acquired"] > 0


def test_unknown_ids_are_404(client: TestClient) -> None:
    missing = str(uuid.uuid4())
    for path in (f"/api/jobs/{missing}", f"/api/jobs/{missing}/logs", "/api/jobs/not-a-uuid",
                 "/api/jobs/not-a-uuid/logs", f"/api/jobs/{'x' * 80}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "bogus"}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"offset": -1}, "offset"),
])
def test_bad_query_parameters_are_422_naming_the_field(
        client: TestClient, params: dict[str, Any], field: str) -> None:
    response = client.get("/api/jobs", params=params)
    assert response.status_code == 422
    assert any(e["loc"][-1] == field for e in response.json()["detail"]), response.json()


def test_bad_run_requests_are_422(client: TestClient) -> None:
    response = client.post("/api/run", json={"tool": "rm -rf"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["tool"]
    response = client.post("/api/run", json={"tool": "echo", "parameters": [1, 2]})
    assert response.status_code == 422
    assert client.get("/api/jobs").json()["total"] == 0  # nothing was queued


def test_health(client: TestClient) -> None:
    response = client.get("/health/db")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["error"] is None and body["latency_ms"] >= 0


def test_every_tool_runs(client: TestClient) -> None:
    for tool in TOOLS:
        run_tool(client, tool, text="x", seconds=0.01)
    by_status = client.get("/api/stats").json()["jobs"]["by_status"]
    assert by_status["completed"] == len(TOOLS) - 1 and by_status["failed"] == 1


# -- the integration itself ---------------------------------------------------------------------


def test_lifespan_opens_migrates_and_closes_its_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = FastAPI(lifespan=lifespan(url, migrate=True, pool_size=2))

    @app.get("/count")
    def count(jobs: JobStoreDep, db: DatabaseDep) -> dict[str, Any]:
        assert jobs.db is db
        return {"jobs": jobs.count(), "pool_size": db.config.pool_size}

    with TestClient(app) as c:
        assert c.get("/count").json() == {"jobs": 0, "pool_size": 2}
        db = app.state.db
    with pytest.raises(agentdb.AgentDBError, match="closed"):
        db.stats()


def test_lifespan_leaves_a_given_database_open(db: agentdb.Database) -> None:
    app = FastAPI(lifespan=lifespan(db))

    @app.get("/users")
    def users(repo: UserRepositoryDep) -> dict[str, int]:
        return {"n": len(repo.list())}

    with TestClient(app) as c:
        assert c.get("/users").json() == {"n": 0}
    assert db.health()["status"] == "healthy"


def test_error_handlers() -> None:
    app = FastAPI()
    install_error_handlers(app)
    errors: dict[str, Exception] = {
        "nf": agentdb.NotFound("job", "x"),
        "val": agentdb.ValidationError("priority", "must be an integer"),
        "conf": agentdb.ConflictError("duplicate username"),
        "perm": agentdb.PermissionDenied("needs write"),
        "busy": agentdb.PoolTimeout(1.0, 5, 15, 3),
        "down": agentdb.DatabaseUnavailable("cannot connect to mysql at h:1/x"),
    }

    @app.get("/{name}")
    def boom(name: str) -> None:
        raise errors[name]

    with TestClient(app) as c:
        assert c.get("/nf").status_code == 404
        response = c.get("/val")
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"type": "value_error", "loc": ["priority"], "msg": "must be an integer"}]
        assert c.get("/conf").status_code == 409
        assert c.get("/perm").status_code == 403
        busy = c.get("/busy")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert c.get("/down").status_code == 503


def test_health_route_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    db = agentdb.connect(f"sqlite:///{tmp_path / 'gone.db'}")
    db.close()  # a closed Database answers health() with an error, like a dead server
    app = FastAPI(lifespan=lifespan(db))
    health_route(app, "/ready")
    with TestClient(app) as c:
        response = c.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and "closed" in body["error"]


def test_get_db_without_lifespan_says_what_is_missing() -> None:
    app = FastAPI()

    @app.get("/x")
    def x(db: DatabaseDep) -> None: ...

    with TestClient(app, raise_server_exceptions=True) as c, \
            pytest.raises(RuntimeError, match="lifespan"):
        c.get("/x")


def test_a_job_whose_output_cannot_be_saved_ends_failed_with_the_reason(
    client: TestClient,
) -> None:
    from agentdb.repositories.jobs import MAX_TEXT

    queued = run_tool(client, "echo", text="x" * (MAX_TEXT + 1))  # too long to store
    job = client.get(f"/api/jobs/{queued['id']}").json()
    assert job["status"] == "failed"
    assert "stdout" in job["error_message"]  # the reason names what could not be saved


AsyncUsers = Annotated[AsyncRepository[agentdb.UserRepository],
                       Depends(async_repository(agentdb.UserRepository))]


def test_async_and_sync_endpoints_share_one_pool(db: agentdb.Database) -> None:
    """Both styles side by side over HTTP: async def with AsyncJobStoreDep/async_repository,
    plain def with JobStoreDep, on the same pool; an async unit of work rolls back on error."""
    app = FastAPI(lifespan=lifespan(db))
    install_error_handlers(app)

    @app.post("/jobs")
    async def create(jobs: AsyncJobStoreDep, adb: AsyncDatabaseDep, fail: bool = False,
                     ) -> dict[str, Any]:
        assert adb.sync is db and jobs.adb is adb
        async with adb.transaction():
            job = await jobs.create("echo")
            await jobs.add_log(job.id, "INFO", "queued")
            if fail:
                raise agentdb.ValidationError("fail", "asked to fail")
        return job.to_dict()

    @app.get("/jobs/{job_id}")
    async def get(job_id: str, jobs: AsyncJobStoreDep) -> dict[str, Any]:
        return (await jobs.get(job_id)).to_dict()

    @app.get("/count")
    def count(jobs: JobStoreDep) -> int:
        return jobs.count()

    @app.get("/users")
    async def users(repo: AsyncUsers) -> int:
        return len(await repo.list())

    with TestClient(app) as c:
        made = c.post("/jobs").json()
        assert c.get(f"/jobs/{made['id']}").json()["id"] == made["id"]
        assert c.post("/jobs", params={"fail": True}).status_code == 422
        assert c.get("/count").json() == 1  # the failed unit left nothing behind
        assert c.get(f"/jobs/{uuid.uuid4()}").status_code == 404
        assert c.get("/users").json() == 0
        assert isinstance(app.state.adb, agentdb.AsyncDatabase)
    assert db.stats().in_use == 0 and db.health()["status"] == "healthy"
