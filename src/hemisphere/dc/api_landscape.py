"""The landscape endpoints (API §6): deploy, teardown and scale of Multi Server Deployments.

Hemisphere runs each workspace as one server, so these answer the 400 that Codesphere's
contract reserves for it ("Multi Server Deployment not supported") after the usual checks: an
unknown workspace, or one in another team, is a 404; a malformed scale body is a 400 naming the
service. Nothing changes, so nothing is audited.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

from fastapi import APIRouter, Body, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.identity.principal import Principal
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession
from hemisphere.workspaces.errors import InvalidWorkspaceInput
from hemisphere.workspaces.service import WorkspaceService

router = APIRouter(prefix="/api/workspaces/{workspace_id}/landscape", tags=["landscape"])

MULTI_SERVER_NOT_SUPPORTED = "Multi Server Deployment not supported"


async def _refuse(request: Request, who: Principal, s: AsyncSession, workspace_id: int) -> NoReturn:
    service: WorkspaceService = request.app.state.dc.service
    await service.visible(s, who, workspace_id)
    raise InvalidWorkspaceInput(MULTI_SERVER_NOT_SUPPORTED)


@router.post("/deploy")
@router.post("/deploy/{profile}")
async def deploy(
    workspace_id: m.Id,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
    profile: m.Segment | None = None,
) -> None:
    await _refuse(request, who, s, workspace_id)


@router.delete("/teardown")
async def teardown(
    workspace_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    await _refuse(request, who, s, workspace_id)


@router.patch("/scale")
async def scale(
    workspace_id: m.Id,
    body: Annotated[m.LandscapeScale, Body(max_length=100)],
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> None:
    await _refuse(request, who, s, workspace_id)
