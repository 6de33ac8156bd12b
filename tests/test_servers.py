"""The throwaway servers themselves: they start, crash, restart, freeze and lose sessions."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import pytest


def select_one(server: Any) -> int:
    conn = server.admin(timeout=2)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_a_server_restarts_in_immediate_mode_on_the_same_port(server: Any) -> None:
    assert server.port not in (5432, 3306)
    assert select_one(server) == 1
    server.stop("immediate")
    assert not server.running
    with pytest.raises(Exception):  # noqa: B017 - whichever driver error: nobody listens
        select_one(server)
    server.start()
    assert select_one(server) == 1


def test_a_frozen_server_accepts_tcp_but_never_answers(server: Any) -> None:
    server.freeze()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
            s.settimeout(0.5)
            start = time.monotonic()
            with pytest.raises(TimeoutError):  # a live server greets first (MySQL) or replies
                s.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")  # (PostgreSQL SSLRequest)
                s.recv(1)
            assert time.monotonic() - start >= 0.4
    finally:
        server.thaw()
    assert select_one(server) == 1


def test_kill_backends_ends_other_sessions(server: Any) -> None:
    victim = server.admin()
    try:
        assert server.kill_backends() >= 1
        time.sleep(0.1)
        with pytest.raises(Exception):  # noqa: B017 - the session is gone
            cur = victim.cursor()
            cur.execute("SELECT 1")
            cur.fetchall()
    finally:
        with contextlib.suppress(Exception):
            victim.close()
