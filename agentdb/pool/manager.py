"""Named pools: one Database per SQLite file or server URL, shared by whoever asks."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from ..config import parse_config
from .database import Database


class PoolManager:
    """Hands out one Database per name; ``close_all()`` closes every one of them.

    A name is a URL (``postgresql://...``) or a SQLite file path (``workflow.db``). Options given
    to the manager are defaults for every pool it opens; options given to ``get`` apply to the
    first ``get`` of that name only, since later calls return the pool already open.
    """

    def __init__(self, **defaults: Any) -> None:
        self._defaults = defaults
        self._pools: dict[str, Database] = {}
        self._lock = threading.Lock()
        _MANAGERS.add(self)

    @staticmethod
    def _url(name: str) -> str:
        if "://" in name:
            return name
        return "sqlite:///" + os.path.abspath(name)

    def get(self, name: str, **options: Any) -> Database:
        url = self._url(name)
        config = parse_config(url, **{**self._defaults, **options})
        key = config.url(hide_password=False)
        with self._lock:
            db = self._pools.get(key)
            if db is None:
                db = self._pools[key] = Database(config)
            return db

    def names(self) -> list[str]:
        """The pools open now, passwords masked."""
        with self._lock:
            return [db.config.url() for db in self._pools.values()]

    def close_all(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for db in pools:
            db.close()

    def __enter__(self) -> PoolManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

    def __len__(self) -> int:
        return len(self._pools)


_MANAGERS: weakref.WeakSet[PoolManager] = weakref.WeakSet()


def reset_locks() -> None:
    """In a forked child: a fresh lock for every manager (see database._reset_after_fork)."""
    for manager in list(_MANAGERS):
        manager._lock = threading.Lock()
