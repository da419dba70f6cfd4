"""The pages' way to the REST API: the same routes the CLI and SDK use, called in-process.

Requests go through the app itself (httpx's ASGI transport, no socket), carrying the browser
session's token as a bearer token, so the API does every authorization check and every
validation, and its error `detail`s are what the forms show. Bodies are sent as the browser gave
them (not pre-validated with the wire models), precisely so that the API's messages come back.
Responses are parsed with the SDK's wire models and errors with the SDK's one envelope parser.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from fastapi import Request
from pydantic import TypeAdapter
from starlette.types import ASGIApp

from hemisphere.console.web.session import WebUser
from hemisphere.sdk import models as m
from hemisphere.sdk.errors import ApiError
from hemisphere.webapi.clients import client_address

T = TypeVar("T")
_BASE = "http://console.internal/api"


class ConsoleApi:
    def __init__(self, app: ASGIApp, token: str, client_ip: str = "127.0.0.1") -> None:
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(client_ip, 0)),
            base_url=_BASE,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30.0,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ConsoleApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        resp = await self._http.request(
            method,
            path,
            json=body,
            params={k: v for k, v in params.items() if v is not None} or None,
        )
        if resp.status_code >= 300:
            try:
                payload: Any = resp.json()
            except ValueError:
                payload = resp.text
            raise ApiError.from_envelope(resp.status_code, payload)
        return resp.json() if resp.content else None

    async def _get(self, path: str, kind: type[T], **params: Any) -> T:
        return TypeAdapter(kind).validate_python(await self.call("GET", path, **params))

    # ---- identity -----------------------------------------------------------------------

    async def teams(self) -> list[m.ListTeam]:
        return await self._get("/teams", list[m.ListTeam])

    async def team(self, team_id: int) -> m.Team:
        return await self._get(f"/teams/{team_id}", m.Team)

    async def create_team(self, body: dict[str, Any]) -> m.Team:
        return m.Team.model_validate(await self.call("POST", "/teams", body))

    async def members(self, team_id: int) -> list[m.TeamMember]:
        return await self._get(f"/teams/{team_id}/members", list[m.TeamMember])

    async def add_member(self, team_id: int, body: dict[str, Any]) -> None:
        await self.call("POST", f"/teams/{team_id}/members", body)

    async def set_role(self, team_id: int, user_id: int, role: Any) -> None:
        await self.call("PUT", f"/teams/{team_id}/members/{user_id}/role", {"role": role})

    async def remove_member(self, team_id: int, user_id: int) -> None:
        await self.call("DELETE", f"/teams/{team_id}/members/{user_id}")

    async def users(self) -> list[m.UserInfo]:
        return await self._get("/users", list[m.UserInfo])

    async def create_user(self, body: dict[str, Any]) -> m.UserInfo:
        return m.UserInfo.model_validate(await self.call("POST", "/users", body))

    async def update_user(self, user_id: int, body: dict[str, Any]) -> m.UserInfo:
        return m.UserInfo.model_validate(await self.call("PATCH", f"/users/{user_id}", body))

    async def audit(self, limit: int, before_id: int | None) -> list[m.AuditEntry]:
        return await self._get("/audit", list[m.AuditEntry], limit=limit, beforeId=before_id)

    # ---- metadata -----------------------------------------------------------------------

    async def datacenter_health(self) -> list[m.DatacenterHealth]:
        return await self._get("/datacenters", list[m.DatacenterHealth])

    async def cordon(self, datacenter_id: int, cordoned: bool) -> m.DatacenterHealth:
        action = "cordon" if cordoned else "uncordon"
        return m.DatacenterHealth.model_validate(
            await self.call("POST", f"/datacenters/{datacenter_id}/{action}")
        )

    async def federated_workspaces(self, **filters: Any) -> m.FederatedWorkspaceList:
        return await self._get("/federation/workspaces", m.FederatedWorkspaceList, **filters)

    async def datacenters(self) -> list[m.Datacenter]:
        return await self._get("/metadata/datacenters", list[m.Datacenter])

    async def plans(self) -> list[m.WorkspacePlan]:
        return await self._get("/metadata/workspace-plans", list[m.WorkspacePlan])

    # ---- workspaces ---------------------------------------------------------------------

    async def workspaces(self, team_id: int) -> list[m.Workspace]:
        return await self._get(f"/workspaces/team/{team_id}", list[m.Workspace])

    async def workspace(self, workspace_id: int) -> m.Workspace:
        return await self._get(f"/workspaces/{workspace_id}", m.Workspace)

    async def create_workspace(self, body: dict[str, Any]) -> m.Workspace:
        return m.Workspace.model_validate(await self.call("POST", "/workspaces", body))

    async def update_workspace(self, workspace_id: int, body: dict[str, Any]) -> None:
        await self.call("PATCH", f"/workspaces/{workspace_id}", body)

    async def delete_workspace(self, workspace_id: int) -> None:
        await self.call("DELETE", f"/workspaces/{workspace_id}")

    async def env(self, workspace_id: int) -> list[m.EnvVar]:
        return await self._get(f"/workspaces/{workspace_id}/env-vars", list[m.EnvVar])

    async def set_env(self, workspace_id: int, pairs: list[dict[str, str]]) -> None:
        await self.call("PUT", f"/workspaces/{workspace_id}/env-vars", pairs)

    async def delete_env(self, workspace_id: int, names: list[str]) -> None:
        await self.call("DELETE", f"/workspaces/{workspace_id}/env-vars", names)

    async def ports(self, workspace_id: int) -> list[m.Port]:
        return await self._get(f"/workspaces/{workspace_id}/ports", list[m.Port])


def api_for(request: Request, user: WebUser) -> ConsoleApi:
    """The API as this browser's user, from this browser's address (for the login throttle and
    the request log)."""
    return ConsoleApi(request.app, user.token, client_address(request))
