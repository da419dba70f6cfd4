"""The preview proxy against real sandboxes: who may open `{port}-{name}-{id}.{domain}`, the
browser hand-off from the console session, what the proxied app sees, and WebSockets."""

from __future__ import annotations

import secrets
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from hemisphere.dc.preview_hosts import parse_preview_host, preview_host, preview_label
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import SESSION_COOKIE
from tests.console.web.conftest import WebClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.dc.workspace_apps import start_echo_app, start_in_background
from tests.services.platform import RunningPlatform

HTML = {"Accept": "text/html,application/xhtml+xml"}


class Preview:
    """Requests to preview hosts, sent to the platform's loopback port with the Host header a
    browser would send."""

    def __init__(self, p: RunningPlatform) -> None:
        self.p = p
        self.http = httpx.Client(base_url=p.base_url, follow_redirects=False, timeout=30)
        # API token -> the same user's browser session: the console's session cookie holds only
        # browser sessions (an API token there is refused, issue 10), so tests pass the token
        # they hold and the cookie carries that user's session.
        self.sessions: dict[str, str] = {}

    def new_user(self, prefix: str) -> str:
        """A fresh user, logged in both ways; returns the API token (see `sessions`)."""
        email = f"{prefix}-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        with self.p.client() as admin:
            admin.create_user(email, password, prefix)
        with HemisphereClient(self.p.base_url) as anon:
            token = anon.login(email, password).token
        web = WebClient(self.p)
        try:
            assert web.login(email, password).status_code == 303
            self.sessions[token] = web.http.cookies[SESSION_COOKIE]
        finally:
            web.close()
        return token

    def host(self, ws: m.Workspace, port: int) -> str:
        return preview_host(port, ws.name, ws.id, self.p.settings.preview_domain)

    def send(
        self,
        method: str,
        path: str,
        *,
        host: str | None = None,
        session: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """One request, cookies only as given (nothing kept between requests, as the tests
        play several browsers)."""
        h = dict(headers or {})
        if host:
            h["Host"] = host
        if session:
            h["Cookie"] = f"{SESSION_COOKIE}={self.sessions.get(session, session)}"
        try:
            return self.http.request(method, path, headers=h, **kw)
        finally:
            self.http.cookies.clear()

    def get(self, host: str, path: str = "/", **kw: Any) -> httpx.Response:
        return self.send("GET", path, host=host, **kw)

    def post(self, host: str, path: str = "/", **kw: Any) -> httpx.Response:
        return self.send("POST", path, host=host, **kw)

    def console(self, path: str, session: str | None = None, **params: str) -> httpx.Response:
        return self.send("GET", path, session=session, params=params)

    def login_browser(self, ws: m.Workspace, port: int, session: str) -> str:
        """Walk the hand-off like a browser; returns the preview cookie it ends with."""
        host = self.host(ws, port)
        first = self.get(host, "/sub/page?x=1", headers=HTML)
        assert first.status_code == 302, first.text
        to_console = httpx.URL(first.headers["location"])
        assert (
            to_console.host == "localhost" and to_console.path == "/__hemisphere/preview/authorize"
        )
        granted = self.send("GET", to_console.raw_path.decode(), session=session)
        assert granted.status_code == 302, granted.text
        back = httpx.URL(granted.headers["location"])
        assert back.netloc.decode() == host and back.path == "/__hemisphere/auth"
        redeemed = self.get(host, back.raw_path.decode())
        assert redeemed.status_code == 302, redeemed.text
        assert redeemed.headers["location"] == "/sub/page?x=1"
        set_cookie = redeemed.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert "domain=" not in set_cookie  # host-only
        return str(redeemed.headers["set-cookie"].split(";")[0].partition("=")[2])


def eventually(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def served(platform: RunningPlatform) -> Iterator[tuple[Preview, str, m.Workspace]]:
    """A running workspace with `python3 -m http.server 3000` and the echo app on 3001."""
    pv = Preview(platform)
    token = pv.new_user("dev")
    with platform.client(token) as c:
        team = c.create_team("web", dc=1)
        ws = c.create_workspace(new_ws(team.id, "site"))
        wait_for(c, ws.id, lambda s: s.isRunning)
        c.execute(ws.id, "mkdir -p pub && echo hello-preview > pub/index-marker.txt")
        start_in_background(c, ws.id, "python3 -m http.server 3000 --directory pub", 3000)
        start_echo_app(c, ws.id, 3001)
    try:
        yield pv, token, ws
    finally:
        pv.http.close()


def test_host_names_are_unambiguous() -> None:
    assert preview_label(3000, "api-2", 5) == "3000-api-2-5"
    addr = parse_preview_host("3000-api-2-5.localhost:8080", "localhost:8080")
    assert addr is not None and (addr.port, addr.workspace_id) == (3000, 5)
    long = preview_label(65535, "n" * 63, 123456789)
    assert len(long) == 63 and long.endswith("-123456789")
    for bad in (
        "localhost:8080",
        "3000-x.localhost:8080",
        "a.3000-x-1.localhost:8080",
        "99999-x-1.localhost:8080",
        "3000-x-1.localhost:9090",
        "3000--1.localhost:8080",
    ):
        assert parse_preview_host(bad, "localhost:8080") is None, bad  # fmt: skip


def test_scripts_use_x_cs_authorization(served: tuple[Preview, str, m.Workspace]) -> None:
    pv, token, ws = served
    assert ws.devDomain == pv.host(ws, 3000)
    with pv.p.client(token) as c:
        ports = {p.port: p.url for p in c.ports(ws.id)}
    assert ports[3000] == f"http://{pv.host(ws, 3000)}/"
    r = pv.get(pv.host(ws, 3000), headers={"X-CS-Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "index-marker.txt" in r.text
    r = pv.get(pv.host(ws, 3000), "/index-marker.txt",
               headers={"X-CS-Authorization": f"Bearer {token}"})  # fmt: skip
    assert r.text == "hello-preview\n"
    bad = pv.get(pv.host(ws, 3000), headers={"X-CS-Authorization": "Bearer hsp_nope"})
    assert bad.status_code == 401


def test_outsiders_get_the_same_404(served: tuple[Preview, str, m.Workspace]) -> None:
    pv, _, ws = served
    stranger = pv.new_user("stranger")
    as_stranger = {"X-CS-Authorization": f"Bearer {stranger}"}
    theirs = pv.get(pv.host(ws, 3000), headers=as_stranger)
    missing = pv.get(preview_host(3000, "site", ws.id + 1000, pv.p.settings.preview_domain),
                     headers=as_stranger)  # fmt: skip
    renamed = pv.get(preview_host(3000, "other", ws.id, pv.p.settings.preview_domain),
                     headers=as_stranger)  # fmt: skip
    anonymous = pv.get(pv.host(ws, 3000))  # a script without credentials
    for r in (theirs, missing, renamed, anonymous):
        assert r.status_code == 404
        assert r.text == theirs.text
    # The console host's hand-off refuses them too.
    auth = pv.console("/__hemisphere/preview/authorize", stranger, host=pv.host(ws, 3000), next="/")
    assert auth.status_code == 404


def test_browser_hand_off(served: tuple[Preview, str, m.Workspace]) -> None:
    pv, token, ws = served
    host = pv.host(ws, 3000)
    cookie = pv.login_browser(ws, 3000, token)
    r = pv.get(host, headers={"Cookie": f"hemisphere_preview={cookie}"})
    assert r.status_code == 200 and "index-marker.txt" in r.text
    # Not logged in at the console: the hand-off asks for a login first, then comes back here.
    anon = pv.console("/__hemisphere/preview/authorize", host=host, next="/")
    assert anon.status_code == 302
    login = httpx.URL(anon.headers["location"])
    assert login.path == "/login"
    assert dict(login.params)["next"].startswith("/__hemisphere/preview/authorize?")
    # The cookie opens this workspace only.
    with pv.p.client(token) as c:
        other = c.create_workspace(new_ws(ws.teamId, "other"))
        wait_for(c, other.id, lambda s: s.isRunning)
        start_in_background(c, other.id, "python3 -m http.server 3000", 3000)
    elsewhere = pv.get(pv.host(other, 3000), headers={"Cookie": f"hemisphere_preview={cookie}"})
    assert elsewhere.status_code == 404
    # Grants are single-use.
    first = pv.get(host, "/", headers=HTML)
    grant_url = pv.send(
        "GET", httpx.URL(first.headers["location"]).raw_path.decode(), session=token
    ).headers["location"]
    path = httpx.URL(grant_url).raw_path.decode()
    assert pv.get(host, path).status_code == 302
    again = pv.get(host, path)
    assert again.status_code == 400 and "already used" in again.text
    # A grant for one workspace does not open another.
    stolen = pv.get(pv.host(other, 3000), path)
    assert stolen.status_code == 400
    # Only same-host redirects after the hand-off.
    evil = pv.console("/__hemisphere/preview/authorize", token, host=host, next="//evil.example/")
    back = urllib.parse.parse_qs(httpx.URL(evil.headers["location"]).query.decode())
    assert back["next"] == ["/"]
    not_preview = pv.console(
        "/__hemisphere/preview/authorize", token, host="evil.example", next="/"
    )
    assert not_preview.status_code == 400


def test_what_the_app_sees(served: tuple[Preview, str, m.Workspace]) -> None:
    pv, token, ws = served
    host = pv.host(ws, 3001)
    cookie = pv.login_browser(ws, 3001, token)
    r = pv.post(
        host,
        "/echo?q=1",
        content=b"payload",
        headers={
            "Cookie": f"theirs=1; hemisphere_preview={cookie}",
            "Origin": f"http://{host}",
            "Content-Type": "text/plain",
        },
    )
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["method"], seen["path"], seen["body"]) == ("POST", "/echo?q=1", "payload")
    assert seen["headers"]["host"] == host
    assert seen["headers"]["cookie"] == "theirs=1"  # our cookie is not the app's business
    assert seen["headers"]["x-forwarded-proto"] == "http"
    assert r.headers["set-cookie"] == "app=1; Path=/"
    scripted = pv.get(host, headers={"X-CS-Authorization": f"Bearer {token}"}).json()
    assert "x-cs-authorization" not in scripted["headers"]
    # A cookie-authenticated write from another site's page is refused.
    cross = pv.post(host, "/", content=b"x", headers={
        "Cookie": f"hemisphere_preview={cookie}", "Origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403


def test_websockets_pass_through(served: tuple[Preview, str, m.Workspace]) -> None:
    pv, token, ws = served
    host = pv.host(ws, 3001)
    port = pv.p.settings.port

    def dial(**kw: Any) -> ClientConnection:
        sock = socket.create_connection(("127.0.0.1", port))
        return connect(f"ws://{host}/socket", sock=sock, proxy=None, **kw)

    with dial(additional_headers={"X-CS-Authorization": f"Bearer {token}"},
              subprotocols=["chat"]) as conn:  # fmt: skip
        assert conn.subprotocol == "chat"
        conn.send("hi")
        assert conn.recv(timeout=10) == "echo:hi"
        conn.send(b"\x00\x01" * 1000)
        assert conn.recv(timeout=10) == b"\x00\x01" * 1000
    cookie = pv.login_browser(ws, 3001, token)
    with dial(additional_headers={"Cookie": f"hemisphere_preview={cookie}"},
              origin=f"http://{host}") as conn:  # fmt: skip
        conn.send("from-browser")
        assert conn.recv(timeout=10) == "echo:from-browser"
    with pytest.raises(InvalidStatus) as refused:
        dial(additional_headers={"Cookie": f"hemisphere_preview={cookie}"},
             origin="http://evil.example")  # fmt: skip
    assert refused.value.response.status_code == 403
    stranger = pv.new_user("stranger")
    with pytest.raises(InvalidStatus) as hidden:
        dial(additional_headers={"X-CS-Authorization": f"Bearer {stranger}"})
    assert hidden.value.response.status_code == 404


def test_public_workspaces_and_failures(served: tuple[Preview, str, m.Workspace]) -> None:
    pv, token, ws = served
    auth = {"X-CS-Authorization": f"Bearer {token}"}
    nothing = pv.get(pv.host(ws, 3999), headers=auth)
    assert nothing.status_code == 502 and "3999" in nothing.text
    with pv.p.client(token) as c:
        c.update_workspace(ws.id, m.WorkspaceUpdate(restricted=False))
    eventually(lambda: pv.get(pv.host(ws, 3000)).status_code == 200, "public preview never opened")
    with pv.p.client(token) as c:
        c.stop_workspace(ws.id)
        wait_for(c, ws.id, lambda s: s.state == "stopped")
    stopped = pv.get(pv.host(ws, 3000), headers=auth)
    assert stopped.status_code == 503 and "not running" in stopped.text
    reserved = pv.get(pv.host(ws, 3000), "/__hemisphere/other", headers=auth)
    assert reserved.status_code == 404
    assert pv.http.get("/healthz").json() == {"status": "ok"}  # other hosts pass the gate


def test_disabling_a_user_ends_their_preview_access(
    served: tuple[Preview, str, m.Workspace],
) -> None:
    pv, token, ws = served
    host = pv.host(ws, 3000)
    cookie = pv.login_browser(ws, 3000, token)
    assert pv.get(host, headers={"Cookie": f"hemisphere_preview={cookie}"}).status_code == 200
    with pv.p.client(token) as c:
        me = c.me()
    with pv.p.client() as admin:
        admin.update_user(me.id, disabled=True)
    eventually(
        lambda: pv.get(host, headers={"Cookie": f"hemisphere_preview={cookie}"}).status_code == 404,
        "the preview cookie of a disabled user to stop working",
    )


def test_removing_a_member_ends_their_preview_access(
    served: tuple[Preview, str, m.Workspace],
) -> None:
    """Issue 10 finding 7 for previews: the proxy re-checks membership per request (through a
    2 s cache, so the cookie stops working shortly after, not at once)."""
    pv, owner, ws = served
    member = pv.new_user("member")
    with pv.p.client(member) as c:
        me = c.me()
    with pv.p.client(owner) as c:
        c.add_member(ws.teamId, me.email)
    host = pv.host(ws, 3000)
    cookie = pv.login_browser(ws, 3000, member)
    assert pv.get(host, headers={"Cookie": f"hemisphere_preview={cookie}"}).status_code == 200
    with pv.p.client(owner) as c:
        c.remove_member(ws.teamId, me.id)
    eventually(
        lambda: pv.get(host, headers={"Cookie": f"hemisphere_preview={cookie}"}).status_code == 404,
        "the preview cookie of a removed member to stop working",
    )
