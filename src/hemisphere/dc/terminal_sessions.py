"""Browser terminal sessions that outlive their WebSocket for a grace period.

A laptop that sleeps, a Wi-Fi hand-over or a page reload drops the WebSocket, but the developer's
shell (and what runs in its foreground) must survive. So the pty belongs to a `TerminalSession`,
not to the connection: a pump task keeps reading the shell's output into a bounded scrollback
buffer whether or not a client is attached, and a client that reconnects with the session's id
within the grace period gets the scrollback replayed and carries on. Only the user who opened a
session may attach to it, and at most one client is attached at a time (the newest wins).
A session also remembers how to ask whether its user may still use it (`still_allowed`, set by
the WebSocket layer): a detached session whose user lost access is ended by the reaper instead of
waiting out its grace period (issue 10).

No web framework here: `dc/terminal.py` turns WebSocket messages into calls on this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hemisphere.dc.errors import TerminalSessionGone, TerminalShellExited, TooManyTerminals
from hemisphere.workspaces.runtime.base import Terminal

log = logging.getLogger("hemisphere.terminal")

GRACE_S = 300.0
SCROLLBACK_BYTES = 256 * 1024
MAX_SESSIONS_PER_USER = 16
_QUEUE_CHUNKS = 64
REVOKED_CHECK_S = 5.0  # how often detached sessions are re-checked (attached ones: every batch)


class Scrollback:
    """The last `limit` bytes of output, cut at a line start where possible so a replay does
    not begin in the middle of an escape sequence."""

    def __init__(self, limit: int = SCROLLBACK_BYTES) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def append(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        while self._size > self.limit and self._chunks:
            head = self._chunks.popleft()
            self._size -= len(head)
            excess = self._size + len(head) - self.limit
            if excess < len(head):
                rest = head[excess:]
                newline = rest.find(b"\n")
                if newline >= 0:
                    rest = rest[newline + 1 :]
                if rest:
                    self._chunks.appendleft(rest)
                    self._size += len(rest)

    def snapshot(self) -> bytes:
        return b"".join(self._chunks)

    def __len__(self) -> int:
        return self._size


@dataclass(eq=False)
class Attachment:
    """One client's view of a session: the output it still has to send, in order.
    `None` in the queue means the shell has exited."""

    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=_QUEUE_CHUNKS)
    )
    kicked: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Stop receiving; unblock a pump waiting on a full queue."""
        self.kicked.set()
        while not self.queue.empty():
            self.queue.get_nowait()


class TerminalSession:
    def __init__(
        self, session_id: str, user_id: int, workspace_id: int, terminal: Terminal
    ) -> None:
        self.id = session_id
        self.user_id = user_id
        self.workspace_id = workspace_id
        self.terminal = terminal
        self.scrollback = Scrollback()
        self.exited = False
        self.detached_at: float | None = time.monotonic()
        self._attached: Attachment | None = None
        self._pump: asyncio.Task[None] | None = None
        self.still_allowed: Callable[[], Awaitable[bool]] | None = None

    def start(self, on_exit: Callable[[TerminalSession], Awaitable[None]]) -> None:
        self._pump = asyncio.create_task(self._run(on_exit), name=f"terminal-{self.id[:8]}")

    async def _run(self, on_exit: Callable[[TerminalSession], Awaitable[None]]) -> None:
        try:
            while True:
                try:
                    data = await self.terminal.read()
                except OSError as exc:
                    log.info("terminal read failed", extra={"error": str(exc)})
                    data = b""
                # Capture the sink and record the data in one step: a client attaching later
                # gets it in its replay, the current one through its queue; never both.
                sink = self._attached
                if not data:
                    self.exited = True
                    if sink is not None and not sink.kicked.is_set():
                        await sink.queue.put(None)
                    break
                self.scrollback.append(data)
                if sink is not None and not sink.kicked.is_set():
                    await sink.queue.put(data)
        finally:
            await on_exit(self)

    def attach(self) -> tuple[Attachment, bytes]:
        """Become the session's one client; returns the attachment and the scrollback to replay."""
        if self.exited:
            raise TerminalShellExited(f"the shell of terminal session {self.id} has exited")
        if self._attached is not None:
            self._attached.release()
        self._attached = Attachment()
        self.detached_at = None
        return self._attached, self.scrollback.snapshot()

    def detach(self, attachment: Attachment) -> None:
        attachment.release()
        if self._attached is attachment:
            self._attached = None
            self.detached_at = time.monotonic()

    async def close(self) -> None:
        if self._attached is not None:
            self._attached.release()
        await self.terminal.close()
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


class TerminalSessions:
    """Every live terminal session of this process, by id."""

    def __init__(
        self,
        *,
        grace_s: float = GRACE_S,
        max_per_user: int = MAX_SESSIONS_PER_USER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.grace_s = grace_s
        self.max_per_user = max_per_user
        self._clock = clock
        self._sessions: dict[str, TerminalSession] = {}
        self._reaper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._sessions)

    async def open(
        self,
        user_id: int,
        workspace_id: int,
        spawn: Callable[[], Awaitable[Terminal]],
    ) -> TerminalSession:
        await self._make_room(user_id)
        terminal = await spawn()
        session = TerminalSession(secrets.token_urlsafe(24), user_id, workspace_id, terminal)
        self._sessions[session.id] = session
        session.start(self._forget)
        self._ensure_reaper()
        return session

    def find(self, session_id: str, user_id: int, workspace_id: int) -> TerminalSession:
        """The session, if it is this user's, for this workspace, and its shell still runs."""
        session = self._sessions.get(session_id)
        if session is None or session.user_id != user_id or session.workspace_id != workspace_id:
            raise TerminalSessionGone(
                "the terminal session has ended (or its grace period passed); a new one starts"
            )
        if session.exited:
            raise TerminalShellExited("the shell of this terminal session has exited")
        return session

    async def close_all(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for session in list(self._sessions.values()):
            await self._close(session)

    async def end(self, session: TerminalSession) -> None:
        """End the session now (its user lost access): nobody can reattach to the shell."""
        log.info("terminal session ended", extra={"workspace_id": session.workspace_id})
        await self._close(session)

    async def reap(self) -> None:
        """Close sessions detached for longer than the grace period, and detached sessions
        whose user may no longer use them."""
        now = self._clock()
        for session in list(self._sessions.values()):
            if session.detached_at is None:
                continue
            if now - session.detached_at >= self.grace_s:
                log.info("terminal session expired", extra={"workspace_id": session.workspace_id})
                await self._close(session)
            elif session.still_allowed is not None and not await self._allowed(session):
                await self.end(session)

    @staticmethod
    async def _allowed(session: TerminalSession) -> bool:
        assert session.still_allowed is not None
        try:
            return await session.still_allowed()
        except Exception:  # identity unreachable: keep the session; reattaching is checked anew
            log.warning("terminal access check failed", exc_info=True)
            return True

    async def _make_room(self, user_id: int) -> None:
        mine = [s for s in self._sessions.values() if s.user_id == user_id]
        if len(mine) < self.max_per_user:
            return
        detached = sorted(
            (s for s in mine if s.detached_at is not None), key=lambda s: s.detached_at or 0.0
        )
        if not detached:
            raise TooManyTerminals(
                f"you already have {len(mine)} terminals open; close one (type `exit`) first"
            )
        await self._close(detached[0])

    async def _close(self, session: TerminalSession) -> None:
        self._sessions.pop(session.id, None)
        await session.close()

    async def _forget(self, session: TerminalSession) -> None:
        """The shell exited: nobody can attach any more."""
        self._sessions.pop(session.id, None)
        with contextlib.suppress(OSError):
            await session.terminal.close()

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap_forever(), name="terminal-reaper")

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self.grace_s / 4, REVOKED_CHECK_S))
        while self._sessions:
            await asyncio.sleep(interval)
            await self.reap()
