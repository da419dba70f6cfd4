"""The data-center registry with health: agents renew a lease, admins read it."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from sqlalchemy import select

from hemisphere.db.models import Datacenter
from hemisphere.federation.lease import dc_health
from hemisphere.identity import service as ids
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession
from hemisphere.webapi.problems import ApiProblem

router = APIRouter(prefix="/api/datacenters", tags=["datacenters"])


def _agent_token(request: Request, datacenter_id: int) -> str | None:
    tokens_dir: str = request.app.state.agent_tokens_dir
    if not tokens_dir:
        return None
    try:
        return (Path(tokens_dir) / f"dc-{datacenter_id}").read_text().strip() or None
    except OSError:
        return None


@router.get("", response_model=list[m.DatacenterHealth])
async def list_datacenters(who: CurrentPrincipal, s: DbSession) -> list[m.DatacenterHealth]:
    await ids.list_users(s, who)  # cluster admins only
    now = datetime.now(UTC)
    rows = await s.scalars(select(Datacenter).order_by(Datacenter.id))
    return [
        m.DatacenterHealth(
            id=d.id,
            name=d.name,
            city=d.city,
            countryCode=d.country_code,
            domain=d.domain,
            status=dc_health(d.last_heartbeat_at, now).value,
            lastHeartbeatAt=d.last_heartbeat_at,
        )
        for d in rows
    ]


@router.put("/{datacenter_id}/heartbeat")
async def heartbeat(datacenter_id: int, body: m.Heartbeat, request: Request, s: DbSession) -> None:
    expected = _agent_token(request, datacenter_id)
    auth = request.headers.get("Authorization", "")
    sent = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if expected is None or not sent or not hmac.compare_digest(sent, expected):
        raise ApiProblem(401, "not a valid agent token for this data center")
    dc = await s.get(Datacenter, datacenter_id)
    if dc is None:
        raise ApiProblem(404, f"no data center with id {datacenter_id}")
    if body.healthy:
        dc.last_heartbeat_at = datetime.now(UTC)
