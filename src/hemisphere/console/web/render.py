"""Rendering pages: one Jinja2 environment with autoescape on for everything, and the security
headers every console page carries (a strict Content-Security-Policy: no inline scripts, so an
injected `<script>` would not run even if escaping were ever missed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hemisphere.console.web.session import WebUser

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # xterm.js and htmx set element styles at run time
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATE_LABELS = {
    "running": "Running",
    "starting": "Starting…",
    "stopping": "Stopping…",
    "stopped": "Stopped",
    "deleting": "Deleting…",
    "failed": "Failed",
}
ROLE_LABELS = {0: "Admin", 1: "Member"}
# Messages after a redirect, by key (`?done=key`): the query never carries text to show.
NOTICES = {
    "team-created": "Team created.",
    "member-added": "Member added.",
    "role-changed": "Role changed.",
    "member-removed": "Member removed.",
    "workspace-created": "Workspace created. It starts in a moment.",
    "workspace-starting": "Starting the workspace…",
    "workspace-stopping": "Stopping the workspace…",
    "workspace-deleted": "Workspace deleted.",
    "env-saved": "Environment variable saved. Running terminals see it after a restart.",
    "env-deleted": "Environment variable deleted.",
    "user-created": "User created.",
    "user-updated": "User updated.",
    "datacenter-cordoned": "Data center cordoned: no new workspaces land there.",
    "datacenter-uncordoned": "Data center uncordoned.",
}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _mib(value: int) -> str:
    return f"{value / 1024:.0f} GiB" if value >= 1024 else f"{value} MiB"


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["mib"] = _mib
    env.globals["STATE_LABELS"] = STATE_LABELS
    env.globals["ROLE_LABELS"] = ROLE_LABELS
    return env


_ENV = make_environment()


def render(
    request: Request,
    template: str,
    user: WebUser | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    csrf = context.pop("csrf", None) or (user.csrf if user else "")
    context.setdefault("assets_missing", not vendor_ready())
    context.setdefault("notice", NOTICES.get(request.query_params.get("done", "")))
    body = _ENV.get_template(template).render(
        request=request,
        user=user,
        csrf=csrf,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def vendor_ready() -> bool:
    """Whether the npm assets were copied in (scripts/copy-web-assets.sh)."""
    return all(
        (STATIC / "vendor" / name).is_file()
        for name in ("htmx.min.js", "idiomorph-ext.min.js", "xterm.esm.js", "addon-fit.esm.js")
    )
