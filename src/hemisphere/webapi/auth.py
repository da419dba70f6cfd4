"""Who is calling: the bearer-token dependency every authenticated route uses."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.webapi.problems import ApiProblem

_bearer = HTTPBearer(auto_error=False, description="A Hemisphere API token (hsp_...)")

SESSION_COOKIE = "hemisphere_session"
CSRF_COOKIE = "hemisphere_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = {"GET", "HEAD", "OPTIONS"}


def identity_of(request: Request) -> IdentityReader:
    reader: IdentityReader = request.app.state.identity
    return reader


async def current_principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = creds.credentials if creds else request.cookies.get(SESSION_COOKIE)
    if creds is None and token and request.method not in _SAFE:
        # Cookie-authenticated writes must prove they come from our pages (double submit).
        sent = request.headers.get(CSRF_HEADER, "")
        expected = request.cookies.get(CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(sent, expected):
            raise ApiProblem(403, f"missing or wrong {CSRF_HEADER} header; reload the page")
    if not token:
        raise ApiProblem(
            401,
            "missing API token: send 'Authorization: Bearer <token>' "
            "(create one with 'hemisphere login' or POST /api/auth/login)",
            {"WWW-Authenticate": "Bearer"},
        )
    try:
        principal = await identity_of(request).principal_for_token(token)
    except InvalidCredentials as exc:
        raise ApiProblem(401, exc.message, {"WWW-Authenticate": "Bearer"}) from exc
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
