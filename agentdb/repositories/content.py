"""Fetched content: ``ArticleRepository`` (one row per URL) and ``AlertRepository``."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .. import validate as v
from ..convert import from_json, to_utc, utc
from ..errors import NotFound, ValidationError
from ..paging import Keyset, Page
from ..queries import CHUNK_SIZE, load
from ..records import Record
from .base import Repository

_TITLE = 1024
_URL = 2048
_SOURCE = 255
_SEVERITY = 32
_TEXT = v.MAX_TEXT_BYTES  # LONGTEXT; the byte rule of validate.text
_ARTICLES = Keyset("articles", {"created_at": "time"})
_ALERTS = Keyset("alerts", {"created_at": "time"})


_at = utc


@dataclass(frozen=True, slots=True)
class Article(Record):
    id: str
    title: str
    url: str
    source: str | None
    summary: str | None
    content: str | None
    published_at: datetime | None
    fetched_at: datetime
    created_at: datetime
    metadata: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Article:
        return cls(
            id=row["id"],
            title=row["title"],
            url=row["url"],
            source=row["source"],
            summary=row["summary"],
            content=row["content"],
            published_at=to_utc(row["published_at"]),
            fetched_at=_at(row["fetched_at"]),
            created_at=_at(row["created_at"]),
            metadata=from_json(row["metadata"]),
        )


class AlertSeverity(StrEnum):
    """The usual severities; ``severity`` is free text (at most 32 characters) in the schema,
    so other values are stored and read back as given."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert(Record):
    id: str
    title: str
    message: str
    severity: str
    source_url: str | None
    created_at: datetime
    metadata: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        return cls(
            id=row["id"],
            title=row["title"],
            message=row["message"],
            severity=row["severity"],
            source_url=row["source_url"],
            created_at=_at(row["created_at"]),
            metadata=from_json(row["metadata"]),
        )


_ARTICLE_FIELDS = frozenset(
    {"title", "url", "source", "summary", "content", "published_at", "fetched_at", "metadata"}
)


def _article_params(
    title: Any,
    url: Any,
    source: Any = None,
    summary: Any = None,
    content: Any = None,
    published_at: Any = None,
    fetched_at: Any = None,
    metadata: Any = None,
    *,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": v.new_id(),
        "title": v.text("title", title, max_length=_TITLE),
        "url": _url("url", url),
        "source": v.text("source", source, max_length=_SOURCE, required=False),
        "summary": v.text("summary", summary, max_length=_TEXT, required=False),
        "content": v.text("content", content, max_length=_TEXT, required=False),
        "published_at": v.aware("published_at", published_at),
        "fetched_at": v.aware("fetched_at", fetched_at) or now,
        "created_at": now,
        "metadata": v.json_object("metadata", metadata),
    }


def _url(field: str, value: Any, *, required: bool = True) -> str | None:
    return v.text(field, value, max_length=_URL, required=required)


class ArticleRepository(Repository):
    """Articles, unique by URL.

    ``insert`` of a URL already stored raises ConflictError. ``insert_many`` sends one round
    trip per chunk, all in one unit of work: by default a duplicate URL anywhere in the batch
    raises ConflictError and nothing is inserted; with ``ignore_duplicates=True`` articles whose
    URL is stored already (or repeated in the batch) are skipped and the rest are inserted
    (``ON CONFLICT DO NOTHING`` on PostgreSQL and SQLite, a no-op ``ON DUPLICATE KEY UPDATE``
    on MySQL -- not ``INSERT IGNORE``, which would also swallow every other error).
    """

    __slots__ = ()
    queries = load("content")

    def insert(
        self,
        title: str,
        url: str,
        source: str | None = None,
        summary: str | None = None,
        content: str | None = None,
        published_at: datetime | None = None,
        *,
        fetched_at: datetime | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Article:
        """Store one article (``fetched_at`` defaults to now)."""
        params = _article_params(title, url, source, summary, content, published_at,
                                 fetched_at, metadata, now=v.utcnow())
        self.run("insert_article", **params)
        return Article(**params)

    def insert_many(
        self,
        articles: Iterable[Mapping[str, Any]],
        *,
        ignore_duplicates: bool = False,
        chunk_size: int = CHUNK_SIZE,
    ) -> int:
        """Store many articles (mappings with ``insert``'s argument names); returns how many
        were inserted. Every article is validated before any SQL runs."""
        if not isinstance(ignore_duplicates, bool):
            raise ValidationError("ignore_duplicates", "must be a bool")
        chunk_size = v.integer("chunk_size", chunk_size, minimum=1, maximum=10_000)
        now = v.utcnow()
        rows: builtins.list[dict[str, Any]] = []
        for i, article in enumerate(articles):
            if not isinstance(article, Mapping):
                raise ValidationError(f"articles[{i}]", "must be a mapping")
            unknown = sorted(set(article) - _ARTICLE_FIELDS)
            if unknown:
                raise ValidationError(f"articles[{i}]", f"unknown field(s) {', '.join(unknown)}")
            try:
                rows.append(_article_params(now=now, **article))
            except ValidationError as exc:
                raise ValidationError(f"articles[{i}].{exc.field}", exc.rule) from None
            except TypeError:
                raise ValidationError(f"articles[{i}]", "needs title and url") from None
        query = "insert_article_if_new" if ignore_duplicates else "insert_article"
        return self.run_many(query, rows, chunk_size=chunk_size)

    def get(self, article_id: str) -> Article:
        row = self.run("get_article", id=_id("article_id", article_id))
        if row is None:
            raise NotFound("article", article_id)
        return Article.from_row(row)

    def get_by_url(self, url: str) -> Article | None:
        """The article stored under ``url``, or None."""
        row = self.run("get_article_by_url", url=_url("url", url))
        return Article.from_row(row) if row is not None else None

    def recent(
        self,
        limit: int = 20,
        *,
        source: str | None = None,
        since: datetime | str | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> Page[Article]:
        """The most recently stored articles first; optionally of one ``source`` and stored
        at or after ``since``. A page: pass its ``next_cursor`` as ``after`` (same filters)
        for the next one."""
        limit, offset = v.page(limit, offset)
        return self.paged(
            _ARTICLES, "recent_articles", Article.from_row, None,
            after=after, by="created_at", order="desc",
            source=v.text("source", source, max_length=_SOURCE, required=False),
            since=v.aware("since", since),
            limit=limit,
            offset=offset,
        )

    def count(self) -> int:
        return int(self.run("count_articles"))

    def delete(self, article_id: str) -> None:
        """NotFound if missing."""
        if not self.run("delete_article", id=_id("article_id", article_id)):
            raise NotFound("article", article_id)


class AlertRepository(Repository):
    """Alerts raised about sources, newest first."""

    __slots__ = ()
    queries = load("content")

    def create(
        self,
        title: str,
        message: str,
        severity: AlertSeverity | str = AlertSeverity.INFO,
        source_url: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Alert:
        record = Alert(
            id=v.new_id(),
            title=_required("title", title, _TITLE),
            message=_required("message", message, _TEXT),
            severity=_required("severity", _severity(severity), _SEVERITY),
            source_url=_url("source_url", source_url, required=False),
            created_at=v.utcnow(),
            metadata=v.json_object("metadata", metadata),
        )
        self.run("insert_alert", id=record.id, title=record.title, message=record.message,
                 severity=record.severity, source_url=record.source_url,
                 created_at=record.created_at, metadata=record.metadata)
        return record

    def get(self, alert_id: str) -> Alert:
        row = self.run("get_alert", id=_id("alert_id", alert_id))
        if row is None:
            raise NotFound("alert", alert_id)
        return Alert.from_row(row)

    def recent(
        self,
        limit: int = 20,
        *,
        severity: AlertSeverity | str | None = None,
        since: datetime | str | None = None,
        offset: int = 0,
        after: str | None = None,
    ) -> Page[Alert]:
        """Newest first; optionally of one ``severity`` and created at or after ``since``.
        A page: pass its ``next_cursor`` as ``after`` (same filters) for the next one."""
        limit, offset = v.page(limit, offset)
        return self.paged(
            _ALERTS, "recent_alerts", Alert.from_row, None,
            after=after, by="created_at", order="desc",
            severity=v.text("severity", _severity(severity), max_length=_SEVERITY,
                            required=False),
            since=v.aware("since", since),
            limit=limit,
            offset=offset,
        )

    def by_source_url(
        self, source_url: str, limit: int = 100, offset: int = 0, after: str | None = None
    ) -> Page[Alert]:
        """Alerts about one source URL, newest first; paged like :meth:`recent`."""
        limit, offset = v.page(limit, offset)
        return self.paged(_ALERTS, "alerts_by_source_url", Alert.from_row, None, after=after,
                          by="created_at", order="desc",
                          source_url=_url("source_url", source_url), limit=limit, offset=offset)

    def delete(self, alert_id: str) -> None:
        """NotFound if missing."""
        if not self.run("delete_alert", id=_id("alert_id", alert_id)):
            raise NotFound("alert", alert_id)


def _severity(value: Any) -> Any:
    return value.value if isinstance(value, AlertSeverity) else value


def _required(field: str, value: Any, max_length: int) -> str:
    result = v.text(field, value, max_length=max_length)
    assert result is not None
    return result


_id = v.required_id


__all__ = ["Alert", "AlertRepository", "AlertSeverity", "Article", "ArticleRepository"]
