"""agentdb against hand-written driver code, aiosql + a pool, and SQLAlchemy: one run.

    python benchmarks/compare.py [--database URL ...] [--threads 1,4,16] [--rounds 5]
                                 [--seconds 0.4 | --iterations N]

Operations (on a fresh, migrated database seeded with --seed jobs):
  insert     create one pending job                                 (1 statement)
  get        fetch one job by id                                    (1 statement)
  list       one page (20) of jobs with status "failed", newest first (1 statement)
  lifecycle  create -> claim the next pending job -> save its result -> complete it
             (what agentdb's JobStore sends: 5 statements on PostgreSQL and SQLite, 6 and a
             BEGIN/COMMIT around the claim on MariaDB)
  batch      create 100 jobs in one transaction (create_job_batch; executemany elsewhere)

Ways:
  raw      hand-written driver code: one dedicated autocommit connection per thread, the SQL
           text agentdb sends (from sql/jobs.sql through agentdb's loader), a dict per row
           built from cursor.description, json.loads; on SQLite a lock around each write.
  agentdb  agentdb.JobStore on agentdb.connect(pool_size=threads, max_overflow=0): typed
           records, validation, a pooled connection per call.
  aiosql   aiosql over the same SQL, with psycopg_pool (autocommit, dict rows) / DBUtils
           PooledDB + PyMySQL (ping=0, reset=False, autocommit, DictCursor) / sqlite3.
  core     SQLAlchemy Core, QueuePool(pool_size=threads, max_overflow=0), the same SQL text in
           text(): engine.begin() around writes, engine.connect() for reads, as its docs show.
  orm      the SQLAlchemy ORM with a Session per operation (models declared here only).

Every (operation, way) is measured in each of --rounds rounds, the ways in a rotated order per
round, so machine drift hits all alike; the tables show each way's median round. Two tables
per backend: client CPU µs per operation on one thread (time.process_time: the steadiest
figure on a shared machine), and throughput per thread count with each way's ratio to raw.
Targets (issue 13): CPU ratio raw/agentdb on one thread: get >= 0.80 (SQLite), 1.00
(PostgreSQL), 0.92 (MariaDB); insert >= 0.85 and list >= 0.90 everywhere; agentdb's CPU <=
aiosql's on every operation; at 16 threads agentdb >= 0.85x raw on PostgreSQL and MariaDB; on
SQLite, inserts at 4 threads >= 0.85x raw (with its lock around execute).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import sqlite3
import statistics
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter, process_time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import psycopg
import pymysql
import pymysql.constants.CLIENT
import pymysql.cursors
from psycopg.types.json import Jsonb

import agentdb
from agentdb.config import Config, parse_config
from agentdb.migrate import migrate
from agentdb.repositories import JobStore

OPS = ("insert", "get", "list", "lifecycle", "batch")
WRITES = ("insert", "lifecycle", "batch")
WAYS = ("raw", "agentdb", "aiosql", "core", "orm")
BATCH = 100  # jobs per batch operation
PAGE = 20
LIST_STATUS = "failed"  # seeded once; no operation adds to it, so the page costs the same all run
PARAMS = {"input": "file.txt", "flags": ["-v"], "retries": 3}
BENCH_TOOL = "bench_tool"  # every job an operation creates; deleted after each measurement
# Lifecycle jobs outrank the seeded queue, so a lifecycle claims a job some lifecycle created
# and the seeded jobs stay as they were: every measurement sees the same data.
LIFECYCLE_PRIORITY = 10


# -- what every way shares ---------------------------------------------------------------------


@dataclass
class Context:
    """One backend: its URL, dialect, seeded ids and agentdb's SQL for each statement."""

    url: str
    config: Config
    ids: list[str]
    sql: dict[str, str] = field(default_factory=dict)  # driver SQL (raw)
    text_sql: dict[str, str] = field(default_factory=dict)  # :name SQL (SQLAlchemy text())
    admin: Any = None  # a raw connection for the untimed cleanup between measurements

    @property
    def dialect(self) -> str:
        return self.config.dialect

    def now(self, after: float = 0.0) -> Any:
        """A timestamp as this dialect's driver takes it (what agentdb's adapters bind)."""
        now = datetime.now(UTC) + timedelta(seconds=after)
        if self.dialect == "mysql":
            return now.replace(tzinfo=None)
        if self.dialect == "sqlite":
            return now.isoformat(timespec="microseconds")
        return now

    def json(self, value: Any) -> Any:
        return Jsonb(value) if self.dialect == "postgresql" else json.dumps(value)

    def job_row(self, priority: int = 0, batch_id: str | None = None,
                now: Any = None) -> dict[str, Any]:
        """insert_job's parameters for one new job, as hand-written code binds them."""
        created, due = (now, now) if now is not None else (self.now(), self.now())
        return {"id": str(uuid.uuid4()), "tool_name": BENCH_TOOL, "status": "pending",
                "priority": priority, "batch_id": batch_id, "workflow_id": None,
                "user_id": None, "parameters": self.json(PARAMS), "created_at": created,
                "run_at": due, "max_attempts": 1, "dedupe_key": None}

    def batch_rows(self) -> list[dict[str, Any]]:
        """A batch of BATCH new jobs sharing one batch id and timestamp."""
        now, batch_id = self.now(), str(uuid.uuid4())
        return [self.job_row(0, batch_id, now) for _ in range(BATCH)]

    def job_dict(self, names: list[str], row: Any) -> dict[str, Any]:
        """What hand-written code does with a row: a dict by column name, JSON parsed."""
        job = dict(zip(names, row, strict=True))
        if isinstance(job.get("parameters"), str):
            job["parameters"] = json.loads(job["parameters"])
        return job

    def write_lock(self) -> Any:
        """Hand-written SQLite code serialises its writers with a lock around ``execute``
        (else they hit "database is locked"); the servers need none."""
        return SQLITE_WRITE_LOCK if self.dialect == "sqlite" else contextlib.nullcontext()

    def id_cycle(self, thread: int) -> Callable[[], str]:
        ids = self.ids
        n = len(ids)
        state = [(thread * 7919) % n]

        def next_id() -> str:
            i = state[0]
            state[0] = i + 1 if i + 1 < n else 0
            return ids[i]

        return next_id


SQLITE_WRITE_LOCK = threading.Lock()
_PYFORMAT = re.compile(r"%\((\w+)\)s")

STATEMENTS = ("insert_job", "get_job", "list_jobs", "claim_due_jobs",
              "lock_due_jobs", "mark_claimed", "save_result", "finish_job")


def build_context(url: str, ids: list[str]) -> Context:
    ctx = Context(url, parse_config(url), ids)
    for name in STATEMENTS:
        stmt = JobStore.queries[name].statements[ctx.dialect]
        if name == "finish_job":  # IN (:from_statuses) expanded for one status, as agentdb does
            sql = stmt.bind({"id": "", "status": "", "now": None, "error_message": None,
                             "from_statuses": ["running"], "worker_id": None,
                             "anyone": False})
        elif name == "list_jobs":  # the variant list() runs: only the filters given
            sql = JobStore.queries.show(name, ctx.dialect, **list_params())
        elif name in ("claim_due_jobs", "lock_due_jobs"):  # any tool: no tool_name condition
            sql = JobStore.queries.show(name, ctx.dialect, limit=1)
        elif name == "mark_claimed":  # IN (:ids) expanded for one job
            sql = stmt.bind({"ids": [""], "worker_id": None, "now": None, "lease_until": None})
        else:
            sql = stmt.sql
        ctx.sql[name] = sql
        if ctx.dialect == "sqlite":
            ctx.text_sql[name] = sql
        else:
            ctx.text_sql[name] = _PYFORMAT.sub(r":\1", sql).replace("%%", "%")
    return ctx


def cleanup(ctx: Context) -> None:
    """Untimed, after every measurement that wrote: delete the jobs it created (results and
    logs go by ON DELETE CASCADE) and tidy up, so each measurement starts from the seeded
    data: PostgreSQL vacuums the dead rows, SQLite empties its WAL."""
    if ctx.admin is None:
        ctx.admin = raw_connect(ctx)
    cur = ctx.admin.cursor()
    if ctx.dialect == "sqlite":
        cur.execute("DELETE FROM jobs WHERE tool_name = ?", (BENCH_TOOL,))
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    cur.execute("DELETE FROM jobs WHERE tool_name = %s", (BENCH_TOOL,))
    if ctx.dialect == "postgresql":
        cur.execute("VACUUM jobs")
        cur.execute("VACUUM job_results")


def list_params() -> dict[str, Any]:
    return {"status": LIST_STATUS, "workflow_id": None, "tool_name": None, "batch_id": None,
            "created_after": None, "created_before": None, "limit": PAGE, "offset": 0}


def seed(url: str, count: int) -> list[str]:
    """``count`` jobs: half pending (the queue lifecycle claims from: each lifecycle adds one
    and takes one), a quarter failed (the page list reads), a quarter completed."""
    db = agentdb.connect(url, pool_size=1, max_overflow=0)
    try:
        migrate(db)
        jobs = JobStore(db)
        batch = jobs.create_job_batch(
            {"tool_name": f"tool_{i % 7}", "parameters": {"n": i, **PARAMS}}
            for i in range(max(count, 8))
        )
        ids = [j.id for j in jobs.get_batch_jobs(batch)]
        quarter = len(ids) // 4
        for job_id in ids[:quarter]:
            jobs.fail(job_id, "seeded failure")
        for job_id in ids[quarter:2 * quarter]:
            jobs.start(job_id, "seed")
            jobs.save_result(job_id, stdout="ok", stderr="", return_code=0,
                             output_files=["out.txt"])
            jobs.complete(job_id)
        return ids
    finally:
        db.close()


Op = common.Op


class Way:
    """One way of running the operations; built per thread count with that many connections."""

    name: str

    def __init__(self, ctx: Context, threads: int) -> None:
        self.ctx = ctx

    def op(self, op: str, thread: int) -> Op:
        raise NotImplementedError

    def close(self) -> None:
        pass


# -- raw driver --------------------------------------------------------------------------------


# The session agentdb's MariaDB connections get (agentdb/pool/mysql.py), given to every way so
# the server does the same work: no TLS on loopback, READ COMMITTED, rowcount = rows matched.
MYSQL_SESSION: dict[str, Any] = {
    "ssl_disabled": True,
    "client_flag": pymysql.constants.CLIENT.FOUND_ROWS,
    "init_command": "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
}


def pg_tls(c: Config) -> dict[str, Any]:
    """The TLS choice agentdb makes for this URL, so every way pays the same for it."""
    mode = c.tls_enabled
    return {} if mode == "prefer" else {"sslmode": mode}


def raw_connect(ctx: Context) -> Any:
    c = ctx.config
    if ctx.dialect == "postgresql":
        return psycopg.connect(host=c.host, port=c.port, user=c.username, password=c.password,
                               dbname=c.database, autocommit=True,
                               prepare_threshold=c.prepare_threshold, **pg_tls(c))
    if ctx.dialect == "mysql":
        return pymysql.connect(host=c.host or "localhost", port=c.port or 3306,
                               user=c.username, password=c.password or "", database=c.database,
                               charset="utf8mb4", autocommit=True, **MYSQL_SESSION)
    conn = sqlite3.connect(str(c.path), isolation_level=None, check_same_thread=False,
                           timeout=c.busy_timeout / 1000)
    for pragma in (f"busy_timeout = {c.busy_timeout}", "journal_mode = WAL",
                   "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


class Raw(Way):
    """Hand-written driver code: one dedicated autocommit connection per thread, agentdb's SQL,
    a dict per row built from ``cursor.description``, JSON parsed with ``json.loads``; on
    SQLite a lock around each write's ``execute``."""

    name = "raw"

    def __init__(self, ctx: Context, threads: int) -> None:
        self.ctx = ctx
        self.conns = [raw_connect(ctx) for _ in range(threads)]

    def op(self, op: str, thread: int) -> Op:
        ctx, conn, sql = self.ctx, self.conns[thread], self.ctx.sql
        next_id = ctx.id_cycle(thread)
        worker = f"raw-{thread}"
        cursor = conn.cursor
        insert_sql, get_sql, list_sql = sql["insert_job"], sql["get_job"], sql["list_jobs"]
        page = list_params()

        lock = ctx.write_lock()
        job_dict = ctx.job_dict

        def insert(priority: int = 0) -> None:
            cur = cursor()
            params = ctx.job_row(priority)
            with lock:
                cur.execute(insert_sql, params)

        def get() -> Any:
            cur = cursor()
            cur.execute(get_sql, {"id": next_id()})
            row = cur.fetchone()
            return job_dict([d[0] for d in cur.description], row)

        def list_page() -> Any:
            cur = cursor()
            cur.execute(list_sql, page)
            names = [d[0] for d in cur.description]
            return [job_dict(names, row) for row in cur.fetchall()]

        def batch() -> None:
            rows = ctx.batch_rows()
            with lock:
                cur = cursor()
                cur.execute("BEGIN")
                try:
                    cur.executemany(insert_sql, rows)
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")

        claim = self._claim(conn, worker)
        save_sql, finish_sql = sql["save_result"], sql["finish_job"]

        def lifecycle() -> Any:
            insert(LIFECYCLE_PRIORITY)
            job_id = claim()
            if job_id is None:
                return None
            cur = cursor()
            with lock:
                cur.execute(save_sql, {"job_id": job_id, "stdout": "done", "stderr": "",
                                       "return_code": 0, "output_files": ctx.json(["out.txt"]),
                                       "now": ctx.now(), "worker_id": worker, "anyone": False})
            with lock:
                cur.execute(finish_sql, {"id": job_id, "status": "completed", "now": ctx.now(),
                                         "error_message": None, "from_statuses_0": "running",
                                         "worker_id": worker, "anyone": False})
            cur.execute(get_sql, {"id": job_id})
            return job_dict([d[0] for d in cur.description], cur.fetchone())

        return {"insert": insert, "get": get, "list": list_page, "lifecycle": lifecycle,
                "batch": batch}[op]

    def _claim(self, conn: Any, worker: str) -> Callable[[], str | None]:
        ctx, sql = self.ctx, self.ctx.sql
        if ctx.dialect != "mysql":  # UPDATE ... RETURNING: one statement
            claim_sql = sql["claim_due_jobs"]

            lock = ctx.write_lock()

            def claim() -> str | None:
                cur = conn.cursor()
                with lock:
                    cur.execute(claim_sql, {"worker_id": worker, "now": ctx.now(),
                                            "lease_until": ctx.now(30), "limit": 1})
                    row = cur.fetchone()
                return None if row is None else str(row[0])

            return claim
        lock_sql, mark_sql = sql["lock_due_jobs"], sql["mark_claimed"]

        def claim_mysql() -> str | None:
            conn.begin()
            try:
                cur = conn.cursor()
                cur.execute(lock_sql, {"now": ctx.now(), "limit": 1})
                row = cur.fetchone()
                if row is not None:
                    cur.execute(mark_sql, {"ids_0": row[0], "worker_id": worker, "now": ctx.now(),
                                           "lease_until": ctx.now(30)})
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            return None if row is None else str(row[0])

        return claim_mysql

    def close(self) -> None:
        for conn in self.conns:
            conn.close()


# -- agentdb -----------------------------------------------------------------------------------


class AgentDB(Way):
    name = "agentdb"

    def __init__(self, ctx: Context, threads: int) -> None:
        self.ctx = ctx
        self.db = agentdb.connect(ctx.url, pool_size=threads, max_overflow=0)
        self.jobs = JobStore(self.db)

    def op(self, op: str, thread: int) -> Op:
        jobs = self.jobs
        next_id = self.ctx.id_cycle(thread)
        worker = f"agentdb-{thread}"

        def insert() -> Any:
            return jobs.create(BENCH_TOOL, PARAMS)

        def get() -> Any:
            return jobs.get(next_id())

        def list_page() -> Any:
            return jobs.list(status=LIST_STATUS, limit=PAGE)

        def lifecycle() -> Any:
            jobs.create(BENCH_TOOL, PARAMS, priority=LIFECYCLE_PRIORITY)
            job = jobs.claim_next(worker)
            if job is None:
                return None
            jobs.save_result(job.id, stdout="done", stderr="", return_code=0,
                             output_files=["out.txt"], worker_id=worker)
            return jobs.complete(job.id, worker_id=worker)

        specs = [{"tool_name": BENCH_TOOL, "parameters": PARAMS}] * BATCH

        def batch() -> Any:
            return jobs.create_job_batch(specs)

        return {"insert": insert, "get": get, "list": list_page, "lifecycle": lifecycle,
                "batch": batch}[op]

    def close(self) -> None:
        self.db.close()


# -- aiosql + a pool ------------------------------------------------------------------------


AIOSQL_NAMES = {"insert_job": "insert_job!", "get_job": "get_job^",
                "list_jobs": "list_jobs", "claim_due_jobs": "claim_due_jobs^",
                "lock_due_jobs": "lock_due_jobs^", "mark_claimed": "mark_claimed!",
                "save_result": "save_result!", "finish_job": "finish_job!"}


class AioSQL(Way):
    """aiosql over agentdb's SQL (as :name text), on the pool a careful user would pick:
    psycopg_pool with autocommit connections and dict rows; DBUtils PooledDB over PyMySQL with
    ``ping=0``, ``reset=False``, autocommit and DictCursor; on SQLite (no pool library) one
    connection per thread with dict rows and a lock around writes, like raw. JSON parsed with
    ``json.loads`` where the driver gives text. Rows stay dicts (aiosql builds no records)."""

    name = "aiosql"

    def __init__(self, ctx: Context, threads: int) -> None:
        import aiosql

        self.ctx = ctx
        text = "\n\n".join(f"-- name: {AIOSQL_NAMES[n]}\n{ctx.text_sql[n]};"
                            for n in AIOSQL_NAMES)
        text += f"\n\n-- name: insert_jobs*!\n{ctx.text_sql['insert_job']};"
        c = ctx.config
        self.pool: Any = None
        self.conns: list[Any] = []
        if ctx.dialect == "postgresql":
            import psycopg_pool
            from psycopg.rows import dict_row

            self.q = aiosql.from_str(text, "psycopg", mandatory_parameters=False)
            self.pool = psycopg_pool.ConnectionPool(
                min_size=threads, max_size=threads, open=True,
                kwargs={"host": c.host, "port": c.port, "user": c.username, "dbname": c.database,
                        "password": c.password, "autocommit": True, "row_factory": dict_row,
                        "prepare_threshold": c.prepare_threshold, **pg_tls(c)})
            self.pool.wait()
        elif ctx.dialect == "mysql":
            from dbutils.pooled_db import PooledDB

            self.q = aiosql.from_str(text, "pymysql", mandatory_parameters=False)
            self.pool = PooledDB(pymysql, mincached=threads, maxcached=threads,
                                 maxconnections=threads, blocking=True, ping=0, reset=False,
                                 host=c.host or "localhost", port=c.port or 3306,
                                 user=c.username, password=c.password or "",
                                 database=c.database, charset="utf8mb4", autocommit=True,
                                 cursorclass=pymysql.cursors.DictCursor, **MYSQL_SESSION)
        else:
            self.q = aiosql.from_str(text, "sqlite3", mandatory_parameters=False)
            for _ in range(threads):
                conn = raw_connect(ctx)
                conn.row_factory = _sqlite_dict
                self.conns.append(conn)

    @contextlib.contextmanager
    def connection(self, thread: int) -> Any:
        if self.ctx.dialect == "postgresql":
            with self.pool.connection() as conn:
                yield conn
        elif self.ctx.dialect == "mysql":
            conn = self.pool.connection()
            try:
                yield conn
            finally:
                conn.close()
        else:
            yield self.conns[thread]

    @contextlib.contextmanager
    def transaction(self, thread: int) -> Any:
        with self.ctx.write_lock(), self.connection(thread) as conn:
            if self.ctx.dialect == "postgresql":
                with conn.transaction():
                    yield conn
                return
            if self.ctx.dialect == "mysql":
                conn.begin()
            else:
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def op(self, op: str, thread: int) -> Op:
        ctx, q, connection = self.ctx, self.q, self.connection
        next_id = ctx.id_cycle(thread)
        worker = f"aiosql-{thread}"
        page = list_params()
        lock = ctx.write_lock()

        def parsed(row: Any) -> Any:
            if row is not None and isinstance(row.get("parameters"), str):
                row["parameters"] = json.loads(row["parameters"])
            return row

        def insert(priority: int = 0) -> None:
            params = ctx.job_row(priority)
            with lock, connection(thread) as conn:
                q.insert_job(conn, **params)

        def get() -> Any:
            with connection(thread) as conn:
                return parsed(q.get_job(conn, id=next_id()))

        def list_page() -> Any:
            with connection(thread) as conn:
                return [parsed(row) for row in q.list_jobs(conn, **page)]

        def claim() -> str | None:
            if ctx.dialect != "mysql":
                with lock, connection(thread) as conn:
                    row = q.claim_due_jobs(conn, worker_id=worker, now=ctx.now(),
                                           lease_until=ctx.now(30), limit=1)
            else:
                with self.transaction(thread) as conn:
                    row = q.lock_due_jobs(conn, now=ctx.now(), limit=1)
                    if row is not None:
                        q.mark_claimed(conn, ids_0=row["id"], worker_id=worker, now=ctx.now(),
                                       lease_until=ctx.now(30))
            return None if row is None else str(row["id"])

        def lifecycle() -> Any:
            insert(LIFECYCLE_PRIORITY)
            job_id = claim()
            if job_id is None:
                return None
            with lock, connection(thread) as conn:
                q.save_result(conn, job_id=job_id, stdout="done", stderr="", return_code=0,
                              output_files=ctx.json(["out.txt"]), now=ctx.now(),
                              worker_id=worker, anyone=False)
            with lock, connection(thread) as conn:
                q.finish_job(conn, id=job_id, status="completed", now=ctx.now(),
                             error_message=None, from_statuses_0="running", worker_id=worker,
                             anyone=False)
            with connection(thread) as conn:
                return parsed(q.get_job(conn, id=job_id))

        def batch() -> None:
            rows = ctx.batch_rows()
            with self.transaction(thread) as conn:
                q.insert_jobs(conn, rows)

        return {"insert": insert, "get": get, "list": list_page, "lifecycle": lifecycle,
                "batch": batch}[op]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        for conn in self.conns:
            conn.close()


def _sqlite_dict(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: value for d, value in zip(cursor.description, row, strict=True)}


@functools.cache
def aiosql_way() -> dict[str, type[Way]]:
    try:
        import aiosql  # noqa: F401
    except ImportError:
        return {}
    return {"aiosql": AioSQL}


# -- SQLAlchemy --------------------------------------------------------------------------------


@functools.cache
def sqlalchemy_ways() -> dict[str, type[Way]]:
    """The two SQLAlchemy ways, or none when the bench extra (SQLAlchemy) is missing. Declared
    in here so the rest of the script runs without SQLAlchemy."""
    try:
        import sqlalchemy as sa
        from sqlalchemy import orm as sa_orm
    except ImportError:
        return {}

    def sa_engine(ctx: Context, threads: int) -> sa.Engine:
        c = ctx.config
        connect_args: dict[str, Any] = {}
        if ctx.dialect == "sqlite":
            url = sa.URL.create("sqlite", database=str(c.path))
            connect_args["timeout"] = c.busy_timeout / 1000
            connect_args["check_same_thread"] = False
        else:
            driver = "postgresql+psycopg" if ctx.dialect == "postgresql" else "mysql+pymysql"
            url = sa.URL.create(driver, username=c.username, password=c.password, host=c.host,
                                port=c.port, database=c.database)
            if ctx.dialect == "mysql":
                connect_args.update(charset="utf8mb4", **MYSQL_SESSION)
            else:
                connect_args.update(pg_tls(c))
        engine = sa.create_engine(url, pool_size=threads, max_overflow=0, connect_args=connect_args)
        if ctx.dialect == "sqlite":
            # SQLAlchemy's documented recipe for real SQLite transactions (pysqlite's own handling
            # runs a SELECT outside the transaction, so two ORM claims took the same job), with
            # BEGIN IMMEDIATE for writers so a read-then-write cannot fail on the lock upgrade.

            @sa.event.listens_for(engine, "connect")
            def pragmas(dbapi_conn: Any, record: Any) -> None:  # the same PRAGMAs as agentdb's
                dbapi_conn.isolation_level = None
                for pragma in (f"busy_timeout = {c.busy_timeout}", "synchronous = NORMAL",
                               "foreign_keys = ON"):
                    dbapi_conn.execute(f"PRAGMA {pragma}")

            @sa.event.listens_for(engine, "begin")
            def begin(conn: sa.Connection) -> None:
                writes = conn.get_execution_options().get("sqlite_write", False)
                conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

        return engine


    def sa_writer(engine: sa.Engine) -> sa.Engine:
        """The same engine (and pool) for units that write: BEGIN IMMEDIATE on SQLite."""
        return engine.execution_options(sqlite_write=True)


    class Core(Way):
        """SQLAlchemy Core: text() of agentdb's SQL, a pooled connection per operation."""

        name = "core"

        def __init__(self, ctx: Context, threads: int) -> None:
            self.ctx = ctx
            self.engine = sa_engine(ctx, threads)
            self.writer = sa_writer(self.engine)
            t = ctx.text_sql
            self.insert_sql = sa.text(t["insert_job"])
            self.get_sql = sa.text(t["get_job"])
            self.list_sql = sa.text(t["list_jobs"])
            self.claim_sql = sa.text(t["claim_due_jobs"])
            self.lock_sql = sa.text(t["lock_due_jobs"])
            self.mark_sql = sa.text(t["mark_claimed"])
            self.save_sql = sa.text(t["save_result"])
            self.finish_sql = sa.text(t["finish_job"])

        def op(self, op: str, thread: int) -> Op:
            ctx, engine, writer = self.ctx, self.engine, self.writer
            next_id = ctx.id_cycle(thread)
            worker = f"core-{thread}"
            page = list_params()

            def insert(priority: int = 0) -> None:
                with writer.begin() as conn:
                    conn.execute(self.insert_sql, ctx.job_row(priority))

            def get() -> Any:
                with engine.connect() as conn:
                    return conn.execute(self.get_sql, {"id": next_id()}).first()

            def list_page() -> Any:
                with engine.connect() as conn:
                    return conn.execute(self.list_sql, page).all()

            def claim() -> str | None:
                with writer.begin() as conn:
                    if ctx.dialect != "mysql":
                        row = conn.execute(self.claim_sql, {
                            "worker_id": worker, "now": ctx.now(), "lease_until": ctx.now(30),
                            "limit": 1}).first()
                        return None if row is None else str(row[0])
                    row = conn.execute(self.lock_sql, {"now": ctx.now(), "limit": 1}).first()
                    if row is not None:
                        conn.execute(self.mark_sql, {"ids_0": row[0], "worker_id": worker,
                                                     "now": ctx.now(),
                                                     "lease_until": ctx.now(30)})
                    return None if row is None else str(row[0])

            def lifecycle() -> Any:
                insert(LIFECYCLE_PRIORITY)
                job_id = claim()
                if job_id is None:
                    return None
                with writer.begin() as conn:
                    conn.execute(self.save_sql, {"job_id": job_id, "stdout": "done", "stderr": "",
                                                 "return_code": 0,
                                                 "output_files": ctx.json(["out.txt"]),
                                                 "now": ctx.now(), "worker_id": worker,
                                                 "anyone": False})
                with writer.begin() as conn:
                    conn.execute(self.finish_sql, {"id": job_id, "status": "completed",
                                                   "now": ctx.now(), "error_message": None,
                                                   "from_statuses_0": "running",
                                                   "worker_id": worker, "anyone": False})
                with engine.connect() as conn:
                    return conn.execute(self.get_sql, {"id": job_id}).first()

            def batch() -> None:
                with writer.begin() as conn:
                    conn.execute(self.insert_sql, ctx.batch_rows())

            return {"insert": insert, "get": get, "list": list_page, "lifecycle": lifecycle,
                    "batch": batch}[op]

        def close(self) -> None:
            self.engine.dispose()


    JobRow, JobResultRow = common.sqlalchemy_job_models()


    class Orm(Way):
        """The SQLAlchemy ORM, a Session per operation."""

        name = "orm"

        def __init__(self, ctx: Context, threads: int) -> None:
            self.ctx = ctx
            self.engine = sa_engine(ctx, threads)
            self.Session = sa_orm.sessionmaker(self.engine)
            self.Writer = sa_orm.sessionmaker(sa_writer(self.engine))
            self.page = (
                sa.select(JobRow).where(JobRow.status == LIST_STATUS)
                .order_by(JobRow.created_at.desc(), JobRow.id.desc()).limit(PAGE)
            )
            self.next_pending = (
                sa.select(JobRow).where(JobRow.status == "pending")
                .order_by(JobRow.priority.desc(), JobRow.created_at).limit(1)
                .with_for_update(skip_locked=True)
            )

        def op(self, op: str, thread: int) -> Op:
            Session, Writer = self.Session, self.Writer
            next_id = self.ctx.id_cycle(thread)
            worker = f"orm-{thread}"

            def insert(priority: int = 0) -> None:
                now = datetime.now(UTC)
                job_id = str(uuid.uuid4())
                with Writer() as session:
                    session.add(JobRow(id=job_id, tool_name=BENCH_TOOL, status="pending",
                                       priority=priority, parameters=PARAMS, created_at=now,
                                       updated_at=now))
                    session.commit()

            def get() -> Any:
                with Session() as session:
                    return session.get(JobRow, next_id())

            def list_page() -> Any:
                with Session() as session:
                    return session.scalars(self.page).all()

            def claim() -> str | None:
                with Writer() as session, session.begin():
                    job = session.scalars(self.next_pending).first()
                    if job is None:
                        return None
                    now = datetime.now(UTC)
                    job.status, job.worker_id, job.started_at, job.updated_at = (
                        "running", worker, now, now)
                    return str(job.id)

            def lifecycle() -> Any:
                insert(LIFECYCLE_PRIORITY)
                job_id = claim()
                if job_id is None:
                    return None
                with Writer() as session, session.begin():
                    session.merge(JobResultRow(job_id=job_id, stdout="done", stderr="",
                                               return_code=0, output_files=["out.txt"],
                                               created_at=datetime.now(UTC)))
                with Writer(expire_on_commit=False) as session, session.begin():
                    job = session.get(JobRow, job_id)
                    assert job is not None
                    now = datetime.now(UTC)
                    job.status, job.completed_at, job.updated_at = "completed", now, now
                    if job.started_at is not None:
                        job.duration = (now - job.started_at).total_seconds()
                return job

            def batch() -> None:
                now, batch_id = datetime.now(UTC), str(uuid.uuid4())
                with Writer() as session:
                    session.add_all([JobRow(id=str(uuid.uuid4()), tool_name=BENCH_TOOL,
                                            status="pending", priority=0, batch_id=batch_id,
                                            parameters=PARAMS, created_at=now, updated_at=now)
                                     for _ in range(BATCH)])
                    session.commit()

            return {"insert": insert, "get": get, "list": list_page, "lifecycle": lifecycle,
                    "batch": batch}[op]

        def close(self) -> None:
            self.engine.dispose()

    return {"core": Core, "orm": Orm}


def way_classes() -> dict[str, type[Way]]:
    return {"raw": Raw, "agentdb": AgentDB, **aiosql_way(), **sqlalchemy_ways()}



# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Measure:
    ops_per_s: list[float] = field(default_factory=list)  # one per round
    p50_us: list[float] = field(default_factory=list)
    cpu_client: list[float] = field(default_factory=list)  # cores
    cpu_us: list[float] = field(default_factory=list)  # client CPU per operation

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_us) if self.cpu_us else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.ops_per_s) if self.ops_per_s else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.p50_us) if self.p50_us else 0.0


def measure(ctx: Context, threads: int, ways: list[str], ops: list[str],
            args: argparse.Namespace, progress: common.Progress
            ) -> dict[tuple[str, str], Measure]:
    opened: dict[str, Way] = {}
    try:
        for name in ways:
            opened[name] = way_classes()[name](ctx, threads)
        limit = {"duration": args.seconds} if args.iterations is None else {
            "iterations": args.iterations}
        warm = {"duration": min(0.2, args.seconds / 2)} if args.iterations is None else {
            "iterations": max(1, args.iterations // 2)}
        for op in ops:  # warm-up: connections opened, statements prepared, caches filled
            for name in ways:
                way = opened[name]
                common.run_threads(threads, lambda i, w=way, o=op: w.op(o, i), **warm)  # type: ignore[misc]
                if op in WRITES:
                    cleanup(ctx)
        results = {(op, name): Measure() for op in ops for name in ways}
        for r in range(args.rounds):
            for op in ops:
                order = ways[r % len(ways):] + ways[:r % len(ways)]
                for name in order:
                    progress.show(f"{ctx.dialect}, {threads} threads, round {r + 1}: "
                                  f"{op} via {name}")
                    way = opened[name]
                    res = common.run_threads(threads, lambda i, w=way, o=op: w.op(o, i),  # type: ignore[misc]
                                             **limit)
                    m = results[(op, name)]
                    m.ops_per_s.append(res.throughput)
                    m.p50_us.append(res.percentile(0.5) * 1e6)
                    m.cpu_client.append(res.cpu_client)
                    m.cpu_us.append(res.cpu_us_per_op)
                    if op in WRITES:
                        cleanup(ctx)
                    progress.advance()
        return results
    finally:
        for way in opened.values():
            way.close()


def breakdown(ctx: Context, iterations: int, rounds: int) -> str:
    """Where agentdb's time goes on get-by-id, one thread: each row adds one layer to the one
    above it, on the same connection kind, interleaved; best round of each (noise only ever
    adds time, so the minimum is the steadiest estimate of what a layer costs)."""
    from agentdb.repositories.jobs import Job

    raw = Raw(ctx, 1)
    db = agentdb.connect(ctx.url, pool_size=1, max_overflow=0)
    jobs = JobStore(db)
    try:
        sql = ctx.sql["get_job"]
        next_id = ctx.id_cycle(0)
        raw_conn = raw.conns[0]
        held = db.backend.getconn()  # agentdb's own connection kind: dict rows, lazy BEGIN
        db.backend.putconn(held)
        queries = JobStore.queries
        row = queries.run(db, "get_job", id=ctx.ids[0])

        def raw_get() -> Any:
            cur = raw_conn.cursor()
            cur.execute(sql, {"id": next_id()})
            return cur.fetchone()

        def pooled() -> Any:
            with db.connection() as conn:
                cur = conn.cursor()
                cur.execute(sql, {"id": next_id()})
                return cur.fetchone()

        def query_layer() -> Any:
            return queries.run(db, "get_job", id=next_id())

        def store() -> Any:
            return jobs.get(next_id())

        def record_only() -> Any:
            return Job.from_row(row)

        def checkout_only() -> None:
            with db.connection():
                pass

        steps = [
            ("raw driver, tuple rows (the ceiling)", raw_get),
            ("+ agentdb pool checkout and its dict-row connection", pooled),
            ("+ query layer: JobStore.queries.run('get_job')", query_layer),
            ("+ input check and Job record: JobStore.get() = agentdb", store),
        ]
        parts = [("of which: checkout + return alone", checkout_only),
                 ("of which: Job.from_row alone", record_only)]
        timings: dict[str, list[tuple[float, float]]] = {
            name: [] for name, _ in steps + parts}
        for _, fn in steps + parts:
            for _ in range(max(10, iterations // 10)):
                fn()
        for r in range(rounds):
            order = steps + parts
            order = order[r % len(order):] + order[:r % len(order)]
            for name, fn in order:
                n = iterations if fn in (record_only, checkout_only) else max(
                    1, iterations // 5)
                c, t = process_time(), perf_counter()
                for _ in range(n):
                    fn()
                timings[name].append(((perf_counter() - t) / n * 1e6,
                                      (process_time() - c) / n * 1e6))
    finally:
        db.close()
        raw.close()
    best = {name: (min(w for w, _ in v), min(c for _, c in v)) for name, v in timings.items()}
    base_wall = best[steps[0][0]][0]
    rows: list[list[object]] = []
    previous = None
    for name, _ in steps:
        wall, cpu = best[name]
        added = "" if previous is None else f"{wall - previous:+.1f}"
        rows.append([name, wall, added, cpu, f"{base_wall / wall:.2f}x"])
        previous = wall
    for name, _ in parts:
        wall, cpu = best[name]
        rows.append([name, wall, "", cpu, ""])
    return common.markdown_table(
        ["get-by-id, 1 thread", "µs/op", "added µs", "client CPU µs/op", "raw/this"], rows)


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# Issue 13's targets. CPU: raw's client CPU per op / agentdb's, one thread (>= 1: cheaper).
CPU_TARGETS: dict[tuple[str, str], float] = {
    ("get", "sqlite"): 0.80, ("get", "postgresql"): 1.00, ("get", "mysql"): 0.92,
    **{("insert", d): 0.85 for d in ("sqlite", "postgresql", "mysql")},
    **{("list", d): 0.90 for d in ("sqlite", "postgresql", "mysql")},
}
WALL_TARGET_16 = 0.85  # PostgreSQL and MariaDB, 16 threads, every operation: agentdb/raw
SQLITE_INSERT_4 = 0.85  # SQLite inserts at 4 threads against raw with a lock around execute


def report(dialect: str, per_threads: dict[int, dict[tuple[str, str], Measure]],
           ways: list[str], ops: list[str]) -> tuple[str, list[str]]:
    """Two tables for one backend (client CPU per op on one thread; interleaved wall ratios
    per thread count) and the targets missed."""
    missed: list[str] = []
    have_raw, have_agentdb = "raw" in ways, "agentdb" in ways
    text = []
    one = per_threads.get(1)
    if one is not None:
        headers = ["operation"] + [f"{w} CPU µs/op" for w in ways]
        if have_raw:
            headers += [f"raw/{w} CPU" for w in ways if w != "raw"]
        headers.append("targets")
        rows = []
        for op in ops:
            cpu = {w: one[(op, w)].cpu for w in ways}
            row: list[object] = [op, *cpu.values()]
            if have_raw:
                row += [f"{ratio(cpu['raw'], cpu[w]):.2f}" for w in ways if w != "raw"]
            notes = []
            if have_raw and have_agentdb and (op, dialect) in CPU_TARGETS:
                want = CPU_TARGETS[(op, dialect)]
                got = ratio(cpu["raw"], cpu["agentdb"])
                notes.append(f"{'met' if got >= want else 'MISSED'} >= {want:.2f} raw")
                if got < want:
                    missed.append(f"{dialect} {op}: CPU {got:.2f} of raw < {want:.2f}")
            if have_agentdb and "aiosql" in ways:
                ok = cpu["agentdb"] <= cpu["aiosql"]
                notes.append(f"{'met' if ok else 'MISSED'} <= aiosql")
                if not ok:
                    missed.append(f"{dialect} {op}: CPU {cpu['agentdb']:.1f} µs > aiosql "
                                  f"{cpu['aiosql']:.1f} µs")
            row.append(", ".join(notes))
            rows.append(row)
        text.append("client CPU per operation, one thread (median of rounds; "
                    "raw/way CPU > 1 means the way costs less than raw):\n\n"
                    + common.markdown_table(headers, rows))
    headers = ["threads", "operation"] + [f"{w} ops/s" for w in ways]
    if have_raw:
        headers += [f"{w}/raw" for w in ways if w != "raw"]
    headers.append("targets")
    rows = []
    for threads, results in per_threads.items():
        for op in ops:
            row = [threads, op] + [results[(op, w)].median for w in ways]
            notes = []
            if have_raw:
                raw = results[(op, "raw")].median
                row += [f"{ratio(results[(op, w)].median, raw):.2f}x" for w in ways if w != "raw"]
                got = ratio(results[(op, "agentdb")].median, raw) if have_agentdb else 0.0
                want = None
                if have_agentdb and threads == 16 and dialect != "sqlite":
                    want = WALL_TARGET_16
                if have_agentdb and threads == 4 and dialect == "sqlite" and op == "insert":
                    want = SQLITE_INSERT_4
                if want is not None:
                    notes.append(f"{'met' if got >= want else 'MISSED'} >= {want:.2f}x raw")
                    if got < want:
                        missed.append(f"{dialect} {threads} threads {op}: wall {got:.2f}x raw "
                                      f"< {want:.2f}x")
            row.append(", ".join(notes))
            rows.append(row)
    text.append("throughput, operations/s over all threads (median of rounds, ways "
                "interleaved), and each way's ratio to raw:\n\n"
                + common.markdown_table(headers, rows))
    return "\n\n".join(text), missed


def plot(out: Path, dialect: str, per_threads: dict[int, dict[tuple[str, str], Measure]],
         ways: list[str], ops: list[str]) -> Path | None:
    """Grouped bars: throughput relative to raw, per operation, one panel per thread count."""
    if "raw" not in ways:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    counts = list(per_threads)
    fig, axes = plt.subplots(1, len(counts), figsize=(4.2 * len(counts), 3.6), dpi=110,
                             sharey=True, squeeze=False)
    width = 0.8 / len(ways)
    for ax, threads in zip(axes[0], counts, strict=True):
        results = per_threads[threads]
        for k, way in enumerate(ways):
            ys = [ratio(results[(op, way)].median, results[(op, "raw")].median) for op in ops]
            xs = [i + (k - (len(ways) - 1) / 2) * width for i in range(len(ops))]
            ax.bar(xs, ys, width, label=way)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(ops)))
        ax.set_xticklabels(ops)
        ax.set_title(f"{dialect}, {threads} thread{'s' if threads > 1 else ''}", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("throughput / raw driver")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(ways), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    path = out / f"compare_{dialect}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )
    parser.add_argument("--database", action="append", metavar="URL",
                        help="server or file URL (repeatable); default: SQLite, and the local "
                             "PostgreSQL and MariaDB when they answer")
    parser.add_argument("--threads", type=common.parse_int_list, default=[1, 4, 16])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4,
                        help="seconds per measurement (one operation, one way, one round)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="operations per thread per measurement instead of --seconds")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated subset of "
                        + ", ".join(OPS))
    parser.add_argument("--ways", default=None, help="comma-separated subset of "
                        + ", ".join(WAYS) + " (default: all; core and orm need SQLAlchemy)")
    parser.add_argument("--seed", type=int, default=2000, help="jobs in the database first")
    parser.add_argument("--out", type=Path, default=common.OUT_DIR)
    parser.add_argument("--publish", action="store_true",
                        help="also copy the plots to benchmarks/plots/ for RESULTS.md")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="skip the layer-by-layer cost of agentdb's get-by-id")
    args = parser.parse_args(argv)
    ops = [o for o in args.ops.split(",") if o]
    available = way_classes()
    if args.ways is None:
        ways = [w for w in WAYS if w in available]
        if len(ways) < len(WAYS):
            print("note: SQLAlchemy is not installed (pip install -e '.[bench]'): comparing "
                  "raw and agentdb only", file=sys.stderr)
    else:
        ways = [w for w in args.ways.split(",") if w]
    for o in ops:
        if o not in OPS:
            parser.error(f"unknown operation {o!r}")
    for w in ways:
        if w not in WAYS:
            parser.error(f"unknown way {w!r}")
        if w not in available:
            parser.error(f"way {w!r} needs SQLAlchemy: pip install -e '.[bench]'")

    usable = common.usable_urls(args.database)
    if usable is None:
        return 2

    per = (f"{args.iterations} operations per thread" if args.iterations is not None
           else f"{args.seconds:g} s")
    print(common.describe_machine(usable))
    print(f"compare: {', '.join(ways)}; threads {args.threads}; {args.rounds} rounds of {per} "
          f"per (operation, way), ways rotated each round; median round shown; "
          f"pools sized to the thread count, max_overflow=0")
    print()
    progress = common.Progress(
        len(usable) * len(args.threads) * args.rounds * len(ops) * len(ways))
    tables: list[str] = []
    missed: list[str] = []
    rows: list[dict[str, object]] = []
    pngs: list[Path] = []
    for url in usable:
        with common.fresh_database(url) as fresh:
            ids = seed(fresh, args.seed)
            ctx = build_context(fresh, ids)
            per_threads = {}
            try:
                for threads in args.threads:
                    per_threads[threads] = measure(ctx, threads, ways, ops, args, progress)
                if args.breakdown:
                    progress.show(f"{ctx.dialect}: where agentdb's time goes")
                    layers = breakdown(ctx, args.iterations or 2000, max(args.rounds, 3))
            finally:
                if ctx.admin is not None:
                    ctx.admin.close()
        table, miss = report(ctx.dialect, per_threads, ways, ops)
        text = f"### {ctx.dialect} ({args.rounds} rounds)\n\n{table}"
        if args.breakdown:
            text += f"\n\nwhere agentdb's time goes ({ctx.dialect}):\n\n{layers}"
        tables.append(text)
        print(text, end="\n\n", file=sys.stderr, flush=True)  # kept if a later backend fails
        missed += miss
        for threads, results in per_threads.items():
            for (op, way), m in results.items():
                rows.append({"backend": ctx.dialect, "threads": threads, "operation": op,
                             "way": way, "ops_per_s_median": round(m.median, 1),
                             "p50_us_median": round(m.p50, 1),
                             "client_cpu_us_per_op": round(m.cpu, 1),
                             "ops_per_s_rounds": " ".join(f"{x:.0f}" for x in m.ops_per_s),
                             "cpu_client_cores": round(statistics.median(m.cpu_client), 2)})
        if not args.no_plots and common.can_plot():
            png = plot(args.out, ctx.dialect, per_threads, ways, ops)
            if png is not None:
                pngs.append(png)
    progress.close()
    for table in tables:
        print(table)
        print()
    if "agentdb" in ways and ("raw" in ways or "aiosql" in ways):
        if missed:
            print("targets missed:")
            for line in missed:
                print(f"- {line}")
        else:
            print("targets met: every CPU and wall target of issue 13 that this run covers")
    print(f"load average at the end: {common.load_average()}")
    csv_path = common.write_csv(args.out / "compare.csv", rows)
    print(f"CSV: {csv_path}")
    for png in pngs:
        print(f"plot: {png}")
    if args.publish and pngs:
        import shutil

        common.PLOTS_DIR.mkdir(parents=True, exist_ok=True)
        for png in pngs:
            shutil.copy2(png, common.PLOTS_DIR / png.name)
        print(f"plots copied to {common.PLOTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
