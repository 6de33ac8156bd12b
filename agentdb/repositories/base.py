"""The base every repository builds on: a Database and the named queries of one aggregate."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import QueryError
from ..paging import Keyset, Page
from ..queries import CHUNK_SIZE, STREAM_BATCH, Queries, RowStream

if TYPE_CHECKING:
    from ..pool import Database


R = TypeVar("R")


class Repository:
    """One aggregate's operations over a :class:`~agentdb.pool.Database`.

    A subclass sets ``queries = load("<aggregate>")`` and names queries through :meth:`run`
    and :meth:`run_many`; the SQL lives in ``sql/<aggregate>.sql``, never in Python. Whether a
    statement runs bare (one round trip) or inside the caller's unit of work is the Database's
    business, so repository methods compose: wrap several calls in ``db.transaction()`` and
    they commit or roll back together.
    """

    queries: ClassVar[Queries]

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    def run(self, name: str, record: type | None = None, /, **params: Any) -> Any:
        """Run one named query; the result's shape follows its kind (``:one``, ``:many``...);
        ``:one``/``:many`` rows are ``record`` instances when one is given, else dicts."""
        return self.queries.run(self.db, name, record, **params)

    def one(self, name: str, record: type[R], /, **params: Any) -> R | None:
        """A ``:one`` query's row as a ``record`` (a dataclass, built straight from the
        driver's tuple like agentdb's own records), or None; typed for your checker."""
        self._expect(name, "one")
        result: R | None = self.queries.run(self.db, name, record, **params)
        return result

    def many(self, name: str, record: type[R], /, **params: Any) -> list[R]:
        """A ``:many`` query's rows as ``record`` instances; typed for your checker."""
        self._expect(name, "many")
        result: list[R] = self.queries.run(self.db, name, record, **params)
        return result

    def paged(self, keyset: Keyset, name: str, convert: Callable[[Any], R] | None = None,
              record: type | None = None, /, *, after: str | None, limit: int, offset: int,
              by: str, order: str, **params: Any) -> Page[R]:
        """One page of a list query written for keyset paging (see :mod:`agentdb.paging`):
        the rows after the cursor ``after`` (or at ``offset``), sorted by ``by`` ``order``, and
        the cursor to the next page. Fetches ``limit + 1`` rows: the extra one says whether a
        next page exists. Rows are ``record`` instances, or dicts passed through ``convert``."""
        secret = self.db.config.cursor_secret
        params.update(keyset.where(after, offset, by, order, secret))
        rows = self.queries.run(self.db, name, record, limit=limit + 1, offset=offset, **params)
        if convert is not None:
            rows = [convert(r) for r in rows]
        return keyset.page(rows, limit, by, order, secret)

    def _expect(self, name: str, kind: str) -> None:
        query = self.queries[name]  # QueryError (with a suggestion) for an unknown name
        if query.kind != kind:
            raise QueryError(f"{query.file}:{query.line}: {name} is :{query.kind}; "
                             f"{'one' if kind == 'one' else 'many'}() needs a :{kind} query")

    def stream(self, name: str, /, *, batch_size: int = STREAM_BATCH,
               **params: Any) -> RowStream:
        """Rows of a ``:many`` query a batch at a time (see :meth:`Queries.stream`)."""
        return self.queries.stream(self.db, name, batch_size=batch_size, **params)

    def run_many(self, name: str, rows: Iterable[Mapping[str, Any]], /, *,
                 chunk_size: int = CHUNK_SIZE) -> int:
        """Run one named query per row, in one unit of work, one round trip per chunk."""
        return self.queries.run_many(self.db, name, rows, chunk_size=chunk_size)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on {self.db!r}>"
