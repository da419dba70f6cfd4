"""One API for clients (issue 9): the console takes every `/api/workspaces...` call to the DC
that owns the workspace, so a Codesphere client pointed at the console works on every DC.

A plain ASGI middleware, innermost of the app's middlewares (the body limit and the request
log still see every call). Per call:

- `POST /api/workspaces`: the DC is the body's `dataCenterId`, else the team's default DC; a
  cordoned DC refuses with 409 naming it.
- `GET /api/workspaces/team/{teamId}`: the list over all DCs (console/federation_list.py).
- `/api/workspaces/{id}...`: the owning DC (console/federation_directory.py, `owner_of`).

A call for the DC whose dc role runs in this same process goes straight to the app below (no
routing: a single-process `hemisphere up` behaves exactly as before); any other is forwarded,
streamed both ways, with the caller's identity as the DC can check it. A DC that cannot be
reached answers 503 naming it ("data center 2 (par) unreachable"), never 500. WebSockets (the
browser terminal) are not forwarded: a terminal is opened at the DC's own URL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hemisphere.console import federation_list
from hemisphere.console.federation_directory import Federation, KnownDatacenter, Unroutable
from hemisphere.db.engine import Database
from hemisphere.db.models import Team
from hemisphere.identity.principal import Principal
from hemisphere.webapi.auth import current_principal
from hemisphere.webapi.problems import ApiProblem, problem

__all__ = ["WorkspaceRouter", "mount_federation"]

_ONE = re.compile(r"^/api/workspaces/(\d{1,10})(?:/.*)?$")
_TEAM_LIST = re.compile(r"^/api/workspaces/team/(\d{1,10})$")
# Not copied from the DC's answer: hop-by-hop, or written by our own server.
_DROP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "date",
     "server", "proxy-authenticate", "proxy-authorization"}
)  # fmt: skip
_PASS_REQUEST = ("content-type", "accept", "accept-encoding", "user-agent")
_STORE_DOWN = (OperationalError, DBAPIError, PoolTimeout, ConnectionRefusedError)

log = logging.getLogger("hemisphere.federation")


def mount_federation(
    app: FastAPI,
    *,
    urls: Mapping[int, str],
    local_datacenter: int | None,
    list_deadline_s: float = 1.5,
    route_timeout_s: float = 30.0,
) -> Federation:
    fed = Federation(
        urls=dict(urls),
        local_datacenter=local_datacenter,
        list_deadline_s=list_deadline_s,
        route_timeout_s=route_timeout_s,
    )
    app.state.federation = fed
    app.state.datacenter_urls = dict(urls)
    app.include_router(federation_list.router)
    # Appended: user_middleware[0] is the outermost, so this one runs last, inside the rest.
    app.user_middleware.append(Middleware(WorkspaceRouter, federation=fed))
    return fed


@dataclass
class _Call:
    scope: Scope
    receive: Receive
    send: Send
    body: bytes | None = None

    @property
    def request(self) -> Request:
        return Request(self.scope, self.receive)

    async def read_body(self) -> bytes:
        if self.body is None:
            chunks = []
            while True:
                message = await self.receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self.body = b"".join(chunks)
        return self.body

    def replayed(self) -> Receive:
        """`receive` for the app below, with the body we already read given back first."""
        if self.body is None:
            return self.receive
        pending: list[bytes] = [self.body]

        async def receive() -> Message:
            if pending:
                return {"type": "http.request", "body": pending.pop(), "more_body": False}
            return await self.receive()

        return receive


class WorkspaceRouter:
    def __init__(self, app: ASGIApp, federation: Federation) -> None:
        self.app = app
        self.fed = federation
        federation.inner_app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/workspaces"):
            await self.app(scope, receive, send)
            return
        self.fed.outer_app = scope.get("app")
        call = _Call(scope, receive, send)
        try:
            await self._route(call)
        except Unroutable as exc:
            await problem(call.request, exc.status, exc.detail)(scope, receive, send)
        except ApiProblem as exc:
            await problem(call.request, exc.status, exc.detail, exc.headers)(scope, receive, send)
        except _STORE_DOWN as exc:
            # Raised here, above the app's exception handlers: answer as they would (503).
            invalidated = getattr(exc, "connection_invalidated", True)
            if (
                isinstance(exc, DBAPIError)
                and not isinstance(exc, OperationalError)
                and not (invalidated)
            ):
                raise
            log.error("metadata store unreachable", extra={"error": type(exc).__name__})
            await problem(
                call.request,
                503,
                "metadata store unreachable; running workspaces are unaffected, retry later",
            )(scope, receive, send)

    async def _pass(self, call: _Call) -> None:
        await self.app(call.scope, call.replayed(), call.send)

    async def _route(self, call: _Call) -> None:
        path, method = call.scope["path"], call.scope["method"]
        db: Database = call.scope["app"].state.db
        async with db.session() as s:
            dcs = await self.fed.datacenters(s)
        if all(self.fed.is_local(d.id) for d in dcs):
            await self._pass(call)  # one DC, in this process: nothing to route
            return
        by_id = {d.id: d for d in dcs}
        if path == "/api/workspaces" and method == "POST":
            await self._create(call, by_id)
            return
        if (team := _TEAM_LIST.match(path)) and method == "GET":
            await self._team_list(call, int(team.group(1)))
            return
        one = _ONE.match(path)
        if one is None:
            await self._pass(call)
            return
        workspace_id = int(one.group(1))
        async with db.session() as s:
            owner = await self.fed.owner_of(s, workspace_id)
        if owner is None or self.fed.is_local(owner):
            await self._pass(call)  # the in-process DC answers (or 404s) itself
            return
        who = await self._principal(call)
        dc = by_id.get(owner)
        if dc is None:
            raise ApiProblem(404, f"no workspace with id {workspace_id}")
        await self._forward(call, dc, who)

    async def _principal(self, call: _Call) -> Principal:
        request = call.request
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        creds = None
        if scheme.lower() == "bearer" and token.strip():
            creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
        return await current_principal(request, creds)

    async def _create(self, call: _Call, by_id: Mapping[int, KnownDatacenter]) -> None:
        body = await call.read_body()
        who = await self._principal(call)
        try:
            parsed: Any = json.loads(body or b"null")
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("teamId"), int):
            await self._pass_or_refuse(call)  # let the API's validation speak
            return
        target = parsed.get("dataCenterId")
        if not isinstance(target, int) or isinstance(target, bool):
            db: Database = call.scope["app"].state.db
            async with db.session() as s:
                team = await s.get(Team, parsed["teamId"])
            if team is None:
                raise ApiProblem(404, f"no team with id {parsed['teamId']}")
            target = team.default_datacenter_id
        dc = by_id.get(target)
        if dc is None:
            raise ApiProblem(
                400,
                f"dataCenterId: no data center with id {target}; list them at "
                "/api/metadata/datacenters",
            )
        if dc.cordoned:
            raise ApiProblem(
                409,
                f"{dc.label} is cordoned: no new workspaces land there (the ones there keep "
                "running); pick another dataCenterId, or ask an admin to uncordon it",
            )
        if self.fed.is_local(dc.id):
            await self._pass(call)
            return
        await self._forward(call, dc, who)

    async def _pass_or_refuse(self, call: _Call) -> None:
        if self.fed.local_datacenter is not None and self.fed.inner_app is not None:
            await self._pass(call)
            return
        raise ApiProblem(400, "teamId: required, an integer (the team that owns the workspace)")

    async def _team_list(self, call: _Call, team_id: int) -> None:
        who = await self._principal(call)
        request = call.request
        db: Database = call.scope["app"].state.db
        async with db.session() as s:
            teams = await federation_list.visible_teams(s, who, team_id)
            if not teams:
                raise ApiProblem(404, f"no team with id {team_id}")
            parts = await federation_list.gather(self.fed, request, s, who, teams)
        rows = federation_list.codesphere_rows(parts)
        headers = [(b"content-type", b"application/json")]
        partial = federation_list.partial_header(parts)
        if partial:
            headers.append((b"x-hemisphere-partial", partial.encode()))
        body = json.dumps(rows, separators=(",", ":")).encode()
        headers.append((b"content-length", str(len(body)).encode()))
        await call.send({"type": "http.response.start", "status": 200, "headers": headers})
        await call.send({"type": "http.response.body", "body": body})

    async def _forward(self, call: _Call, dc: KnownDatacenter, who: Principal) -> None:
        request = call.request
        body = await call.read_body()
        headers = self.fed.auth_headers(request.app.state, request.headers, who, dc)
        for name in _PASS_REQUEST:
            if name in request.headers:
                headers[name] = request.headers[name]
        query = call.scope.get("query_string", b"").decode()
        client = self.fed.client_for(dc, headers)
        url = f"{client.base}{call.scope['path']}" + (f"?{query}" if query else "")
        http = self.fed.http
        outgoing = http.build_request(call.scope["method"], url, headers=headers, content=body)
        try:
            resp = await http.send(outgoing, stream=True)
        except httpx.TimeoutException:
            raise Unroutable(
                503,
                f"{dc.label} unreachable: no answer within {self.fed.route_timeout_s:g} s; "
                "try again later",
            ) from None
        except httpx.HTTPError as exc:
            raise Unroutable(
                503, f"{dc.label} unreachable ({type(exc).__name__}); try again later"
            ) from None
        try:
            await call.send(
                {
                    "type": "http.response.start",
                    "status": resp.status_code,
                    "headers": [
                        (k.encode("latin-1"), v.encode("latin-1"))
                        for k, v in resp.headers.multi_items()
                        if k.lower() not in _DROP
                    ],
                }
            )
            # The DC going away mid-answer ends the body with what was sent so far.
            with contextlib.suppress(httpx.HTTPError):
                async for chunk in resp.aiter_raw():
                    await call.send(
                        {"type": "http.response.body", "body": chunk, "more_body": True}
                    )
            await call.send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await resp.aclose()
