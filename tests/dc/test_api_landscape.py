"""Landscape endpoints over the real HTTP API: Codesphere's "Multi Server Deployment not
supported" answer, after authorization and body validation."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from hemisphere.dc.api_landscape import MULTI_SERVER_NOT_SUPPORTED
from hemisphere.sdk import BadRequest, NotFound
from hemisphere.sdk import models as m
from tests.services.platform import RunningPlatform


def _ws(p: RunningPlatform, token: str) -> m.Workspace:
    with p.client(token) as c:
        team = c.create_team("landscape", dc=1)
        spec = m.WorkspaceCreate(
            teamId=team.id, name="multi", planId=7, isPrivateRepo=False, replicas=0
        )
        return c.create_workspace(spec)


def _raw(
    p: RunningPlatform, method: str, path: str, token: str | None, body: object = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{p.base_url}/api{path}", headers=headers, json=body, timeout=10)


def test_every_landscape_call_answers_multi_server_not_supported(
    platform_any_db: RunningPlatform,
) -> None:
    p = platform_any_db
    _, token = p.new_user("ops")
    ws = _ws(p, token)
    base = f"/workspaces/{ws.id}/landscape"
    for method, path, body in (
        ("POST", f"{base}/deploy", None),
        ("POST", f"{base}/deploy/prod", None),
        ("DELETE", f"{base}/teardown", None),
        ("PATCH", f"{base}/scale", {"web": 2, "worker": 0}),
    ):
        r = _raw(p, method, path, token, body)
        assert r.status_code == 400, (method, path, r.text)
        envelope = r.json()
        assert envelope["status"] == 400 and envelope["title"] == "Bad Request"
        assert envelope["detail"] == MULTI_SERVER_NOT_SUPPORTED
        assert envelope["traceId"]
    with p.client(token) as c:  # the SDK speaks it too
        with pytest.raises(BadRequest):
            c.deploy_landscape(ws.id, "prod")
        with pytest.raises(BadRequest):
            c.teardown_landscape(ws.id)
        with pytest.raises(BadRequest):
            c.scale_landscape(ws.id, {"web": 1})
        assert c.get_workspace(ws.id).replicas == 0  # nothing changed


def test_landscape_authorization_and_scale_body(platform: RunningPlatform) -> None:
    _, token = platform.new_user("owner")
    _, eve_token = platform.new_user("eve")
    ws = _ws(platform, token)
    with platform.client(eve_token) as eve:
        calls: list[Callable[[], None]] = [
            lambda: eve.deploy_landscape(ws.id),
            lambda: eve.deploy_landscape(ws.id, "prod"),
            lambda: eve.teardown_landscape(ws.id),
            lambda: eve.scale_landscape(ws.id, {"web": 1}),
        ]
        for call in calls:
            with pytest.raises(NotFound):
                call()
    with platform.client(token) as c, pytest.raises(NotFound):
        c.deploy_landscape(ws.id + 1000)
    assert _raw(platform, "POST", f"/workspaces/{ws.id}/landscape/deploy", None).status_code == 401

    path = f"/workspaces/{ws.id}/landscape/scale"
    for body, needle in (
        ({"web": -1}, "web"),
        ({"web": "2"}, "web"),
        ({"web": 1.5}, "web"),
        ({"web": True}, "web"),
        ([1], "body"),
        ({"": 1}, '[""] (the key)'),  # an empty service name
    ):
        r = _raw(platform, "PATCH", path, token, body)
        assert r.status_code == 400, (body, r.text)
        detail = r.json()["detail"]
        assert detail != MULTI_SERVER_NOT_SUPPORTED and needle in detail, (body, detail)
