"""Preview URLs: `{port}-{name}-{id}.{preview domain}` reaches `port` inside the workspace.

`PreviewGate` is an ASGI middleware in front of the whole app: requests whose Host is a preview
host never reach the API; they are authorized here and forwarded by `preview_proxy.py` (HTTP and
WebSocket). Who may open a preview:

* anyone, when the workspace is not `restricted`;
* scripts sending `X-CS-Authorization: Bearer <API token>` of a member of its team (Codesphere's
  dev-domain header), or of a cluster admin;
* browsers holding this preview host's `hemisphere_preview` cookie. The console's session cookie
  is host-only and never reaches preview hosts (and must not: the proxied app would see it), so a
  browser without the cookie is redirected to `/__hemisphere/preview/authorize` on the console
  host, which checks the session and sends it back to `/__hemisphere/auth?grant=...` here with a
  one-time grant for this workspace only (preview_tokens.py); that sets the cookie.

Everyone else gets the same 404 whether or not the workspace exists. The proxied app never sees
our cookie or the X-CS-Authorization header. Cookie-authenticated writes and WebSockets must come
from a page of the same workspace (Origin), so another preview cannot ride a visitor's cookie.
"""

from __future__ import annotations

import hashlib
import html
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hemisphere.config import Settings
from hemisphere.db.engine import Database
from hemisphere.db.models import Workspace
from hemisphere.dc.api import DcContext
from hemisphere.dc.errors import InvalidPreviewToken
from hemisphere.dc.preview_hosts import (
    PreviewAddress,
    parse_preview_host,
    preview_label,
)
from hemisphere.dc.preview_proxy import PreviewProxy, UpstreamUnavailable, forwarded_headers
from hemisphere.dc.preview_tokens import PreviewPass, PreviewSigner, signing_key
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.webapi.auth import session_token
from hemisphere.webapi.problems import problem
from hemisphere.workspaces.errors import WorkspaceNotFound

log = logging.getLogger("hemisphere.preview")

PREVIEW_COOKIE = "hemisphere_preview"
SCRIPT_HEADER = "x-cs-authorization"
AUTH_PATH = "/__hemisphere/auth"
AUTHORIZE_PATH = "/__hemisphere/preview/authorize"
_RESERVED = "/__hemisphere/"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_CACHE_S = 2.0
_NOT_FOUND = (
    "There is no preview at this address, or you may not open it. Scripts authenticate with "
    "the header 'X-CS-Authorization: Bearer <API token>'."
)

router = APIRouter()


@dataclass(frozen=True)
class _WorkspaceInfo:
    id: int
    team_id: int
    name: str
    restricted: bool


class _TtlCache:
    """A small cache whose entries live `ttl` seconds: keeps the proxy's per-request database
    and identity lookups off the hot path without letting revocations linger."""

    def __init__(self, ttl: float, limit: int = 4096) -> None:
        self.ttl = ttl
        self.limit = limit
        self._items: dict[object, tuple[float, object]] = {}

    def get(self, key: object) -> tuple[bool, Any]:
        hit = self._items.get(key)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key: object, value: object) -> None:
        if len(self._items) >= self.limit:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)


class PreviewService:
    """Everything preview hosts need, kept on `app.state.preview`."""

    def __init__(
        self, settings: Settings, ctx: DcContext, db: Database, identity: IdentityReader
    ) -> None:
        self.preview_domain = settings.preview_domain
        self.public_url = settings.public_url.rstrip("/")
        self.scheme = ctx.public_scheme
        self.secure = self.scheme == "https"
        self.ctx = ctx
        self.db = db
        self.identity = identity
        self.signer = PreviewSigner(signing_key(settings.secret_key_file))
        self.proxy = PreviewProxy(
            ctx.runtime,
            connections_per_workspace=settings.preview_connections,
            connect_timeout_s=settings.preview_connect_timeout_s,
            read_timeout_s=settings.preview_read_timeout_s,
        )
        self._workspaces = _TtlCache(_CACHE_S)
        self._tokens = _TtlCache(_CACHE_S)
        self._access = _TtlCache(_CACHE_S)

    async def aclose(self) -> None:
        await self.proxy.aclose()

    # ---- lookups ------------------------------------------------------------------------

    async def workspace(self, addr: PreviewAddress) -> _WorkspaceInfo | None:
        hit, info = self._workspaces.get(addr.workspace_id)
        if not hit:
            async with self.db.session() as s:
                row = await s.get(Workspace, addr.workspace_id)
                info = None
                if row is not None and row.datacenter_id == self.ctx.service.datacenter_id:
                    info = _WorkspaceInfo(row.id, row.team_id, row.name, row.restricted)
            self._workspaces.put(addr.workspace_id, info)
        if info is None or preview_label(addr.port, info.name, info.id) != addr.label:
            return None
        assert isinstance(info, _WorkspaceInfo)
        return info

    async def token_principal(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode()).digest()
        hit, who = self._tokens.get(key)
        if not hit:
            try:
                who = await self.identity.principal_for_token(token)
            except InvalidCredentials:
                who = None
            self._tokens.put(key, who)
        return who if isinstance(who, Principal) else None

    async def may_open(self, who: Principal, ws: _WorkspaceInfo) -> bool:
        key = (who.user_id, who.is_cluster_admin, ws.id)
        hit, ok = self._access.get(key)
        if not hit:
            try:
                await self.ctx.service.require_member(who, ws.team_id)
                ok = True
            except WorkspaceNotFound:
                ok = False
            self._access.put(key, ok)
        return bool(ok)

    def cookie_pass(self, scope: Scope, workspace_id: int) -> PreviewPass | None:
        """A valid preview cookie for this workspace among those sent (another preview may have
        planted a cookie with the same name for a parent domain: try each)."""
        for value in _cookie_values(scope, PREVIEW_COOKIE):
            try:
                return self.signer.check_cookie(value, workspace_id)
            except InvalidPreviewToken:
                continue
        return None

    def same_workspace_origin(self, scope: Scope, workspace_id: int) -> bool:
        origin = _header(scope, "origin")
        if origin is None:
            return True  # not sent by browsers on same-origin GETs; nothing cross-site to stop
        parsed = urllib.parse.urlsplit(origin)
        addr = parse_preview_host(parsed.netloc, self.preview_domain)
        return addr is not None and addr.workspace_id == workspace_id

    # ---- entry points -------------------------------------------------------------------

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, addr: PreviewAddress
    ) -> None:
        if scope["type"] == "websocket" and (await receive())["type"] != "websocket.connect":
            return
        if scope["type"] == "http" and scope["path"].startswith(_RESERVED):
            if scope["path"] == AUTH_PATH:
                await self._redeem(scope, receive, send, addr)
            else:
                await _page(404, "Not found", _NOT_FOUND)(scope, receive, send)
            return
        decision = await self._authorize(scope, addr)
        if isinstance(decision, Response):
            if scope["type"] == "websocket":
                await _deny_websocket(scope, send, decision.status_code)
            else:
                await decision(scope, receive, send)
            return
        headers = forwarded_headers(
            scope, drop=frozenset({SCRIPT_HEADER}), cookie_filter=PREVIEW_COOKIE
        )
        try:
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send, addr, headers)
            else:
                await self.proxy.http(
                    scope, receive, send, workspace_id=addr.workspace_id, port=addr.port,
                    headers=headers,
                )  # fmt: skip
        except UpstreamUnavailable as exc:
            if scope["type"] == "websocket":
                await _deny_websocket(scope, send, exc.status)
            else:
                await _upstream_error(scope, exc)(scope, receive, send)

    async def _websocket(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        addr: PreviewAddress,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        target = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        protocols = [
            p.strip()
            for p in (_header(scope, "sec-websocket-protocol") or "").split(",")
            if p.strip()
        ]
        await self.proxy.websocket(
            receive, send, workspace_id=addr.workspace_id, port=addr.port,
            host=_header(scope, "host") or "", target=target, headers=headers,
            subprotocols=protocols,
        )  # fmt: skip

    async def _authorize(self, scope: Scope, addr: PreviewAddress) -> Response | None:
        """None when the request may go through, else the response to send instead."""
        who: Principal | None = None
        via_cookie: PreviewPass | None = None
        script = _header(scope, SCRIPT_HEADER)
        if script is not None:
            kind, _, token = script.partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                return _page(401, "Bad credentials", "send 'X-CS-Authorization: Bearer <token>'")
            who = await self.token_principal(token.strip())
            if who is None:
                return _page(401, "Bad credentials", "the token in X-CS-Authorization is not valid")
        else:
            via_cookie = self.cookie_pass(scope, addr.workspace_id)
            if via_cookie is not None:
                who = Principal(via_cookie.user_id, "", "", via_cookie.cluster_admin, "preview")

        ws = await self.workspace(addr)
        if ws is not None and not ws.restricted:
            return None
        if ws is not None and who is not None and await self.may_open(who, ws):
            writes = scope["type"] == "websocket" or scope["method"] not in _SAFE
            if (
                via_cookie is not None
                and writes
                and not self.same_workspace_origin(scope, addr.workspace_id)
            ):
                return _page(403, "Forbidden", "cross-site request to a preview refused")
            return None
        if who is None and scope["type"] == "http" and _is_navigation(scope):
            return RedirectResponse(self._authorize_url(scope), status_code=302)
        return _page(404, "Not found", _NOT_FOUND)

    def _authorize_url(self, scope: Scope) -> str:
        host = _header(scope, "host") or ""
        query = urllib.parse.urlencode({"host": host, "next": _path_of(scope)})
        return f"{self.public_url}{AUTHORIZE_PATH}?{query}"

    async def _redeem(
        self, scope: Scope, receive: Receive, send: Send, addr: PreviewAddress
    ) -> None:
        params = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        grant = (params.get("grant") or [""])[0]
        target = _safe_next((params.get("next") or ["/"])[0])
        ws = await self.workspace(addr)
        try:
            if ws is None:
                raise InvalidPreviewToken("no such workspace")
            granted = self.signer.redeem_grant(grant, addr.workspace_id)
        except InvalidPreviewToken as exc:
            response: Response = _page(
                400,
                "Preview link not valid",
                f"{exc}. Open the preview again from the console.",
            )
            await response(scope, receive, send)
            return
        response = RedirectResponse(target, status_code=302)
        response.set_cookie(
            PREVIEW_COOKIE,
            self.signer.cookie(granted),
            max_age=int(self.signer.cookie_ttl_s),
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )
        await response(scope, receive, send)

    async def authorize(self, request: Request) -> Response:
        """On the console host: turn the browser's session into a grant for one preview host."""
        host = request.query_params.get("host", "")
        target = _safe_next(request.query_params.get("next", "/"))
        addr = parse_preview_host(host, self.preview_domain)
        if addr is None:
            return _page(400, "Not a preview address", f"{host!r} is not a preview host here.")
        token = session_token(request)  # one session cookie, of a browser session (issue 10)
        who = await self.token_principal(token) if token else None
        if who is not None and who.token_kind != "session":
            who = None
        if who is None:
            back = f"{AUTHORIZE_PATH}?{request.url.query}"
            return RedirectResponse(
                "/login?" + urllib.parse.urlencode({"next": back}), status_code=302
            )
        ws = await self.workspace(addr)
        if ws is None or not await self.may_open(who, ws):
            return _page(404, "Not found", _NOT_FOUND)
        grant = self.signer.grant(who.user_id, ws.id, who.is_cluster_admin)
        query = urllib.parse.urlencode({"grant": grant, "next": target})
        return RedirectResponse(f"{self.scheme}://{host}{AUTH_PATH}?{query}", status_code=302)


class PreviewGate:
    """Routes preview hosts to the preview service; everything else to the app."""

    def __init__(self, app: ASGIApp, service: PreviewService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _header(scope, "host")
            addr = parse_preview_host(host, self.service.preview_domain) if host else None
            if addr is not None:
                await self.service.handle(scope, receive, send, addr)
                return
        await self.app(scope, receive, send)


@router.get(AUTHORIZE_PATH, include_in_schema=False)
async def authorize(request: Request) -> Response:
    service: PreviewService = request.app.state.preview
    return await service.authorize(request)


# ---- helpers --------------------------------------------------------------------------------


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def _cookie_values(scope: Scope, name: str) -> list[str]:
    values: list[str] = []
    for key, raw in scope.get("headers", []):
        if key.lower() != b"cookie":
            continue
        for part in raw.decode("latin-1").split(";"):
            k, _, v = part.strip().partition("=")
            if k == name and v:
                values.append(v)
    return values


def _is_navigation(scope: Scope) -> bool:
    if scope["method"] not in ("GET", "HEAD"):
        return False
    mode = _header(scope, "sec-fetch-mode")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in (_header(scope, "accept") or "")


def _path_of(scope: Scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    return str(path.decode("latin-1")) + ("?" + query.decode("latin-1") if query else "")


def _safe_next(target: str) -> str:
    """Only a path on the same host: never `//evil.example` or `https://...` (open redirect)."""
    if not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return "/"
    return target


def _page(status: int, title: str, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Hemisphere preview</title>"
        "<body style='font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;"
        "padding:0 1rem;line-height:1.5'>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _upstream_error(scope: Scope, exc: UpstreamUnavailable) -> Response:
    """A person opening the page gets a page; scripts and the page's own requests get the
    error envelope. Either way 502/503/504 with the reason, never a 500."""
    headers = {"Cache-Control": "no-store"}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    if _is_navigation(scope):
        title = {503: "Workspace not available", 504: "No answer in time"}.get(
            exc.status, "Nothing listening"
        )
        page = _page(exc.status, title, exc.message)
        page.headers.update(headers)
        return page
    return problem(Request(scope), exc.status, exc.message, headers)


async def _deny_websocket(scope: Scope, send: Send, status: int) -> None:
    """Refuse a WebSocket handshake with an HTTP status where the server can send one."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b""})
    else:
        await send({"type": "websocket.close", "code": 1008})
