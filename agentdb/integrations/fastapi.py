"""FastAPI integration: one Database per application, opened and closed by its lifespan.

::

    from fastapi import FastAPI
    from agentdb.integrations.fastapi import (
        JobStoreDep, health_route, install_error_handlers, lifespan)

    app = FastAPI(lifespan=lifespan(migrate=True))  # DATABASE_URL, else sqlite:///agentdb.db
    install_error_handlers(app)                     # NotFound -> 404, ValidationError -> 422...
    health_route(app)                               # GET /health/db: 200 or 503

    @app.get("/jobs/{job_id}")
    def get_job(job_id: str, jobs: JobStoreDep) -> dict:
        return jobs.get(job_id).to_dict()

Two styles, one pool (the lifespan puts both on ``app.state``):

- ``async def`` endpoints with the ``Async*Dep`` dependencies (``AsyncJobStoreDep``,
  ``async_repository(MyRepo)``, ``AsyncDatabaseDep``): ``await jobs.get(job_id)``. Calls run in
  agentdb's own threads, bounded by the pool's ``max_size`` (see :mod:`agentdb.aio`), so the
  event loop never blocks and a burst of requests queues for a connection instead of
  deadlocking FastAPI's 40-thread pool against a smaller pool (fastapi#3205). Use this for an
  async service, or when routes also await other I/O.
- plain ``def`` endpoints with ``JobStoreDep``: FastAPI runs them in its thread pool, where
  blocking is harmless. Simple, and fine while the thread pool is no larger than the
  connection pool's ``max_size`` plus what ``pool_timeout`` lets wait.

Never call a sync repository from an ``async def`` endpoint: it blocks the event loop. The
lifespan opens the pool (and migrates) in a worker thread too, so startup never blocks.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, TypeVar

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        "agentdb.integrations.fastapi needs FastAPI: pip install 'agentdb[fastapi]'"
    ) from exc

from ..aio import AsyncDatabase, AsyncRepository, aio
from ..errors import (
    ConflictError,
    DatabaseUnavailable,
    NotFound,
    PermissionDenied,
    PoolTimeout,
    ValidationError,
)
from ..pool import Database, connect
from ..repositories.agents import AgentVersionRepository
from ..repositories.base import Repository
from ..repositories.content import AlertRepository, ArticleRepository
from ..repositories.executions import ExecutionRepository
from ..repositories.jobs import JobStore
from ..repositories.tasks import TaskRepository
from ..repositories.users import UserRepository
from ..repositories.workflows import WorkflowRepository

__all__ = [
    "AgentVersionRepositoryDep",
    "AlertRepositoryDep",
    "ArticleRepositoryDep",
    "AsyncAgentVersionRepositoryDep",
    "AsyncAlertRepositoryDep",
    "AsyncArticleRepositoryDep",
    "AsyncDatabaseDep",
    "AsyncExecutionRepositoryDep",
    "AsyncJobStoreDep",
    "AsyncTaskRepositoryDep",
    "AsyncUserRepositoryDep",
    "AsyncWorkflowRepositoryDep",
    "DatabaseDep",
    "ExecutionRepositoryDep",
    "JobStoreDep",
    "TaskRepositoryDep",
    "UserRepositoryDep",
    "WorkflowRepositoryDep",
    "async_repository",
    "get_adb",
    "get_db",
    "health_route",
    "install_error_handlers",
    "lifespan",
    "repository",
]

R = TypeVar("R", bound=Repository)
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan(database: str | Database | None = None, *, migrate: bool = False,
             **options: Any) -> Lifespan:
    """A FastAPI ``lifespan`` that puts a Database on ``app.state.db`` for the app's lifetime,
    and its :class:`~agentdb.aio.AsyncDatabase` (same pool) on ``app.state.adb``.

    ``database`` is a URL (default: ``DATABASE_URL``, else the ``DB_*`` variables, else
    ``sqlite:///agentdb.db``) -- the lifespan opens that pool and closes it at shutdown -- or
    an open Database, which stays the caller's to close. ``migrate=True`` applies pending
    migrations at startup; ``options`` are pool options (``pool_size=10``...).

    The application starts even when the database is down: routes that need it answer 503
    (with :func:`install_error_handlers`) and ``/health/db`` reports unhealthy until it
    answers; then everything works, migrations included, without a restart.
    """

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = not isinstance(database, Database)
        db = database if isinstance(database, Database) else await run_in_threadpool(
            connect, database, **options)  # lazy: never waits for the server
        try:
            app.state.db = db
            app.state.agentdb_migrate = migrate
            app.state.agentdb_migrate_lock = threading.Lock()
            if migrate:
                with contextlib.suppress(DatabaseUnavailable):  # down: the first request does it
                    await run_in_threadpool(_migrate_once, app, db)
            app.state.adb = adb = AsyncDatabase(db, owned=False)
            try:
                yield
            finally:
                await adb.aclose()  # waits for cancelled units' rollbacks; the pool stays
        finally:
            if owned:
                await run_in_threadpool(db.close)

    return _lifespan


def _migrate_once(app: FastAPI, db: Database) -> None:
    """Apply pending migrations if the lifespan asked for them and they are not done yet;
    DatabaseUnavailable (a 503) while the database does not answer. A migration that fails on
    a live database raises its MigrationError, as at startup."""
    with app.state.agentdb_migrate_lock:
        if not app.state.agentdb_migrate:
            return
        report = db.health()  # bounded by connect_timeout
        if report["status"] != "healthy":
            raise DatabaseUnavailable(f"database not ready: {report['error']}")
        from ..migrate import migrate as apply

        apply(db)
        app.state.agentdb_migrate = False


def _app_db(request: Request) -> Database:
    db = getattr(request.app.state, "db", None)
    if not isinstance(db, Database):
        raise RuntimeError("no agentdb Database on app.state.db: create the app with "
                           "FastAPI(lifespan=agentdb.integrations.fastapi.lifespan(...))")
    return db


def get_db(request: Request) -> Database:
    """The application's Database (set by :func:`lifespan`), migrated if it asked for that."""
    db = _app_db(request)
    if getattr(request.app.state, "agentdb_migrate", False):  # the database was down at start
        _migrate_once(request.app, db)
    return db


DatabaseDep = Annotated[Database, Depends(get_db)]


async def get_adb(request: Request) -> AsyncDatabase:
    """The application's AsyncDatabase (set by :func:`lifespan`, on the same pool as
    :func:`get_db`), migrated if it asked for that."""
    adb = getattr(request.app.state, "adb", None)
    if not isinstance(adb, AsyncDatabase):
        raise RuntimeError("no agentdb AsyncDatabase on app.state.adb: create the app with "
                           "FastAPI(lifespan=agentdb.integrations.fastapi.lifespan(...))")
    if getattr(request.app.state, "agentdb_migrate", False):  # the database was down at start
        await adb.run(_migrate_once, request.app, adb.sync)
    return adb


AsyncDatabaseDep = Annotated[AsyncDatabase, Depends(get_adb)]


def repository(cls: type[R]) -> Callable[[Database], R]:
    """A dependency that builds ``cls`` on the application's Database (repositories are
    cheap: a reference to the Database and nothing else), e.g. ``Depends(repository(MyRepo))``.
    """

    def dependency(db: DatabaseDep) -> R:
        return cls(db)

    dependency.__name__ = f"get_{cls.__name__}"
    return dependency


def async_repository(cls: type[R]) -> Callable[[AsyncDatabase], AsyncRepository[R]]:
    """A dependency that builds ``aio(cls)`` on the application's AsyncDatabase: every public
    method of ``cls``, awaitable, e.g. ``Depends(async_repository(MyRepo))``."""
    made = aio(cls)

    def dependency(adb: AsyncDatabaseDep) -> AsyncRepository[R]:
        return made(adb)

    dependency.__name__ = f"get_async_{cls.__name__}"
    return dependency


JobStoreDep = Annotated[JobStore, Depends(repository(JobStore))]
UserRepositoryDep = Annotated[UserRepository, Depends(repository(UserRepository))]
WorkflowRepositoryDep = Annotated[WorkflowRepository, Depends(repository(WorkflowRepository))]
ExecutionRepositoryDep = Annotated[ExecutionRepository,
                                   Depends(repository(ExecutionRepository))]
AgentVersionRepositoryDep = Annotated[AgentVersionRepository,
                                      Depends(repository(AgentVersionRepository))]
ArticleRepositoryDep = Annotated[ArticleRepository, Depends(repository(ArticleRepository))]
AlertRepositoryDep = Annotated[AlertRepository, Depends(repository(AlertRepository))]
TaskRepositoryDep = Annotated[TaskRepository, Depends(repository(TaskRepository))]

AsyncJobStoreDep = Annotated[AsyncRepository[JobStore], Depends(async_repository(JobStore))]
AsyncUserRepositoryDep = Annotated[AsyncRepository[UserRepository],
                                   Depends(async_repository(UserRepository))]
AsyncWorkflowRepositoryDep = Annotated[AsyncRepository[WorkflowRepository],
                                       Depends(async_repository(WorkflowRepository))]
AsyncExecutionRepositoryDep = Annotated[AsyncRepository[ExecutionRepository],
                                        Depends(async_repository(ExecutionRepository))]
AsyncAgentVersionRepositoryDep = Annotated[AsyncRepository[AgentVersionRepository],
                                           Depends(async_repository(AgentVersionRepository))]
AsyncArticleRepositoryDep = Annotated[AsyncRepository[ArticleRepository],
                                      Depends(async_repository(ArticleRepository))]
AsyncAlertRepositoryDep = Annotated[AsyncRepository[AlertRepository],
                                    Depends(async_repository(AlertRepository))]
AsyncTaskRepositoryDep = Annotated[AsyncRepository[TaskRepository],
                                   Depends(async_repository(TaskRepository))]


def health_route(app: FastAPI, path: str = "/health/db", **route: Any) -> None:
    """Add ``GET path`` answering ``db.health()``: 200 when healthy, 503 when not, so a load
    balancer or an orchestrator's probe can read the status code alone."""

    def database_health(db: Annotated[Database, Depends(_app_db)]) -> JSONResponse:
        document = db.health()
        code = 200 if document["status"] == "healthy" else 503
        return JSONResponse(document, status_code=code)

    route.setdefault("tags", ["health"])
    route.setdefault("summary", "Database health")
    app.add_api_route(path, database_health, methods=["GET"], **route)


def install_error_handlers(app: FastAPI) -> None:
    """Answer agentdb errors with their HTTP meaning instead of a 500: NotFound 404,
    ValidationError 422 (naming the field, in FastAPI's own error shape), ConflictError 409,
    PermissionDenied 403, PoolTimeout and DatabaseUnavailable 503 (retry later)."""

    def not_found(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ValidationError)
        detail = [{"type": "value_error", "loc": [exc.field], "msg": exc.rule}]
        return JSONResponse({"detail": detail}, status_code=422)

    def conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    def denied(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=403)

    def unavailable(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(ValidationError, invalid)
    app.add_exception_handler(ConflictError, conflict)
    app.add_exception_handler(PermissionDenied, denied)
    app.add_exception_handler(PoolTimeout, unavailable)
    app.add_exception_handler(DatabaseUnavailable, unavailable)
