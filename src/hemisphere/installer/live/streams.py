"""Exec and port-forward streams through the API server (websocket channel protocol).

Exec uses `v5.channel.k8s.io` (falling back to v4): every binary frame starts with a channel
byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close). Port-forward uses
`v4.channel.k8s.io` on `pods/NAME/portforward?ports=P`: channel 0 carries data, channel 1
errors, and the first frame on each starts with the port number (2 bytes, little endian).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from hemisphere.installer.live.errors import StreamError
from hemisphere.installer.live.kubeconfig import ClusterAccess

__all__ = [
    "ExecOutput",
    "PodTerminal",
    "close_port_forwards",
    "exec_in_pod",
    "open_pod_terminal",
    "port_forward",
]

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
_EXEC_PROTOCOLS = [Subprotocol("v5.channel.k8s.io"), Subprotocol("v4.channel.k8s.io")]
_EXIT_STATUS = re.compile(r"exit (?:status|code)[: ]+(\d+)")
_SIGNALLED = re.compile(r"signal: (killed|terminated|interrupt|hangup)")
_SIGNALS = {"killed": 9, "terminated": 15, "interrupt": 2, "hangup": 1}


@dataclass(frozen=True)
class ExecOutput:
    stdout: bytes
    stderr: bytes
    exit_code: int


def _ws_url(access: ClusterAccess, path: str, query: list[tuple[str, str]]) -> str:
    base = access.server.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}{path}?{urlencode(query)}"


async def _connect(
    access: ClusterAccess, path: str, query: list[tuple[str, str]], protocols: list[Subprotocol]
) -> ClientConnection:
    url = _ws_url(access, path, query)
    try:
        return await connect(
            url,
            ssl=access.ssl_context() if url.startswith("wss://") else None,
            subprotocols=protocols,
            additional_headers=access.headers(),
            compression=None,
            max_size=None,
            open_timeout=30,
            close_timeout=2,
        )
    except InvalidStatus as exc:
        body = exc.response.body.decode(errors="replace") if exc.response.body else ""
        with contextlib.suppress(ValueError):
            body = json.loads(body).get("message", body)
        raise StreamError(f"{path}: HTTP {exc.response.status_code}: {body}") from exc
    except (OSError, WebSocketException, TimeoutError) as exc:
        raise StreamError(f"{path}: cannot open stream: {exc}") from exc


def exit_code_of(status: dict[str, Any]) -> int:
    """The exit code in a v4/v5 status frame (0 on Success)."""
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" or cause.get("type") == "ExitCode":
            return int(cause.get("message", "1"))
    # Runtimes that do not report the code structurally (kwok's local exec) put it in the text.
    message = str(status.get("message", ""))
    match = _EXIT_STATUS.search(message)
    if match:
        return int(match.group(1))
    signalled = _SIGNALLED.search(message)
    if signalled:
        return 128 + _SIGNALS.get(signalled.group(1), 15)
    raise StreamError(f"exec failed: {status.get('message') or status}")


def _exec_path(namespace: str, pod: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{pod}/exec"


def _exec_query(
    argv: list[str], container: str | None, *, stdin: bool, tty: bool
) -> list[tuple[str, str]]:
    query = [("command", a) for a in argv]
    query += [("stdout", "true"), ("stderr", "false" if tty else "true")]
    query += [("stdin", "true" if stdin else "false"), ("tty", "true" if tty else "false")]
    if container:
        query.append(("container", container))
    return query


async def exec_in_pod(
    access: ClusterAccess,
    namespace: str,
    pod: str,
    argv: list[str],
    *,
    container: str | None = None,
    stdin: bytes | None = None,
) -> ExecOutput:
    """Run argv in the pod's container and collect its output and exit code."""
    ws = await _connect(
        access,
        _exec_path(namespace, pod),
        _exec_query(argv, container, stdin=stdin is not None, tty=False),
        _EXEC_PROTOCOLS,
    )
    out, err = bytearray(), bytearray()
    status: dict[str, Any] | None = None
    async with ws:
        if stdin is not None:
            await ws.send(bytes([STDIN]) + stdin)
            if ws.subprotocol == "v5.channel.k8s.io":
                await ws.send(bytes([CLOSE, STDIN]))
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                data = frame if isinstance(frame, bytes) else frame.encode()
                if not data:
                    continue
                channel, payload = data[0], data[1:]
                if channel == STDOUT:
                    out += payload
                elif channel == STDERR:
                    err += payload
                elif channel == STATUS and payload:
                    status = json.loads(payload)
    if status is None:
        raise StreamError(f"exec in pod {namespace}/{pod}: stream ended without a status")
    return ExecOutput(bytes(out), bytes(err), exit_code_of(status))


class PodTerminal:
    """An interactive tty exec session (implements the runtime's Terminal protocol)."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def read(self) -> bytes:
        while True:
            try:
                frame = await self._ws.recv()
            except ConnectionClosed:
                return b""
            data = frame if isinstance(frame, bytes) else frame.encode()
            if data and data[0] in (STDOUT, STDERR) and len(data) > 1:
                return data[1:]
            if data and data[0] == STATUS:
                return b""

    async def write(self, data: bytes) -> None:
        try:
            await self._ws.send(bytes([STDIN]) + data)
        except ConnectionClosed as exc:
            raise StreamError("terminal closed") from exc

    async def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(
                bytes([RESIZE]) + json.dumps({"Width": cols, "Height": rows}).encode()
            )

    async def close(self) -> None:
        await self._ws.close()


async def open_pod_terminal(
    access: ClusterAccess,
    namespace: str,
    pod: str,
    argv: list[str],
    *,
    container: str | None = None,
    cols: int = 80,
    rows: int = 24,
) -> PodTerminal:
    ws = await _connect(
        access,
        _exec_path(namespace, pod),
        _exec_query(argv, container, stdin=True, tty=True),
        _EXEC_PROTOCOLS,
    )
    term = PodTerminal(ws)
    await term.resize(cols, rows)
    return term


async def port_forward(
    access: ClusterAccess, namespace: str, pod: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP-like stream to `port` of the pod, as asyncio streams (bridged over a socketpair)."""
    ws = await _connect(
        access,
        f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward",
        [("ports", str(port))],
        [Subprotocol("v4.channel.k8s.io")],
    )
    local, remote = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=local)
    task = asyncio.get_running_loop().create_task(_pump(ws, remote))
    writer.transport.set_write_buffer_limits(high=1 << 20)
    _PUMPS.add(task)
    task.add_done_callback(_PUMPS.discard)
    return reader, writer


_PUMPS: set[asyncio.Task[None]] = set()


async def close_port_forwards(timeout_s: float = 3.0) -> None:
    """Let the open port-forwards of this event loop finish closing (call before the loop
    ends, e.g. when the runtime shuts down); the ones still open after the timeout are cut."""
    loop = asyncio.get_running_loop()
    mine = [t for t in _PUMPS if t.get_loop() is loop and not t.done()]
    if not mine:
        return
    _, pending = await asyncio.wait(mine, timeout=timeout_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout_s)


async def _pump(ws: ClientConnection, sock: socket.socket) -> None:
    """Copy bytes between the websocket (channel 0) and our end of the socketpair."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    seen_prefix = {0: False, 1: False}

    async def from_ws() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                data = frame if isinstance(frame, bytes) else frame.encode()
                if not data:
                    continue
                channel, payload = data[0], data[1:]
                if channel in seen_prefix and not seen_prefix[channel]:
                    seen_prefix[channel] = True
                    payload = payload[2:]  # the port number
                if channel == 0 and payload:
                    await loop.sock_sendall(sock, payload)
                elif channel == 1 and payload:
                    break  # an error from the far end: close the connection

    async def to_ws() -> None:
        while True:
            data = await loop.sock_recv(sock, 65536)
            if not data:
                return
            await ws.send(bytes([0]) + data)

    reader = asyncio.ensure_future(from_ws())
    sender = asyncio.ensure_future(to_ws())
    try:
        await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sock.close()
        for t in (reader, sender):
            t.cancel()
        with contextlib.suppress(Exception):
            await ws.close()
