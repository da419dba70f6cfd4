"""The console's federation pages (issue 9): the data-centers page shows status, version,
counts, the refused agent and the picture, and cordons with a button; the all-workspaces page
searches and filters. Plus the dc role's own agent: a DC that knows the console's URL and its
agent token renews its lease and pushes its snapshot over HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.config import RegisteredDatacenter
from hemisphere.federation.heartbeat import Agent
from hemisphere.sdk import models as m
from hemisphere.server import Roles
from tests.console.web.conftest import WebClient
from tests.services.platform import RunningPlatform, platform_settings

TOKEN_2 = "agent-secret-2"


@pytest.fixture
def console(data_dir: Path) -> Iterator[RunningPlatform]:
    tokens = data_dir / "agent-tokens"
    tokens.mkdir()
    (tokens / "dc-2").write_text(TOKEN_2)
    dcs = (
        RegisteredDatacenter(1, "fra", "Frankfurt", "DE"),
        RegisteredDatacenter(2, "par", "Paris", "FR"),
    )
    p = RunningPlatform(
        platform_settings(data_dir / "console", agent_tokens_dir=str(tokens), datacenters=dcs)
    ).start()
    try:
        yield p
    finally:
        p.stop()


def _admin_web(p: RunningPlatform) -> WebClient:
    assert p.admin is not None
    web = WebClient(p)
    assert web.login(p.admin.email, p.admin.password).status_code == 303
    return web


def test_the_datacenters_page_shows_the_registry_and_cordons(console: RunningPlatform) -> None:
    async def refused() -> None:
        agent = Agent(datacenter_id=2, console_url=console.base_url, token="wrong")
        try:
            with pytest.raises(httpx.HTTPStatusError):
                await agent.beat()
        finally:
            await agent.close()

    asyncio.run(refused())
    web = _admin_web(console)
    try:
        page = web.get("/admin/datacenters").text
        assert 'id="dc-1" data-status="Ready"' in page
        assert 'id="dc-2" data-status="NeverSeen"' in page
        assert "wrong agent token" in page  # which DC refused an agent, and when
        assert "<svg" in page and "par — data center 2" in page  # the picture
        assert web.post("/admin/datacenters/2/cordon").status_code == 303
        page = web.get("/admin/datacenters").text
        assert 'id="dc-2" data-status="Cordoned"' in page and 'id="uncordon-2"' in page
        assert web.post("/admin/datacenters/2/uncordon").status_code == 303
        assert 'id="dc-2" data-status="NeverSeen"' in web.get("/admin/datacenters").text
    finally:
        web.close()


def test_the_all_workspaces_page_searches_and_filters(console: RunningPlatform) -> None:
    with console.client() as c:
        team = c.create_team("pages", dc=1)
        for name in ("alpha", "beta"):
            c.create_workspace(
                m.WorkspaceCreate(teamId=team.id, name=name, planId=8, isPrivateRepo=False,
                                  replicas=0)
            )  # fmt: skip
    web = _admin_web(console)
    try:
        page = web.get("/federation/workspaces").text
        assert "alpha" in page and "beta" in page
        # DC 2 has no URL and no snapshot: the page says the list is partial.
        assert 'id="partial"' in page and "par" in page
        only = web.get("/federation/workspaces?q=alp").text
        assert "alpha" in only and "beta" not in only
        assert "alpha" not in web.get("/federation/workspaces?state=running").text
        assert "alpha" in web.get(f"/federation/workspaces?team={team.id}&dc=1").text
    finally:
        web.close()


def test_a_dc_with_the_consoles_url_runs_its_agent_over_http(
    console: RunningPlatform, data_dir: Path
) -> None:
    # DC 2 with its own database, dialing out to the console.
    dc = RunningPlatform(
        platform_settings(
            data_dir / "dc2", datacenter_id=2, console_url=console.base_url, agent_token=TOKEN_2,
            heartbeat_interval_s=0.2, snapshot_interval_s=0.2,
        ),
        Roles(console=False, dc=True),
    ).start()  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with console.client() as c:
                par = next(d for d in c.datacenter_registry() if d.id == 2)
            if par.status == "Ready" and par.snapshotAt is not None:
                break
            assert time.monotonic() < deadline, par
            time.sleep(0.1)
        assert par.version
    finally:
        dc.stop()


def test_a_dcs_snapshot_rows_appear_stale_in_the_codesphere_list_and_the_team_page(
    console: RunningPlatform,
) -> None:
    with console.client() as c:
        team = c.create_team("snap", dc=1)
    snap = m.DatacenterSnapshot(
        counts={"running": 1},
        # An agent may send no creation time: the Codesphere shape still gets one.
        workspaces=[m.SnapshotWorkspace(id=2_000_007, name="far", teamId=team.id,
                                        state="running", planId=8, replicas=1)],
    )  # fmt: skip

    async def push() -> None:
        agent = Agent(datacenter_id=2, console_url=console.base_url, token=TOKEN_2)
        agent.snapshot = lambda: _value(snap)
        try:
            await agent.push_snapshot()
        finally:
            await agent.close()

    asyncio.run(push())
    with console.client() as c:
        listed = {w.name: w for w in c.list_workspaces(team.id)}  # parses as Codesphere's
    assert listed["far"].dataCenterId == 2 and listed["far"].state == "running"
    raw = httpx.get(
        f"{console.base_url}/api/workspaces/team/{team.id}",
        headers={"Authorization": f"Bearer {console.admin.token}"},  # type: ignore[union-attr]
    ).json()
    assert raw[0]["stale"] is True and raw[0]["staleSeconds"] >= 0
    web = _admin_web(console)
    try:
        page = web.get(f"/teams/{team.id}")
        assert page.status_code == 200 and "far" in page.text
    finally:
        web.close()


async def _value(snap: m.DatacenterSnapshot) -> m.DatacenterSnapshot:
    return snap


def test_serve_agent_beside_a_dc_pushes_snapshots_from_the_dcs_database(
    console: RunningPlatform,
) -> None:
    env = {
        **os.environ,
        "HEMISPHERE_CONSOLE_URL": console.base_url,
        "HEMISPHERE_AGENT_TOKEN": TOKEN_2,
        "HEMISPHERE_DATABASE_URL": console.settings.database_url,
        "HEMISPHERE_HEARTBEAT_INTERVAL": "0.2",
        "HEMISPHERE_SNAPSHOT_INTERVAL": "0.2",
        "HEMISPHERE_DATA_DIR": str(console.settings.data_dir),
    }
    agent = subprocess.Popen(
        [sys.executable, "-m", "hemisphere.cli.main", "serve", "agent", "--datacenter", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with console.client() as c:
                par = next(d for d in c.datacenter_registry() if d.id == 2)
            if par.status == "Ready" and par.snapshotAt is not None:
                break
            assert agent.poll() is None, agent.stderr.read() if agent.stderr else ""
            assert time.monotonic() < deadline, par
            time.sleep(0.1)
    finally:
        agent.terminate()
        agent.wait(30)
        if agent.stderr is not None:
            agent.stderr.close()
