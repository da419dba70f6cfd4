"""Logging in and out. Login shares the API's throttle (same keys: the normalized e-mail and the
client address of webapi/clients.py), so failures through the API and the browser count together."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hemisphere.console.web.forms import text
from hemisphere.console.web.render import render
from hemisphere.console.web.session import (
    SESSION_TTL,
    CurrentUser,
    clear_session,
    has_duplicate_session,
    login_csrf,
    optional_user,
    origin_allowed,
    safe_next,
    set_csrf_cookie,
    set_session,
    web_config,
)
from hemisphere.identity import service as ids
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.webapi.audit import audit_event
from hemisphere.webapi.auth import CSRF_COOKIE
from hemisphere.webapi.deps import DbSession
from hemisphere.webapi.login import LoginThrottled, authenticate_throttled

router = APIRouter(include_in_schema=False)


@router.get("/")
async def index(request: Request) -> Response:
    user = await optional_user(request)
    return RedirectResponse("/teams" if user else "/login", status_code=303)


def _login_page(
    request: Request, *, status: int = 200, next_: str = "", email: str = "",
    error: str | None = None, notice: str | None = None,
) -> Response:  # fmt: skip
    token = login_csrf(request)
    response = render(
        request, "login.html", None, status=status, csrf=token, next=next_, email=email,
        error=error, notice=notice,
    )  # fmt: skip
    set_csrf_cookie(response, token, web_config(request).secure)
    if has_duplicate_session(request):
        clear_session(response, request)
    return response


@router.get("/login")
async def login_page(request: Request, next: str = "", out: str = "") -> Response:
    if await optional_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = "You are logged out." if out else None
    return _login_page(request, next_=safe_next(next, ""), notice=notice)


@router.post("/login")
async def login(request: Request, s: DbSession) -> Response:
    form = await request.form()
    email, password, next_ = (
        text(form, "email"),
        str(form.get("password") or ""),
        text(form, "next"),
    )
    next_ = safe_next(next_, "")
    sent, expected = text(form, "csrf_token"), request.cookies.get(CSRF_COOKIE, "")
    if not origin_allowed(request) or not expected or not hmac.compare_digest(sent, expected):
        return _login_page(
            request, status=400, next_=next_, email=email,
            error="The login form had expired. Please enter your password again.",
        )  # fmt: skip
    if not email or not password:
        return _login_page(
            request, status=400, next_=next_, email=email,
            error="Enter your e-mail address and your password.",
        )  # fmt: skip
    try:
        user = await authenticate_throttled(request, s, email, password)
    except LoginThrottled as exc:
        return _login_page(
            request, status=429, next_=next_, email=email,
            error=f"Too many failed logins. Try again in {exc.seconds} seconds.",
        )  # fmt: skip
    except InvalidCredentials as exc:
        message = exc.message[:1].upper() + exc.message[1:]
        return _login_page(request, status=401, next_=next_, email=email, error=f"{message}.")
    _, token = await ids.issue_token(s, user, "browser session", kind="session", ttl=SESSION_TTL)
    await audit_event(s, request, ids.principal_of(user), "login", "user", user.id, via="browser")
    response = RedirectResponse(safe_next(next_), status_code=303)
    set_session(response, request, token)
    return response


@router.post("/logout")
async def logout(request: Request, user: CurrentUser, s: DbSession) -> Response:
    await ids.revoke_plaintext(s, user.token)
    await audit_event(s, request, user.principal, "logout", "user", user.principal.user_id)
    response = RedirectResponse("/login?out=1", status_code=303)
    clear_session(response, request)
    return response
