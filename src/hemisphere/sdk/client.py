"""The one typed client of the Hemisphere API, shared by the CLI, the agent and the tests.

Errors come back as the typed exceptions of `sdk.errors`; transport failures as TransportError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from hemisphere.sdk import models as m
from hemisphere.sdk.errors import ApiError, TransportError

T = TypeVar("T")


class HemisphereClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/api"):
            self.base_url += "/api"
        headers = {"Accept": "application/json", "User-Agent": "hemisphere-sdk"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HemisphereClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        if isinstance(body, BaseModel):
            body = body.model_dump(mode="json", exclude_none=True)
        try:
            resp = self._http.request(
                method,
                path,
                json=body,
                params={k: v for k, v in params.items() if v is not None} or None,
            )
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {self.base_url}: {exc}") from exc
        if resp.status_code >= 300:
            try:
                payload: Any = resp.json()
            except ValueError:
                payload = resp.text
            raise ApiError.from_envelope(resp.status_code, payload)
        if not resp.content:
            return None
        return resp.json()

    def _get(self, path: str, kind: type[T], **params: Any) -> T:
        return TypeAdapter(kind).validate_python(self.request("GET", path, **params))

    # ---- auth ----------------------------------------------------------------------------------

    def login(self, email: str, password: str, token_name: str = "cli") -> m.TokenCreated:
        body = m.LoginRequest(email=email, password=password, tokenName=token_name)
        return m.TokenCreated.model_validate(self.request("POST", "/auth/login", body))

    def me(self) -> m.Me:
        return self._get("/me", m.Me)

    def create_token(self, name: str) -> m.TokenCreated:
        return m.TokenCreated.model_validate(
            self.request("POST", "/tokens", m.TokenCreate(name=name))
        )

    def list_tokens(self) -> list[m.TokenInfo]:
        return self._get("/tokens", list[m.TokenInfo])

    # ---- users, orgs, teams ---------------------------------------------------------------------

    def create_user(
        self, email: str, password: str, name: str = "", *, admin: bool = False
    ) -> m.UserInfo:
        body = m.UserCreate(email=email, name=name, password=password, isClusterAdmin=admin)
        return m.UserInfo.model_validate(self.request("POST", "/users", body))

    def list_users(self) -> list[m.UserInfo]:
        return self._get("/users", list[m.UserInfo])

    def update_user(
        self, user_id: int, *, disabled: bool | None = None, admin: bool | None = None
    ) -> m.UserInfo:
        body = m.UserUpdate(disabled=disabled, isClusterAdmin=admin)
        return m.UserInfo.model_validate(self.request("PATCH", f"/users/{user_id}", body))

    def list_teams(self) -> list[m.ListTeam]:
        return self._get("/teams", list[m.ListTeam])

    def create_team(self, name: str, dc: int, organization_id: str | None = None) -> m.Team:
        body = m.TeamCreate(name=name, dc=dc, organizationId=organization_id)
        return m.Team.model_validate(self.request("POST", "/teams", body))

    def get_team(self, team_id: int) -> m.Team:
        return self._get(f"/teams/{team_id}", m.Team)

    def delete_team(self, team_id: int) -> None:
        self.request("DELETE", f"/teams/{team_id}")

    def list_members(self, team_id: int) -> list[m.TeamMember]:
        return self._get(f"/teams/{team_id}/members", list[m.TeamMember])

    def add_member(self, team_id: int, email: str, role: int = 1) -> None:
        self.request("POST", f"/teams/{team_id}/members", m.MemberAdd(userEmail=email, role=role))

    def remove_member(self, team_id: int, user_id: int) -> None:
        self.request("DELETE", f"/teams/{team_id}/members/{user_id}")

    def set_member_role(self, team_id: int, user_id: int, role: int) -> None:
        self.request("PUT", f"/teams/{team_id}/members/{user_id}/role", m.RoleUpdate(role=role))

    def audit(self, team_id: int | None = None, limit: int = 100) -> list[m.AuditEntry]:
        return self._get("/audit", list[m.AuditEntry], teamId=team_id, limit=limit)

    # ---- metadata -------------------------------------------------------------------------------

    def datacenters(self) -> list[m.Datacenter]:
        return self._get("/metadata/datacenters", list[m.Datacenter])

    # ---- federation (Hemisphere extensions, at the console) -------------------------------------

    def datacenter_registry(self) -> list[m.DatacenterHealth]:
        """Every DC with its lease, cordon, version and workspace counts (cluster admins)."""
        return self._get("/datacenters", list[m.DatacenterHealth])

    def cordon_datacenter(self, datacenter_id: int) -> m.DatacenterHealth:
        return m.DatacenterHealth.model_validate(
            self.request("POST", f"/datacenters/{datacenter_id}/cordon")
        )

    def uncordon_datacenter(self, datacenter_id: int) -> m.DatacenterHealth:
        return m.DatacenterHealth.model_validate(
            self.request("POST", f"/datacenters/{datacenter_id}/uncordon")
        )

    def federated_workspaces(
        self,
        *,
        dc: int | None = None,
        team: int | None = None,
        state: str | None = None,
        q: str | None = None,
    ) -> m.FederatedWorkspaceList:
        return self._get(
            "/federation/workspaces", m.FederatedWorkspaceList, dc=dc, team=team, state=state, q=q
        )

    def plans(self) -> list[m.WorkspacePlan]:
        return self._get("/metadata/workspace-plans", list[m.WorkspacePlan])

    def base_images(self) -> list[m.BaseImage]:
        return self._get("/metadata/workspace-base-images", list[m.BaseImage])

    # ---- workspaces -----------------------------------------------------------------------------

    def create_workspace(self, spec: m.WorkspaceCreate) -> m.Workspace:
        return m.Workspace.model_validate(self.request("POST", "/workspaces", spec))

    def list_workspaces(self, team_id: int) -> list[m.Workspace]:
        return self._get(f"/workspaces/team/{team_id}", list[m.Workspace])

    def get_workspace(self, workspace_id: int) -> m.Workspace:
        return self._get(f"/workspaces/{workspace_id}", m.Workspace)

    def update_workspace(self, workspace_id: int, change: m.WorkspaceUpdate) -> None:
        self.request("PATCH", f"/workspaces/{workspace_id}", change)

    def start_workspace(self, workspace_id: int) -> None:
        self.update_workspace(workspace_id, m.WorkspaceUpdate(replicas=1))

    def stop_workspace(self, workspace_id: int) -> None:
        self.update_workspace(workspace_id, m.WorkspaceUpdate(replicas=0))

    def delete_workspace(self, workspace_id: int) -> None:
        self.request("DELETE", f"/workspaces/{workspace_id}")

    def workspace_status(self, workspace_id: int) -> m.WorkspaceStatus:
        return self._get(f"/workspaces/{workspace_id}/status", m.WorkspaceStatus)

    def get_env(self, workspace_id: int) -> list[m.EnvVar]:
        return self._get(f"/workspaces/{workspace_id}/env-vars", list[m.EnvVar])

    def set_env(self, workspace_id: int, values: dict[str, str]) -> None:
        body = [{"name": k, "value": v} for k, v in values.items()]
        self.request("PUT", f"/workspaces/{workspace_id}/env-vars", body)

    def delete_env(self, workspace_id: int, names: Sequence[str]) -> None:
        self.request("DELETE", f"/workspaces/{workspace_id}/env-vars", list(names))

    def execute(
        self,
        workspace_id: int,
        command: str,
        *,
        working_dir: str | None = None,
        env: dict[str, str] | None = None,
    ) -> m.ExecuteResponse:
        body = m.ExecuteRequest(command=command, workingDir=working_dir, env=env or {})
        return m.ExecuteResponse.model_validate(
            self.request("POST", f"/workspaces/{workspace_id}/execute", body)
        )

    def ports(self, workspace_id: int) -> list[m.Port]:
        return self._get(f"/workspaces/{workspace_id}/ports", list[m.Port])

    # ---- organizations, cluster admins, team migration ----------------------------------------

    def list_organizations(self) -> list[m.Organization]:
        return self._get("/organizations", list[m.Organization])

    def create_organization(self, name: str, admin_email: str) -> m.Organization:
        body = m.OrganizationCreate(name=name, adminEmail=admin_email)
        return m.Organization.model_validate(self.request("POST", "/clusters/organizations", body))

    def org_teams(self, org_id: str) -> list[m.Team]:
        return self._get(f"/organizations/{org_id}/teams", list[m.Team])

    def list_org_members(self, org_id: str) -> list[m.OrgMember]:
        return self._get(f"/organizations/{org_id}/members", list[m.OrgMember])

    def add_org_member(self, org_id: str, email: str, role: int | str = "member") -> None:
        body = m.OrgMemberAdd(email=email, role=role)
        self.request("POST", f"/organizations/{org_id}/members", body)

    def remove_org_member(self, org_id: str, user_id: int) -> None:
        self.request("DELETE", f"/organizations/{org_id}/members/{user_id}")

    def set_org_member_role(self, org_id: str, user_id: int, role: int | str) -> None:
        body = m.OrgRoleUpdate(role=role)
        self.request("PUT", f"/organizations/{org_id}/members/{user_id}/role", body)

    def add_cluster_admin(self, email: str) -> None:
        self.request("POST", "/clusters/admins", m.ClusterAdminAdd(email=email))

    def migrate_team(
        self, team_id: int, organization_id: str | None = None, *, force: bool = False
    ) -> None:
        body = m.TeamMigrate(organizationId=organization_id, force=force)
        self.request("POST", f"/teams/{team_id}/migrate", body)

    # ---- domains --------------------------------------------------------------------------------

    def list_domains(self, team_id: int) -> list[m.Domain]:
        return self._get(f"/domains/team/{team_id}", list[m.Domain])

    def create_domain(self, team_id: int, name: str) -> m.Domain:
        return m.Domain.model_validate(
            self.request("POST", f"/domains/team/{team_id}/domain/{name}")
        )

    def get_domain(self, team_id: int, name: str) -> m.Domain:
        return self._get(f"/domains/team/{team_id}/domain/{name}", m.Domain)

    def update_domain(self, team_id: int, name: str, change: m.DomainUpdate) -> m.Domain:
        return m.Domain.model_validate(
            self.request("PATCH", f"/domains/team/{team_id}/domain/{name}", change)
        )

    def delete_domain(self, team_id: int, name: str) -> None:
        self.request("DELETE", f"/domains/team/{team_id}/domain/{name}")

    def verify_domain(self, team_id: int, name: str) -> m.DomainVerificationStatus:
        return m.DomainVerificationStatus.model_validate(
            self.request("POST", f"/domains/team/{team_id}/domain/{name}/verify")
        )

    def set_domain_workspaces(
        self, team_id: int, name: str, routes: dict[str, list[int]]
    ) -> m.Domain:
        path = f"/domains/team/{team_id}/domain/{name}/workspace-connections"
        return m.Domain.model_validate(self.request("PUT", path, routes))

    # ---- landscape ------------------------------------------------------------------------------

    def deploy_landscape(self, workspace_id: int, profile: str | None = None) -> None:
        suffix = f"/{profile}" if profile else ""
        self.request("POST", f"/workspaces/{workspace_id}/landscape/deploy{suffix}")

    def teardown_landscape(self, workspace_id: int) -> None:
        self.request("DELETE", f"/workspaces/{workspace_id}/landscape/teardown")

    def scale_landscape(self, workspace_id: int, services: dict[str, int]) -> None:
        self.request("PATCH", f"/workspaces/{workspace_id}/landscape/scale", services)
