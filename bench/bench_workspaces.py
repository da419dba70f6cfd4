"""Workspace start latency and workspace-list throughput, each beside a baseline.

* start latency: API call (PATCH replicas=1) → sandbox running, p50/p95 over 50 workspaces,
  beside spawning a bare `bwrap … true` sandbox the same way the local runtime does;
* list throughput: GET /api/workspaces/team/{id} for a team of 200 workspaces, beside a minimal
  ASGI app returning the same JSON bytes, both served by uvicorn and hit by the same client loop.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from hemisphere.config import Settings
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.server import Roles, build_app
from hemisphere.server.app import Started

N_START = 50
N_LIST = 200
LIST_REQUESTS = 400
CLIENT_THREADS = 4


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    def __init__(self, app: Any) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def _bwrap_baseline(n: int) -> list[float]:
    """A bare sandbox spawn: drop to an unprivileged uid, then bwrap with every namespace."""
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
           "bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
           "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
           "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "true"]  # fmt: skip
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        out.append(time.perf_counter() - t0)
    return out


def _throughput(url: str, headers: dict[str, str]) -> float:
    def worker(k: int) -> None:
        with httpx.Client(headers=headers) as c:
            for _ in range(k):
                r = c.get(url)
                r.raise_for_status()

    per = LIST_REQUESTS // CLIENT_THREADS
    with httpx.Client(headers=headers) as warm:
        warm.get(url).raise_for_status()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(worker, [per] * CLIENT_THREADS))
    return per * CLIENT_THREADS / (time.perf_counter() - t0)


def main() -> None:
    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="hemisphere-bench-"))
    tmp.chmod(0o711)  # workspace users must traverse it to reach their homes
    try:
        port = _free_port()
        settings = Settings(
            data_dir=tmp,
            database_url=f"sqlite:///{tmp / 'bench.db'}",
            port=port,
            reconcile_interval_s=1.0,
        )
        started = Started()
        app = build_app(settings, Roles(), started=started)
        with _Server(app) as base:
            assert started.first_admin is not None
            token = started.first_admin.token
            with HemisphereClient(base, token) as c:
                team = c.create_team("bench", dc=1)
                ids = []
                for i in range(N_START):
                    ws = c.create_workspace(
                        m.WorkspaceCreate(teamId=team.id, name=f"start-{i}", planId=7,
                                          isPrivateRepo=False, replicas=0)
                    )  # fmt: skip
                    ids.append(ws.id)
                start_lat = []
                with console.status("measuring workspace start latency…") as status:
                    for n, wid in enumerate(ids, 1):
                        t0 = time.perf_counter()
                        c.start_workspace(wid)
                        while not c.workspace_status(wid).isRunning:
                            time.sleep(0.002)
                        start_lat.append(time.perf_counter() - t0)
                        status.update(f"measuring workspace start latency… {n}/{N_START}")
                    for wid in ids:
                        c.stop_workspace(wid)
                list_team = c.create_team("bench-list", dc=1)
                for i in range(N_LIST):
                    c.create_workspace(
                        m.WorkspaceCreate(teamId=list_team.id, name=f"ws-{i}", planId=7,
                                          isPrivateRepo=False, replicas=0)
                    )  # fmt: skip
                headers = {"Authorization": f"Bearer {token}"}
                list_url = f"{base}/api/workspaces/team/{list_team.id}"
                body = httpx.get(list_url, headers=headers).content
                assert len(httpx.get(list_url, headers=headers).json()) == N_LIST
                hemi_rps = _throughput(list_url, headers)
                while any(c.workspace_status(w).state != "stopped" for w in ids):
                    time.sleep(0.2)

        async def minimal(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})

        with _Server(minimal) as base:
            base_rps = _throughput(base + "/", {})
        bwrap = _bwrap_baseline(N_START)

        table = Table(title="Workspaces (local runtime, SQLite)")
        for col in ("measure", "Hemisphere", "baseline", "baseline is", "ratio"):
            table.add_column(col)
        table.add_row(
            f"start latency p50 (n={N_START})", f"{_pct(start_lat, 50) * 1000:.1f} ms",
            f"{_pct(bwrap, 50) * 1000:.1f} ms", "bare `bwrap true` spawn",
            f"{_pct(start_lat, 50) / _pct(bwrap, 50):.1f}x",
        )  # fmt: skip
        table.add_row(
            f"start latency p95 (n={N_START})", f"{_pct(start_lat, 95) * 1000:.1f} ms",
            f"{_pct(bwrap, 95) * 1000:.1f} ms", "bare `bwrap true` spawn",
            f"{_pct(start_lat, 95) / _pct(bwrap, 95):.1f}x",
        )  # fmt: skip
        table.add_row(
            f"list {N_LIST} workspaces", f"{hemi_rps:.0f} req/s", f"{base_rps:.0f} req/s",
            "minimal ASGI app, same JSON", f"{base_rps / hemi_rps:.1f}x slower",
        )  # fmt: skip
        console.print(table)
        console.print(f"[dim]{CLIENT_THREADS} client threads, {LIST_REQUESTS} requests each "
                      f"side, {len(body)} bytes per response; cpu count {os.cpu_count()}[/]")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
