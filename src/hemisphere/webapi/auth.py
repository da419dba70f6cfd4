"""Who is calling: the bearer-token dependency every authenticated route uses."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hemisphere.federation.assertions import HEADER as ASSERTION_HEADER
from hemisphere.federation.assertions import AssertionRejected, verify_assertion
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
    assertion = request.headers.get(ASSERTION_HEADER)
    if assertion:
        return await _asserted_principal(request, assertion)
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


async def _asserted_principal(request: Request, assertion: str) -> Principal:
    """A call the console routed here on a user's behalf (federation/assertions.py)."""
    keys = getattr(request.app.state, "assertion_keys", None)
    dc_id = getattr(request.app.state, "assertion_datacenter", None)
    if not keys or dc_id is None:
        raise ApiProblem(
            401,
            f"{ASSERTION_HEADER} is not accepted here: this server has no trusted console keys "
            "(HEMISPHERE_SIGNING_PUBLIC_KEY) or is no data center",
        )
    try:
        user_id = verify_assertion(keys, assertion, datacenter_id=dc_id)
        principal = await identity_of(request).principal_for_user(user_id)
    except AssertionRejected as exc:
        raise ApiProblem(401, f"{ASSERTION_HEADER} refused: {exc.reason}") from exc
    except InvalidCredentials as exc:
        raise ApiProblem(401, f"{ASSERTION_HEADER} refused: {exc.message}") from exc
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
