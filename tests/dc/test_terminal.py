"""The terminal WebSocket against real sandboxes: echo, resize, Ctrl-C, reconnecting to the same
shell, and who may open a terminal at all."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from hemisphere.dc.errors import TerminalSessionGone, TooManyTerminals
from hemisphere.dc.terminal_sessions import Scrollback, TerminalSessions
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import SESSION_COOKIE
from hemisphere.workspaces.runtime.pty import PtyTerminal, host_master
from tests.console.web.conftest import WebClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.services.platform import RunningPlatform


def ws_url(p: RunningPlatform, wid: int, **query: object) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"ws://127.0.0.1:{p.settings.port}/api/workspaces/{wid}/terminal" + (
        f"?{q}" if q else ""
    )


@contextmanager
def terminal(
    p: RunningPlatform, wid: int, token: str, **query: object
) -> Iterator[tuple[ClientConnection, dict[str, object]]]:
    with connect(
        ws_url(p, wid, **query),
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        open_timeout=10,
    ) as conn:
        hello = json.loads(conn.recv(timeout=10))
        assert hello["type"] == "session", hello
        yield conn, hello


def read_until(conn: ClientConnection, pattern: str, timeout: float = 15) -> str:
    """Output until `pattern` (a regex) matches; fails with what was seen."""
    seen = ""
    deadline = time.monotonic() + timeout
    while not re.search(pattern, seen):
        left = deadline - time.monotonic()
        assert left > 0, f"{pattern!r} never appeared; output was {seen[-2000:]!r}"
        try:
            frame = conn.recv(timeout=left)
        except TimeoutError:
            continue
        if isinstance(frame, bytes):
            seen += frame.decode(errors="replace")
    return seen


def close_code(conn: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            conn.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.fixture
def running(platform: RunningPlatform) -> tuple[RunningPlatform, str, m.Workspace]:
    _, token = platform.new_user("term")
    with platform.client(token) as c:
        team = c.create_team("terminals", dc=1)
        ws = c.create_workspace(new_ws(team.id, "shell"))
        wait_for(c, ws.id, lambda s: s.isRunning)
    return platform, token, ws


def test_echo_resize_and_ctrl_c(running: tuple[RunningPlatform, str, m.Workspace]) -> None:
    p, token, ws = running
    with terminal(p, ws.id, token, cols=80, rows=24) as (conn, hello):
        assert hello["replay"] is False
        conn.send(b"echo hello-$((6*7))\r")
        read_until(conn, r"hello-42")
        conn.send(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
        conn.send(b"stty size\r")
        read_until(conn, r"40 120")
        conn.send(b"sleep 600\r")
        time.sleep(0.3)  # let the shell start sleep before interrupting it
        conn.send(b"\x03")
        conn.send(json.dumps({"type": "input", "data": "echo after-$((1+1))\r"}))
        read_until(conn, r"after-2")
        conn.send(b"printf '\\033[31mred\\033[0m\\n'\r")
        read_until(conn, r"\x1b\[31mred")  # colours pass through untouched


def test_reconnect_keeps_the_shell(running: tuple[RunningPlatform, str, m.Workspace]) -> None:
    p, token, ws = running
    with terminal(p, ws.id, token) as (conn, hello):
        sid = hello["id"]
        conn.send(b"export MARK=kept; echo pid=$$\r")
        pid = re.findall(r"pid=(\d+)", read_until(conn, r"pid=\d+"))[-1]
        conn.send(b"(sleep 1; echo while-away) &\r")
    # The connection dropped; the shell lives on and its output is buffered.
    time.sleep(1.5)
    with terminal(p, ws.id, token, session=sid) as (conn, hello):
        assert hello["replay"] is True and hello["id"] == sid
        replay = read_until(conn, r"while-away")
        assert f"pid={pid}" in replay
        conn.send(b"echo $MARK-$$\r")
        read_until(conn, rf"kept-{pid}")


def test_newest_client_takes_over(running: tuple[RunningPlatform, str, m.Workspace]) -> None:
    p, token, ws = running
    with terminal(p, ws.id, token) as (first, hello):  # noqa: SIM117 - the second needs `hello`
        with terminal(p, ws.id, token, session=hello["id"]) as (second, again):
            assert again["replay"] is True
            assert close_code(first) == 4410
            second.send(b"echo second-$((2*2))\r")
            read_until(second, r"second-4")


def test_exit_ends_the_session(running: tuple[RunningPlatform, str, m.Workspace]) -> None:
    p, token, ws = running
    with terminal(p, ws.id, token) as (conn, hello):
        conn.send(b"exit\r")
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(conn.recv(timeout=10))
        assert {"type": "exit"} in [json.loads(x) for x in messages if isinstance(x, str)]
    with terminal(p, ws.id, token, session=hello["id"]) as (_, fresh):
        assert fresh["replay"] is False and fresh["id"] != hello["id"]


def test_who_may_open_a_terminal(running: tuple[RunningPlatform, str, m.Workspace]) -> None:
    p, token, ws = running
    _, other = p.new_user("other")
    with connect(ws_url(p, ws.id), proxy=None) as conn:
        assert close_code(conn) == 4401
    with connect(
        ws_url(p, ws.id), additional_headers={"Authorization": f"Bearer {other}"}, proxy=None
    ) as conn:
        assert close_code(conn) == 4404
    with connect(
        ws_url(p, 999999), additional_headers={"Authorization": f"Bearer {token}"}, proxy=None
    ) as conn:
        assert close_code(conn) == 4404
    # Another user cannot attach to this user's session, even knowing its id.
    with terminal(p, ws.id, token) as (_, hello):
        with p.client(other) as c:
            team = c.create_team("others", dc=1)
            theirs = c.create_workspace(new_ws(team.id, "theirs"))
            wait_for(c, theirs.id, lambda s: s.isRunning)
        with terminal(p, theirs.id, other, session=hello["id"]) as (_, stolen):
            assert stolen["replay"] is False and stolen["id"] != hello["id"]
    # A session cookie works only from this site's pages (cross-site WebSocket hijacking), and
    # only with a browser session in it: an API token in the cookie is refused.
    with connect(
        ws_url(p, ws.id),
        additional_headers={"Cookie": f"{SESSION_COOKIE}={token}"},
        origin=p.settings.public_url,  # type: ignore[arg-type]
        proxy=None,
    ) as conn:
        assert close_code(conn) == 4401
    assert p.admin is not None
    web = WebClient(p)
    assert web.login(p.admin.email, p.admin.password).status_code == 303
    cookie = {"Cookie": f"{SESSION_COOKIE}={web.http.cookies[SESSION_COOKIE]}"}
    web.close()
    with pytest.raises(InvalidStatus) as refused:
        connect(
            ws_url(p, ws.id), additional_headers=cookie, origin="http://evil.example", proxy=None
        )  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with connect(
        ws_url(p, ws.id),
        additional_headers=cookie,
        origin=p.settings.public_url,  # type: ignore[arg-type]
        proxy=None,
    ) as conn:
        assert json.loads(conn.recv(timeout=10))["type"] == "session"


def test_stopped_workspace_has_no_terminal(
    running: tuple[RunningPlatform, str, m.Workspace],
) -> None:
    p, token, ws = running
    with terminal(p, ws.id, token) as (conn, _):
        with p.client(token) as c:
            c.stop_workspace(ws.id)
            wait_for(c, ws.id, lambda s: s.state == "stopped")
        messages = []
        with pytest.raises(ConnectionClosed):
            while True:
                messages.append(conn.recv(timeout=10))
        assert {"type": "exit"} in [json.loads(x) for x in messages if isinstance(x, str)]
    with connect(
        ws_url(p, ws.id), additional_headers={"Authorization": f"Bearer {token}"}, proxy=None
    ) as conn:
        assert close_code(conn) == 4409


# ---- the session registry, with a real pty on the host and a hand-driven clock --------------


async def _host_shell() -> PtyTerminal:
    return await PtyTerminal.spawn(
        ["/bin/bash", "--norc", "--noprofile"],
        master=host_master(),
        owner=(0, 0),
        cols=80,
        rows=24,
        env={"PATH": "/usr/bin:/bin", "TERM": "dumb", "PS1": "$ "},
        session_members=lambda _sid: set(),
    )


async def test_detached_sessions_expire_after_the_grace_period() -> None:
    now = [1000.0]
    sessions = TerminalSessions(grace_s=60, clock=lambda: now[0])
    session = await sessions.open(1, 7, _host_shell)
    try:
        attachment, _ = session.attach()
        await session.terminal.write(b"echo ready-$((3*3))\n")
        seen = b""
        while b"ready-9" not in seen:
            chunk = await asyncio.wait_for(attachment.queue.get(), 10)
            assert chunk is not None
            seen += chunk
        session.detach(attachment)
        session.detached_at = now[0]
        now[0] += 59
        await sessions.reap()
        assert sessions.find(session.id, 1, 7) is session
        now[0] += 2
        await sessions.reap()
        assert len(sessions) == 0
    finally:
        await sessions.close_all()


async def test_oldest_detached_session_makes_room() -> None:
    sessions = TerminalSessions(max_per_user=2)
    try:
        a = await sessions.open(1, 7, _host_shell)
        b = await sessions.open(1, 7, _host_shell)
        b.attach()
        c = await sessions.open(1, 7, _host_shell)  # a was detached: it goes
        assert sessions.find(b.id, 1, 7) is b and sessions.find(c.id, 1, 7) is c
        with pytest.raises(TerminalSessionGone):
            sessions.find(a.id, 1, 7)
        c.attach()
        with pytest.raises(TooManyTerminals):  # both in use: nothing to make room with
            await sessions.open(1, 7, _host_shell)
        assert len(sessions) == 2
    finally:
        await sessions.close_all()


def test_scrollback_keeps_the_tail_from_a_line_start() -> None:
    sb = Scrollback(limit=20)
    sb.append(b"first line\n")
    sb.append(b"second line\n")
    sb.append(b"third\n")
    assert sb.snapshot() == b"second line\nthird\n"  # "first line" cut at its newline
    sb.append(b"x" * 50)
    assert sb.snapshot() == b"x" * 20
