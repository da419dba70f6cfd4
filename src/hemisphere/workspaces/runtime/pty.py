"""An interactive shell on a pseudo-terminal, read and written from the event loop.

The pty comes from the SANDBOX's devpts instance, not the host's: otherwise /dev/pts/N inside the
sandbox names nothing and `tty`, editors and agents that look up their terminal by name fail. It
is allocated inside the sandbox, by the workspace user (`inside.py`'s `pty` mode), and only the
master fd crosses to the host over a unix socket: the privileged side never opens a path in the
sandbox (issue 10: `/proc/PID/root/dev/ptmx` is the tenant's to replace with a symlink to anything
on the host). Because the sender is the tenant, `receive_master` trusts nothing it gets: the fd
must be the multiplexer of exactly the devpts instance the kernel reports mounted at /dev/pts in
the sandbox, and the slave is reached from it by ioctl, not by name.

The shell's side becomes its controlling terminal (`setsid --ctty`, see sandbox.enter_argv), so
job control, Ctrl-C and SIGWINCH work as in any terminal. The platform keeps the master side,
non-blocking, and waits on it with loop readers/writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import socket
import stat
import struct
import termios
from collections.abc import Callable, Mapping, Sequence

_CHUNK = 65536
_TIOCSPTLCK = 0x40045431  # unlockpt(3)
_TIOCGPTPEER = 0x5441  # open the slave through the master (Linux >= 4.13): no path lookup
_PTMX = os.makedev(5, 2)
_RECV_FLAGS = socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC
_PTY_SLAVE_MAJORS = range(136, 144)  # UNIX98_PTY_SLAVE_MAJOR .. + UNIX98_PTY_MAJOR_COUNT


class ForeignPty(Exception):
    """What came back from the sandbox is not a pty of its own devpts."""


def receive_master(sock: socket.socket, devpts: int) -> int:
    """The pty master the sandbox sent on `sock` (already queued), checked to be the multiplexer
    of the devpts instance `devpts` (st_dev). Raises ForeignPty otherwise."""
    try:
        _, fds, flags, _ = socket.recv_fds(sock, 16, 4, _RECV_FLAGS)
    except BlockingIOError:
        raise ForeignPty("the sandbox sent no terminal") from None
    master, *extra = fds or [-1]
    for fd in extra:
        os.close(fd)
    if master < 0:
        raise ForeignPty("the sandbox sent no file descriptor")
    try:
        st = os.fstat(master)
        if flags & socket.MSG_CTRUNC or not (
            stat.S_ISCHR(st.st_mode) and st.st_rdev == _PTMX and st.st_dev == devpts
        ):
            raise ForeignPty("the sandbox sent something other than its own /dev/pts/ptmx")
    except BaseException:
        os.close(master)
        raise
    return master


def host_master() -> int:
    """A pty master from the HOST's devpts (unlocked), for shells of the platform's own (tests,
    tools); never for a sandbox, whose ptys come from `receive_master`."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))
    except BaseException:
        os.close(master)
        raise
    return master


def open_slave(master: int, owner: tuple[int, int]) -> int:
    """The slave side of `master` (a checked pty master), given to `owner` (uid, gid) as login
    does. The slave is reached through the master, never by name."""
    slave: int = fcntl.ioctl(master, _TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        # The kernel opens the peer in the master's own devpts instance (checked by
        # receive_master for a sandbox's); this only confirms it is a pty slave at all.
        if os.major(os.fstat(slave).st_rdev) not in _PTY_SLAVE_MAJORS:
            raise ForeignPty("the pty's peer is not a pty slave")
        os.fchown(slave, *owner)
        os.fchmod(slave, 0o620)
    except BaseException:
        os.close(slave)
        raise
    return slave


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
        master: int,
        owner: tuple[int, int],
        cols: int,
        rows: int,
        env: Mapping[str, str],
        pass_fds: Sequence[int] = (),
        session_members: Callable[[int], set[int]],
    ) -> PtyTerminal:
        """Start `argv` with the slave of `master` (see `receive_master`; this object owns it from
        now on), given to `owner`, as stdin/stdout/stderr. `session_members(pid)` lists the
        processes of the session `pid` leads (to end them all on close)."""
        try:
            slave = open_slave(master, owner)
        except BaseException:
            os.close(master)
            raise
        try:
            _set_size(slave, cols, rows)
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env),
                pass_fds=tuple(pass_fds),
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
