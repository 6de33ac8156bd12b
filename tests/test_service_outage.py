"""The example service over HTTP while its database server is stopped and started again: it
starts without the database, answers 503 (JSON) where it needs it, reports unhealthy, and
works once the server is back, migrations included, without a restart."""

from __future__ import annotations

import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

with warnings.catch_warnings():  # starlette's nudge towards httpx2; httpx is what we ship
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from examples.jobs_api import create_app


def fresh_database(server: Any) -> str:
    """A new, empty database on the throwaway server; its URL."""
    name = "svc_" + uuid.uuid4().hex[:8]
    conn = server.admin()
    try:
        conn.cursor().execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return server.url_for(name)


def test_the_service_starts_without_its_database_and_recovers(server: Any) -> None:
    url = fresh_database(server)
    server.stop("immediate")
    app = create_app(url, connect_timeout=2, statement_timeout=5)
    with TestClient(app) as client:  # startup (lifespan, migrations) succeeds while down
        start = time.monotonic()
        response = client.get("/api/jobs")
        assert response.status_code == 503
        assert "detail" in response.json() and str(server.port) in response.json()["detail"]
        run = client.post("/api/run", json={"tool": "echo", "parameters": {"text": "hi"}})
        assert run.status_code == 503 and run.headers["content-type"] == "application/json"
        health = client.get("/health/db")
        assert health.status_code == 503 and health.json()["status"] == "unhealthy"
        assert client.get("/api/tools").status_code == 200  # what needs no database works
        assert time.monotonic() - start < 4 * 3  # every answer within the timeouts

        server.start()
        assert client.get("/health/db").status_code == 200
        run = client.post("/api/run", json={"tool": "echo", "parameters": {"text": "hi"}})
        assert run.status_code == 202, run.text  # migrated by this first request
        deadline = time.monotonic() + 10  # the service's Worker claims and runs it
        while (job := client.get(f"/api/jobs/{run.json()['id']}").json())["status"] in (
                "pending", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["status"] == "completed" and job["result"]["stdout"] == "hi"

        server.stop("immediate")  # down again mid-life, then back
        assert client.get("/api/jobs").status_code == 503
        server.start()
        deadline = time.monotonic() + 1.0
        while client.get("/api/jobs").status_code != 200:
            assert time.monotonic() < deadline, "not back within a second"
            time.sleep(0.05)
