"""Reading raw pipe fds from the event loop, with deadlines and size caps.

The runtime creates its pipes itself instead of using asyncio's subprocess PIPEs: a background
process inside a sandbox may keep an exec's stdout open forever, and the runtime must be able to
stop reading at a moment of its choosing and simply close its end.
"""

from __future__ import annotations

import asyncio
import codecs
import os


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, _set_once, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def read_until(fd: int, *, newline: bool, limit: int = 1 << 20) -> bytes:
    """Read `fd` until EOF (or, with `newline`, until a line is complete). Does not close it;
    wrap in asyncio.wait_for for a deadline."""
    os.set_blocking(fd, False)
    buf = bytearray()
    while len(buf) < limit:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            await _readable(fd)
            continue
        if not chunk:
            break
        buf += chunk
        if newline and b"\n" in buf:
            break
    return bytes(buf)


class OutputCollector:
    """Collects what is written to a pipe, keeping only the first `limit` bytes.

    Past the cap it keeps reading and drops what it reads instead of stopping: a writer blocked
    on a full pipe (or killed by SIGPIPE) would change the command's behaviour and exit code,
    while draining costs no memory and is bounded by the exec's own deadline. `truncated` says
    whether anything was dropped.
    """

    def __init__(self, fd: int, limit: int) -> None:
        self._fd = fd
        self._limit = limit
        self._buf = bytearray()
        self.truncated = False
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        os.set_blocking(self._fd, False)
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                await _readable(self._fd)
                continue
            if not chunk:
                return
            room = self._limit - len(self._buf)
            if len(chunk) > room:
                self.truncated = True
            if room > 0:
                self._buf += chunk[:room]

    async def finish(self, grace_s: float) -> str:
        """Wait up to `grace_s` for EOF, then stop reading, close the fd and return the text."""
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        finally:
            os.close(self._fd)
        if not self.truncated:
            return self._buf.decode("utf-8", errors="replace")
        # Cut mid-character: drop the incomplete tail rather than adding a replacement
        # character, so the text never encodes to more than `limit` bytes.
        return codecs.getincrementaldecoder("utf-8")("replace").decode(self._buf, final=False)

    async def abandon(self) -> None:
        """Stop reading and close the fd now (the caller was cancelled)."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        os.close(self._fd)
