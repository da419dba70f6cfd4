"""The identity side of a replica DC (2B, HEMISPHERE_IDENTITY_MODE=replica), composed here
because it joins three roles' parts: the console's identity routers (reads, served from the
replicated tables), the DC's own login, and forwarding of identity writes to the console.

- `POST /api/auth/login` checks the replicated argon2 hash and issues a DC-local token
  (identity/replica.py): logging in works while the console is unreachable.
- Every other identity write (users, tokens, organizations, teams, members, roles) belongs to the
  console: it is forwarded there with the caller's credentials, and its effect comes back on the
  feed. When the console cannot be reached the answer is 503 naming the console; a DC-local
  token cannot authorize a write at the console, so that is a 409 saying where to go.
- Reads (GET) of identity are answered locally from the replica.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute

from hemisphere.console import api as console_api
from hemisphere.console import api_orgs
from hemisphere.identity.replica import LOCAL_TOKEN_PREFIX, issue_local_token
from hemisphere.identity.throttle import LoginThrottle
from hemisphere.sdk import models as m
from hemisphere.webapi.deps import DbSession
from hemisphere.webapi.login import LoginThrottled, authenticate_throttled
from hemisphere.webapi.problems import ApiProblem

__all__ = ["identity_write_routes", "mount_replica_identity"]

log = logging.getLogger("hemisphere.replica")

_READS = {"GET", "HEAD", "OPTIONS"}
_FORWARDED_HEADERS = ("authorization", "content-type", "accept", "x-trace-id")
LOGIN_PATH = "/api/auth/login"


def identity_write_routes() -> list[tuple[str, list[str]]]:
    """(path, methods) of every identity write the console serves, except login."""
    out = []
    for router in (console_api.router, api_orgs.router):
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.path == LOGIN_PATH:
                continue
            methods = sorted(set(route.methods or ()) - _READS)
            if methods:
                out.append((route.path, methods))
    return out


def _unreachable(console_url: str, why: str) -> ApiProblem:
    return ApiProblem(
        503,
        f"identity is managed by the console at {console_url}; it is unreachable from this data "
        f"center ({why}). Try again when the link is back — logins and workspaces keep working "
        "here meanwhile.",
        {"Retry-After": "10"},
    )


def _router(console_url: str, http: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    @router.post(LOGIN_PATH, response_model=m.TokenCreated, tags=["auth"])
    async def login(body: m.LoginRequest, request: Request, s: DbSession) -> m.TokenCreated:
        try:
            user = await authenticate_throttled(request, s, body.email, body.password)
        except LoginThrottled as exc:
            raise ApiProblem(429, str(exc), {"Retry-After": str(exc.seconds)}) from None
        row, token = await issue_local_token(s, user)
        return m.TokenCreated(id=row.id, name=body.tokenName, token=token, userId=user.id)

    async def forward(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if auth.removeprefix("Bearer ").strip().startswith(LOCAL_TOKEN_PREFIX):
            raise ApiProblem(
                409,
                "identity changes are made at the console "
                f"({console_url}); this token was issued by this data center and is valid only "
                "here — log in at the console or use an API token created there",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS}
        try:
            r = await http.request(
                request.method,
                f"{console_url}{request.url.path}",
                params=list(request.query_params.multi_items()),
                content=await request.body(),
                headers=headers,
            )
        except httpx.HTTPError as exc:
            log.warning("identity write not forwarded", extra={"error": repr(exc)})
            raise _unreachable(console_url, type(exc).__name__) from None
        if r.status_code in (502, 503, 504):
            # What an ingress or load balancer says when no console is behind it.
            raise _unreachable(console_url, f"it answered HTTP {r.status_code}")
        passed: dict[str, Any] = {
            k: v for k, v in r.headers.items() if k.lower() in ("content-type", "retry-after")
        }
        return Response(r.content, status_code=r.status_code, headers=passed)

    for path, methods in identity_write_routes():
        router.add_api_route(path, forward, methods=methods, include_in_schema=False)
    return router


def mount_replica_identity(app: FastAPI, *, console_url: str, verify: str | bool) -> None:
    """Before the console's routers, so login and writes are ours and reads are theirs."""
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), verify=verify)
    app.state.replica_http = http
    app.state.login_throttle = LoginThrottle()
    app.include_router(_router(console_url.rstrip("/"), http))
    app.include_router(console_api.router)
    app.include_router(api_orgs.router)
