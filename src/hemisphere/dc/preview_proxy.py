"""Forwarding HTTP requests and WebSocket sessions into a workspace (the preview proxy's data path).

Workspaces run in their own network namespaces, so upstream connections come from the runtime
(`WorkspaceRuntime.connect_port`), not from the host network. HTTP goes through httpcore with a
network backend that dials the runtime, so keep-alive pooling and HTTP/1.1 framing are httpcore's;
WebSockets through the `websockets` sans-I/O client, driven over the same kind of connection,
because the ASGI server has already terminated the browser's side and hands us messages.

Authorization is not done here: `dc/preview.py` decides who may reach this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
from starlette.types import Receive, Scope, Send
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response as WsResponse
from websockets.protocol import State as WsState
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from hemisphere.workspaces.runtime.base import WorkspaceNotRunning, WorkspaceRuntime

log = logging.getLogger("hemisphere.preview")

_CHUNK = 65536
# Hop-by-hop headers (RFC 9110 §7.6.1) are for one connection, never forwarded.
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
    }
)


class UpstreamUnavailable(Exception):
    """Nothing answers on the port, or the workspace stopped; `status` is what to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _host_of(workspace_id: int) -> str:
    return f"ws-{workspace_id}"


class _RuntimeStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await asyncio.wait_for(self._reader.read(max_bytes), timeout)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            await asyncio.wait_for(self._writer.drain(), timeout)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle keep-alive connection with something to read has been closed by the app.
            return self._reader.at_eof() or self._writer.is_closing()
        return None


class _RuntimeBackend(httpcore.AsyncNetworkBackend):
    """Dials `ws-<id>:<port>` through the runtime instead of the host network."""

    def __init__(self, runtime: WorkspaceRuntime) -> None:
        self._runtime = runtime

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        reader, writer = await connect(self._runtime, int(host.removeprefix("ws-")), port)
        return _RuntimeStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def connect(
    runtime: WorkspaceRuntime, workspace_id: int, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await runtime.connect_port(workspace_id, port)
    except WorkspaceNotRunning as exc:
        raise UpstreamUnavailable(
            503, "the workspace is not running; start it, then reload this page"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise UpstreamUnavailable(
            502,
            f"nothing answers on port {port} in the workspace; start a server that listens "
            f"on 0.0.0.0:{port} (for example `python3 -m http.server {port}`), then reload",
        ) from exc


def forwarded_headers(
    scope: Scope, *, drop: frozenset[str], cookie_filter: str | None
) -> list[tuple[bytes, bytes]]:
    """The request's headers minus hop-by-hop ones and `drop`, our cookie removed, plus
    X-Forwarded-*."""
    out: list[tuple[bytes, bytes]] = []
    host = ""
    for raw_name, value in scope["headers"]:
        name = raw_name.decode("latin-1").lower()
        if name == "host":
            host = value.decode("latin-1")
        if name in _HOP or name in drop or name.startswith("x-forwarded-"):
            continue
        if name == "cookie" and cookie_filter is not None:
            kept = [
                c
                for c in value.decode("latin-1").split(";")
                if c.strip().partition("=")[0] != cookie_filter
            ]
            if not kept:
                continue
            value = ";".join(kept).strip().encode("latin-1")
        out.append((raw_name, value))
    client = scope.get("client")
    if client:
        out.append((b"x-forwarded-for", str(client[0]).encode()))
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    out.append((b"x-forwarded-proto", scheme.encode()))
    if host:
        out.append((b"x-forwarded-host", host.encode("latin-1")))
    return out


class PreviewProxy:
    """Connection pool and forwarding for every workspace of one runtime."""

    def __init__(self, runtime: WorkspaceRuntime, *, max_connections: int = 256) -> None:
        self.runtime = runtime
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=_RuntimeBackend(runtime),
            max_connections=max_connections,
            max_keepalive_connections=64,
            keepalive_expiry=30.0,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    # ---- HTTP ---------------------------------------------------------------------------

    async def http(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        workspace_id: int,
        port: int,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Forward one request; raises UpstreamUnavailable before anything was sent back."""
        sent = {n.decode("latin-1").lower() for n, _ in scope["headers"]}
        body: AsyncIterator[bytes] | bytes = b""
        if "content-length" in sent:
            body = _request_body(receive)
        elif "transfer-encoding" in sent:  # the browser streamed it; so do we
            headers = [*headers, (b"transfer-encoding", b"chunked")]
            body = _request_body(receive)
        path = scope.get("raw_path") or scope["path"].encode()
        target = path + (b"?" + scope["query_string"] if scope.get("query_string") else b"")
        request = httpcore.Request(
            scope["method"],
            httpcore.URL(scheme=b"http", host=_host_of(workspace_id).encode(), port=port,
                         target=target),
            headers=headers,
            content=body,
            extensions={"timeout": {"connect": 10.0, "read": None, "write": 60.0, "pool": 30.0}},
        )  # fmt: skip
        try:
            response = await self._pool.handle_async_request(request)
        except UpstreamUnavailable:
            raise
        except httpcore.ConnectError as exc:
            raise UpstreamUnavailable(502, f"cannot connect to port {port}: {exc}") from exc
        except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
            raise UpstreamUnavailable(
                502, f"the server on port {port} closed the connection or broke HTTP ({exc})"
            ) from exc
        try:
            out_headers = [
                (n, v) for n, v in response.headers if n.decode("latin-1").lower() not in _HOP
            ]
            await send(
                {"type": "http.response.start", "status": response.status, "headers": out_headers}
            )
            async for chunk in response.aiter_stream():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (httpcore.ProtocolError, httpcore.NetworkError) as exc:
            # Headers are gone already: all we can do is cut the response short.
            log.info("preview response cut short", extra={"error": str(exc)})
        finally:
            await response.aclose()

    # ---- WebSocket ----------------------------------------------------------------------

    async def websocket(
        self,
        receive: Receive,
        send: Send,
        *,
        workspace_id: int,
        port: int,
        host: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        subprotocols: list[str],
    ) -> None:
        """Connect upstream first, then accept the browser's side with what upstream chose."""
        reader, writer = await connect(self.runtime, workspace_id, port)
        try:
            protocol = ClientProtocol(
                parse_uri(f"ws://{host}{target}"),
                subprotocols=[Subprotocol(p) for p in subprotocols] or None,
                max_size=None,
            )
            request = protocol.connect()
            skip = {"host", "sec-websocket-key", "sec-websocket-version",
                    "sec-websocket-extensions", "sec-websocket-protocol"}  # fmt: skip
            for n, v in headers:
                name = n.decode("latin-1")
                if name.lower() not in skip:
                    request.headers[name] = v.decode("latin-1")
            protocol.send_request(request)
            await _flush(protocol, writer)
            handshake = await _read_handshake(protocol, reader)
            if handshake is None or protocol.state is not WsState.OPEN:
                status = handshake.status_code if handshake is not None else 502
                raise UpstreamUnavailable(
                    502, f"the server on port {port} refused the WebSocket ({status})"
                )
            chosen = handshake.headers.get("Sec-WebSocket-Protocol")
            await send({"type": "websocket.accept", "subprotocol": chosen})
            await _pump_websocket(protocol, reader, writer, receive, send)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _request_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _flush(protocol: ClientProtocol, writer: asyncio.StreamWriter) -> None:
    for data in protocol.data_to_send():
        if data:
            writer.write(data)
        else:
            writer.write_eof()
    await writer.drain()


async def _read_handshake(
    protocol: ClientProtocol, reader: asyncio.StreamReader
) -> WsResponse | None:
    while True:
        data = await asyncio.wait_for(reader.read(_CHUNK), 30.0)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()
        for event in protocol.events_received():
            if isinstance(event, WsResponse):
                return event
        if not data:
            return None


async def _pump_websocket(
    protocol: ClientProtocol,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    receive: Receive,
    send: Send,
) -> None:
    lock = asyncio.Lock()

    async def browser_to_app() -> None:
        while True:
            message = await receive()
            async with lock:
                if message["type"] == "websocket.disconnect":
                    if protocol.state is WsState.OPEN:
                        protocol.send_close(_closable(int(message.get("code") or 1000)))
                    await _flush(protocol, writer)
                    return
                if message.get("bytes") is not None:
                    protocol.send_binary(message["bytes"])
                elif message.get("text") is not None:
                    protocol.send_text(message["text"].encode())
                await _flush(protocol, writer)

    async def app_to_browser() -> None:
        parts: list[bytes] = []
        opcode = Opcode.TEXT
        while True:
            data = await reader.read(_CHUNK)
            async with lock:
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                events = protocol.events_received()
                await _flush(protocol, writer)  # pongs and close replies
            for frame in events:
                if not isinstance(frame, Frame):
                    continue
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    opcode, parts = frame.opcode, [bytes(frame.data)]
                elif frame.opcode == Opcode.CONT:
                    parts.append(bytes(frame.data))
                elif frame.opcode == Opcode.CLOSE:
                    code = protocol.close_code or 1000
                    await send({"type": "websocket.close", "code": _closable(code),
                                "reason": protocol.close_reason or ""})  # fmt: skip
                    return
                else:
                    continue
                if frame.fin:
                    payload = b"".join(parts)
                    parts = []
                    if opcode == Opcode.TEXT:
                        await send({"type": "websocket.send", "text": payload.decode()})
                    else:
                        await send({"type": "websocket.send", "bytes": payload})
            if not data:
                await send({"type": "websocket.close", "code": 1011, "reason": "upstream gone"})
                return

    tasks = [asyncio.ensure_future(browser_to_app()), asyncio.ensure_future(app_to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError, RuntimeError):
                await t


def _closable(code: int) -> int:
    """Close codes a server may send (1005/1006/1015 are reserved for 'none given')."""
    return (
        code if code in (1000, 1001, 1003, 1007, 1008, 1009, 1011) or 3000 <= code < 5000 else 1000
    )
