"""Who is calling: the bearer-token dependency every authenticated route uses, and the one way
to read the browser's session cookie.

The session cookie is `__Host-hemisphere_session` (Secure, Path=/, no Domain) whenever browsers
keep Secure cookies for the console: https, or http on a loopback name (localhost, 127.0.0.1,
::1 are "potentially trustworthy" origins). A `__Host-` cookie can only be set by the console's
own host, so a preview on a sibling host cannot toss one in (issue 10: a public preview set
`hemisphere_session=<attacker>; Domain=parent` and took over the victim's console). On plain
http under any other name the prefix cannot work (the browser would drop the cookie), so the
name is plain `hemisphere_session` there and cookie tossing is only prevented by serving the
console over https — `hemisphere up` on localhost and every https installation get the prefix.

Either way: a request carrying the session cookie more than once is treated as logged out (a
tossed duplicate must never decide who we are), and only tokens of kind "session" count in the
cookie — an API token placed there is refused, so it cannot be replayed as a browser session.
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from hemisphere.federation.assertions import HEADER as ASSERTION_HEADER
from hemisphere.federation.assertions import AssertionRejected, verify_assertion
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.webapi.problems import ApiProblem

_bearer = HTTPBearer(auto_error=False, description="A Hemisphere API token (hsp_...)")

SESSION_COOKIE = "__Host-hemisphere_session"
PLAIN_SESSION_COOKIE = "hemisphere_session"
CSRF_COOKIE = "hemisphere_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = {"GET", "HEAD", "OPTIONS"}
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def session_cookie_name(public_url: str) -> str:
    """`__Host-hemisphere_session` when browsers keep Secure cookies for `public_url`."""
    parts = urlsplit(public_url)
    host = (parts.hostname or "").lower()
    trustworthy = parts.scheme == "https" or host in _LOOPBACK_NAMES or host.endswith(".localhost")
    return SESSION_COOKIE if trustworthy else PLAIN_SESSION_COOKIE


def cookie_name(conn: HTTPConnection) -> str:
    """This app's session cookie name (set at start from the public URL; server/app.py)."""
    return str(getattr(conn.app.state, "session_cookie", SESSION_COOKIE))


def cookie_secure(name: str) -> bool:
    return name.startswith("__Host-")


def session_cookie_values(conn: HTTPConnection) -> list[str]:
    """Every value the request sent for the session cookie, in order. Parsed from the raw
    header: the framework's cookie dict keeps only one of several cookies of the same name."""
    name = cookie_name(conn)
    values = []
    for header in conn.headers.getlist("cookie"):
        for pair in header.split(";"):
            key, eq, value = pair.strip().partition("=")
            if eq and key.strip() == name:
                values.append(value.strip().strip('"'))
    return values


def session_token(conn: HTTPConnection) -> str | None:
    """The session cookie's token; None when absent or sent more than once (then the caller is
    logged out, whoever planted the second one)."""
    values = session_cookie_values(conn)
    return values[0] if len(values) == 1 and values[0] else None


def require_session_kind(principal: Principal) -> Principal:
    """Only browser-session tokens authenticate through the cookie; raises InvalidCredentials."""
    if principal.token_kind != "session":
        raise InvalidCredentials("the session cookie does not hold a browser session; log in again")
    return principal


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
    token = creds.credentials if creds else session_token(request)
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
        if creds is None:
            require_session_kind(principal)
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
