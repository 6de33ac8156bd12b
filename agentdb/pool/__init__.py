"""Connection pools over psycopg_pool, DBUtils PooledDB and sqlite3, behind one Database."""

from .base import HealthReport, PoolStats
from .database import Database, connect
from .manager import PoolManager

__all__ = ["Database", "HealthReport", "PoolManager", "PoolStats", "connect"]
