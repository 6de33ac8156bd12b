"""Throwaway PostgreSQL and MariaDB servers for fault tests: real restarts, freezes and kills.

Each server lives in its own temporary directory on a free loopback port and is removed at the
end; it never touches the shared servers on 5432 and 3306. As root the server runs as its own
system user (``postgres`` / ``mysql``), as it must. The API::

    server = PostgresServer.create()      # or MariaDBServer.create(); started
    server.url                            # postgresql://postgres@127.0.0.1:PORT/agentdb
    server.stop("immediate")              # or "fast"; immediate = crash, no checkpoint
    server.start(); server.restart("immediate")
    server.freeze(); server.thaw()        # SIGSTOP / SIGCONT the server and its children
    server.kill_backends()                # pg_terminate_backend / KILL every client session
    server.remove()                       # stop and delete the directory

Topologies for replica and PgBouncer tests (built on the same classes)::

    replica = PostgresReplica.of(primary)  # pg_basebackup -R -X stream; replica.pause_replay()
    primary = MariaDBServer.create(primary=True); replica = MariaDBReplica.of(primary)
    bouncer = PgBouncer.create(primary)    # pool_mode=transaction, otherwise PgBouncer's defaults

Why not the shared servers: a fault test stops, freezes and kills its server, which would break
every other test (and helper) using it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pymysql

DATABASE = "agentdb"  # the database each server's `url` points at, created at first start


def free_port() -> int:
    """A loopback TCP port nobody listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc), without psutil."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == pid:
            out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (our exited child not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


_LIVE: list[ThrowawayServer] = []


class ThrowawayServer:
    """One server process tree in a temp dir; subclasses know how to run their kind."""

    dialect: ClassVar[str]
    system_user: ClassVar[str]

    def __init__(self, directory: Path, port: int) -> None:
        self.dir = directory
        self.port = port
        self.frozen = False

    # -- life cycle ---------------------------------------------------------------------------

    @classmethod
    def available(cls) -> str | None:
        """None when this machine can run the server, else why not."""
        raise NotImplementedError

    @classmethod
    def create(cls, **settings: Any) -> Any:
        """Make the data directory, start the server, create the test database. ``settings``
        are set on the server first (``binlog=True``, ``upstream=primary``...)."""
        as_root = os.geteuid() == 0
        directory = Path(tempfile.mkdtemp(prefix=f"agentdb-{cls.dialect}-"))
        if as_root:
            shutil.chown(directory, cls.system_user, cls.system_user)
        server = cls(directory, free_port())
        for name, value in settings.items():
            setattr(server, name, value)
        _LIVE.append(server)
        try:
            server._init()
            server.start()
            server._create_database()
        except BaseException:
            server.remove()
            raise
        return server

    def _init(self) -> None:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        raise NotImplementedError

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: a crash (no checkpoint, no goodbyes)."""
        raise NotImplementedError

    def restart(self, mode: str = "immediate") -> None:
        self.stop(mode)
        self.start()

    def pid(self) -> int | None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    def freeze(self) -> None:
        """SIGSTOP the server and its children: the port still accepts TCP, nothing answers."""
        self._signal_tree(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self._signal_tree(signal.SIGCONT)
        self.frozen = False

    def _signal_tree(self, sig: signal.Signals) -> None:
        pid = self.pid()
        if pid is None:
            return
        # The parent first, so it forks no new child (a backend) while we list its children.
        seen: set[int] = set()
        for _ in range(3):
            for p in [pid, *_children(pid)]:
                if p not in seen:
                    seen.add(p)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p, sig)

    def remove(self) -> None:
        """Stop the server (crash-fast) and delete its directory."""
        with contextlib.suppress(Exception):
            if self.frozen:
                self.thaw()
            if self.running:
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _LIVE:
            _LIVE.remove(self)

    def ensure_running(self) -> None:
        """Undo whatever a test left: thawed and started."""
        if self.frozen:
            self.thaw()
        if not self.running:
            self.start()

    # -- sessions -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        raise NotImplementedError

    def admin(self, timeout: float = 5) -> Any:
        """An autocommit driver connection (dict-free cursor) for test set-up and checks."""
        raise NotImplementedError

    def kill_backends(self) -> int:
        """End every client session but the one asking; returns how many were killed."""
        raise NotImplementedError

    def _create_database(self) -> None:
        raise NotImplementedError

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the server's own user (root may not run the servers)."""
        user = self.system_user if os.geteuid() == 0 else None
        return subprocess.run(
            list(args), user=user, capture_output=True, text=True, timeout=timeout,
            cwd=self.dir, check=True,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} 127.0.0.1:{self.port} {self.dir}>"


class PostgresServer(ThrowawayServer):
    """PostgreSQL via ``initdb`` + ``pg_ctl``, trust auth, socket in its own directory."""

    dialect = "postgresql"
    system_user = "postgres"
    extra_conf = ""  # more postgresql.conf lines (subclasses, topologies)

    @staticmethod
    def bindir() -> Path | None:
        try:
            out = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        return Path(out) if out and (Path(out) / "initdb").exists() else None

    @classmethod
    def available(cls) -> str | None:
        return None if cls.bindir() else "PostgreSQL server binaries (initdb, pg_ctl) not found"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def _tool(self, name: str) -> str:
        bindir = self.bindir()
        assert bindir is not None
        return str(bindir / name)

    def _init(self) -> None:
        self._run(self._tool("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync", "--locale=C")
        # Fast and small. fsync=off survives a crash of the server (not of the machine);
        # synchronous_commit stays on: an acknowledged COMMIT must survive an immediate stop.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\nfsync = off\n"
                "full_page_writes = off\nshared_buffers = 32MB\n"
                "max_connections = 60\nlogging_collector = off\n" + self.extra_conf
            )

    def start(self, timeout: float = 60) -> None:
        self._run(self._tool("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                  "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)

    def stop(self, mode: str = "fast") -> None:
        if self.frozen:
            self.thaw()
        self._run(self._tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60",
                  "stop", timeout=70)

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, timeout: float = 5) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname="postgres", autocommit=True,
                               connect_timeout=max(1, round(timeout)))

    def _create_database(self) -> None:
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def kill_backends(self) -> int:
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchall()
        return len(rows)


class MariaDBServer(ThrowawayServer):
    """MariaDB via ``mariadb-install-db`` and ``mariadbd`` in the background, by its own PID."""

    dialect = "mysql"
    system_user = "mysql"

    server_id = 1
    binlog = False  # a replication primary writes a binary log (GTIDs)

    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(directory, port)
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _binary(name: str) -> str | None:
        return shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
        )

    @classmethod
    def available(cls) -> str | None:
        if cls._binary("mariadbd") and cls._binary("mariadb-install-db"):
            return None
        return "MariaDB server binaries (mariadbd, mariadb-install-db) not found"

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def _init(self) -> None:
        install = self._binary("mariadb-install-db")
        assert install is not None
        args = [install, "--no-defaults", f"--datadir={self.data}", "--skip-test-db",
                "--auth-root-authentication-method=normal", "--skip-name-resolve"]
        if os.geteuid() == 0:
            args.append(f"--user={self.system_user}")
        subprocess.run(args, capture_output=True, text=True, timeout=180, check=True,
                       cwd=self.dir)

    def start(self, timeout: float = 60) -> None:
        mariadbd = self._binary("mariadbd")
        assert mariadbd is not None
        args = [
            mariadbd, "--no-defaults", f"--datadir={self.data}", f"--port={self.port}",
            "--bind-address=127.0.0.1", f"--socket={self.dir}/my.sock",
            f"--pid-file={self.dir}/my.pid", f"--log-error={self.dir}/err.log",
            "--skip-name-resolve", "--innodb-buffer-pool-size=128M",
            "--innodb-log-file-size=48M", "--innodb-flush-log-at-trx-commit=2",
            "--max-connections=100", "--performance-schema=OFF", f"--server-id={self.server_id}",
        ]
        if self.binlog:
            args += [f"--log-bin={self.dir}/binlog", "--binlog-format=ROW"]
        else:
            args.append("--skip-log-bin")
        if os.geteuid() == 0:
            args.append(f"--user={self.system_user}")
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited ({self.process.returncode}): "
                                   + self._log_tail())
            try:
                self.admin(timeout=1).close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mariadbd did not answer: " + self._log_tail()) from None
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            return (self.dir / "err.log").read_text()[-2000:]
        except OSError:
            return ""

    def stop(self, mode: str = "fast") -> None:
        if self.frozen:
            self.thaw()
        proc = self.process
        if proc is None:
            return
        proc.send_signal(signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
        proc.wait(timeout=60)
        self.process = None
        # the port is free once the process is gone; wait for the kernel to agree
        deadline = time.monotonic() + 5
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def url_for(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def admin(self, timeout: float = 5) -> pymysql.connections.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               autocommit=True, connect_timeout=timeout, ssl_disabled=True)

    def _create_database(self) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{DATABASE}` CHARACTER SET utf8mb4")
        finally:
            conn.close()

    def kill_backends(self) -> int:
        conn = self.admin()
        killed = 0
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE id <> CONNECTION_ID() AND command <> 'Daemon' AND user <> 'system user'"
                )
                for (session,) in cur.fetchall():
                    with contextlib.suppress(pymysql.err.OperationalError):
                        cur.execute(f"KILL {int(session)}")
                        killed += 1
        finally:
            conn.close()
        return killed


# -- topologies: streaming replicas and PgBouncer ------------------------------------------------


class PostgresPrimary(PostgresServer):
    """A primary to replicate from: commits wait for their WAL (as in production), and a
    session time zone other than UTC, so tests see that agentdb does not depend on it."""

    extra_conf = "synchronous_commit = on\ntimezone = 'America/New_York'\nwal_level = replica\n"


class PostgresReplica(PostgresServer):
    """A hot standby of ``upstream``: ``pg_basebackup -R -X stream``, started on its own port."""

    upstream: PostgresServer

    def _init(self) -> None:
        self._run(self._tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.upstream.port),
                  "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
                  "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:  # later lines win
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                       "hot_standby = on\n")

    def _create_database(self) -> None:
        self.wait_caught_up()  # the database comes from the primary

    def pause_replay(self) -> None:
        """Force lag: WAL still arrives, nothing of it is applied."""
        with self.admin() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.admin() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, timeout: float = 30) -> None:
        with self.upstream.admin() as up:
            target = up.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        deadline = time.monotonic() + timeout
        with self.admin() as conn:
            while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                   (target,)).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {self.port} did not reach {target}")
                time.sleep(0.05)


class MariaDBReplica(MariaDBServer):
    """A GTID replica of ``upstream`` (started with ``binlog=True``), from its first event."""

    upstream: MariaDBServer
    server_id = 2

    def _create_database(self) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%s, "
                    "MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, "
                    "MASTER_CONNECT_RETRY=1", (self.upstream.port,))
                cur.execute("START SLAVE")
        finally:
            conn.close()
        self.wait_caught_up()

    def stop_sql_thread(self) -> None:
        """Force lag: events still arrive, none is applied."""
        self._execute("STOP SLAVE SQL_THREAD")

    def start_sql_thread(self) -> None:
        self._execute("START SLAVE SQL_THREAD")

    def _execute(self, sql: str) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def wait_caught_up(self, timeout: float = 30) -> None:
        up = self.upstream.admin()
        try:
            with up.cursor() as cur:
                cur.execute("SELECT @@gtid_binlog_pos")
                target = cur.fetchone()[0]
        finally:
            up.close()
        conn = self.admin(timeout=timeout + 5)
        try:
            with conn.cursor() as cur:
                conn.read_timeout = timeout + 5
                cur.execute("SELECT MASTER_GTID_WAIT(%s, %s)", (target, timeout))
                reached = cur.fetchone()[0] == 0
                deadline = time.monotonic() + timeout
                while reached:  # and connected again: its lag is known (not NULL) once it is
                    cur.execute("SHOW SLAVE STATUS")
                    names = [d[0] for d in cur.description]
                    status = dict(zip(names, cur.fetchone(), strict=True))
                    if status["Slave_IO_Running"] == "Yes" and status[
                            "Seconds_Behind_Master"] is not None:
                        return
                    reached = time.monotonic() < deadline
                    time.sleep(0.05)
                cur.execute("SHOW SLAVE STATUS")
                raise RuntimeError(f"replica {self.port} did not reach {target}: "
                                   f"{cur.fetchone()}")
        finally:
            conn.close()


class PgBouncer(ThrowawayServer):
    """PgBouncer (Debian's, 1.18) in front of ``upstream`` with ``pool_mode = transaction``
    and otherwise its defaults: ``ignore_startup_parameters`` is only ``extra_float_digits``,
    so a client that sends ``options`` is refused, as in production."""

    dialect = "pgbouncer"
    system_user = "postgres"
    upstream: PostgresServer

    def __init__(self, directory: Path, port: int) -> None:
        super().__init__(directory, port)
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def available(cls) -> str | None:
        if shutil.which("pgbouncer"):
            return None
        return "pgbouncer not installed (apt-get install -y pgbouncer)"

    def _init(self) -> None:
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.upstream.port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir = {self.dir}\n"
            f"auth_type = trust\nauth_file = {self.dir}/userlist.txt\n"
            f"pool_mode = transaction\nlogfile = {self.dir}/pgbouncer.log\n"
        )
        if os.geteuid() == 0:
            for name in ("userlist.txt", "pgbouncer.ini"):
                shutil.chown(self.dir / name, self.system_user, self.system_user)

    def start(self, timeout: float = 30) -> None:
        self.process = subprocess.Popen(
            ["pgbouncer", str(self.dir / "pgbouncer.ini")],
            user=self.system_user if os.geteuid() == 0 else None,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "pgbouncer.log")
                raise RuntimeError("pgbouncer did not start: "
                                   + (log.read_text()[-2000:] if log.exists() else ""))
            time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        proc = self.process
        if proc is None:
            return
        proc.send_signal(signal.SIGKILL if mode == "immediate" else signal.SIGINT)
        proc.wait(timeout=30)
        self.process = None

    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, timeout: float = 5) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                               dbname=DATABASE, autocommit=True, prepare_threshold=None,
                               connect_timeout=max(1, round(timeout)))

    def _create_database(self) -> None:
        pass  # it serves the upstream's databases


SERVER_CLASSES: dict[str, type[ThrowawayServer]] = {
    "postgresql": PostgresServer,
    "mysql": MariaDBServer,
}


@atexit.register
def _remove_all() -> None:
    """Never leave a server behind, even when pytest is interrupted."""
    for server in list(_LIVE):
        server.remove()
