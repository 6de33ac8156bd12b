"""Turn a URL, keywords or the environment into one validated :class:`Config`.

All three ways of configuring a database meet here, so every other module can trust its input:
a bad scheme, option name or value raises :class:`ConfigError` naming it, and the password is
kept out of every ``repr``/``str`` (it is only handed to the driver).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote

from .errors import ConfigError

Dialect = Literal["sqlite", "postgresql", "mysql"]

DEFAULT_URL = "sqlite:///agentdb.db"

_SCHEMES: dict[str, Dialect] = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
_DEFAULT_PORTS: dict[str, int] = {"postgresql": 5432, "mysql": 3306}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_TLS_MODES = ("auto", "disable", "prefer", "require")
_DURABILITY = ("normal", "full")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Config:
    """Everything needed to open a pool; build it with :func:`parse_config`."""

    dialect: Dialect
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    path: str | None = None  # SQLite file
    pool_size: int = 5  # connections kept open
    max_overflow: int = 10  # extra connections allowed under load
    pool_timeout: float = 30.0  # seconds to wait for a free connection
    pool_recycle: float | None = 3600.0  # seconds; None never replaces by age
    pre_ping: bool = True  # check a connection idle longer than ping_interval
    ping_interval: float = 5.0  # seconds of idleness after which pre_ping pings
    connect_timeout: float = 10.0  # seconds to open one connection (and to answer health())
    statement_timeout: float | None = 30.0  # seconds to wait for a reply; None = forever
    durability: str = "normal"  # SQLite: "full" survives power loss (synchronous=FULL)
    busy_timeout: int = 30000  # SQLite: milliseconds to wait on another process's lock
    tls: str = "auto"  # auto = off on loopback, the driver's default elsewhere
    prepare_threshold: int | None = 5  # psycopg automatic prepared statements; None = off
    pooling: bool = True  # False: keep no connection open between uses (SQLAlchemy's NullPool)
    slow_query_ms: float | None = None  # statements slower than this log at WARNING; None = off
    log_parameters: bool = False  # agentdb.sql log lines show parameter values (may be secrets)
    # The key that signs keyset cursors (agentdb.paging); None: a library constant, which only
    # catches corrupted or edited cursors. Set one to make cursors unforgeable.
    cursor_secret: str | None = field(default=None, repr=False)
    driver_args: Mapping[str, Any] = field(default_factory=dict)  # other URL query keys
    # Scaling out (see agentdb/pool/replicas.py): read replicas, PgBouncer, a direct URL
    replicas: tuple[Config, ...] = ()  # read-only copies; each gets its own pool
    max_replica_lag: float | None = 5.0  # seconds; a replica further behind is skipped
    pgbouncer: bool | None = None  # PostgreSQL behind PgBouncer (transaction mode); None = detect
    direct: Config | None = field(default=None, repr=False)  # for migrations, LISTEN

    @property
    def memory(self) -> bool:
        """An in-memory SQLite database (``sqlite:///:memory:``): it lives while its Database
        is open, in this process only."""
        return self.dialect == "sqlite" and str(self.path).startswith((":memory:", "file:"))

    @property
    def max_size(self) -> int:
        return self.pool_size + self.max_overflow

    @property
    def target(self) -> str:
        """Where the database lives, safe to print: ``host:port/db`` or the SQLite path."""
        if self.dialect == "sqlite":
            return str(self.path)
        return f"{self.host or 'localhost'}:{self.port}/{self.database or ''}"

    @property
    def tls_enabled(self) -> str:
        """The TLS mode really used: ``auto`` resolved against the host."""
        if self.tls != "auto":
            return self.tls
        return "disable" if (self.host or "localhost") in _LOOPBACK else "prefer"

    def url(self, *, hide_password: bool = True, scheme: str | None = None) -> str:
        """The URL of this database; the password masked unless asked for."""
        scheme = scheme or self.dialect
        if self.dialect == "sqlite":
            return f"{scheme}:///{self.path}"
        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if self.password:
                auth += ":" + ("***" if hide_password else quote(self.password, safe=""))
            auth += "@"
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{auth}{host}:{self.port}/{self.database or ''}"

    def __str__(self) -> str:
        return self.url()


_POOL_OPTIONS: dict[str, type] = {
    "pool_size": int,
    "max_overflow": int,
    "pool_timeout": float,
    "pool_recycle": float,
    "pre_ping": bool,
    "ping_interval": float,
    "connect_timeout": float,
    "statement_timeout": float,
    "durability": str,
    "busy_timeout": int,
    "tls": str,
    "prepare_threshold": int,
    "pooling": bool,
    "max_replica_lag": float,
    "pgbouncer": bool,
    "slow_query_ms": float,
    "log_parameters": bool,
    "cursor_secret": str,
}
_ENV_OPTIONS = {
    "DB_POOL_SIZE": "pool_size",
    "DB_MAX_OVERFLOW": "max_overflow",
    "DB_POOL_TIMEOUT": "pool_timeout",
    "DB_POOL_RECYCLE": "pool_recycle",
    "DATABASE_REPLICA_URLS": "replicas",
    "DATABASE_DIRECT_URL": "direct_url",
    "DB_PGBOUNCER": "pgbouncer",
    "DB_MAX_REPLICA_LAG": "max_replica_lag",
}
_NONE_OK = ("pool_recycle", "prepare_threshold", "statement_timeout", "max_replica_lag",
            "pgbouncer", "slow_query_ms", "cursor_secret")


def _coerce(name: str, value: Any) -> Any:
    """Convert and range-check one pool option; raise ConfigError naming it."""
    kind = _POOL_OPTIONS[name]
    if value is None and name in _NONE_OK:
        return None
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number: Any = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        else:
            number = str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}={value!r} is not a valid {kind.__name__}") from None
    if name == "cursor_secret":
        if not number:
            raise ConfigError("option cursor_secret must not be empty")
        return number
    if name == "tls":
        if number not in _TLS_MODES:
            raise ConfigError(f"option tls={number!r} must be one of {', '.join(_TLS_MODES)}")
        return number
    if name == "durability":
        if number not in _DURABILITY:
            raise ConfigError(f"option durability={number!r} must be one of "
                              f"{', '.join(_DURABILITY)}")
        return number
    if name in ("pool_recycle", "statement_timeout") and number <= 0:
        return None  # like SQLAlchemy's pool_recycle=-1: never replace by age
    if name in ("prepare_threshold", "max_replica_lag", "slow_query_ms") and number < 0:
        return None  # no limit
    minimum = 1 if name == "pool_size" else 0
    if number < minimum or (kind is float and number == 0
                            and name not in ("ping_interval", "max_replica_lag",
                                             "slow_query_ms")):
        raise ConfigError(f"option {name}={value!r} is out of range (must be > {minimum - 1})")
    return number


def _driver_value(value: str) -> Any:
    """URL query values are text; drivers such as PyMySQL want ints and bools."""
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.isdigit():
        return int(value)
    return value


# SQLAlchemy's create_engine() keywords a porting user is likely to pass, and where agentdb
# has the same thing: the ConfigError for an unknown option points there.
_SQLALCHEMY_SPELLINGS = {
    "pool_pre_ping": "use pre_ping",
    "poolclass": "use pooling=False for NullPool",
    "echo": 'use logging.getLogger("agentdb.sql").setLevel(logging.DEBUG)',
    "echo_pool": "use db.stats()",
    "isolation_level": "sessions run READ COMMITTED; to choose another, pass the driver's "
                       "options=-c default_transaction_isolation=... (PostgreSQL) or "
                       "init_command (MariaDB)",
    "connect_args": "pass driver options as keywords or in the URL's query string",
    "future": "not needed",
}


def _unknown(dialect: Dialect, names: list[str]) -> ConfigError:
    hints = [f"{n}: {_SQLALCHEMY_SPELLINGS[n]}" for n in names if n in _SQLALCHEMY_SPELLINGS]
    hint = f" ({'; '.join(hints)})" if hints else ""
    return ConfigError(f"unknown option(s) for {dialect}: {', '.join(names)}{hint}")


def _check_driver_args(dialect: Dialect, args: Mapping[str, Any]) -> None:
    if not args:
        return
    if dialect == "sqlite":
        raise _unknown(dialect, sorted(args))
    if dialect == "postgresql":
        from psycopg import pq

        known = {d.keyword.decode() for d in pq.Conninfo.get_defaults()}
        known.discard("password")
    else:
        import inspect

        import pymysql

        known = set(inspect.signature(pymysql.connections.Connection.__init__).parameters)
        known -= {"self", "password", "passwd", "cursorclass", "autocommit"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise _unknown(dialect, unknown)


_ENCODE_HINT = "percent-encode / ? # @ in the user name or password (%2F %3F %23 %40)"
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# What may follow the credentials: host (or [IPv6]), port, /database, ?query. No '@' in the
# host, port or database; the query may hold one. No #fragment: a database URL has none.
_AFTER_AT = re.compile(
    r"(?:\[(?P<ipv6>[^\]/?#@]*)\]|(?P<host>[^/?#@:\[\]]*))"
    r"(?::(?P<port>[^/?#@]*))?(?P<path>/[^?#@]*)?(?:\?(?P<query>[^#]*))?\Z"
)


def _credentials(rest: str) -> tuple[str | None, re.Match[str]]:
    """Split what follows ``scheme://`` into the credentials and a match of the rest, or refuse.

    The credentials end at an '@' that a host, port, database and query can follow, with no
    '/', '?' or '#' in the user name. A password may hold those, or '@', unencoded as long as
    only one reading of the URL is left; when two are (``u:a@b?c@h/db``), the URL is refused.
    No message ever quotes the URL: any part of it may be part of the password."""
    readings: dict[int, tuple[str | None, re.Match[str]]] = {}
    bad_port = False
    for at in [-1, *(i for i, c in enumerate(rest) if c == "@")]:
        match = _AFTER_AT.match(rest, at + 1)
        if match is None or (at >= 0 and any(c in rest[:at].partition(":")[0] for c in "/?#")):
            continue
        if not _valid_port(match):
            bad_port = True
            continue
        readings[at] = (rest[:at] if at >= 0 else None, match)
    if len(readings) == 1:
        return next(iter(readings.values()))
    if len(readings) > 1:
        raise ConfigError(f"ambiguous database URL: more than one '@' could end the password; "
                          f"{_ENCODE_HINT}")
    if bad_port:
        raise ConfigError("malformed database URL: the port must be a number from 1 to 65535 "
                          f"(if there is a password: {_ENCODE_HINT})")
    raise ConfigError(f"malformed database URL (if there is a password: {_ENCODE_HINT})")


def _valid_port(match: re.Match[str]) -> bool:
    port = match["port"]
    return not port or (port.isdigit() and 0 < int(port) < 65536)


def parse_url(url: str) -> dict[str, Any]:
    """Split a database URL into Config keywords (options not yet validated).

    A string without ``://`` is a SQLite file path (``"workflow.db"``)."""
    if not isinstance(url, str) or not url:
        raise ConfigError("the database URL must be a non-empty string")
    if "://" not in url:
        prefix = _SCHEME_RE.match(url)
        if prefix and prefix.group()[:-1].split("+", 1)[0].lower() in _SCHEMES:
            raise ConfigError("malformed database URL: write scheme://..., e.g. "
                              "sqlite:///file.db or postgresql://host/db")
        return {"dialect": "sqlite", "path": url}
    scheme_text, rest = url.split("://", 1)
    scheme = scheme_text.split("+", 1)[0].lower()  # +asyncpg, +pymysql, ...: we pick drivers
    if scheme not in _SCHEMES:
        shown = scheme_text if _SCHEME_RE.fullmatch(scheme_text + ":") else "?"
        raise ConfigError(
            f"unsupported URL scheme {shown!r}; use one of "
            "sqlite, postgresql, postgres, mysql, mariadb"
        )
    dialect = _SCHEMES[scheme]
    out: dict[str, Any] = {"dialect": dialect}
    if dialect == "sqlite":
        path, _, query_text = rest.partition("?")
        path = unquote(path)
        if not path.startswith("/") or len(path) < 2:
            raise ConfigError("a SQLite URL needs a file: sqlite:///relative.db or sqlite:////abs.db")
        out["path"] = path[1:]
    else:
        userinfo, match = _credentials(rest)
        username = password = None
        if userinfo is not None:
            user_text, colon, password_text = userinfo.partition(":")
            username = unquote(user_text) or None
            password = unquote(password_text) if colon else None
        host = match["ipv6"] if match["ipv6"] is not None else match["host"]
        out.update(
            host=unquote(host) or None,
            port=int(match["port"]) if match["port"] else None,
            username=username,
            password=password,
            database=unquote((match["path"] or "").lstrip("/")) or None,
        )
        query_text = match["query"] or ""
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    if "ssl" in query:  # SQLAlchemy's asyncpg / aiomysql spelling
        out.update(_ssl_option(dialect, query.pop("ssl")))
    out.update(query)
    return out


_SSL_TRUE = {"true", "1", "yes", "on", "require"}
_SSL_FALSE = {"false", "0", "no", "off", "disable"}


def _ssl_option(dialect: Dialect, value: str) -> dict[str, str]:
    """``?ssl=`` as asyncpg and aiomysql spell it, as our own options: libpq's ``sslmode`` on
    PostgreSQL (``ssl=true`` is ``require``), ``tls`` on MySQL."""
    text = value.strip().lower()
    mode = "require" if text in _SSL_TRUE else "disable" if text in _SSL_FALSE else text
    if dialect == "postgresql" and mode in (
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ):
        return {"sslmode": mode}
    if dialect == "mysql" and mode in ("disable", "prefer", "require"):
        return {"tls": mode}
    raise ConfigError(f"option ssl={value!r} is not understood for {dialect}; use sslmode= "
                      "(PostgreSQL) or tls=disable|prefer|require")


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    if env.get("DATABASE_URL"):
        parsed = parse_url(env["DATABASE_URL"])
        for key in ("DATABASE_REPLICA_URLS", "DATABASE_DIRECT_URL", "DB_PGBOUNCER",
                    "DB_MAX_REPLICA_LAG"):
            if env.get(key):
                parsed[_ENV_OPTIONS[key]] = env[key]
        return parsed
    dialect = env.get("DB_DIALECT", "sqlite").lower()
    out: dict[str, Any] = {"dialect": dialect}
    for key, name in (
        ("DB_HOST", "host"),
        ("DB_PORT", "port"),
        ("DB_USER", "username"),
        ("DB_USERNAME", "username"),
        ("DB_PASSWORD", "password"),
        ("DB_NAME", "database"),
        ("DB_PATH", "path"),
    ):
        if env.get(key):
            out[name] = env[key]
    for key, name in _ENV_OPTIONS.items():
        if env.get(key):
            out[name] = env[key]
    if out["dialect"] == "sqlite" and "path" not in out and "database" not in out:
        out["path"] = parse_url(DEFAULT_URL)["path"]
    return out


def parse_config(
    url: str | None = None, env: Mapping[str, str] | None = None, **kwargs: Any
) -> Config:
    """Build a Config from a URL, keywords, or (with neither) the environment.

    Keywords win over the URL. Pool options may come in the URL's query string; any other query
    key is handed to the driver (``sslmode``, ``connect_timeout``, ``charset``, ...).
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if url is not None:
        raw = parse_url(url)
    elif "dialect" in kwargs:
        raw = {}
    else:
        raw = _from_env(os.environ if env is None else env)
    raw.update(kwargs)
    if "user" in raw and "username" not in raw:
        raw["username"] = raw.pop("user")
    dialect = str(raw.pop("dialect", "")).split("+", 1)[0].lower()
    if dialect not in _SCHEMES:
        raise ConfigError(f"unsupported dialect {dialect!r}; use sqlite, postgresql or mysql")
    resolved: Dialect = _SCHEMES[dialect]
    fields = {f.name for f in dataclasses.fields(Config)} - {"dialect", "driver_args"}
    values: dict[str, Any] = {}
    driver_args: dict[str, Any] = dict(raw.pop("driver_args", None) or {})
    replicas = raw.pop("replicas", None)
    direct = raw.pop("direct_url", None) or raw.pop("direct", None)
    for key, value in raw.items():
        if key in _POOL_OPTIONS:
            values[key] = _coerce(key, value)
        elif key in fields:
            values[key] = value
        else:
            driver_args[key] = _driver_value(value) if isinstance(value, str) else value
    _check_driver_args(resolved, driver_args)
    if resolved == "sqlite":
        # DB_NAME=x.db / database="x.db" name the file when no path is given
        path = values["path"] = values.get("path") or values.get("database")
        if not path:
            raise ConfigError("sqlite needs path= (a database file)")
        if path == ":memory:" or str(path).startswith(("file::memory:", "file:agentdb-memory-")):
            # Each Database names its own shared-cache in-memory database (pool/sqlite.py).
            values["path"] = ":memory:" if not str(path).startswith("file:agentdb-") else path
        for key in ("host", "port", "username", "password", "database"):
            values.pop(key, None)
    else:
        values.pop("path", None)
        if values.get("port") is not None:
            try:
                values["port"] = int(values["port"])
            except (TypeError, ValueError):
                raise ConfigError(f"option port={values['port']!r} is not a valid int") from None
        else:
            values["port"] = _DEFAULT_PORTS[resolved]
    config = Config(dialect=resolved, driver_args=driver_args, **values)
    if replicas or direct:
        if resolved == "sqlite":
            raise ConfigError("replicas= and direct_url= need a server database, not sqlite")
        config = dataclasses.replace(
            config,
            replicas=tuple(_node(config, spec, "replicas") for spec in _split(replicas)),
            direct=_node(config, direct, "direct_url") if direct else None,
        )
    if config.pgbouncer and config.dialect != "postgresql":
        raise ConfigError("option pgbouncer=true is for postgresql only")
    return config


def _split(specs: Any) -> list[Any]:
    """``replicas`` as a list, or as one comma-separated string (URL query, environment)."""
    if specs is None:
        return []
    if isinstance(specs, str):
        return [part.strip() for part in specs.split(",") if part.strip()]
    if isinstance(specs, Config):
        return [specs]
    try:
        return list(specs)
    except TypeError:
        raise ConfigError(f"option replicas={specs!r} must be a list of URLs") from None


def _node(primary: Config, spec: Any, option: str) -> Config:
    """Another server of the same database: a full URL (``postgresql://...``), or just
    ``host:port`` that keeps the primary's user, password, database and options. Pool options
    are the primary's unless the URL sets its own; a node has no replicas of its own."""
    if isinstance(spec, Config):
        node = spec
    elif not isinstance(spec, str) or not spec:
        raise ConfigError(f"option {option}={spec!r} must be a URL or host:port")
    elif "://" not in spec:
        host, colon, port = spec.rpartition(":")
        if not colon or not host:
            host, port = spec, ""
        try:
            number = int(port) if port else primary.port
        except ValueError:
            raise ConfigError(f"option {option}={spec!r}: port {port!r} is not a number") from None
        node = dataclasses.replace(primary, host=host.strip("[]"), port=number)
    else:
        raw = parse_url(spec)
        inherited = {name: getattr(primary, name) for name in _POOL_OPTIONS}
        inherited["driver_args"] = dict(primary.driver_args)
        node = parse_config(None, **{**inherited, **raw})
    if node.dialect != primary.dialect:
        raise ConfigError(f"option {option}: a {node.dialect} server cannot serve a "
                          f"{primary.dialect} database")
    # The direct URL exists to bypass PgBouncer; a replica may have its own, so it detects.
    pgbouncer = False if option == "direct_url" else node.pgbouncer
    return dataclasses.replace(node, replicas=(), direct=None, pgbouncer=pgbouncer)
