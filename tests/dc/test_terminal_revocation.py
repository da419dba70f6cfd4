"""Issue 10 finding 7: access to an open terminal ends with the member's access. A real
terminal WebSocket on a real sandbox; after the member is removed (or disabled, or their token
revoked, or their browser session logged out) the next input must not run, and the socket closes
with 4403 "access revoked"."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hemisphere.sdk import Conflict, HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import SESSION_COOKIE
from tests.console.web.conftest import WebClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.dc.test_terminal import read_until, terminal, ws_url
from tests.services.platform import RunningPlatform


class Member:
    """A plain member of the owner's team, logged in with their own API token."""

    def __init__(self, p: RunningPlatform, team_id: int) -> None:
        self.email = f"member-{secrets.token_hex(3)}@example.com"
        self.password = secrets.token_urlsafe(12)
        with p.client() as admin:
            self.user = admin.create_user(self.email, self.password, "member")
            admin.add_member(team_id, self.email)
        with HemisphereClient(p.base_url) as anon:
            login = anon.login(self.email, self.password)
        self.token, self.token_id = login.token, login.id

    def restore(self, p: RunningPlatform, team_id: int) -> str:
        """Access back (member again, enabled, a new token): for checking what was kept."""
        with p.client() as admin:
            with contextlib.suppress(Conflict):
                admin.add_member(team_id, self.email)
            admin.update_user(self.user.id, disabled=False)
        with HemisphereClient(p.base_url) as anon:
            return anon.login(self.email, self.password).token


@pytest.fixture
def team_ws(platform: RunningPlatform) -> tuple[RunningPlatform, m.Team, m.Workspace]:
    with platform.client() as admin:
        team = admin.create_team(f"revocation-{secrets.token_hex(2)}", dc=1)
        ws = admin.create_workspace(new_ws(team.id, "shared"))
        wait_for(admin, ws.id, lambda s: s.isRunning)
    return platform, team, ws


def _marker_exists(p: RunningPlatform, wid: int, name: str) -> bool:
    with p.client() as admin:
        out = admin.execute(wid, f"test -e ~/{name} && echo present || echo absent")
    return "present" in out.output


def _closed_with(conn: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes; the close code and reason it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            conn.recv(timeout=15)
    rcvd = closed.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, "")


def _remove(p: RunningPlatform, team: m.Team, who: Member) -> None:
    with p.client() as admin:
        admin.remove_member(team.id, who.user.id)


def _disable(p: RunningPlatform, team: m.Team, who: Member) -> None:
    with p.client() as admin:
        admin.update_user(who.user.id, disabled=True)


def _revoke_token(p: RunningPlatform, team: m.Team, who: Member) -> None:
    r = httpx.delete(
        f"{p.base_url}/api/tokens/{who.token_id}",
        headers={"Authorization": f"Bearer {who.token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("revoke", [_remove, _disable, _revoke_token], ids=lambda f: f.__name__)
def test_revoked_member_cannot_type_into_an_open_terminal(
    team_ws: tuple[RunningPlatform, m.Team, m.Workspace],
    revoke: Callable[[RunningPlatform, m.Team, Member], None],
) -> None:
    p, team, ws = team_ws
    member = Member(p, team.id)
    with terminal(p, ws.id, member.token) as (conn, hello):
        conn.send(b"touch ~/before-revocation; echo ready-$((3*3))\r")
        read_until(conn, r"ready-9")
        revoke(p, team, member)
        conn.send(b"touch ~/after-revocation\r")
        assert _closed_with(conn) == (4403, "access revoked")
    assert _marker_exists(p, ws.id, "before-revocation")
    assert not _marker_exists(p, ws.id, "after-revocation")
    # The shell was ended, not kept for reconnection: even with access restored, the old
    # session id gives a fresh shell.
    with terminal(p, ws.id, member.restore(p, team.id), session=hello["id"]) as (_, fresh):
        assert fresh["replay"] is False and fresh["id"] != hello["id"]


def test_an_idle_terminal_is_closed_when_access_ends(
    team_ws: tuple[RunningPlatform, m.Team, m.Workspace],
) -> None:
    p, team, ws = team_ws
    member = Member(p, team.id)
    with terminal(p, ws.id, member.token) as (conn, _):
        _remove(p, team, member)
        assert _closed_with(conn) == (4403, "access revoked")  # without typing anything


def test_logging_out_closes_the_browser_terminal(
    team_ws: tuple[RunningPlatform, m.Team, m.Workspace],
) -> None:
    p, team, ws = team_ws
    member = Member(p, team.id)
    web = WebClient(p)
    assert web.login(member.email, member.password).status_code == 303
    session = web.http.cookies[SESSION_COOKIE]
    with connect(
        ws_url(p, ws.id),
        additional_headers={"Cookie": f"{SESSION_COOKIE}={session}"},
        origin=p.settings.public_url,  # type: ignore[arg-type]
        proxy=None,
    ) as conn:
        assert json.loads(conn.recv(timeout=10))["type"] == "session"
        web.get("/teams")  # picks up the page's CSRF token
        assert web.post("/logout").status_code == 303
        conn.send(b"touch ~/after-logout\r")
        assert _closed_with(conn) == (4403, "access revoked")
    web.close()
    assert not _marker_exists(p, ws.id, "after-logout")
