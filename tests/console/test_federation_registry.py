"""The console's DC registry (issue 9): the 10 s lease as a table, agents refused for a wrong
credential (and shown), status snapshots, cordon and uncordon."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hemisphere.config import RegisteredDatacenter
from hemisphere.federation.heartbeat import Agent
from hemisphere.federation.lease import DcStatus, dc_status
from hemisphere.sdk import Conflict
from hemisphere.sdk import models as m
from tests.services.platform import RunningPlatform, platform_settings

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)

# (seconds since the last beat received, cordoned) -> status. Beats every 2.5 s; a beat that is
# 200 ms late (or two lost in a row) is still well inside the 10 s lease.
LEASE_TABLE: tuple[tuple[float | None, bool, DcStatus], ...] = (
    (None, False, DcStatus.NEVER_SEEN),
    (0.0, False, DcStatus.READY),
    (2.7, False, DcStatus.READY),  # one beat 200 ms late
    (5.2, False, DcStatus.READY),  # one beat lost, the next 200 ms late
    (7.7, False, DcStatus.READY),  # two lost in a row, the next 200 ms late
    (10.0, False, DcStatus.READY),
    (10.1, False, DcStatus.UNKNOWN),  # silent for longer than the lease
    (600.0, False, DcStatus.UNKNOWN),
    (-300.0, False, DcStatus.READY),  # stamped by a clock 5 min ahead: still alive
    (1.0, True, DcStatus.CORDONED),
    (60.0, True, DcStatus.CORDONED),
    (None, True, DcStatus.CORDONED),
)


@pytest.mark.parametrize(("silent_s", "cordoned", "expected"), LEASE_TABLE)
def test_lease_table(silent_s: float | None, cordoned: bool, expected: DcStatus) -> None:
    last = None if silent_s is None else NOW - timedelta(seconds=silent_s)
    assert dc_status(last, NOW, cordoned=cordoned) is expected


TOKEN_2 = "agent-secret-par"


@pytest.fixture
def console(data_dir: Path) -> Iterator[RunningPlatform]:
    """Console + dc 1 in one process (SQLite), and DC 2 (par) registered from the spec."""
    tokens = data_dir / "agent-tokens"
    tokens.mkdir()
    (tokens / "dc-2").write_text(TOKEN_2 + "\n")
    dcs = (
        RegisteredDatacenter(1, "fra", "Frankfurt", "DE"),
        RegisteredDatacenter(2, "par", "Paris", "FR"),
    )
    settings = platform_settings(
        data_dir / "console", agent_tokens_dir=str(tokens), datacenters=dcs
    )
    p = RunningPlatform(settings).start()
    try:
        yield p
    finally:
        p.stop()


def _agent(p: RunningPlatform, token: str, snapshot: m.DatacenterSnapshot | None = None) -> Agent:
    async def snap() -> m.DatacenterSnapshot:
        assert snapshot is not None
        return snapshot

    return Agent(
        datacenter_id=2,
        console_url=p.base_url,
        token=token,
        snapshot=snap if snapshot is not None else None,
    )


def _run(agent: Agent, what: str) -> None:
    async def go() -> None:
        try:
            await getattr(agent, what)()
        finally:
            await agent.close()

    asyncio.run(go())


def _dc(p: RunningPlatform, dc_id: int) -> m.DatacenterHealth:
    with p.client() as c:
        return next(d for d in c.datacenter_registry() if d.id == dc_id)


def test_a_wrong_agent_credential_is_refused_and_the_console_shows_which_dc(
    console: RunningPlatform,
) -> None:
    with pytest.raises(httpx.HTTPStatusError) as bad:
        _run(_agent(console, "stolen-or-stale"), "beat")
    r = bad.value.response
    assert r.status_code == 401
    assert r.json()["status"] == 401 and "data center 2" in r.json()["detail"]
    dc = _dc(console, 2)
    assert dc.status == "NeverSeen"
    assert dc.lastRejectedAt is not None and dc.lastRejectedReason == "wrong agent token"
    # Refused again at once: one audit entry, not one per beat.
    with pytest.raises(httpx.HTTPStatusError):
        _run(_agent(console, "stolen-or-stale"), "beat")
    with console.client() as c:
        refused = [e for e in c.audit() if e.action == "datacenter.agent.rejected"]
    assert len(refused) == 1
    assert refused[0].targetId == "2" and refused[0].detail["name"] == "par"

    _run(_agent(console, TOKEN_2), "beat")
    dc = _dc(console, 2)
    assert (dc.status, dc.health) == ("Ready", "Ready")
    assert dc.version and dc.lastHeartbeatAgeSeconds is not None
    assert dc.leaseSeconds == 10.0


def test_the_agent_pushes_a_snapshot_and_the_console_keeps_the_last_one(
    console: RunningPlatform,
) -> None:
    first = m.DatacenterSnapshot(
        counts={"running": 1, "stopped": 1},
        workspaces=[
            m.SnapshotWorkspace(id=2_000_001, name="a", teamId=1, state="running", planId=8),
            m.SnapshotWorkspace(id=2_000_002, name="b", teamId=1, state="stopped", planId=8),
        ],
    )
    _run(_agent(console, TOKEN_2, first), "push_snapshot")
    dc = _dc(console, 2)
    assert dc.workspaceCounts == {"running": 1, "stopped": 1}
    assert dc.snapshotAt is not None and dc.snapshotAgeSeconds is not None
    second = m.DatacenterSnapshot(counts={"stopped": 2}, workspaces=[])
    _run(_agent(console, TOKEN_2, second), "push_snapshot")
    assert _dc(console, 2).workspaceCounts == {"stopped": 2}
    # A wrong token cannot overwrite it.
    with pytest.raises(httpx.HTTPStatusError) as bad:
        _run(_agent(console, "wrong", first), "push_snapshot")
    assert bad.value.response.status_code == 401
    assert _dc(console, 2).workspaceCounts == {"stopped": 2}


def test_cordon_refuses_new_workspaces_there_and_keeps_the_existing_ones(
    console: RunningPlatform,
) -> None:
    with console.client() as c:
        team = c.create_team("cordon", dc=1)
        before = c.create_workspace(
            m.WorkspaceCreate(teamId=team.id, name="before", planId=8, isPrivateRepo=False,
                              replicas=0)
        )  # fmt: skip
        agent = _agent(console, TOKEN_2)
        dc = c.cordon_datacenter(1)
        assert (dc.status, dc.cordoned) == ("Cordoned", True) and dc.cordonedAt is not None
        assert dc.health == "Ready"  # the lease is still shown beside the cordon
        with pytest.raises(Conflict) as refused:
            c.create_workspace(
                m.WorkspaceCreate(teamId=team.id, name="after", planId=8, isPrivateRepo=False,
                                  replicas=0)
            )  # fmt: skip
        assert "data center 1 (fra) is cordoned" in refused.value.detail
        c.cordon_datacenter(2)
        with pytest.raises(Conflict) as refused:
            c.create_workspace(
                m.WorkspaceCreate(teamId=team.id, name="there", planId=8, isPrivateRepo=False,
                                  replicas=0, dataCenterId=2)
            )  # fmt: skip
        assert "data center 2 (par) is cordoned" in refused.value.detail
        # The agent of a cordoned DC is told so.
        _run(agent, "beat")
        assert agent.cordoned is True
        # Existing workspaces keep working in a cordoned DC.
        c.start_workspace(before.id)
        assert c.get_workspace(before.id).replicas == 1
        c.stop_workspace(before.id)
        assert c.uncordon_datacenter(1).status == "Ready"
        after = c.create_workspace(
            m.WorkspaceCreate(teamId=team.id, name="after", planId=8, isPrivateRepo=False,
                              replicas=0)
        )  # fmt: skip
        assert after.dataCenterId == 1
        actions = [(e.action, e.targetId) for e in c.audit()]
    assert ("datacenter.cordon", "1") in actions and ("datacenter.uncordon", "1") in actions
    assert ("datacenter.cordon", "2") in actions


def test_only_admins_read_the_registry_or_cordon(console: RunningPlatform) -> None:
    _, member = console.new_user()
    for method, path in (
        ("GET", "/api/datacenters"),
        ("POST", "/api/datacenters/2/cordon"),
        ("POST", "/api/datacenters/2/uncordon"),
    ):
        r = httpx.request(
            method, console.base_url + path, headers={"Authorization": f"Bearer {member}"}
        )
        assert r.status_code == 404, (path, r.text)
    assert _dc(console, 2).cordoned is False
