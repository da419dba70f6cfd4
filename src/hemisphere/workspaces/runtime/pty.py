"""An interactive shell on a pseudo-terminal, read and written from the event loop.

The pty is allocated in the SANDBOX's devpts instance (its /dev/ptmx, reached through
/proc/PID/root), not the host's: otherwise /dev/pts/N inside the sandbox names nothing and `tty`,
editors and agents that look up their terminal by name fail. The shell's side becomes its
controlling terminal (`setsid --ctty`, see sandbox.enter_argv), so job control, Ctrl-C and
SIGWINCH work as in any terminal. The platform keeps the master side, non-blocking, and waits on
it with loop readers/writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Callable, Mapping, Sequence

_CHUNK = 65536
_TIOCSPTLCK = 0x40045431  # unlockpt(3)
_TIOCGPTPEER = 0x5441  # open the slave through the master (Linux >= 4.13): no path lookup


def open_pty(ptmx: str, owner: tuple[int, int]) -> tuple[int, int]:
    """A (master, slave) pair from the devpts instance of `ptmx`; the slave is given to
    `owner` (uid, gid), as login does."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
        slave: int = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        os.fchown(slave, *owner)
        os.fchmod(slave, 0o620)
    except BaseException:
        os.close(master)
        raise
    return master, slave


def _set_size(fd: int, cols: int, rows: int) -> None:
    if not (0 < cols <= 10_000 and 0 < rows <= 10_000):
        raise ValueError(f"terminal size {cols}x{rows} is out of range (1..10000 each)")
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyTerminal:
    """A `Terminal` (runtime/base.py) backed by a local pty."""

    def __init__(
        self,
        master_fd: int,
        process: asyncio.subprocess.Process,
        session_members: Callable[[], set[int]],
    ) -> None:
        self._fd = master_fd
        self._process = process
        self._session_members = session_members
        self._exited = asyncio.ensure_future(process.wait())
        self._closed = False

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        ptmx: str,
        owner: tuple[int, int],
        cols: int,
        rows: int,
        env: Mapping[str, str],
        session_members: Callable[[int], set[int]],
    ) -> PtyTerminal:
        """Start `argv` with a new pty (from `ptmx`, owned by `owner`) as stdin/stdout/stderr.
        `session_members(pid)` lists the processes of the session `pid` leads (to end them all
        on close)."""
        master, slave = open_pty(ptmx, owner)
        try:
            _set_size(slave, cols, rows)
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, env=dict(env)
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(master, process, lambda: session_members(process.pid))

    async def read(self) -> bytes:
        """The next chunk of output; b"" once the shell has exited and its output is drained."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                return os.read(self._fd, _CHUNK)
            except BlockingIOError:
                if self._exited.done():
                    return b""
            except OSError as exc:
                if exc.errno == errno.EIO:  # every slave fd is closed: the shell is gone
                    return b""
                raise
            readable = loop.create_future()
            loop.add_reader(self._fd, _set_once, readable)
            try:
                await asyncio.wait({readable, self._exited}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                loop.remove_reader(self._fd)
        return b""

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view and not self._closed:
            try:
                view = view[os.write(self._fd, view) :]
                continue
            except BlockingIOError:
                pass
            writable = loop.create_future()
            loop.add_writer(self._fd, _set_once, writable)
            try:
                await writable
            finally:
                loop.remove_writer(self._fd)

    async def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            _set_size(self._fd, cols, rows)  # the kernel sends SIGWINCH to the foreground job

    async def close(self) -> None:
        """Hang up (SIGHUP, as when a terminal window closes), then kill what is left of the
        session. Background jobs started with nohup/setsid inside keep running, as on any
        machine."""
        if self._closed:
            return
        self._closed = True
        os.close(self._fd)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._exited), 2.0)
        for pid in self._session_members():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await self._exited


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
