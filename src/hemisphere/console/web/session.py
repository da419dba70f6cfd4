"""Browser sessions: cookies, CSRF tokens and the "who is logged in" dependency.

The session cookie holds a session token (identity `issue_token(kind="session", ttl=...)`):
HttpOnly (scripts never see it), SameSite=Lax, and named `__Host-hemisphere_session` (Secure,
Path=/, no Domain) on https and on localhost, so no sibling host can plant one; the naming rule,
the refusal of duplicate cookies and of API tokens in the cookie live in webapi/auth.py.
Every state-changing request needs the session's CSRF token, sent as the `csrf_token` form field
(plain forms) or the `X-CSRF-Token` header (htmx, fetch). The token is an HMAC of the session
token, so it cannot be planted by another page (a subdomain can set cookies for us, it cannot
compute this), and it is also set as the `hemisphere_csrf` cookie, which satisfies the API's
double-submit check (webapi/auth.py) for the pages' own fetch calls. A request whose Origin is
another site is refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from hemisphere.console.web.errors import CsrfRejected, LoginRequired
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.webapi.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    PLAIN_SESSION_COOKIE,
    cookie_name,
    cookie_secure,
    require_session_kind,
    session_cookie_values,
    session_token,
)

SESSION_TTL = timedelta(hours=12)
CSRF_FIELD = "csrf_token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class WebConfig:
    """What the pages need from the process settings (kept on `app.state.web`)."""

    public_url: str

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")


def web_config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.web
    return config


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"hemisphere-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    token: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)

    @property
    def is_admin(self) -> bool:
        return self.principal.is_cluster_admin


def safe_next(target: str | None, default: str = "/teams") -> str:
    """A path on this host only: never `//evil.example`, `https://...` or `/\\evil`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def origin_allowed(request: Request) -> bool:
    """True unless the request says it comes from a page of another origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # scripts, and browsers that send no Origin on same-origin requests
    own = {web_config(request).public_url.rstrip("/").lower()}
    host = request.headers.get("host")
    if host:
        own.add(f"{request.url.scheme}://{host}".lower())
    return origin.lower() in own


async def _principal(request: Request, token: str) -> Principal | None:
    reader: IdentityReader = request.app.state.identity
    try:
        return require_session_kind(await reader.principal_for_token(token))
    except InvalidCredentials:
        return None


async def optional_user(request: Request) -> WebUser | None:
    token = session_token(request)
    if not token:
        return None
    who = await _principal(request, token)
    return WebUser(who, token) if who is not None else None


async def submitted_csrf(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.method not in _SAFE:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent or ""


async def current_user(request: Request) -> WebUser:
    """The logged-in user; for unsafe methods also proves the request came from our pages."""
    user = await optional_user(request)
    if user is None:
        raise LoginRequired
    if request.method not in _SAFE:
        if not origin_allowed(request):
            raise CsrfRejected("the request came from another site")
        if not hmac.compare_digest(await submitted_csrf(request), user.csrf):
            raise CsrfRejected("the form is out of date or was not sent by this site")
    request.state.principal = user.principal
    return user


CurrentUser = Annotated[WebUser, Depends(current_user)]


def login_csrf(request: Request) -> str:
    """The pre-session CSRF token of the login form (double submit: cookie and field)."""
    existing = request.cookies.get(CSRF_COOKIE)
    return existing if existing and len(existing) >= 32 else secrets.token_hex(32)


def set_csrf_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, value, httponly=True, samesite="strict", secure=secure, path="/"
    )


def set_session(response: Response, request: Request, token: str) -> None:
    name = cookie_name(request)
    secure = cookie_secure(name) or web_config(request).secure
    max_age = int(SESSION_TTL.total_seconds())
    response.set_cookie(
        name, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/",
    )  # fmt: skip
    set_csrf_cookie(response, csrf_for(token), secure)


def clear_session(response: Response, request: Request) -> None:
    """Log the browser out: the session and CSRF cookies of this host, and a plain-named session
    cookie tossed in for any parent domain of it (we cannot tell which one was used)."""
    name, secure = cookie_name(request), web_config(request).secure
    for cookie in (name, CSRF_COOKIE):
        response.delete_cookie(
            cookie, path="/", httponly=True, samesite="lax", secure=secure or cookie_secure(cookie)
        )
    labels = (request.url.hostname or "").split(".")
    for i in range(len(labels) - 1):
        domain = ".".join(labels[i:])
        response.delete_cookie(PLAIN_SESSION_COOKIE, path="/", domain=domain, secure=secure)


def has_duplicate_session(request: Request) -> bool:
    """Two session cookies: one was planted; the browser is treated as logged out and cleared."""
    return len(session_cookie_values(request)) > 1
