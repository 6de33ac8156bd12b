"""Every configuration form DESIGN.md lists, and the errors for bad ones (no server needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import Databases

import agentdb
from agentdb import ConfigError
from agentdb.config import parse_config


@pytest.mark.parametrize(
    ("url", "dialect"),
    [
        ("postgresql://u:p@db.example:6543/app", "postgresql"),
        ("postgres://u:p@db.example:6543/app", "postgresql"),
        ("postgresql+asyncpg://u:p@db.example:6543/app", "postgresql"),
        ("mysql://u:p@db.example:6543/app", "mysql"),
        ("mariadb://u:p@db.example:6543/app", "mysql"),
        ("mysql+pymysql://u:p@db.example:6543/app", "mysql"),
    ],
)
def test_server_urls(url: str, dialect: str) -> None:
    c = parse_config(url)
    assert (c.dialect, c.host, c.port, c.username, c.password, c.database) == (
        dialect, "db.example", 6543, "u", "p", "app"
    )


def test_default_ports_and_percent_encoded_credentials() -> None:
    assert parse_config("postgresql://h/db").port == 5432
    assert parse_config("mysql://h/db").port == 3306
    c = parse_config("postgresql://us%40er:p%40ss%2Fw%3Ard@h/db")
    assert (c.username, c.password) == ("us@er", "p@ss/w:rd")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:////abs/dir/file.db", "/abs/dir/file.db"),
        ("sqlite+aiosqlite:///data/x.db", "data/x.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    c = parse_config(url)
    assert c.dialect == "sqlite" and c.path == path and c.host is None


def test_pool_options_from_the_query_string_and_the_rest_to_the_driver() -> None:
    c = parse_config(
        "postgresql://h/db?pool_size=10&max_overflow=20&pool_timeout=2.5&pool_recycle=60"
        "&pre_ping=false&sslmode=require&application_name=svc"
    )
    assert (c.pool_size, c.max_overflow, c.max_size) == (10, 20, 30)
    assert (c.pool_timeout, c.pool_recycle, c.pre_ping) == (2.5, 60.0, False)
    assert dict(c.driver_args) == {"sslmode": "require", "application_name": "svc"}
    m = parse_config("mysql://h/db?charset=utf8mb4&read_timeout=5")
    assert dict(m.driver_args) == {"charset": "utf8mb4", "read_timeout": 5}


def test_keyword_form_and_keywords_override_the_url() -> None:
    c = parse_config(
        dialect="mysql", host="127.0.0.1", username="root", database="app", pool_size=5,
        max_overflow=10, pool_timeout=30, pool_recycle=3600, pre_ping=True,
    )
    assert (c.dialect, c.host, c.port, c.username, c.database) == (
        "mysql", "127.0.0.1", 3306, "root", "app"
    )
    assert parse_config("postgresql://h/db?pool_size=3", pool_size=7).pool_size == 7


def test_environment_database_url_then_db_variables_then_default() -> None:
    c = parse_config(env={"DATABASE_URL": "postgres://a:b@h:1/d", "DB_DIALECT": "mysql"})
    assert (c.dialect, c.host, c.port) == ("postgresql", "h", 1)
    env = {
        "DB_DIALECT": "mysql", "DB_HOST": "dbhost", "DB_PORT": "3307", "DB_USER": "me",
        "DB_PASSWORD": "pw", "DB_NAME": "app", "DB_POOL_SIZE": "3", "DB_MAX_OVERFLOW": "4",
        "DB_POOL_TIMEOUT": "9", "DB_POOL_RECYCLE": "99",
    }
    c = parse_config(env=env)
    assert (c.dialect, c.host, c.port, c.username, c.password, c.database) == (
        "mysql", "dbhost", 3307, "me", "pw", "app"
    )
    assert (c.pool_size, c.max_overflow, c.pool_timeout, c.pool_recycle) == (3, 4, 9.0, 99.0)
    assert parse_config(env={"DB_DIALECT": "postgresql", "DB_USERNAME": "u"}).username == "u"
    assert parse_config(env={"DB_PATH": "/tmp/x.db"}).path == "/tmp/x.db"
    assert parse_config(env={}).path == "agentdb.db"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"url": "oracle://h/db"}, "oracle"),
        ({"url": "postgresql://h/db?pool_size=abc"}, "pool_size"),
        ({"url": "postgresql://h/db?pool_size=0"}, "pool_size"),
        ({"url": "postgresql://h/db?max_overflow=-1"}, "max_overflow"),
        ({"url": "postgresql://h/db?pool_timeout=0"}, "pool_timeout"),
        ({"url": "postgresql://h/db?pre_ping=maybe"}, "pre_ping"),
        ({"url": "postgresql://h/db?tls=sometimes"}, "tls"),
        ({"url": "postgresql://h/db?no_such_option=1"}, "no_such_option"),
        ({"url": "mysql://h/db?no_such_option=1"}, "no_such_option"),
        ({"url": "sqlite:///x.db?foo=1"}, "foo"),
        ({"url": "postgresql://h/db?pooling=sometimes"}, "pooling"),
        ({"url": "postgresql://h:notaport/db"}, "port"),
        ({"dialect": "mssql"}, "mssql"),
    ],
)
def test_bad_configuration_is_a_config_error_naming_it(kwargs: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse_config(**kwargs)


def test_connect_raises_config_error_before_touching_a_server() -> None:
    with pytest.raises(ConfigError, match="pool_size"):
        agentdb.connect("postgresql://127.0.0.1:1/db", pool_size="many")


def test_the_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    c = parse_config("postgresql://user:hunter2-secret@h:5432/db")
    for text in (repr(c), str(c), c.url(), f"{c}", c.target):
        assert "hunter2-secret" not in text
    assert "***" in str(c)
    assert "hunter2-secret" in c.url(hide_password=False)  # only for handing to a driver
    with pytest.raises(ConfigError) as info:
        parse_config("postgresql://user:hunter2-secret@h/db?pool_size=abc")
    assert "hunter2-secret" not in str(info.value)
    for url in ("mysql://user:hunter2-secret@127.0.0.1:1/db",
                "postgresql://user:hunter2-secret@127.0.0.1:1/db"):
        with caplog.at_level(logging.DEBUG), pytest.raises(agentdb.DatabaseUnavailable) as err:
            agentdb.connect(url, wait=0.2)
        assert "hunter2-secret" not in str(err.value) + caplog.text


def test_tls_is_off_on_loopback_unless_asked_for() -> None:
    assert parse_config("mysql://127.0.0.1/db").tls_enabled == "disable"
    assert parse_config("mysql://db.example/db").tls_enabled == "prefer"
    assert parse_config("mysql://127.0.0.1/db?tls=require").tls_enabled == "require"


def test_pool_recycle_below_zero_disables_it() -> None:
    assert parse_config("postgresql://h/db?pool_recycle=-1").pool_recycle is None


# -- passwords with reserved characters, other spellings ---------------------------------------

PASSWORDS = ["Kx7/secret", "a?b=c", "pa#ss", "p@ss/w?rd#x", "123/4567", "ab:cd/ef"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unencoded_reserved_characters_in_the_password_are_parsed(
        scheme: str, password: str) -> None:
    c = parse_config(f"{scheme}://u:{password}@db.example:6543/app?pool_size=3")
    assert (c.username, c.password, c.host, c.port, c.database) == (
        "u", password, "db.example", 6543, "app"
    )
    assert c.pool_size == 3
    for text in (repr(c), str(c), c.target, c.url()):
        for piece in [password, *password.replace("?", "/").replace("#", "/").split("/")]:
            assert len(piece) < 3 or piece not in text


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:Kx7/secret",             # no host at all: the port reading fails
        "postgresql://u:a@b?c@h/db",              # two readings: host b, or host h
        "postgresql://u:Kx7-a@bcd?x@h/db",
        "mysql://u:Kx7secret:99999/db",
        "postgresql://u:Kx7/sec ret@h/db#frag",
    ],
)
def test_ambiguous_or_malformed_urls_are_refused_without_quoting_them(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(url)
    message = str(info.value)
    for piece in ("Kx7", "secret", "sec", "bcd", "99999"):
        assert piece not in message
    assert "percent-encode" in message


def test_cli_never_shows_a_piece_of_a_bad_password(capsys: pytest.CaptureFixture[str]) -> None:
    from agentdb.cli import main

    for url in ("postgresql://u:Kx7/secret@127.0.0.1:1/db?connect_timeout=1&pool_timeout=1",
                "postgresql://u:Kx7/secret", "mysql://u:Kx7#secret@127.0.0.1:1/db?nope=1"):
        assert main(["check", "--database", url]) == 1
        out, err = capsys.readouterr()
        assert "Kx7" not in out + err and "secret" not in out + err


def test_sqlalchemy_spellings() -> None:
    pg = parse_config("postgresql+asyncpg://u:p@h/db?ssl=require")
    assert dict(pg.driver_args) == {"sslmode": "require"}
    assert dict(parse_config("postgresql+asyncpg://h/db?ssl=true").driver_args) == {
        "sslmode": "require"}
    my = parse_config("mysql+aiomysql://u:p@h/db?charset=utf8mb4&ssl=false")
    assert dict(my.driver_args) == {"charset": "utf8mb4"} and my.tls_enabled == "disable"
    with pytest.raises(ConfigError, match="ssl"):
        parse_config("mysql+aiomysql://h/db?ssl=sometimes")


def test_aiomysql_url_with_charset_connects(make_db: Databases) -> None:
    url = make_db.url("mysql").replace("mysql://", "mysql+aiomysql://", 1)
    db = agentdb.connect(url + ("&" if "?" in url else "?") + "charset=utf8mb4")
    try:
        assert db.health()["status"] == "healthy"
    finally:
        db.close()


def test_a_bare_path_and_db_name_are_sqlite_files(tmp_path: Path) -> None:
    assert parse_config("workflow.db").path == "workflow.db"
    assert parse_config("/tmp/dir/x.db").path == "/tmp/dir/x.db"
    assert parse_config(env={"DB_DIALECT": "sqlite", "DB_NAME": "x.db"}).path == "x.db"
    assert parse_config(env={"DB_NAME": "x.db", "DB_PATH": "y.db"}).path == "y.db"
    assert parse_config(env={"DATABASE_URL": "w.db"}).path == "w.db"
    with pytest.raises(ConfigError, match="scheme"):
        parse_config("postgresql:/h/db")
    path = f"{tmp_path}/workflow.db"
    db = agentdb.connect(path)
    try:
        assert db.dialect == "sqlite" and db.health()["status"] == "healthy"
    finally:
        db.close()


def test_fastapi_extra_brings_uvicorn() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extra = project["project"]["optional-dependencies"]["fastapi"]
    assert any(req.startswith("uvicorn") for req in extra)
