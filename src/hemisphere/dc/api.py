"""The data center's REST API: workspaces, env vars, execute, git, plans and base images.

Workspace changes only write desired state and poke the reconciler; the response shows the
state the workspace is moving to.
"""

from __future__ import annotations

import shlex
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import BaseImage, Plan
from hemisphere.db.models import Workspace as WorkspaceRow
from hemisphere.dc.preview_hosts import preview_host
from hemisphere.identity.principal import Principal
from hemisphere.sdk import models as m
from hemisphere.webapi.audit import audit_event
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession, as_utc
from hemisphere.webapi.problems import ApiProblem
from hemisphere.workspaces import git_urls
from hemisphere.workspaces.reconciler import WorkspaceReconciler
from hemisphere.workspaces.runtime.base import WorkspaceNotRunning, WorkspaceRuntime
from hemisphere.workspaces.service import NewWorkspace, WorkspaceChange, WorkspaceService
from hemisphere.workspaces.slots import SlotsExhausted, WorkspaceSlots
from hemisphere.workspaces.states import State

router = APIRouter(prefix="/api")


class DcContext:
    """What the dc role's handlers need, kept on `app.state.dc`."""

    def __init__(
        self,
        service: WorkspaceService,
        runtime: WorkspaceRuntime,
        reconciler: WorkspaceReconciler,
        preview_domain: str,
        exec_timeout_s: float,
        public_scheme: str = "http",
        exec_concurrency: int = 4,
    ) -> None:
        self.service = service
        self.runtime = runtime
        self.reconciler = reconciler
        self.preview_domain = preview_domain
        self.exec_timeout_s = exec_timeout_s
        self.public_scheme = public_scheme
        # One workspace's executes must not take the whole DC's memory and processes.
        self.exec_slots = WorkspaceSlots(exec_concurrency, "executes")


def dc_context(request: Request) -> DcContext:
    ctx: DcContext = request.app.state.dc
    return ctx


def dev_domain(ctx: DcContext, ws: WorkspaceRow, port: int = 3000) -> str:
    """`{port}-{name}-{id}.{preview domain}`: names are unique per team only (preview_hosts.py)."""
    return preview_host(port, ws.name, ws.id, ctx.preview_domain)


def workspace_out(ctx: DcContext, ws: WorkspaceRow) -> m.Workspace:
    return m.Workspace(
        id=ws.id,
        teamId=ws.team_id,
        name=ws.name,
        planId=ws.plan_id,
        isPrivateRepo=ws.is_private_repo,
        replicas=ws.replicas,
        dataCenterId=ws.datacenter_id,
        userId=ws.user_id,
        gitUrl=git_urls.redacted(ws.git_url) if ws.git_url else None,
        initialBranch=ws.initial_branch,
        sourceWorkspaceId=ws.source_workspace_id,
        welcomeMessage=ws.welcome_message,
        vpnConfig=ws.vpn_config,
        restricted=ws.restricted,
        createdAt=as_utc(ws.created_at),
        baseImage=ws.base_image,
        devDomain=dev_domain(ctx, ws),
        state=ws.state,
        stateReason=git_urls.scrub(ws.state_reason) if ws.state_reason else None,
        storageUsedMib=ws.storage_used_mib,
    )


async def _audit(
    s: AsyncSession,
    request: Request,
    who: Principal,
    action: str,
    ws: WorkspaceRow,
    **detail: object,
) -> None:
    await audit_event(
        s, request, who, action, "workspace", ws.id, ws.team_id, name=ws.name, **detail
    )


# ---- metadata -------------------------------------------------------------------------------


@router.get("/metadata/workspace-plans", response_model=list[m.WorkspacePlan], tags=["metadata"])
async def plans(who: CurrentPrincipal, s: DbSession) -> list[m.WorkspacePlan]:
    rows = await s.scalars(select(Plan).order_by(Plan.id))
    return [
        m.WorkspacePlan(
            id=p.id,
            priceUsd=p.price_usd,
            title=p.title,
            deprecated=p.deprecated,
            maxReplicas=p.max_replicas,
            characteristics=m.PlanCharacteristics(
                id=p.id,
                CPU=p.cpu,
                GPU=0,
                RAM=p.ram_mib * 1024 * 1024,
                SSD=p.storage_mib * 1024 * 1024,
                TempStorage=p.temp_storage_mib * 1024 * 1024,
                onDemand=p.on_demand,
            ),
        )
        for p in rows
    ]


@router.get("/metadata/workspace-base-images", response_model=list[m.BaseImage], tags=["metadata"])
async def base_images(who: CurrentPrincipal, s: DbSession) -> list[m.BaseImage]:
    rows = await s.scalars(select(BaseImage).order_by(BaseImage.id))
    return [
        m.BaseImage(id=b.id, name=b.name, supportedUntil=as_utc(b.supported_until)) for b in rows
    ]


# ---- workspaces -----------------------------------------------------------------------------


@router.post("/workspaces", response_model=m.Workspace, tags=["workspaces"])
async def create_workspace(
    body: m.WorkspaceCreate, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.Workspace:
    ctx = dc_context(request)
    ws = await ctx.service.create(
        s,
        who,
        NewWorkspace(
            team_id=body.teamId,
            name=body.name,
            plan_id=body.planId,
            is_private_repo=body.isPrivateRepo,
            replicas=body.replicas,
            base_image=body.baseImage,
            git_url=body.gitUrl,
            git_ref=body.gitRef,
            initial_branch=body.initialBranch,
            source_workspace_id=body.sourceWorkspaceId,
            welcome_message=body.welcomeMessage,
            vpn_config=body.vpnConfig,
            restricted=body.restricted,
            env=[(e.name, e.value) for e in body.env or []],
            storage_mib=body.storageMib,
            datacenter_id=body.dataCenterId,
        ),
    )
    await _audit(s, request, who, "workspace.create", ws)
    await s.commit()
    ctx.reconciler.poke()
    return workspace_out(ctx, ws)


@router.get("/workspaces/team/{team_id}", response_model=list[m.Workspace], tags=["workspaces"])
async def list_workspaces(
    team_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> Response:
    ctx = dc_context(request)
    items = [workspace_out(ctx, ws) for ws in await ctx.service.list_for_team(s, who, team_id)]
    # Already-validated models: serialize once instead of re-validating a large list.
    return Response(_WORKSPACE_LIST.dump_json(items), media_type="application/json")


_WORKSPACE_LIST = TypeAdapter(list[m.Workspace])


@router.get("/workspaces/{workspace_id}", response_model=m.Workspace, tags=["workspaces"])
async def get_workspace(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.Workspace:
    ctx = dc_context(request)
    return workspace_out(ctx, await ctx.service.visible(s, who, workspace_id))


@router.patch("/workspaces/{workspace_id}", tags=["workspaces"])
async def update_workspace(
    workspace_id: m.Id,
    body: m.WorkspaceUpdate,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> None:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    before = ws.replicas
    await ctx.service.change(
        s,
        ws,
        WorkspaceChange(
            plan_id=body.planId,
            base_image=body.baseImage,
            name=body.name,
            replicas=body.replicas,
            restricted=body.restricted,
            storage_mib=body.storageMib,
            vpn_config=body.vpnConfig,
            vpn_config_set="vpnConfig" in body.model_fields_set,
        ),
    )
    if body.replicas is not None and body.replicas != before:
        await _audit(s, request, who, "workspace.start" if body.replicas else "workspace.stop", ws)
    await s.commit()
    ctx.reconciler.poke()


@router.delete("/workspaces/{workspace_id}", tags=["workspaces"])
async def delete_workspace(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    await ctx.service.mark_deleting(s, ws)
    await _audit(s, request, who, "workspace.delete", ws)
    await s.commit()
    ctx.reconciler.poke()


@router.get(
    "/workspaces/{workspace_id}/status", response_model=m.WorkspaceStatus, tags=["workspaces"]
)
async def workspace_status(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.WorkspaceStatus:
    ws = await dc_context(request).service.visible(s, who, workspace_id)
    return m.WorkspaceStatus(
        isRunning=ws.state == State.RUNNING,
        state=ws.state,
        reason=git_urls.scrub(ws.state_reason) if ws.state_reason else None,
    )


# ---- env vars -------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/env-vars", response_model=list[m.EnvVar], tags=["env"])
async def get_env(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> list[m.EnvVar]:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    return [m.EnvVar(name=n, value=v) for n, v in await ctx.service.env(s, ws)]


@router.put("/workspaces/{workspace_id}/env-vars", tags=["env"])
async def put_env(
    workspace_id: m.Id,
    body: Annotated[list[m.EnvVar], Body(max_length=500)],
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> None:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    await ctx.service.set_env(s, ws, [(e.name, e.value) for e in body])
    await _audit(s, request, who, "workspace.env.set", ws, names=[e.name for e in body])


@router.delete("/workspaces/{workspace_id}/env-vars", tags=["env"])
async def delete_env(
    workspace_id: m.Id,
    body: Annotated[list[m.PlainText], Body(max_length=500)],
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> None:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    await ctx.service.delete_env(s, ws, body)
    await _audit(s, request, who, "workspace.env.delete", ws, names=body)


# ---- execute and git ------------------------------------------------------------------------


async def _run(
    ctx: DcContext,
    s: AsyncSession,
    ws: WorkspaceRow,
    command: str,
    env: dict[str, str] | None = None,
    working_dir: str | None = None,
) -> m.ExecuteResponse:
    ctx.service.require_running(ws)
    merged = await ctx.service.exec_env(s, ws, env)
    await s.commit()  # do not hold a DB transaction open while the command runs
    try:
        with ctx.exec_slots.take(ws.id):
            result = await ctx.runtime.exec(
                ws.id, command, env=merged, working_dir=working_dir, timeout_s=ctx.exec_timeout_s
            )
    except SlotsExhausted as exc:
        raise ApiProblem(429, str(exc), {"Retry-After": str(exc.retry_after_s)}) from exc
    except WorkspaceNotRunning as exc:
        ws.state = State.STOPPED  # shown in the error only; the reconciler records the truth
        ctx.reconciler.poke()
        raise ctx.service.not_running(ws) from exc
    return m.ExecuteResponse(
        command=command,
        workingDir=working_dir or "",
        output=result.output,
        error=result.error
        + (f"\n(timed out after {ctx.exec_timeout_s:g} s)" if result.timed_out else ""),
        exitCode=result.exit_code,
        timedOut=result.timed_out,
        truncated=result.truncated,
    )


@router.post(
    "/workspaces/{workspace_id}/execute", response_model=m.ExecuteResponse, tags=["execute"]
)
async def execute(
    workspace_id: m.Id,
    body: m.ExecuteRequest,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> m.ExecuteResponse:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    return await _run(ctx, s, ws, body.command, body.env, body.workingDir)


@router.get("/workspaces/{workspace_id}/git/head", response_model=m.GitHead, tags=["git"])
async def git_head(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.GitHead:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    res = await _run(ctx, s, ws, "git rev-parse --abbrev-ref HEAD")
    if res.exitCode != 0:
        raise ctx.service.git_error(res.error.strip() or "not a git repository")
    return m.GitHead(head=res.output.strip())


@router.post("/workspaces/{workspace_id}/git/pull", tags=["git"])
@router.post("/workspaces/{workspace_id}/git/pull/{remote}", tags=["git"])
@router.post("/workspaces/{workspace_id}/git/pull/{remote}/{branch}", tags=["git"])
async def git_pull(
    workspace_id: m.Id,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
    remote: m.Segment | None = None,
    branch: m.Segment | None = None,
) -> None:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    args = " ".join(shlex.quote(a) for a in (remote, branch) if a)
    res = await _run(ctx, s, ws, f"git pull --ff-only {args}".strip())
    if res.exitCode != 0:
        raise ctx.service.git_error(res.error.strip())


@router.get("/workspaces/{workspace_id}/ports", response_model=list[m.Port], tags=["preview"])
async def ports(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> list[m.Port]:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    if ws.state != State.RUNNING:
        return []
    try:
        found = await ctx.runtime.listening_ports(ws.id)
    except WorkspaceNotRunning:
        return []
    return [
        m.Port(port=p, url=f"{ctx.public_scheme}://{dev_domain(ctx, ws, p)}/")
        for p in sorted(found)
    ]
