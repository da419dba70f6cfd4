"""Browser terminal and preview proxy, each beside a baseline measured in the same run:

* keystroke echo latency: one key sent through the terminal WebSocket until its echo comes back,
  p50/p95, beside the same key written straight to a pty of the same workspace (the runtime's
  `open_terminal`, no WebSocket, no server in between);
* preview proxy throughput: GETs through `{port}-{name}-{id}.{domain}` (the proxy), beside the
  same GETs sent straight into the workspace's network namespace (`connect_port`, no proxy), for
  a small file (requests/s) and a large one (MB/s). The app is `python3 -m http.server`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpcore
import httpx
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from hemisphere.config import Settings
from hemisphere.console.bootstrap import read_first_admin
from hemisphere.dc.app import make_runtime
from hemisphere.dc.preview_hosts import preview_host
from hemisphere.dc.preview_proxy import PreviewProxy
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.workspaces.runtime.base import Terminal, WorkspaceRuntime

KEYSTROKES = 300
SMALL_REQUESTS = 400
LARGE_REQUESTS = 16
LARGE_MIB = 8
CONCURRENCY = 4


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Platform:
    """`hemisphere up` in its own process, as it runs for real (and so the measuring client in
    this process does not share an interpreter lock with the server)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.settings = Settings(
            data_dir=data_dir, port=port, public_url=f"http://localhost:{port}",
            preview_domain=f"localhost:{port}", reconcile_interval_s=0.5,
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "HEMISPHERE_DATA_DIR": str(data_dir), "HEMISPHERE_PORT": str(port),
               "HEMISPHERE_PUBLIC_URL": self.settings.public_url,
               "HEMISPHERE_PREVIEW_DOMAIN": self.settings.preview_domain,
               "HEMISPHERE_RECONCILE_INTERVAL": "0.5", "HEMISPHERE_LOG_LEVEL": "WARNING"}  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hemisphere.cli.main", "up"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip

    def __enter__(self) -> str:
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"hemisphere up exited: {err[-2000:]}")
            try:
                if httpx.get(self.base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hemisphere up did not become ready in 120 s")
            time.sleep(0.1)
        admin = read_first_admin(self.settings.first_admin_file)
        assert admin is not None, "no first-admin.txt"
        return admin.token

    def __exit__(self, *_: object) -> None:
        self.proc.send_signal(signal.SIGINT)  # stops the sandboxes on the way out
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- keystrokes -----------------------------------------------------------------------------


async def _echo_rounds(send: Any, recv: Any, n: int) -> list[float]:
    """Send one key at a time and wait for its echo; clear the line every 40 keys."""
    out: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        await send(b"a")
        seen = b""
        while b"a" not in seen:
            seen += await recv()
        out.append(time.perf_counter() - t0)
        if i % 40 == 39:
            await send(b"\x15")  # Ctrl-U: empty the line again
            await _drain(recv)
    return out


async def _drain(recv: Any, quiet_s: float = 0.05) -> None:
    while True:
        try:
            await asyncio.wait_for(recv(), quiet_s)
        except TimeoutError:
            return


async def _websocket_keys(base: str, token: str, wid: int) -> list[float]:
    url = base.replace("http://", "ws://") + f"/api/workspaces/{wid}/terminal?cols=120&rows=40"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                       proxy=None) as ws:  # fmt: skip
        hello = json.loads(await ws.recv())
        assert hello["type"] == "session", hello

        async def recv() -> bytes:
            return await _binary(ws)

        await _drain(recv, 0.5)  # the prompt
        return await _echo_rounds(ws.send, recv, KEYSTROKES)


async def _binary(ws: ClientConnection) -> bytes:
    while True:
        frame = await ws.recv()
        if isinstance(frame, bytes):
            return frame


async def _pty_keys(runtime: WorkspaceRuntime, wid: int) -> list[float]:
    term: Terminal = await runtime.open_terminal(wid, 120, 40)
    try:
        await _drain(term.read, 0.5)
        return await _echo_rounds(term.write, term.read, KEYSTROKES)
    finally:
        await term.close()


# ---- preview throughput ---------------------------------------------------------------------


async def _rate(fetch: Any, n: int) -> tuple[float, int]:
    """(requests per second, bytes received) for n GETs by CONCURRENCY workers."""
    await fetch()  # warm up
    total = 0

    async def worker(k: int) -> None:
        nonlocal total
        for _ in range(k):
            total += await fetch()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(n // CONCURRENCY) for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - t0
    return (n // CONCURRENCY) * CONCURRENCY / elapsed, total


async def _through_proxy(base: str, host: str, token: str, path: str, n: int) -> tuple[float, int]:
    headers = {"Host": host, "X-CS-Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as c:

        async def fetch() -> int:
            r = await c.get(path)
            r.raise_for_status()
            return len(r.content)

        return await _rate(fetch, n)


async def _direct(
    runtime: WorkspaceRuntime, wid: int, host: str, path: str, n: int
) -> tuple[float, int]:
    proxy = PreviewProxy(runtime)  # only its pool: connections dialled into the netns
    pool: httpcore.AsyncConnectionPool = proxy._pool
    try:

        async def fetch() -> int:
            url = httpcore.URL(scheme=b"http", host=f"ws-{wid}".encode(), port=3000,
                               target=path.encode())  # fmt: skip
            r = await pool.request("GET", url, headers=[(b"host", host.encode())])
            assert r.status == 200, r.status
            return len(r.content)

        return await _rate(fetch, n)
    finally:
        await proxy.aclose()


def main() -> None:
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="hemisphere-bench-"))
    tmp.chmod(0o711)  # workspace users must traverse it to reach their homes
    try:
        platform = _Platform(tmp, _free_port())
        settings, base = platform.settings, platform.base
        with platform as token:
            with HemisphereClient(base, token) as c:
                team = c.create_team("bench", dc=1)
                ws = c.create_workspace(
                    m.WorkspaceCreate(teamId=team.id, name="bench", planId=8,
                                      isPrivateRepo=False, replicas=1)
                )  # fmt: skip
                while not c.workspace_status(ws.id).isRunning:
                    time.sleep(0.1)
                c.execute(ws.id, f"mkdir -p site && head -c 1024 /dev/urandom > site/small.bin && "
                                 f"head -c {LARGE_MIB}M /dev/urandom > site/large.bin")  # fmt: skip
                c.execute(ws.id, "cd site && nohup python3 -m http.server 3000 >/dev/null 2>&1 &")
                while 3000 not in [p.port for p in c.ports(ws.id)]:
                    time.sleep(0.1)
            host = preview_host(3000, ws.name, ws.id, settings.preview_domain)
            runtime = make_runtime(settings)  # the same sandboxes, reached without the server

            async def measure() -> dict[str, Any]:
                out: dict[str, Any] = {}
                with console.status("keystrokes through the terminal WebSocket…"):
                    out["ws"] = await _websocket_keys(base, token, ws.id)
                with console.status("keystrokes straight to a pty…"):
                    out["pty"] = await _pty_keys(runtime, ws.id)
                with console.status("preview proxy throughput…"):
                    out["proxy_small"] = await _through_proxy(
                        base, host, token, "/small.bin", SMALL_REQUESTS
                    )
                    out["proxy_large"] = await _through_proxy(
                        base, host, token, "/large.bin", LARGE_REQUESTS
                    )
                with console.status("direct requests into the workspace…"):
                    out["direct_small"] = await _direct(
                        runtime, ws.id, host, "/small.bin", SMALL_REQUESTS
                    )
                    out["direct_large"] = await _direct(
                        runtime, ws.id, host, "/large.bin", LARGE_REQUESTS
                    )
                return out

            r = asyncio.run(measure())

        table = Table(title="Browser terminal and preview proxy (local runtime)")
        for col in ("measure", "Hemisphere", "baseline", "baseline is", "ratio"):
            table.add_column(col)
        for q in (50, 95):
            ws_ms, pty_ms = _pct(r["ws"], q) * 1000, _pct(r["pty"], q) * 1000
            table.add_row(
                f"keystroke echo p{q} (n={KEYSTROKES})", f"{ws_ms:.2f} ms", f"{pty_ms:.2f} ms",
                "same key written to a pty directly", f"+{ws_ms - pty_ms:.2f} ms",
            )  # fmt: skip
        ps, ds = r["proxy_small"][0], r["direct_small"][0]
        table.add_row(
            "preview GET 1 KiB", f"{ps:.0f} req/s", f"{ds:.0f} req/s",
            "same GET into the workspace's netns", f"{ps / ds:.2f}x",
        )  # fmt: skip
        pl = r["proxy_large"][1] / (LARGE_REQUESTS / r["proxy_large"][0]) / 1e6
        dl = r["direct_large"][1] / (LARGE_REQUESTS / r["direct_large"][0]) / 1e6
        table.add_row(
            f"preview GET {LARGE_MIB} MiB", f"{pl:.0f} MB/s", f"{dl:.0f} MB/s",
            "same GET into the workspace's netns", f"{pl / dl:.2f}x",
        )  # fmt: skip
        console.print(table)
        console.print(f"[dim]{CONCURRENCY} concurrent clients for throughput; the app is "
                      "`python3 -m http.server` (a new connection per request)[/]")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
