"""The dc role's browser-facing parts, mounted and closed together: the terminal WebSocket
(terminal.py) and preview hosts (preview.py)."""

from __future__ import annotations

from fastapi import FastAPI

from hemisphere.config import Settings
from hemisphere.db.engine import Database
from hemisphere.dc import preview, terminal
from hemisphere.dc.api import DcContext
from hemisphere.dc.terminal_sessions import TerminalSessions
from hemisphere.identity.principal import IdentityReader


def mount_browser_access(
    app: FastAPI, settings: Settings, ctx: DcContext, db: Database, identity: IdentityReader
) -> None:
    app.state.public_url = settings.public_url.rstrip("/")
    app.state.terminals = TerminalSessions()
    app.state.preview = preview.PreviewService(settings, ctx, db, identity)
    app.include_router(terminal.router)
    app.include_router(preview.router)
    # Outermost: preview hosts are answered before the API's middleware and routes see them.
    app.add_middleware(preview.PreviewGate, service=app.state.preview)


async def close_browser_access(app: FastAPI) -> None:
    """End terminal sessions and drop pooled preview connections (on shutdown)."""
    terminals: TerminalSessions | None = getattr(app.state, "terminals", None)
    if terminals is not None:
        await terminals.close_all()
    service: preview.PreviewService | None = getattr(app.state, "preview", None)
    if service is not None:
        await service.aclose()
