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
4401 not authenticated, 4403 access revoked, 4404 no such workspace (or not yours), 4409
workspace not running, 4410 another tab took this session over, 4429 too many terminals.

Access is not only checked at the handshake (issue 10: a member removed from the team kept a
running shell). Before input reaches the shell, `TerminalAccess` asks the `IdentityReader`
again whether the token is still valid (not revoked, not logged out, user not disabled) and the
user still a member of the workspace's team. Input is handled in batches: frames that arrive
while a check runs wait for the next one, so a fast typist costs one check per batch, not per
key, and no frame is executed unless a check that began after it arrived said yes. An idle
connection is re-checked every `RECHECK_S`. When access is gone the socket closes with 4403
"access revoked" and the shell is ended, not kept for reconnection; detached sessions are
re-checked by the session reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hemisphere.db.engine import Database
from hemisphere.dc.api import DcContext
from hemisphere.dc.errors import TerminalSessionError, TerminalShellExited, TooManyTerminals
from hemisphere.dc.terminal_sessions import Attachment, TerminalSession, TerminalSessions
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.webapi.auth import require_session_kind, session_token
from hemisphere.workspaces.errors import WorkspaceNotFound
from hemisphere.workspaces.runtime.base import (
    RuntimePermanentError,
    RuntimeTemporaryError,
    WorkspaceNotRunning,
)
from hemisphere.workspaces.states import State

log = logging.getLogger("hemisphere.terminal")
router = APIRouter()

CLOSE_UNAUTHENTICATED = 4401
CLOSE_REVOKED = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_RUNNING = 4409
CLOSE_TAKEN_OVER = 4410
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 1011
RECHECK_S = 1.0
_INBOX = 256
REVOKED = "access revoked"


@dataclass(frozen=True)
class TerminalAccess:
    """May the caller behind `token` still use the terminals of `team_id`'s workspaces?"""

    identity: IdentityReader
    token: str
    from_cookie: bool
    team_id: int

    async def allowed(self) -> bool:
        try:
            who = await self.identity.principal_for_token(self.token)
            if self.from_cookie:
                require_session_kind(who)
        except InvalidCredentials:
            return False
        if who.is_cluster_admin:
            return True
        return await self.identity.team_role(who.user_id, self.team_id) is not None


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


async def _principal(websocket: WebSocket, public_url: str) -> tuple[Principal, str, bool] | None:
    """The caller, its token and whether it came in the cookie; None (after closing the
    handshake) when it must not go on."""
    auth = websocket.headers.get("authorization", "")
    scheme, _, bearer = auth.partition(" ")
    from_cookie = not (scheme.lower() == "bearer" and bearer.strip())
    if not from_cookie:
        token = bearer.strip()
    else:
        token = session_token(websocket) or ""
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
        who = await identity.principal_for_token(token)
        return (require_session_kind(who) if from_cookie else who), token, from_cookie
    except InvalidCredentials as exc:
        await websocket.close(CLOSE_UNAUTHENTICATED, exc.message[:120])
        return None


@router.websocket("/api/workspaces/{workspace_id}/terminal")
async def terminal(websocket: WebSocket, workspace_id: int) -> None:
    ctx: DcContext = websocket.app.state.dc
    sessions: TerminalSessions = websocket.app.state.terminals
    caller = await _principal(websocket, websocket.app.state.public_url)
    if caller is None:
        return
    who, token, from_cookie = caller
    try:
        db: Database = websocket.app.state.db
        async with db.session() as s:
            ws = await ctx.service.visible(s, who, workspace_id)
            state, team_id = ws.state, ws.team_id
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
    access = TerminalAccess(websocket.app.state.identity, token, from_cookie, team_id)
    try:
        if session is None or attachment is None:
            session = await sessions.open(
                who.user_id,
                workspace_id,
                lambda: ctx.runtime.open_terminal(workspace_id, cols, rows),
            )
            attachment, scrollback = session.attach()
        session.still_allowed = access.allowed
    except (WorkspaceNotRunning, TerminalShellExited):
        await websocket.close(CLOSE_NOT_RUNNING, "the workspace is not running; start it first")
        return
    except TooManyTerminals as exc:
        await websocket.close(CLOSE_TOO_MANY, str(exc)[:120])
        return
    except (RuntimePermanentError, RuntimeTemporaryError) as exc:  # e.g. its pids are used up
        log.warning("no terminal for workspace %s: %s", workspace_id, exc)
        await websocket.close(CLOSE_UNAVAILABLE, "the terminal could not be opened; try again")
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
        if await _bridge(websocket, session, attachment, access) == REVOKED:
            await sessions.end(session)
    finally:
        session.detach(attachment)


async def _bridge(
    websocket: WebSocket, session: TerminalSession, attachment: Attachment, access: TerminalAccess
) -> str | None:
    """Carry bytes both ways until one side ends; returns REVOKED when access was withdrawn."""
    outcome: str | None = None
    # Bounded, so a client typing faster than the shell reads is slowed down by TCP.
    inbox: asyncio.Queue[Message | None] = asyncio.Queue(maxsize=_INBOX)

    async def revoke() -> None:
        nonlocal outcome
        outcome = REVOKED
        await websocket.close(CLOSE_REVOKED, REVOKED)

    async def output() -> bool:
        """Returns True when it stopped because the client went away."""
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
                    return False
                data = chunk.result()
                if data is None:
                    await websocket.send_text(json.dumps({"type": "exit"}))
                    await websocket.close(1000, "the shell exited")
                    return False
                try:
                    await websocket.send_bytes(data)
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return True
        finally:
            kicked.cancel()

    async def receive() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                await inbox.put(None)
                return
            await inbox.put(message)

    async def input_() -> None:
        while True:
            try:
                batch = [await asyncio.wait_for(inbox.get(), RECHECK_S)]
            except TimeoutError:
                batch = []  # idle: re-check anyway, so a revoked socket does not linger
            while not inbox.empty():
                batch.append(inbox.get_nowait())
            try:
                allowed = await access.allowed()
            except Exception:  # identity unreachable: fail closed, keep the shell for later
                log.warning("terminal access check failed", exc_info=True)
                await websocket.close(CLOSE_UNAVAILABLE, "cannot check access now; reconnect")
                return
            if not allowed:
                await revoke()
                return
            for message in batch:
                if message is None:
                    return
                if message.get("bytes"):
                    await session.terminal.write(message["bytes"])
                elif message.get("text"):
                    await _control(session, message["text"])

    # The bridge ends with output (shell exited, taken over) or input (disconnect, revoked);
    # `receive` only feeds input, which still handles what arrived before a disconnect.
    sender, handler = asyncio.ensure_future(output()), asyncio.ensure_future(input_())
    reader = asyncio.ensure_future(receive())
    tasks = [sender, handler]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        client_gone = sender.done() and not sender.cancelled() and sender.exception() is None
        if client_gone and sender.result():
            # Output stopped because the client left: let input finish the frames it sent
            # before leaving (the disconnect ends it), as they may be the last command typed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(handler), RECHECK_S * 10)
    finally:
        for t in [*tasks, reader]:
            t.cancel()
        for t in [*tasks, reader]:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await t
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(1000)
    return outcome


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
