"""TCP connections into a sandbox's network namespace without a process per connection.

A socket belongs to the network namespace of the thread that created it, and keeps it for life,
whichever thread uses it later. So a short-lived thread joins the sandbox's namespace with
setns(2) (Python 3.11 has no os.setns: ctypes), creates the socket and exits; the event loop then
connects and streams on it like on any other socket. The thread never returns to a pool, so no
other code can ever run in the wrong namespace. Joining needs CAP_SYS_ADMIN (the platform runs as
root).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from concurrent.futures import Future

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int, nstype: int) -> None:
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _socket_in(netns_fd: int, family: int, done: Future[socket.socket]) -> None:
    try:
        _setns(netns_fd, CLONE_NEWNET)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
    except BaseException as exc:
        done.set_exception(exc)
    else:
        done.set_result(sock)


async def socket_in_netns(netns_fd: int, family: int = socket.AF_INET) -> socket.socket:
    """A non-blocking, unconnected TCP socket in the network namespace `netns_fd` refers to (an
    open /proc/PID/ns/net)."""
    done: Future[socket.socket] = Future()
    worker = threading.Thread(
        target=_socket_in, args=(netns_fd, family, done), name="hemisphere-netns"
    )
    worker.start()
    sock = await asyncio.wrap_future(done)
    worker.join()  # already past set_result: returns at once
    return sock


async def open_connection_in_netns(
    netns_fd: int, port: int, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to `port` on the namespace's loopback: 127.0.0.1, else ::1 (dev servers that
    listen on "localhost" often take only ::1). ConnectionRefusedError if neither listens,
    TimeoutError if a connect does not complete in time."""
    loop = asyncio.get_running_loop()
    refused: ConnectionRefusedError | None = None
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        sock = await socket_in_netns(netns_fd, family)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout_s)
            return await asyncio.open_connection(sock=sock)
        except ConnectionRefusedError as exc:
            sock.close()
            refused = exc
        except BaseException:
            sock.close()
            raise
    assert refused is not None
    raise refused
