"""Pipeline (prepare/test/run stages from ci.yml) and log-stream endpoints of the dc role.

Logs are server-sent events: each event is `event: data` with a JSON array of LogEntry, or
`event: problem` with the error envelope; the stream ends (EOF) when the step has finished.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from hemisphere.dc.api import dc_context
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession
from hemisphere.webapi.problems import trace_id_of
from hemisphere.workspaces import ci_config
from hemisphere.workspaces.pipeline import Pipeline
from hemisphere.workspaces.runtime.base import WorkspaceNotRunning

router = APIRouter(prefix="/api/workspaces/{workspace_id}", tags=["pipeline"])

IDE_SERVER = "codesphere-ide"
RUN_SERVER = "app"


def _server(stage: str) -> str:
    return RUN_SERVER if stage == "run" else IDE_SERVER


async def _running_workspace(
    request: Request, who: CurrentPrincipal, s: DbSession, workspace_id: int
) -> tuple[Pipeline, dict[str, str]]:
    ctx = dc_context(request)
    ws = await ctx.service.visible(s, who, workspace_id)
    ctx.service.require_running(ws)
    env = dict(await ctx.service.env(s, ws))
    await s.commit()
    return Pipeline(ctx.runtime), env


@router.post("/pipeline/{stage}/start")
@router.post("/pipeline/{stage}/start/{profile}")
async def start_stage(
    workspace_id: m.Id,
    stage: m.Segment,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
    profile: m.Segment | None = None,
) -> None:
    ci_config.check_stage(stage)
    pipeline, env = await _running_workspace(request, who, s, workspace_id)
    await pipeline.start(workspace_id, stage, profile, env)


@router.post("/pipeline/{stage}/stop")
async def stop_stage(
    workspace_id: m.Id, stage: m.Segment, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    ci_config.check_stage(stage)
    pipeline, _ = await _running_workspace(request, who, s, workspace_id)
    await pipeline.stop(workspace_id, stage)


@router.get("/pipeline/{stage}", response_model=list[m.ReplicaStatus])
async def stage_status(
    workspace_id: m.Id, stage: m.Segment, request: Request, who: CurrentPrincipal, s: DbSession
) -> list[m.ReplicaStatus]:
    ci_config.check_stage(stage)
    pipeline, _ = await _running_workspace(request, who, s, workspace_id)
    st = await pipeline.status(workspace_id, stage)
    server = _server(stage)
    return [
        m.ReplicaStatus(
            state=st.state,
            steps=[
                m.PipelineStep(state=x.state, startedAt=x.started_at, finishedAt=x.finished_at)
                for x in st.steps
            ],
            replica=f"{server}-0",
            server=server,
            startedAt=st.started_at,
            finishedAt=st.finished_at,
        )
    ]


def _event(name: str, payload: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


async def _stream(
    request: Request, pipeline: Pipeline, workspace_id: int, stage: str, step: int
) -> AsyncIterator[bytes]:
    pending = ""
    try:
        async for chunk in pipeline.follow(workspace_id, stage, step):
            if await request.is_disconnected():
                return
            pending += chunk
            *lines, pending = pending.split("\n")
            if lines:
                now = datetime.now(UTC).isoformat()
                yield _event("data", [{"timestamp": now, "kind": "I", "data": ln} for ln in lines])
        if pending:
            now = datetime.now(UTC).isoformat()
            yield _event("data", [{"timestamp": now, "kind": "I", "data": pending}])
    except WorkspaceNotRunning:
        yield _event(
            "problem",
            {
                "status": 400,
                "title": "Bad Request",
                "detail": f"workspace {workspace_id} stopped while its logs were streamed",
                "traceId": trace_id_of(request),
            },
        )


async def _logs(
    request: Request, who: CurrentPrincipal, s: DbSession, workspace_id: int, stage: str, step: int
) -> StreamingResponse:
    ci_config.check_stage(stage)
    pipeline, _ = await _running_workspace(request, who, s, workspace_id)
    return StreamingResponse(
        _stream(request, pipeline, workspace_id, stage, step),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/logs/{stage}/{step}", tags=["logs"])
async def stage_logs(
    workspace_id: m.Id,
    stage: m.Segment,
    step: m.Id,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> StreamingResponse:
    return await _logs(request, who, s, workspace_id, stage, step)


@router.get("/logs/run/{step}/server/{server}", tags=["logs"])
async def server_logs(
    workspace_id: m.Id,
    step: m.Id,
    server: m.Segment,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> StreamingResponse:
    return await _logs(request, who, s, workspace_id, "run", step)


@router.get("/logs/run/{step}/replica/{replica}", tags=["logs"])
async def replica_logs(
    workspace_id: m.Id,
    step: m.Id,
    replica: m.Segment,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> StreamingResponse:
    return await _logs(request, who, s, workspace_id, "run", step)
