"""Workspace use cases for one data center: create, read, change, delete, env vars.

Authorization asks the `IdentityReader` (team membership); a workspace in a team the caller is
not in is reported exactly like a missing one. Lifecycle changes only write desired state; the
reconciler does the work. Callers own the transaction and poke the reconciler after commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import BaseImage, Datacenter, Plan, Workspace, WorkspaceEnvVar
from hemisphere.db.sealing import Sealer
from hemisphere.identity.principal import IdentityReader, Principal
from hemisphere.sdk.models import env_total_problem
from hemisphere.workspaces import git_urls
from hemisphere.workspaces.errors import (
    InvalidWorkspaceInput,
    StorageCapacityExceeded,
    WorkspaceBusy,
    WorkspaceConflict,
    WorkspaceNotFound,
    WorkspaceNotRunningError,
)
from hemisphere.workspaces.runtime.base import SandboxSpec
from hemisphere.workspaces.states import State
from hemisphere.workspaces.storage.base import StorageCapacity

DEFAULT_PLAN_ID = 8
DEFAULT_BASE_IMAGE = "ubuntu-24.04"


@dataclass(frozen=True)
class NewWorkspace:
    team_id: int
    name: str
    plan_id: int
    is_private_repo: bool
    replicas: int
    base_image: str | None = None
    git_url: str | None = None
    git_ref: str | None = None
    initial_branch: str | None = None
    source_workspace_id: int | None = None
    welcome_message: str | None = None
    vpn_config: str | None = None
    restricted: bool | None = None
    env: Sequence[tuple[str, str]] = ()
    storage_mib: int | None = None
    datacenter_id: int | None = None


@dataclass(frozen=True)
class WorkspaceChange:
    plan_id: int | None = None
    base_image: str | None = None
    name: str | None = None
    replicas: int | None = None
    restricted: bool | None = None
    storage_mib: int | None = None
    vpn_config: str | None = None
    vpn_config_set: bool = False


class WorkspaceService:
    """Use cases bound to one data center."""

    def __init__(
        self,
        identity: IdentityReader,
        sealer: Sealer,
        datacenter_id: int,
        *,
        storage: StorageCapacity | None = None,
    ) -> None:
        self.identity = identity
        self.sealer = sealer
        self.datacenter_id = datacenter_id
        # The runtime's storage, when it promises space (refused here, before any row says so).
        self.storage = storage

    # ---- reads --------------------------------------------------------------------------

    async def require_member(self, caller: Principal, team_id: int) -> None:
        if caller.is_cluster_admin:
            return
        if await self.identity.team_role(caller.user_id, team_id) is None:
            raise WorkspaceNotFound(f"no team with id {team_id}")

    async def visible(self, s: AsyncSession, caller: Principal, workspace_id: int) -> Workspace:
        ws = await s.get(Workspace, workspace_id)
        if ws is None or ws.datacenter_id != self.datacenter_id:
            raise WorkspaceNotFound(f"no workspace with id {workspace_id}")
        try:
            await self.require_member(caller, ws.team_id)
        except WorkspaceNotFound:
            raise WorkspaceNotFound(f"no workspace with id {workspace_id}") from None
        return ws

    async def list_for_team(
        self, s: AsyncSession, caller: Principal, team_id: int
    ) -> list[Workspace]:
        await self.require_member(caller, team_id)
        q = (
            select(Workspace)
            .where(Workspace.team_id == team_id, Workspace.datacenter_id == self.datacenter_id)
            .order_by(Workspace.id)
        )
        return list((await s.scalars(q)).all())

    async def env(self, s: AsyncSession, ws: Workspace) -> list[tuple[str, str]]:
        rows = await s.scalars(
            select(WorkspaceEnvVar)
            .where(WorkspaceEnvVar.workspace_id == ws.id)
            .order_by(WorkspaceEnvVar.name)
        )
        return [
            (r.name, self.sealer.open(r.value_sealed, context=_ctx(ws.id, r.name))) for r in rows
        ]

    async def exec_env(
        self, s: AsyncSession, ws: Workspace, extra: dict[str, str] | None
    ) -> dict[str, str]:
        """The stored variables with a command's own on top, refused (400) when together they
        exceed what the kernel lets a process start with (E2BIG)."""
        merged = dict(await self.env(s, ws))
        merged.update(extra or {})
        _check_env_size(merged)
        return merged

    async def sandbox_spec(self, s: AsyncSession, ws: Workspace) -> SandboxSpec:
        plan = await s.get(Plan, ws.plan_id)
        if plan is None:
            raise InvalidWorkspaceInput(f"plan {ws.plan_id} no longer exists", field="planId")
        return SandboxSpec(
            workspace_id=ws.id,
            team_id=ws.team_id,
            name=ws.name,
            cpu_millis=int(plan.cpu * 1000),
            memory_mib=plan.ram_mib,
            storage_mib=ws.storage_mib or plan.storage_mib,
            pids_max=plan.pids_max,
            base_image=ws.base_image,
            env=dict(await self.env(s, ws)),
            git_url=self.clone_url(ws),
            git_ref=ws.git_ref or ws.initial_branch,
        )

    # ---- writes -------------------------------------------------------------------------

    async def create(self, s: AsyncSession, caller: Principal, new: NewWorkspace) -> Workspace:
        await self.require_member(caller, new.team_id)
        dc_id = new.datacenter_id if new.datacenter_id is not None else self.datacenter_id
        if dc_id != self.datacenter_id:
            dc = await s.get(Datacenter, dc_id)
            where = f" ({dc.name})" if dc else ""
            raise InvalidWorkspaceInput(
                f"this service runs data center {self.datacenter_id}; create workspaces for data "
                f"center {dc_id}{where} through that data center's API",
                field="dataCenterId",
            )
        here = await s.get(Datacenter, dc_id)
        if here is not None and here.cordoned:
            # Cordoned at the console (issue 9); the flag arrives via the shared database or
            # the identity feed. Existing workspaces keep running.
            raise WorkspaceConflict(
                f"data center {dc_id} ({here.name}) is cordoned: no new workspaces land there; "
                "pick another dataCenterId, or ask an admin to uncordon it"
            )
        plan = await s.get(Plan, new.plan_id)
        if plan is None or plan.deprecated:
            raise InvalidWorkspaceInput(
                f"no workspace plan with id {new.plan_id}; "
                "list them at /api/metadata/workspace-plans",
                field="planId",
            )
        image = new.base_image or DEFAULT_BASE_IMAGE
        if await s.get(BaseImage, image) is None:
            raise InvalidWorkspaceInput(
                f"no base image {image!r}; list them at /api/metadata/workspace-base-images",
                field="baseImage",
            )
        if new.storage_mib is not None and new.storage_mib > plan.storage_mib:
            raise InvalidWorkspaceInput(
                f"storageMib {new.storage_mib} exceeds the plan's {plan.storage_mib} MiB",
                field="storageMib",
            )
        self._check_capacity(new.storage_mib or plan.storage_mib)
        if new.replicas > plan.max_replicas:
            raise InvalidWorkspaceInput(
                f"replicas {new.replicas} exceeds the plan's maximum {plan.max_replicas}",
                field="replicas",
            )
        names = [n for n, _ in new.env]
        if len(set(names)) != len(names):
            raise InvalidWorkspaceInput("env: a variable name appears twice", field="env")
        _check_env_size(dict(new.env))
        await self._name_free(s, new.team_id, new.name)
        ws = Workspace(
            team_id=new.team_id,
            datacenter_id=dc_id,
            user_id=caller.user_id,
            name=new.name,
            plan_id=new.plan_id,
            base_image=image,
            is_private_repo=new.is_private_repo,
            replicas=new.replicas,
            restricted=True if new.restricted is None else new.restricted,
            git_url=git_urls.redacted(new.git_url) if new.git_url else None,
            git_ref=new.git_ref,
            initial_branch=new.initial_branch,
            source_workspace_id=new.source_workspace_id,
            welcome_message=new.welcome_message,
            vpn_config=new.vpn_config,
            storage_mib=new.storage_mib,
            state=State.STARTING if new.replicas else State.STOPPED,
        )
        s.add(ws)
        await s.flush()
        if new.git_url and git_urls.has_credentials(new.git_url):
            ws.git_url_sealed = self.sealer.seal(new.git_url, context=_git_ctx(ws.id))
        for name, value in new.env:
            s.add(
                WorkspaceEnvVar(
                    workspace_id=ws.id, name=name, value_sealed=self._seal(ws.id, name, value)
                )
            )
        await s.flush()
        return ws

    async def change(self, s: AsyncSession, ws: Workspace, change: WorkspaceChange) -> Workspace:
        if ws.state == State.DELETING:
            raise WorkspaceBusy(f"workspace {ws.id} is being deleted")
        if change.plan_id is not None and change.plan_id != ws.plan_id:
            plan = await s.get(Plan, change.plan_id)
            if plan is None or plan.deprecated:
                raise InvalidWorkspaceInput(
                    f"no workspace plan with id {change.plan_id}", field="planId"
                )
            ws.plan_id = change.plan_id
        if change.base_image is not None:
            if await s.get(BaseImage, change.base_image) is None:
                raise InvalidWorkspaceInput(
                    f"no base image {change.base_image!r}", field="baseImage"
                )
            ws.base_image = change.base_image
        if change.name is not None and change.name != ws.name:
            await self._name_free(s, ws.team_id, change.name)
            ws.name = change.name
        if change.restricted is not None:
            ws.restricted = change.restricted
        if change.storage_mib is not None:
            await self._check_storage_change(s, ws, change.storage_mib)
            ws.storage_mib = change.storage_mib
        if change.vpn_config_set:
            ws.vpn_config = change.vpn_config
        if change.replicas is not None:
            ws.replicas = change.replicas
            if change.replicas >= 1 and ws.state in (State.STOPPED, State.STOPPING, State.FAILED):
                ws.state, ws.state_reason = State.STARTING, None
            elif change.replicas == 0 and ws.state in (State.RUNNING, State.STARTING, State.FAILED):
                ws.state, ws.state_reason = State.STOPPING, None
        await s.flush()
        return ws

    async def mark_deleting(self, s: AsyncSession, ws: Workspace) -> None:
        ws.state, ws.state_reason, ws.replicas = State.DELETING, None, 0
        await s.flush()

    async def set_env(
        self, s: AsyncSession, ws: Workspace, pairs: Sequence[tuple[str, str]]
    ) -> None:
        names = [n for n, _ in pairs]
        if len(set(names)) != len(names):
            raise InvalidWorkspaceInput("a variable name appears twice", field="name")
        _check_env_size({**dict(await self.env(s, ws)), **dict(pairs)})
        for name, value in pairs:
            row = await s.get(WorkspaceEnvVar, (ws.id, name))
            sealed = self._seal(ws.id, name, value)
            if row is None:
                s.add(WorkspaceEnvVar(workspace_id=ws.id, name=name, value_sealed=sealed))
            else:
                row.value_sealed = sealed
        await s.flush()

    async def delete_env(self, s: AsyncSession, ws: Workspace, names: Sequence[str]) -> None:
        await s.execute(
            delete(WorkspaceEnvVar).where(
                WorkspaceEnvVar.workspace_id == ws.id, WorkspaceEnvVar.name.in_(list(names))
            )
        )
        await s.flush()

    def clone_url(self, ws: Workspace) -> str | None:
        """The git URL with its credentials: only for the clone, never to be shown or logged."""
        if ws.git_url_sealed is not None:
            return self.sealer.open(ws.git_url_sealed, context=_git_ctx(ws.id))
        return ws.git_url

    async def seal_git_credentials(self, s: AsyncSession) -> int:
        """Seal the credentials of git URLs stored in plain text before migration 0006; the
        number of workspaces changed. Idempotent."""
        rows = await s.scalars(
            select(Workspace).where(
                Workspace.datacenter_id == self.datacenter_id,
                Workspace.git_url_sealed.is_(None),
                Workspace.git_url.contains("@"),
            )
        )
        changed = 0
        for ws in rows:
            if ws.git_url and git_urls.has_credentials(ws.git_url):
                ws.git_url_sealed = self.sealer.seal(ws.git_url, context=_git_ctx(ws.id))
                ws.git_url = git_urls.redacted(ws.git_url)
                changed += 1
        await s.flush()
        return changed

    @staticmethod
    def not_running(ws: Workspace) -> WorkspaceNotRunningError:
        return WorkspaceNotRunningError(
            f"workspace {ws.id} is {ws.state}, not running; start it first "
            f'(PATCH /api/workspaces/{ws.id} with {{"replicas": 1}})'
        )

    def require_running(self, ws: Workspace) -> None:
        if ws.state != State.RUNNING:
            raise self.not_running(ws)

    @staticmethod
    def git_error(message: str) -> InvalidWorkspaceInput:
        return InvalidWorkspaceInput(f"git failed: {message}")

    async def _check_storage_change(self, s: AsyncSession, ws: Workspace, wanted: int) -> None:
        """A new storageMib must fit the plan, hold what the home already holds, and (growing)
        fit on the data center's disk above the platform's reserve."""
        plan = await s.get(Plan, ws.plan_id)
        if plan is not None and wanted > plan.storage_mib:
            raise InvalidWorkspaceInput(
                f"storageMib {wanted} exceeds the plan's {plan.storage_mib} MiB; choose at most "
                f"{plan.storage_mib} or a larger plan",
                field="storageMib",
            )
        current = ws.storage_mib or (plan.storage_mib if plan else wanted)
        used = self.storage.used_mib(ws.id) if self.storage else 0
        used = max(used, ws.storage_used_mib or 0)
        if wanted < used:
            raise InvalidWorkspaceInput(
                f"storageMib {wanted} is less than the {used} MiB the workspace already uses; "
                "delete files first or choose a larger size",
                field="storageMib",
            )
        self._check_capacity(wanted - current)

    def _check_capacity(self, grow_mib: int) -> None:
        if self.storage is not None and (why := self.storage.capacity_problem(grow_mib)):
            raise StorageCapacityExceeded(why, field="storageMib")

    async def _name_free(self, s: AsyncSession, team_id: int, name: str) -> None:
        taken = select(Workspace.id).where(Workspace.team_id == team_id, Workspace.name == name)
        if await s.scalar(taken) is not None:
            raise WorkspaceConflict(
                f"the team already has a workspace named {name!r}", field="name"
            )

    def _seal(self, workspace_id: int, name: str, value: str) -> bytes:
        return self.sealer.seal(value, context=_ctx(workspace_id, name))


def _check_env_size(env: dict[str, str]) -> None:
    if (why := env_total_problem(env)) is not None:
        raise InvalidWorkspaceInput(why, field="env")


def _git_ctx(workspace_id: int) -> str:
    return f"workspace-git-url:{workspace_id}"


def _ctx(workspace_id: int, name: str) -> str:
    # Binding the ciphertext to its row stops a swapped value from decrypting elsewhere.
    return f"workspace-env:{workspace_id}:{name}"
