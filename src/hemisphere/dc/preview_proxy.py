"""Forwarding HTTP requests and WebSocket sessions into a workspace (the preview proxy's data path).

Workspaces run in their own network namespaces, so upstream connections come from the runtime
(`WorkspaceRuntime.connect_port`), not from the host network. HTTP goes through httpcore with a
network backend that dials the runtime, so keep-alive pooling and HTTP/1.1 framing are httpcore's;
WebSockets through the `websockets` sans-I/O client, driven over the same kind of connection,
because the ASGI server has already terminated the browser's side and hands us messages.

Authorization is not done here: `dc/preview.py` decides who may reach this module.

One tenant must not be able to take the proxy from the others (issue 10): every workspace has its
own connection pool and at most `connections_per_workspace` requests and WebSockets upstream at
once (more are refused with 503 at once, never queued); connecting and waiting for an answer have
deadlines (504); and when the browser goes away, its request is cancelled and the upstream
connection closed, instead of waiting for an app that may never answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
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
from hemisphere.workspaces.slots import SlotsExhausted, WorkspaceSlots

log = logging.getLogger("hemisphere.preview")

_CHUNK = 65536
_MAX_POOLS = 512  # idle per-workspace pools beyond this are closed
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
    """The request cannot be forwarded; `status` is what to answer: 502 nothing answers or the
    app broke HTTP, 503 the workspace is stopped or at its connection limit (`retry_after_s`),
    504 the app did not accept or answer in time."""

    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


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

    def __init__(self, runtime: WorkspaceRuntime, connect_timeout_s: float) -> None:
        self._runtime = runtime
        self._connect_timeout_s = connect_timeout_s

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        wid = int(host.removeprefix("ws-"))
        reader, writer = await connect(self._runtime, wid, port, timeout or self._connect_timeout_s)
        return _RuntimeStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def connect(
    runtime: WorkspaceRuntime, workspace_id: int, port: int, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(timeout_s):
            return await runtime.connect_port(workspace_id, port)
    except WorkspaceNotRunning as exc:
        raise UpstreamUnavailable(
            503, "the workspace is not running; start it, then reload this page"
        ) from exc
    except TimeoutError as exc:
        raise UpstreamUnavailable(
            504,
            f"port {port} in the workspace did not accept a connection within {timeout_s:g} s; "
            "check that the server there is not overloaded, then reload",
        ) from exc
    except OSError as exc:
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
    """Connection pools and forwarding for every workspace of one runtime."""

    def __init__(
        self,
        runtime: WorkspaceRuntime,
        *,
        connections_per_workspace: int = 32,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
    ) -> None:
        self.runtime = runtime
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.slots = WorkspaceSlots(connections_per_workspace, "preview connections")
        self._backend = _RuntimeBackend(runtime, connect_timeout_s)
        # A pool per workspace: one workspace's connections can never fill another's pool.
        self._pools: dict[int, httpcore.AsyncConnectionPool] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    def _pool(self, workspace_id: int) -> httpcore.AsyncConnectionPool:
        pool = self._pools.get(workspace_id)
        if pool is None:
            if len(self._pools) >= _MAX_POOLS:
                self._drop_idle_pools()
            pool = self._pools[workspace_id] = httpcore.AsyncConnectionPool(
                network_backend=self._backend,
                # The slots admit at most this many requests, so none waits for the pool.
                max_connections=self.slots.limit,
                max_keepalive_connections=min(8, self.slots.limit),
                keepalive_expiry=30.0,
            )
        return pool

    def _drop_idle_pools(self) -> None:
        for wid in [w for w in self._pools if not self.slots.in_use(w)]:
            pool = self._pools.pop(wid)
            # Idle pools hold only keep-alive sockets: close them beside the request.
            task = asyncio.get_running_loop().create_task(pool.aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    @contextlib.contextmanager
    def _slot(self, workspace_id: int) -> Iterator[None]:
        try:
            self.slots.acquire(workspace_id)
        except SlotsExhausted as exc:
            raise UpstreamUnavailable(503, str(exc), retry_after_s=exc.retry_after_s) from exc
        try:
            yield
        finally:
            self.slots.release(workspace_id)

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
        """Forward one request; raises UpstreamUnavailable before anything was sent back.
        Returns early (upstream cancelled and closed) when the client disconnects."""
        with self._slot(workspace_id):
            client = _ClientSide(receive)
            forward = asyncio.ensure_future(
                self._forward(scope, client, send, workspace_id=workspace_id, port=port,
                              headers=headers)
            )  # fmt: skip
            gone = asyncio.ensure_future(client.disconnected())
            try:
                await asyncio.wait((forward, gone), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not forward.done():
                    forward.cancel()  # the client left (or we are shutting down)
                gone.cancel()
                await asyncio.gather(forward, gone, return_exceptions=True)
            if not forward.cancelled():
                forward.result()  # re-raises UpstreamUnavailable for the caller to answer
            else:
                log.info(
                    "preview client went away; upstream request cancelled",
                    extra={"workspace": workspace_id, "port": port},
                )

    async def _forward(
        self,
        scope: Scope,
        client: _ClientSide,
        send: Send,
        *,
        workspace_id: int,
        port: int,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        sent = {n.decode("latin-1").lower() for n, _ in scope["headers"]}
        body: AsyncIterator[bytes] | bytes = b""
        if "content-length" in sent:
            body = client.body()
        elif "transfer-encoding" in sent:  # the browser streamed it; so do we
            headers = [*headers, (b"transfer-encoding", b"chunked")]
            body = client.body()
        else:
            client.no_body()
        path = scope.get("raw_path") or scope["path"].encode()
        target = path + (b"?" + scope["query_string"] if scope.get("query_string") else b"")
        timeouts = {"connect": self.connect_timeout_s, "read": self.read_timeout_s,
                    "write": 60.0, "pool": 10.0}  # fmt: skip
        request = httpcore.Request(
            scope["method"],
            httpcore.URL(scheme=b"http", host=_host_of(workspace_id).encode(), port=port,
                         target=target),
            headers=headers,
            content=body,
            extensions={"timeout": timeouts},
        )  # fmt: skip
        try:
            response = await self._pool(workspace_id).handle_async_request(request)
        except UpstreamUnavailable:
            raise
        except httpcore.ConnectTimeout as exc:
            raise UpstreamUnavailable(
                504, f"port {port} did not accept a connection within {self.connect_timeout_s:g} s"
            ) from exc
        except httpcore.TimeoutException as exc:
            raise UpstreamUnavailable(
                504,
                f"the server on port {port} did not answer within {self.read_timeout_s:g} s; "
                "check that it is not stuck, then reload",
            ) from exc
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
        except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.TimeoutException) as exc:
            # Headers are gone already: all we can do is cut the response short.
            log.info("preview response cut short", extra={"error": str(exc) or type(exc).__name__})
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
        with self._slot(workspace_id):
            await self._websocket(
                receive, send, workspace_id=workspace_id, port=port, host=host, target=target,
                headers=headers, subprotocols=subprotocols,
            )  # fmt: skip

    async def _websocket(
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
        reader, writer = await connect(self.runtime, workspace_id, port, self.connect_timeout_s)
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
            try:
                handshake = await _read_handshake(protocol, reader, self.read_timeout_s)
            except TimeoutError as exc:
                raise UpstreamUnavailable(
                    504, f"the server on port {port} did not answer the WebSocket handshake"
                ) from exc
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


class _ClientSide:
    """The browser's half of one request: its body, then (once that is read) waiting for it to
    disconnect. The ASGI server reports a client that went away as `http.disconnect`."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._body_read = asyncio.Event()
        self._gone = False

    def no_body(self) -> None:
        self._body_read.set()

    async def body(self) -> AsyncIterator[bytes]:
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self._gone = True
                    return
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return
        finally:
            self._body_read.set()

    async def disconnected(self) -> None:
        """Returns when the client has gone away (only reads after the body, so the two never
        call `receive` at the same time)."""
        await self._body_read.wait()
        while not self._gone:
            if (await self._receive())["type"] == "http.disconnect":
                self._gone = True


async def _flush(protocol: ClientProtocol, writer: asyncio.StreamWriter) -> None:
    for data in protocol.data_to_send():
        if data:
            writer.write(data)
        else:
            writer.write_eof()
    await writer.drain()


async def _read_handshake(
    protocol: ClientProtocol, reader: asyncio.StreamReader, timeout_s: float
) -> WsResponse | None:
    while True:
        data = await asyncio.wait_for(reader.read(_CHUNK), timeout_s)
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
