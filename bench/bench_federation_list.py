"""The console's workspace list over 5 DCs, beside one direct call to one DC through the same link.

Five real `hemisphere serve dc` processes on one shared PostgreSQL (scenario 2A on loopback),
each behind its own WAN link: a toxiproxy proxy adding HEMISPHERE_BENCH_WAN_MS (default 40) ms
each way, so one round trip is 2 x 40 ms. The console (uvicorn, in this process) reaches the DCs
only through those links. Measured, p50/p95 over the same number of requests:

* aggregated: GET /api/federation/workspaces?team=T at the console (every DC asked
  concurrently, per-DC deadline 1.5 s);
* Codesphere list: GET /api/workspaces/team/T at the console (the same fan-out);
* baseline: GET /api/workspaces/team/T at DC 1 directly, through DC 1's link.

Goal (issue 9): aggregated p50 <= one round trip + 15 ms. Without the toxiproxy binary
(~/.cache/hemisphere/bin/toxiproxy-server, scripts/build-toxiproxy.sh) the links are plain
loopback and the table says so.

Run: `python -m bench federation_list`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table
from tests.services.postgres import running_postgres

from hemisphere.config import RegisteredDatacenter, Settings
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.server import Roles, build_app
from hemisphere.server.app import Started

DCS = 5
WORKSPACES_PER_DC = 10
REQUESTS = 60
TOXIPROXY = Path.home() / ".cache/hemisphere/bin/toxiproxy-server"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become ready")
        time.sleep(0.1)


class Links:
    """One WAN link per DC: a toxiproxy proxy with latency each way, or plain loopback."""

    def __init__(self, root: Path, wan_ms: int) -> None:
        self.wan_ms = wan_ms if TOXIPROXY.is_file() else 0
        self.proc: subprocess.Popen[bytes] | None = None
        if self.wan_ms:
            self.api = f"http://127.0.0.1:{_free_port()}"
            port = self.api.rsplit(":", 1)[1]
            self.proc = subprocess.Popen(
                [str(TOXIPROXY), "-host", "127.0.0.1", "-port", port],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            _wait_ready(self.api + "/version", self.proc)

    def link(self, name: str, upstream_port: int) -> int:
        """The port to dial for `upstream_port` through the WAN."""
        if not self.wan_ms:
            return upstream_port
        port = _free_port()
        r = httpx.post(
            f"{self.api}/proxies",
            json={"name": name, "listen": f"127.0.0.1:{port}",
                  "upstream": f"127.0.0.1:{upstream_port}", "enabled": True},
        )  # fmt: skip
        r.raise_for_status()
        for stream in ("upstream", "downstream"):
            httpx.post(
                f"{self.api}/proxies/{name}/toxics",
                json={"name": f"wan-{stream}", "type": "latency", "stream": stream,
                      "attributes": {"latency": self.wan_ms, "jitter": 0}},
            ).raise_for_status()  # fmt: skip
        return port

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)


def _timed(client: httpx.Client, path: str, n: int) -> list[float]:
    client.get(path).raise_for_status()  # warm the connections
    out = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    console = Console()
    wan_ms = int(os.environ.get("HEMISPHERE_BENCH_WAN_MS", "40"))
    root = Path(tempfile.mkdtemp(prefix="hemisphere-bench-fed-"))
    root.chmod(0o711)
    procs: list[subprocess.Popen[bytes]] = []
    links = Links(root, wan_ms)
    server: uvicorn.Server | None = None
    try:
        with running_postgres() as pg:
            db_url = pg.create_database()
            dc_ports = {n: _free_port() for n in range(1, DCS + 1)}
            wan_ports = {n: links.link(f"dc{n}", p) for n, p in dc_ports.items()}
            registered = tuple(
                RegisteredDatacenter(n, f"dc{n}", "City", "DE", f"http://127.0.0.1:{wan_ports[n]}")
                for n in dc_ports
            )
            port = _free_port()
            settings = Settings(
                data_dir=root / "console", database_url=db_url, port=port,
                public_url=f"http://localhost:{port}", datacenters=registered,
            )  # fmt: skip
            started = Started()
            app = build_app(settings, Roles(console=True, dc=False), started=started)
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
            )
            threading.Thread(target=server.run, daemon=True).start()
            _wait_ready(f"http://127.0.0.1:{port}/readyz")
            for n, dc_port in dc_ports.items():
                env = {**os.environ, "HEMISPHERE_LOG_LEVEL": "WARNING",
                       "HEMISPHERE_PUBLIC_URL": f"http://127.0.0.1:{dc_port}"}  # fmt: skip
                proc = subprocess.Popen(
                    [sys.executable, "-m", "hemisphere.cli.main", "serve", "dc",
                     "--datacenter", str(n), "--data-dir", str(root / f"dc{n}"),
                     "--port", str(dc_port), "--database-url", db_url],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                procs.append(proc)
            for n, dc_port in dc_ports.items():
                _wait_ready(f"http://127.0.0.1:{dc_port}/readyz", procs[n - 1])
            assert started.first_admin is not None
            token = started.first_admin.token
            with HemisphereClient(f"http://127.0.0.1:{port}", token) as c:
                team = c.create_team(f"bench-{secrets.token_hex(3)}", dc=1)
                for n in dc_ports:
                    for i in range(WORKSPACES_PER_DC):
                        c.create_workspace(
                            m.WorkspaceCreate(teamId=team.id, name=f"w{n}-{i}", planId=8,
                                              isPrivateRepo=False, replicas=0, dataCenterId=n)
                        )  # fmt: skip
            headers = {"Authorization": f"Bearer {token}"}
            results: dict[str, list[float]] = {}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as cc:
                listed: Any = cc.get(f"/api/federation/workspaces?team={team.id}").json()
                assert len(listed["workspaces"]) == DCS * WORKSPACES_PER_DC, json.dumps(listed)
                assert not listed["partial"], listed["datacenters"]
                results["console: aggregated list, 5 DCs"] = _timed(
                    cc, f"/api/federation/workspaces?team={team.id}", REQUESTS
                )
                results["console: Codesphere list, 5 DCs"] = _timed(
                    cc, f"/api/workspaces/team/{team.id}", REQUESTS
                )
            with httpx.Client(base_url=f"http://127.0.0.1:{wan_ports[1]}", headers=headers) as dc:
                results["baseline: DC 1 directly, same link"] = _timed(
                    dc, f"/api/workspaces/team/{team.id}", REQUESTS
                )
    finally:
        if server is not None:
            server.should_exit = True
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        links.close()
        shutil.rmtree(root, ignore_errors=True)
    rtt = 2 * links.wan_ms
    link = (
        f"toxiproxy, {links.wan_ms} ms each way (RTT {rtt} ms)"
        if links.wan_ms
        else ("plain loopback (HEMISPHERE_BENCH_WAN_MS=0, or no toxiproxy binary)")
    )
    table = Table(
        title=f"Workspace list over {DCS} DCs, {WORKSPACES_PER_DC} workspaces each; WAN: {link}"
    )
    for col in ("what", "p50 ms", "p95 ms", "requests"):
        table.add_column(col)
    for name, values in results.items():
        table.add_row(name, f"{_pct(values, 50):.1f}", f"{_pct(values, 95):.1f}", str(len(values)))
    console.print(table)
    p50 = _pct(results["console: aggregated list, 5 DCs"], 50)
    goal = rtt + 15
    verdict = "meets" if p50 <= goal else "misses"
    console.print(f"goal: aggregated p50 <= RTT + 15 ms = {goal} ms -> {verdict} ({p50:.1f} ms)")
