"""The browser terminal's WebSocket: `/api/workspaces/{id}/terminal`.

Wire protocol (one WebSocket, both directions):

* client → server: binary frames are keystrokes (bytes for the pty, Ctrl-C is just b"\\x03");
  text frames are JSON controls: `{"type": "resize", "cols": C, "rows": R}`, or
  `{"type": "input", "data": "..."}` for clients that prefer text.
* server → client: binary frames are terminal output; text frames are JSON:
  `{"type": "session", "id": ..., "replay": bool, "graceSeconds": N}` first (a replay's bytes
  follow it: the client clears its screen and writes them), then `{"type": "exit"}` when the
  shell ends.

Query parameters: `cols`, `rows` (the client's size), `session` (reattach to a session that
survived a dropped connection; see terminal_sessions.py).

Authentication: `Authorization: Bearer <API token>` (scripts) or the console's session cookie
(browsers). A cookie-authenticated handshake must come from a page of this site (its Origin is
checked), since browsers attach cookies to cross-site WebSocket handshakes too. Close codes:
4401 not authenticated, 4404 no such workspace (or not yours), 4409 workspace not running,
4410 another tab took this session over, 4429 too many terminals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hemisphere.db.engine import Database
from hemisphere.dc.api import DcContext
from hemisphere.dc.errors import TerminalSessionError, TerminalShellExited, TooManyTerminals
from hemisphere.dc.terminal_sessions import Attachment, TerminalSession, TerminalSessions
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.webapi.auth import SESSION_COOKIE
from hemisphere.workspaces.errors import WorkspaceNotFound
from hemisphere.workspaces.runtime.base import WorkspaceNotRunning
from hemisphere.workspaces.states import State

log = logging.getLogger("hemisphere.terminal")
router = APIRouter()

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_RUNNING = 4409
CLOSE_TAKEN_OVER = 4410
CLOSE_TOO_MANY = 4429


def _size(value: str | None, default: int) -> int:
    try:
        return min(max(int(value or default), 1), 1000)
    except ValueError:
        return default


def allowed_origins(websocket: WebSocket, public_url: str) -> set[str]:
    """The site's own origins: the configured public URL and the host the client dialled."""
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    origins = {public_url.rstrip("/").lower()}
    host = websocket.headers.get("host")
    if host:
        origins.add(f"{scheme}://{host}".lower())
    return origins


async def _principal(websocket: WebSocket, public_url: str) -> Principal | None:
    """The caller, or None (after closing the handshake) when it must not go on."""
    auth = websocket.headers.get("authorization", "")
    scheme, _, bearer = auth.partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        token = bearer.strip()
    else:
        token = websocket.cookies.get(SESSION_COOKIE, "")
        origin = websocket.headers.get("origin", "").lower()
        if token and origin not in allowed_origins(websocket, public_url):
            # Cross-site WebSocket hijacking: refuse before accepting (the client sees 403).
            await websocket.close(code=1008)
            return None
    await websocket.accept()
    if not token:
        await websocket.close(CLOSE_UNAUTHENTICATED, "log in first (or send a bearer token)")
        return None
    try:
        identity: IdentityReader = websocket.app.state.identity
        return await identity.principal_for_token(token)
    except InvalidCredentials as exc:
        await websocket.close(CLOSE_UNAUTHENTICATED, exc.message[:120])
        return None


@router.websocket("/api/workspaces/{workspace_id}/terminal")
async def terminal(websocket: WebSocket, workspace_id: int) -> None:
    ctx: DcContext = websocket.app.state.dc
    sessions: TerminalSessions = websocket.app.state.terminals
    who = await _principal(websocket, websocket.app.state.public_url)
    if who is None:
        return
    try:
        db: Database = websocket.app.state.db
        async with db.session() as s:
            ws = await ctx.service.visible(s, who, workspace_id)
            state = ws.state
    except WorkspaceNotFound:
        await websocket.close(CLOSE_NOT_FOUND, f"no workspace with id {workspace_id}")
        return
    if state != State.RUNNING:
        await websocket.close(CLOSE_NOT_RUNNING, f"the workspace is {state}; start it first")
        return

    cols = _size(websocket.query_params.get("cols"), 80)
    rows = _size(websocket.query_params.get("rows"), 24)
    session_id = websocket.query_params.get("session")
    session: TerminalSession | None = None
    attachment: Attachment | None = None
    scrollback = b""
    if session_id:
        with contextlib.suppress(TerminalSessionError):  # gone or exited: a new shell instead
            session = sessions.find(session_id, who.user_id, workspace_id)
            attachment, scrollback = session.attach()
    replay = attachment is not None
    try:
        if session is None or attachment is None:
            session = await sessions.open(
                who.user_id,
                workspace_id,
                lambda: ctx.runtime.open_terminal(workspace_id, cols, rows),
            )
            attachment, scrollback = session.attach()
    except (WorkspaceNotRunning, TerminalShellExited):
        await websocket.close(CLOSE_NOT_RUNNING, "the workspace is not running; start it first")
        return
    except TooManyTerminals as exc:
        await websocket.close(CLOSE_TOO_MANY, str(exc)[:120])
        return

    try:
        if replay:
            await session.terminal.resize(cols, rows)
        await websocket.send_text(
            json.dumps(
                {"type": "session", "id": session.id, "replay": replay,
                 "graceSeconds": sessions.grace_s}
            )
        )  # fmt: skip
        if replay and scrollback:
            await websocket.send_bytes(scrollback)
        await _bridge(websocket, session, attachment)
    finally:
        session.detach(attachment)


async def _bridge(websocket: WebSocket, session: TerminalSession, attachment: Attachment) -> None:
    async def output() -> None:
        kicked = asyncio.ensure_future(attachment.kicked.wait())
        try:
            while True:
                chunk = asyncio.ensure_future(attachment.queue.get())
                await asyncio.wait({chunk, kicked}, return_when=asyncio.FIRST_COMPLETED)
                if not chunk.done():
                    chunk.cancel()
                    await websocket.close(
                        CLOSE_TAKEN_OVER, "this terminal was opened in another window"
                    )
                    return
                data = chunk.result()
                if data is None:
                    await websocket.send_text(json.dumps({"type": "exit"}))
                    await websocket.close(1000, "the shell exited")
                    return
                await websocket.send_bytes(data)
        finally:
            kicked.cancel()

    async def input_() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes"):
                await session.terminal.write(message["bytes"])
            elif message.get("text"):
                await _control(session, message["text"])

    tasks = [asyncio.ensure_future(output()), asyncio.ensure_future(input_())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await t
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(1000)


async def _control(session: TerminalSession, text: str) -> None:
    try:
        msg: Any = json.loads(text)
    except ValueError:
        return
    if not isinstance(msg, dict):
        return
    if msg.get("type") == "resize":
        with contextlib.suppress(KeyError, ValueError, TypeError):
            await session.terminal.resize(int(msg["cols"]), int(msg["rows"]))
    elif msg.get("type") == "input" and isinstance(msg.get("data"), str):
        await session.terminal.write(msg["data"].encode())
