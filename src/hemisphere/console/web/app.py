"""Mounting the web console onto the app: its routes, its static files, and how its errors
become pages (not the API's JSON envelope)."""

from __future__ import annotations

import urllib.parse

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from hemisphere.config import Settings
from hemisphere.console.web import (
    routes_admin,
    routes_auth,
    routes_federation,
    routes_teams,
    routes_workspaces,
)
from hemisphere.console.web.errors import CsrfRejected, LoginRequired
from hemisphere.console.web.render import STATIC, render
from hemisphere.console.web.session import (
    WebConfig,
    clear_session,
    has_duplicate_session,
    optional_user,
)
from hemisphere.sdk.errors import ApiError


def mount_web(app: FastAPI, settings: Settings) -> None:
    app.state.web = WebConfig(public_url=settings.public_url.rstrip("/"))
    (STATIC / "vendor").mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (routes_auth, routes_teams, routes_workspaces, routes_admin, routes_federation):
        app.include_router(module.router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.add_exception_handler(ApiError, _api_error)


async def _login_required(request: Request, _: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = "/login?" + urllib.parse.urlencode({"next": target})
    response: Response
    if request.headers.get("HX-Request"):
        # An htmx poll after the session ended: take the whole page to the login form.
        response = Response(status_code=401, headers={"HX-Redirect": login})
    else:
        response = RedirectResponse(login, status_code=303)
    if has_duplicate_session(request):
        clear_session(response, request)
    return response


async def _csrf_rejected(request: Request, exc: Exception) -> Response:
    return render(
        request, "error.html", await optional_user(request), status=403,
        title="Please try again",
        message=f"This request was refused: {exc}. Go back, reload the page and try again.",
    )  # fmt: skip


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    user = await optional_user(request)
    if exc.status == 401:
        return await _login_required(request, exc)
    if exc.status == 404:
        return render(
            request, "error.html", user, status=404, title="Not found",
            message="There is nothing here, or you may not see it.",
        )  # fmt: skip
    return render(
        request, "error.html", user, status=exc.status, title=exc.title,
        message=exc.detail or "The request failed.", trace_id=exc.trace_id,
    )  # fmt: skip
