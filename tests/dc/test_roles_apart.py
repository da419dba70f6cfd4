"""`serve console` and `serve dc` are separate roles sharing one database (scenario 1/2A/3A
with the roles in separate processes): each serves only its own API."""

from __future__ import annotations

import httpx
import pytest

from hemisphere.config import Settings
from hemisphere.sdk import models as m
from hemisphere.server import Roles
from tests.dc.test_api_workspaces import wait_for
from tests.services.platform import RunningPlatform, platform_settings

pytestmark = pytest.mark.e2e


def test_console_and_dc_roles_apart_on_a_shared_database(
    data_dir,
    postgres_url: str,  # type: ignore[no-untyped-def]
) -> None:
    console = RunningPlatform(
        platform_settings(data_dir / "console", postgres_url), Roles(console=True, dc=False)
    ).start()
    dc_settings: Settings = platform_settings(data_dir / "dc", postgres_url, datacenter_id=1)
    dc = RunningPlatform(dc_settings, Roles(console=False, dc=True)).start()
    try:
        assert console.admin is not None
        token = console.admin.token
        with console.client(token) as c:
            team = c.create_team("split", dc=1)
        # The console answers workspace calls by routing them (issue 9); without the DC's URL
        # it can only say so, explicitly partial. The dc serves no identity API.
        listed = httpx.get(
            f"{console.base_url}/api/workspaces/team/{team.id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200 and "1 (" in listed.headers["x-hemisphere-partial"]
        assert (
            httpx.get(
                f"{dc.base_url}/api/teams", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 404
        )
        with dc.client(token) as d:
            ws = d.create_workspace(
                m.WorkspaceCreate(teamId=team.id, name="apart", planId=7, isPrivateRepo=False,
                                  replicas=1)
            )  # fmt: skip
            wait_for(d, ws.id, lambda s: s.isRunning)
            assert d.execute(ws.id, "echo from-dc").output == "from-dc\n"
            d.delete_workspace(ws.id)
    finally:
        dc.stop()
        console.stop()
