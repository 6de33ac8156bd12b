"""agentdb for asyncio: the sync core, run from async callers through a bounded executor.

::

    adb = await agentdb.connect_async("postgresql://app@db/app", pool_size=10)
    jobs = agentdb.aio(agentdb.JobStore)(adb)          # every public method, awaitable
    job = await jobs.create("word_count", parameters={"text": "hi"})
    async with adb.transaction():                      # one connection, across awaits
        await jobs.start(job.id, worker_id="w1")
        await jobs.add_log(job.id, "INFO", "started")
    await adb.aclose()

Design (chosen by measurement, see benchmarks/RESULTS.md "Async"): there is one implementation
of every repository, query and pool rule, the synchronous one. An :class:`AsyncDatabase` wraps
a :class:`~agentdb.pool.Database` and runs each call in its own thread pool, bounded by the
pool's ``max_size``; :func:`aio` builds the awaitable twin of a repository class by
introspection, so a method added to a repository tomorrow is awaitable tomorrow, with the same
records, validation and errors. Native psycopg async on PostgreSQL would have needed a second
(generated) copy of the query runner and of every repository for a gain the prototype did not
show on the round trips that dominate (see RESULTS.md).

Why it cannot deadlock (fastapi#3205): a caller first takes one of ``max_size`` *async slots*
on the event loop (waiting at most ``pool_timeout``, then PoolTimeout), and only then
occupies a thread. A unit of work holds its slot from BEGIN to COMMIT and runs its statements
one at a time, so there are never more thread jobs than threads, and a thread never waits for
a connection held by a caller that is waiting for a thread.

Units of work belong to the task: ``async with adb.transaction()`` stores the unit in the
Database's ContextVar in the task's context, and every statement's thread runs in a copy of
that context, so it finds the unit's connection whichever thread it is. Tasks started inside
the unit (``asyncio.gather``) share it and are serialised.

Cancellation: cancelling a task does not stop a statement already running in a thread. The
unit therefore waits for that statement (shielded from further cancellation), then rolls back
and gives the connection back (discarding it if the driver says it is broken), and only then
frees its slot. A bare call's slot is freed when its thread finishes, not when its caller
stops waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from time import monotonic
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar

from .config import Config, parse_config
from .errors import PoolTimeout, TransactionError
from .pool import Database, HealthReport, PoolStats
from .pool.database import _Savepoint, _Unit
from .repositories.base import Repository

__all__ = ["AsyncDatabase", "AsyncRepository", "AsyncStream", "aio", "async_methods",
           "connect_async"]

P = ParamSpec("P")
T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R", bound=Repository)


class _Slots:
    """At most ``size`` callers using threads at once; FIFO, each wait bounded by
    ``pool_timeout``. Touched only from event loops (a lock guards the rare cross-loop use)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.free = config.max_size
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self.waiters)

    async def take(self) -> None:
        with self.lock:
            if self.free > 0 and not self.waiters:
                self.free -= 1
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
        start = monotonic()
        try:
            async with asyncio.timeout(self.config.pool_timeout):
                await waiter
        except BaseException as exc:
            with self.lock:
                queued = waiter in self.waiters
                if queued:
                    self.waiters.remove(waiter)
            if not queued and waiter.done() and not waiter.cancelled():
                self.give()  # handed over just as we gave up: pass it on
            if isinstance(exc, TimeoutError):
                c = self.config
                raise PoolTimeout(monotonic() - start, c.pool_size, c.max_size,
                                  self.waiting) from None
            raise

    def give(self) -> None:
        with self.lock:
            if not self.waiters:
                self.free += 1
                return
            waiter = self.waiters.popleft()
        loop = waiter.get_loop()
        try:
            same = asyncio.get_running_loop() is loop
        except RuntimeError:
            same = False
        if same:
            self._grant(waiter)
        else:
            loop.call_soon_threadsafe(self._grant, waiter)

    def _grant(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled or timed out after it left the queue: next one
            self.give()
        else:
            waiter.set_result(None)


class _Threads:
    """The threads that run the sync core for one AsyncDatabase: at most ``size``, started as
    calls need them, each result handed to the caller's event loop with a single
    ``call_soon_threadsafe``. (``run_in_executor`` on a ThreadPoolExecutor does the same
    through a concurrent Future, its Condition, and an asyncio Future chained to it: ~25 µs
    more client CPU per call, measured in benchmarks/RESULTS.md "Async".)"""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self.jobs: queue.SimpleQueue[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any],
                                           Callable[[], Any]] | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.started = 0
        self.busy = 0
        self.closed = False

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``fn()`` in one of the threads; the future settles on the caller's loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self.lock:
            if self.closed:
                raise RuntimeError(f"{self.name}: the async database is closed")
            self.busy += 1
            start = self.busy > self.started and self.started < self.size
            if start:
                self.started += 1
            number = self.started
        if start:
            threading.Thread(target=self._work, name=f"{self.name}_{number}",
                             daemon=True).start()  # an unclosed database never blocks exit
        self.jobs.put((loop, future, fn))
        return future

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            loop, future, fn = job
            del job
            ok = True
            try:
                value = fn()
            except BaseException as exc:  # handed to the caller, as run_in_executor does
                ok, value = False, exc
            del fn
            with self.lock:
                self.busy -= 1
            with contextlib.suppress(RuntimeError):  # that loop closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, future, ok, value)
            del loop, future, value

    def shutdown(self) -> None:
        """Idle threads end; a call still running finishes first."""
        with self.lock:
            self.closed = True
            started = self.started
        for _ in range(started):
            self.jobs.put(None)


async def _serially(adb: AsyncDatabase, lock: asyncio.Lock, fn: Callable[..., T], *args: Any,
                    **kwargs: Any) -> T:
    """Run ``fn`` in a thread once the previous call under ``lock`` is done (one connection,
    one statement at a time). The thread's completion releases the lock, so a caller that
    gives up (cancelled) frees nothing while its statement still runs."""
    await lock.acquire()
    try:
        future = adb._submit(fn, *args, **kwargs)
    except BaseException:
        lock.release()
        raise

    def done(f: asyncio.Future[Any]) -> None:
        lock.release()
        if not f.cancelled():
            f.exception()  # retrieved: a caller that gave up leaves no "never retrieved" warning

    future.add_done_callback(done)
    return await asyncio.shield(future)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    elif isinstance(value, StopIteration):  # a Future refuses StopIteration
        future.set_exception(RuntimeError(repr(value)))
    else:
        future.set_exception(value)


class AsyncDatabase:
    """A :class:`~agentdb.pool.Database` for asyncio callers; ``sync`` is the Database itself
    (same pool), for code that runs in threads."""

    def __init__(self, db: Database, *, owned: bool = True) -> None:
        self.sync = db
        self.config = db.config
        self.dialect = db.dialect
        self._owned = owned
        self._slots = _Slots(db.config)
        self._threads = _Threads(db.config.max_size, "agentdb")
        self._unit: contextvars.ContextVar[AsyncUnit | None] = contextvars.ContextVar(
            "agentdb_async_unit", default=None)
        self._cleanups: set[asyncio.Task[None]] = set()

    # -- running sync code ---------------------------------------------------------------------

    def _submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        return self._threads.submit(
            functools.partial(contextvars.copy_context().run, fn, *args, **kwargs))

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run any sync callable that uses this Database (a repository method, your own
        function) in a thread, inside the current task's unit of work if there is one. Typed:
        ``job = await adb.run(jobs.get, job_id)`` is a ``Job`` to mypy."""
        unit = self._unit.get()
        if unit is not None:
            return await unit.call(fn, *args, **kwargs)
        slots = self._slots
        await slots.take()
        try:
            future = self._submit(fn, *args, **kwargs)
        except BaseException:
            slots.give()
            raise
        future.add_done_callback(_release(slots))  # when the thread is done, not the caller
        return await asyncio.shield(future)

    # -- units of work -------------------------------------------------------------------------

    def acquire(self, readonly: bool = False) -> AsyncUnit:
        """``async with adb.acquire() as conn``: a unit of work held by this task across its
        awaits, with the sync Database's rules (COMMIT on a clean exit, ROLLBACK on an
        exception or cancellation; nested in the same task it reuses the outer unit). ``conn``
        is the driver connection: use it only from code run by :meth:`run`."""
        return AsyncUnit(self, readonly)

    def transaction(self, readonly: bool = False, *, savepoint: bool = False) -> AsyncUnit:
        """A unit of work, as :meth:`acquire`; ``savepoint=True`` nested in a unit makes the
        block a savepoint (an exception out of it undoes only the block), as in the sync API."""
        return AsyncUnit(self, readonly, savepoint)

    @property
    def in_transaction(self) -> bool:
        return self._unit.get() is not None

    # -- pool ----------------------------------------------------------------------------------

    async def health(self) -> HealthReport:
        """The sync ``health()`` (one ``SELECT 1``; never raises) in a thread."""
        return await self.run(self.sync.health)

    def stats(self) -> PoolStats:
        """The pool's stats; ``waiting`` includes tasks queued for an async slot."""
        stats = self.sync.stats()
        return dataclasses.replace(stats, waiting=stats.waiting + self._slots.waiting)

    async def aclose(self) -> None:
        """Let cancelled units finish rolling back, then close the pool (if this object
        opened it) and the threads."""
        if self._cleanups:
            await asyncio.wait(list(self._cleanups), timeout=self.config.pool_timeout)
        if self._owned:
            await self._threads.submit(self.sync.close)
        self._threads.shutdown()

    async def __aenter__(self) -> AsyncDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<Async{self.sync!r}>"


def _release(slots: _Slots) -> Callable[[asyncio.Future[Any]], None]:
    def done(future: asyncio.Future[Any]) -> None:
        slots.give()
        if not future.cancelled():
            future.exception()  # retrieved: a caller that gave up logs no "never retrieved"

    return done


class AsyncUnit:
    """One ``async with adb.transaction()`` block."""

    def __init__(self, adb: AsyncDatabase, readonly: bool, savepoint: bool = False) -> None:
        self.adb = adb
        self.readonly = readonly
        self.savepoint = savepoint
        self.block: _Savepoint | None = None
        self.outer: AsyncUnit | None = None
        self.unit: _Unit | None = None
        self.lock = asyncio.Lock()  # one statement at a time on the connection
        self.closed = False
        self.opened = False

    async def __aenter__(self) -> Any:
        adb = self.adb
        outer = adb._unit.get()
        if outer is not None:
            self.outer = outer
            assert outer.unit is not None
            if outer.readonly and not self.readonly:
                raise TransactionError("cannot open a writing unit of work inside a read-only one")
            if self.savepoint:
                block = _Savepoint(adb.sync)  # finds the unit in this task's context
                await outer.call(block.__enter__)
                self.block = block
            return outer.unit.conn
        if adb.sync.in_transaction:
            raise TransactionError("an async unit of work cannot open inside a sync one")
        await adb._slots.take()
        unit = self.unit = _Unit(adb.sync, self.readonly)
        try:
            conn = await self._serial(self._open, unit)
        except BaseException as exc:
            await asyncio.shield(self._cleanup(type(exc), exc))
            raise
        adb._unit.set(self)
        adb.sync._unit.set(unit)
        return conn

    def _open(self, unit: _Unit) -> Any:
        conn = unit.open()
        self.opened = True
        return conn

    async def _serial(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await _serially(self.adb, self.lock, fn, *args, **kwargs)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        root = self.outer or self
        if root.closed:
            raise TransactionError("this unit of work has ended")
        return await root._serial(fn, *args, **kwargs)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.outer is not None:
            if self.block is not None:
                await self.outer.call(self.block.__exit__, exc_type, exc, tb)
            elif exc_type is not None:
                assert self.outer.unit is not None
                self.outer.unit.doomed = True
            return
        self.adb._unit.set(None)
        self.adb.sync._unit.set(None)
        await asyncio.shield(self._cleanup(exc_type, exc))

    def _cleanup(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None) -> asyncio.Task[None]:
        """Finish the unit in a task of its own, so a second cancellation cannot interrupt the
        rollback: the caller may stop waiting, the connection still comes back clean."""
        self.closed = True
        task = asyncio.get_running_loop().create_task(self._finish(exc_type, exc))
        cleanups = self.adb._cleanups
        cleanups.add(task)
        task.add_done_callback(cleanups.discard)
        return task

    async def _finish(self, exc_type: type[BaseException] | None,
                      exc: BaseException | None) -> None:
        try:
            await self.lock.acquire()  # wait for the statement still running, if any
            try:
                if self.opened and self.unit is not None:
                    await self.adb._threads.submit(functools.partial(
                        self.unit.close, exc_type,
                        exc if isinstance(exc, Exception) else None))  # not a cancellation
            finally:
                self.lock.release()
        finally:
            self.adb._slots.give()


class AsyncRepository(Generic[R]):
    """The awaitable twin of a repository: each public method of ``sync`` runs in a thread
    via :meth:`AsyncDatabase.run`. Build one with ``aio(JobStore)(adb)``."""

    sync_class: type[Repository] = Repository

    def __init__(self, adb: AsyncDatabase) -> None:
        self.adb = adb
        self.sync: R = self.sync_class(adb.sync)  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:  # what is not a method: db, queries...
        if name == "sync":
            raise AttributeError(name)
        return getattr(self.sync, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self.adb!r}>"


_CLASSES: dict[type[Repository], type[AsyncRepository[Any]]] = {}


def async_methods(cls: type[Repository]) -> dict[str, Callable[..., Any]]:
    """The public methods of ``cls`` (inherited ones too) that :func:`aio` makes awaitable, by
    name: plain functions only; constants, classmethods and properties are reached through
    ``__getattr__``. tools/gen_async_types.py types the same list (agentdb/aio_types.pyi)."""
    methods: dict[str, Callable[..., Any]] = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if inspect.isfunction(attr):  # (a staticmethod or classmethod object is not)
            methods[name] = attr
    return methods


def aio(cls: type[R]) -> type[AsyncRepository[R]]:
    """``aio(JobStore)`` -> ``AsyncJobStore``: a class with an ``async def`` twin of every
    public method of ``cls`` (inherited ones too), found by introspection, so nothing is
    written twice and methods added later are covered. ``await aio(cls)(adb).m(...)`` runs
    ``cls(adb.sync).m(...)`` in a thread, in the task's unit of work. For type checkers,
    ``agentdb.aio`` is typed per repository by agentdb/aio_types.pyi, generated from the same
    methods' signatures."""
    made = _CLASSES.get(cls)
    if made is None:
        namespace: dict[str, Any] = {"sync_class": cls, "__doc__": cls.__doc__,
                                     "__module__": cls.__module__}
        for name, fn in async_methods(cls).items():
            namespace[name] = _awaitable(name, fn)
        made = _CLASSES[cls] = type(f"Async{cls.__name__}", (AsyncRepository,), namespace)
    return made


def _awaitable(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def method(self: AsyncRepository[Any], /, *args: Any, **kwargs: Any) -> Any:
        result = await self.adb.run(getattr(self.sync, name), *args, **kwargs)
        if isinstance(result, Iterator):  # a lazy stream (stream()): pulled in threads
            return AsyncStream(self.adb, result)
        return result

    functools.update_wrapper(method, fn)
    del method.__wrapped__  # type: ignore[attr-defined]  # signature: (*args, **kwargs)
    method.__qualname__ = f"Async.{name}"
    return method


class AsyncStream(Generic[T]):
    """``async for row in await repo.stream(...)``: a sync row iterator that holds a connection
    (a stream's cursor) pulled a batch at a time in agentdb's threads. It holds an async slot
    (or runs inside the task's unit) until it is exhausted or closed: use ``async with`` or
    read to the end; ``aclose()`` after an early stop gives the connection back."""

    def __init__(self, adb: AsyncDatabase, rows: Iterator[T], batch: int = 256) -> None:
        self.adb = adb
        self.rows = rows
        self.batch = batch
        self.buffer: deque[T] = deque()
        self.unit = adb._unit.get()
        self.lock = asyncio.Lock()
        self.slot = False
        self.done = False

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        if not self.buffer:
            if self.done:
                raise StopAsyncIteration
            try:
                rows = await self._pull(_take, self.rows, self.batch)
            except BaseException:
                await self.aclose()
                raise
            if len(rows) < self.batch:
                await self.aclose()  # exhausted: the generator has given its connection back
            if not rows:
                raise StopAsyncIteration
            self.buffer.extend(rows)
        return self.buffer.popleft()

    async def _pull(self, fn: Callable[..., U], *args: Any) -> U:
        if self.unit is not None:
            return await self.unit.call(fn, *args)
        if not self.slot:
            await self.adb._slots.take()
            self.slot = True
        return await _serially(self.adb, self.lock, fn, *args)

    async def aclose(self) -> None:
        """Close the cursor and give the connection back (idempotent); waits for a pull still
        running in a thread, and a cancellation does not interrupt it."""
        if self.done:
            return
        self.done = True
        self.buffer.clear()
        if self.unit is not None:
            await self.unit.call(_close, self.rows)
            return
        task = asyncio.get_running_loop().create_task(self._finish())
        self.adb._cleanups.add(task)
        task.add_done_callback(self.adb._cleanups.discard)
        await asyncio.shield(task)

    async def _finish(self) -> None:
        try:
            async with self.lock:
                await self.adb._threads.submit(
                    functools.partial(contextvars.copy_context().run, _close, self.rows))
        finally:
            if self.slot:
                self.slot = False
                self.adb._slots.give()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _close(rows: Iterator[Any]) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def _take(rows: Iterator[T], n: int) -> list[T]:
    return list(itertools.islice(rows, n))


async def connect_async(url: str | None = None, **options: Any) -> AsyncDatabase:
    """Open a pool for asyncio callers: the URL forms, options and errors of
    :func:`agentdb.connect` (opening runs in a thread, so it never blocks the loop)."""
    config = parse_config(url, **options)
    loop = asyncio.get_running_loop()
    db = await loop.run_in_executor(None, Database, config)
    return AsyncDatabase(db)
