"""One console for all DCs, with real DC processes (issue 9): a Codesphere client pointed at the
console creates, lists, gets, starts, stops and deletes workspaces in any DC — with an API token
and with a browser session — and a DC that is down or frozen never breaks the console: its rows
come from its last snapshot, marked stale, and calls for its workspaces answer 503 naming it.

Scenario 2A on one machine: one PostgreSQL shared by the console (in this process) and two
`hemisphere serve dc` processes, which the test kills (SIGKILL) and freezes (SIGSTOP).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hemisphere.config import RegisteredDatacenter
from hemisphere.federation.signing import public_pem
from hemisphere.sdk import Conflict, HemisphereClient, ServiceUnavailable
from hemisphere.sdk import models as m
from hemisphere.server import Roles
from tests.console.web.conftest import WebClient
from tests.dc.test_api_workspaces import wait_for
from tests.services.platform import RunningPlatform, free_port, platform_settings

pytestmark = pytest.mark.e2e


@dataclass
class DcProcess:
    """`hemisphere serve dc` as its own process."""

    datacenter_id: int
    data_dir: Path
    port: int
    database_url: str
    public_key: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DcProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HEMISPHERE_SIGNING_PUBLIC_KEY": self.public_key,
            "HEMISPHERE_RECONCILE_INTERVAL": "0.3",
            "HEMISPHERE_HEARTBEAT_INTERVAL": "0.5",
            "HEMISPHERE_SNAPSHOT_INTERVAL": "0.5",
            "HEMISPHERE_LOG_LEVEL": "WARNING",
            "HEMISPHERE_PUBLIC_URL": self.url,
            "HEMISPHERE_PREVIEW_DOMAIN": f"localhost:{self.port}",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hemisphere.cli.main", "serve", "dc",
             "--datacenter", str(self.datacenter_id), "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--database-url", self.database_url],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, f"dc {self.datacenter_id} exited"
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"dc {self.datacenter_id} did not become ready"
            time.sleep(0.1)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Federation2A:
    console: RunningPlatform
    dcs: dict[int, DcProcess]

    @property
    def token(self) -> str:
        assert self.console.admin is not None
        return self.console.admin.token


@pytest.fixture
def fed(data_dir: Path, postgres_url: str) -> Iterator[Federation2A]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    ports = {1: free_port(), 2: free_port()}
    registered = (
        RegisteredDatacenter(1, "fra", "Frankfurt", "DE", f"http://127.0.0.1:{ports[1]}"),
        RegisteredDatacenter(2, "par", "Paris", "FR", f"http://127.0.0.1:{ports[2]}"),
    )
    console = RunningPlatform(
        platform_settings(
            data_dir / "console", postgres_url, datacenters=registered,
            signing_private_key=private, federation_list_deadline_s=1.0,
            federation_route_timeout_s=3.0,
        ),
        Roles(console=True, dc=False),
    ).start()  # fmt: skip
    dcs = {
        n: DcProcess(n, data_dir / f"dc{n}", ports[n], postgres_url, public_pem(key.public_key()))
        for n in (1, 2)
    }
    try:
        for dc in dcs.values():
            dc.start()
        yield Federation2A(console, dcs)
    finally:
        for dc in dcs.values():
            dc.stop()
        console.stop()


def _new(team_id: int, name: str, dc: int | None = None, replicas: int = 0) -> m.WorkspaceCreate:
    return m.WorkspaceCreate(
        teamId=team_id, name=name, planId=8, isPrivateRepo=False, replicas=replicas,
        dataCenterId=dc,
    )  # fmt: skip


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_one_api_for_all_dcs_and_a_dc_that_is_down_or_frozen(fed: Federation2A) -> None:
    c = fed.console.client(fed.token)
    team = c.create_team("fed", dc=1)
    # -- routing with an API token: create in each DC through the console ------------------
    here = c.create_workspace(_new(team.id, "in-fra"))  # the team's default DC
    there = c.create_workspace(_new(team.id, "in-par", dc=2, replicas=1))
    assert (here.dataCenterId, there.dataCenterId) == (1, 2)
    assert c.get_workspace(there.id).name == "in-par"
    wait_for(c, there.id, lambda st: st.isRunning)  # started by DC 2's reconciler
    assert c.execute(there.id, "echo routed").output == "routed\n"
    c.stop_workspace(there.id)
    wait_for(c, there.id, lambda st: st.state == "stopped")
    listed = c.list_workspaces(team.id)
    assert sorted((w.name, w.dataCenterId) for w in listed) == [("in-fra", 1), ("in-par", 2)]
    # The same client pointed at the DC's own URL works there directly.
    with HemisphereClient(fed.dcs[2].url, fed.token) as direct:
        assert direct.get_workspace(there.id).dataCenterId == 2
        # Cordoned at the console: the DC itself refuses too (the flag is in the shared DB).
        c.cordon_datacenter(2)
        with pytest.raises(Conflict, match=r"data center 2 \(par\) is cordoned"):
            direct.create_workspace(_new(team.id, "direct", dc=2))
        with pytest.raises(Conflict, match=r"data center 2 \(par\) is cordoned"):
            c.create_workspace(_new(team.id, "routed", dc=2))
        c.uncordon_datacenter(2)

    # -- routing with a browser session: the console signs an assertion for the DC ---------
    admin = fed.console.admin
    assert admin is not None
    web = WebClient(fed.console)
    try:
        assert web.login(admin.email, admin.password).status_code == 303
        web.get("/teams")
        got = web.http.get(f"/api/workspaces/{there.id}")
        assert got.status_code == 200 and got.json()["dataCenterId"] == 2, got.text
        made = web.http.post(
            "/api/workspaces",
            json=_new(team.id, "by-browser", dc=2).model_dump(exclude_none=True),
            headers={"X-CSRF-Token": web.csrf},
        )
        assert made.status_code == 200, made.text
        browser_ws = made.json()["id"]
        gone = web.http.delete(
            f"/api/workspaces/{browser_ws}",
            headers={"X-CSRF-Token": web.csrf},
        )
        assert gone.status_code == 200, gone.text
        page = web.get("/federation/workspaces")
        assert page.status_code == 200 and "in-par" in page.text and "in-fra" in page.text
    finally:
        web.close()
    _wait(lambda: all(w.name != "by-browser" for w in c.list_workspaces(team.id)), "delete")

    # -- a DC killed: its rows come from its last snapshot, calls for it answer 503 ---------
    _wait(
        lambda: c.datacenter_registry()[1].workspaceCounts.get("stopped") == 1,
        "DC 2's snapshot of its stopped workspace",
    )
    fed.dcs[2].signal(signal.SIGKILL)
    fed.dcs[2].proc.wait()  # type: ignore[union-attr]
    with pytest.raises(ServiceUnavailable, match=r"data center 2 \(par\) unreachable"):
        c.get_workspace(there.id)
    with pytest.raises(ServiceUnavailable, match=r"data center 2 \(par\) unreachable"):
        c.stop_workspace(there.id)
    r = httpx.get(
        f"{fed.console.base_url}/api/workspaces/team/{team.id}",
        headers={"Authorization": f"Bearer {fed.token}"},
    )
    assert r.status_code == 200
    rows = {w["name"]: w for w in r.json()}
    assert set(rows) == {"in-fra", "in-par"}
    assert rows["in-par"]["stale"] is True and rows["in-par"]["staleSeconds"] >= 0
    assert "stale" not in rows["in-fra"]
    assert r.headers["x-hemisphere-partial"].startswith("2 (par) snapshot")
    ext = c.federated_workspaces()
    by_dc = {d.id: d for d in ext.datacenters}
    assert ext.partial and by_dc[2].source == "snapshot" and by_dc[2].stale
    assert by_dc[2].staleSeconds is not None and "unreachable" in (by_dc[2].error or "")
    assert (by_dc[1].source, by_dc[1].stale) == ("live", False)
    assert [w.name for w in c.federated_workspaces(dc=2, state="stopped").workspaces] == ["in-par"]
    assert [w.name for w in c.federated_workspaces(q="fra").workspaces] == ["in-fra"]

    # The killed DC's lease runs out (10 s); the live one never looks Unknown meanwhile.
    seen_1: set[str] = set()

    def dc2_unknown() -> bool:
        reg = {d.id: d.status for d in c.datacenter_registry()}
        seen_1.add(reg[1])
        return reg[2] == "Unknown"

    _wait(dc2_unknown, "DC 2's lease to expire", timeout=40)
    assert seen_1 == {"Ready"}

    # -- a DC frozen (SIGSTOP): the list answers on the deadline path ----------------------
    fed.dcs[1].signal(signal.SIGSTOP)
    try:
        frozen = c.federated_workspaces()
        by_dc = {d.id: d for d in frozen.datacenters}
        assert frozen.partial and by_dc[1].source == "snapshot" and by_dc[1].stale
        assert "did not answer within" in (by_dc[1].error or "")
        assert {w.name: w.stale for w in frozen.workspaces} == {"in-fra": True, "in-par": True}
        with pytest.raises(ServiceUnavailable, match=r"data center 1 \(fra\) unreachable"):
            c.get_workspace(here.id)
    finally:
        fed.dcs[1].signal(signal.SIGCONT)
    assert c.get_workspace(here.id).name == "in-fra"
    c.close()
