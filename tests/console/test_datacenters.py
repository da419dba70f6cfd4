"""The data-center registry with health: leases renewed by the dc role or by an agent."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hemisphere.federation.heartbeat import Agent
from hemisphere.federation.lease import DcHealth, dc_health
from hemisphere.sdk import NotFound
from tests.services.platform import RunningPlatform, platform_settings


def test_lease_expiry() -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert dc_health(None, now) is DcHealth.NEVER_SEEN
    assert dc_health(now - timedelta(seconds=5), now) is DcHealth.READY
    assert dc_health(now - timedelta(seconds=11), now) is DcHealth.UNKNOWN
    assert dc_health((now - timedelta(seconds=5)).replace(tzinfo=None), now) is DcHealth.READY


def _health(p: RunningPlatform) -> dict[int, str]:
    assert p.admin is not None
    r = httpx.get(
        p.base_url + "/api/datacenters", headers={"Authorization": f"Bearer {p.admin.token}"}
    )
    assert r.status_code == 200, r.text
    return {d["id"]: d["status"] for d in r.json()}


def test_the_embedded_dc_renews_its_own_lease(platform: RunningPlatform) -> None:
    assert _health(platform) == {1: "Ready"}
    _, member = platform.new_user()
    with platform.client(member) as c, pytest.raises(NotFound):
        c.request("GET", "/datacenters")


def test_spec_datacenters_are_registered_and_agents_renew_their_lease(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = data_dir / "agent-tokens"
    tokens.mkdir()
    (tokens / "dc-2").write_text("agent-secret-2\n")
    # The rendered console ConfigMap carries the spec's DCs in HEMISPHERE_DATACENTERS.
    monkeypatch.setenv(
        "HEMISPHERE_DATACENTERS",
        json.dumps([
            {"id": 1, "name": "fra", "city": "Frankfurt", "country_code": "DE",
             "url": "https://dev.fra.example"},
            {"id": 2, "name": "par", "city": "Paris", "country_code": "FR",
             "url": "https://dev.par.example"},
        ]),
    )  # fmt: skip
    settings = platform_settings(data_dir / "console", agent_tokens_dir=str(tokens))
    p = RunningPlatform(settings).start()
    try:
        assert _health(p) == {1: "Ready", 2: "NeverSeen"}
        assert p.admin is not None
        with p.client(p.admin.token) as c:
            assert [(d.id, d.name, d.countryCode) for d in c.datacenters()] == [
                (1, "fra", "DE"),
                (2, "par", "FR"),
            ]

        async def beat(token: str) -> None:
            agent = Agent(datacenter_id=2, console_url=p.base_url, token=token)
            try:
                await agent.beat()
            finally:
                await agent.close()

        with pytest.raises(httpx.HTTPStatusError) as bad:
            asyncio.run(beat("wrong-token"))
        assert bad.value.response.status_code == 401
        assert _health(p)[2] == "NeverSeen"
        asyncio.run(beat("agent-secret-2"))
        assert _health(p)[2] == "Ready"
    finally:
        p.stop()
