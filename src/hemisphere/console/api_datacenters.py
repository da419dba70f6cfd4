"""The data-center registry with health (issue 9): agents renew a lease and push status
snapshots with their per-DC token; admins read the registry and cordon or uncordon a DC.

A wrong agent credential is refused (401) and remembered on the DC's row (`lastRejectedAt`,
`lastRejectedReason`) and in the audit trail — at most one audit entry a minute per DC and
reason, so a misconfigured agent beating every few seconds cannot flood the trail.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import Datacenter, DatacenterSnapshot, Workspace
from hemisphere.federation.lease import DEFAULT_LEASE, age_seconds, dc_health, dc_status
from hemisphere.federation.snapshots import store_snapshot
from hemisphere.identity import service as ids
from hemisphere.identity.principal import Principal
from hemisphere.observability import audit
from hemisphere.sdk import models as m
from hemisphere.webapi.audit import audit_event
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession, db_of
from hemisphere.webapi.problems import ApiProblem, trace_id_of

router = APIRouter(prefix="/api/datacenters", tags=["datacenters"])

# A DC id in a path: an int the database can hold, else 400 (never a 500 from the driver).
DcId = Annotated[int, Field(ge=0, le=2**31 - 1)]

# A refused agent is audited again only after this long (or when the reason changes).
REJECTION_AUDIT_EVERY = timedelta(seconds=60)


def _agent_token(request: Request, datacenter_id: int) -> str | None:
    tokens_dir: str = request.app.state.agent_tokens_dir
    if not tokens_dir:
        return None
    try:
        return (Path(tokens_dir) / f"dc-{datacenter_id}").read_text().strip() or None
    except OSError:
        return None


def datacenter_urls(request: Request) -> dict[int, str]:
    """Each DC's API URL as the install spec gives it (HEMISPHERE_DATACENTERS)."""
    urls: dict[int, str] = getattr(request.app.state, "datacenter_urls", {})
    return urls


async def registry(
    s: AsyncSession, urls: dict[int, str], now: datetime | None = None
) -> list[m.DatacenterHealth]:
    """Every registered DC with its lease, cordon, last rejection and workspace counts.

    Counts come from this database when it holds the DC's workspaces (a shared database) and
    from the DC's last snapshot otherwise (a DC with its own database)."""
    now = now or datetime.now(UTC)
    rows = list(await s.scalars(select(Datacenter).order_by(Datacenter.id)))
    counted: dict[int, dict[str, int]] = {}
    grouped = await s.execute(
        select(Workspace.datacenter_id, Workspace.state, func.count()).group_by(
            Workspace.datacenter_id, Workspace.state
        )
    )
    for dc_id, state, n in grouped:
        counted.setdefault(dc_id, {})[state] = n
    snapshots = {x.datacenter_id: x for x in await s.scalars(select(DatacenterSnapshot))}
    out = []
    for d in rows:
        snap = snapshots.get(d.id)
        out.append(
            m.DatacenterHealth(
                id=d.id,
                name=d.name,
                city=d.city,
                countryCode=d.country_code,
                domain=d.domain,
                status=dc_status(d.last_heartbeat_at, now, cordoned=d.cordoned).value,
                lastHeartbeatAt=_utc(d.last_heartbeat_at),
                health=dc_health(d.last_heartbeat_at, now).value,
                lastHeartbeatAgeSeconds=age_seconds(d.last_heartbeat_at, now),
                leaseSeconds=DEFAULT_LEASE.total_seconds(),
                version=d.version,
                cordoned=d.cordoned,
                cordonedAt=_utc(d.cordoned_at),
                lastRejectedAt=_utc(d.last_rejected_at),
                lastRejectedReason=d.last_rejected_reason,
                url=urls.get(d.id, ""),
                workspaceCounts=counted.get(d.id) or (dict(snap.counts) if snap else {}),
                snapshotAt=_utc(snap.received_at) if snap else None,
                snapshotAgeSeconds=age_seconds(snap.received_at, now) if snap else None,
            )
        )
    return out


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


@router.get("", response_model=list[m.DatacenterHealth])
async def list_datacenters(
    who: CurrentPrincipal, request: Request, s: DbSession
) -> list[m.DatacenterHealth]:
    await ids.list_users(s, who)  # cluster admins only
    return await registry(s, datacenter_urls(request))


async def _require_agent(request: Request, datacenter_id: int) -> None:
    """The caller presents this DC's agent token, or the refusal is recorded and raised."""
    expected = _agent_token(request, datacenter_id)
    auth = request.headers.get("Authorization", "")
    sent = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if expected is not None and sent and hmac.compare_digest(sent, expected):
        return
    if expected is None:
        reason = "the console has no agent token for this data center (HEMISPHERE_AGENT_TOKENS_DIR)"
    elif not sent:
        reason = "no agent token was sent (Authorization: Bearer <agent token>)"
    else:
        reason = "wrong agent token"
    await _record_rejection(request, datacenter_id, reason)
    raise ApiProblem(
        401,
        f"not a valid agent token for data center {datacenter_id}: {reason}; the agent's token "
        "is HEMISPHERE_AGENT_TOKEN, from the vault's secrets for this data center",
        {"WWW-Authenticate": "Bearer"},
    )


async def _record_rejection(request: Request, datacenter_id: int, reason: str) -> None:
    # Its own transaction: the request's rolls back with the 401.
    now = datetime.now(UTC)
    async with db_of(request).transaction() as s:
        dc = await s.get(Datacenter, datacenter_id)
        if dc is None:
            return
        previous, previous_reason = _utc(dc.last_rejected_at), dc.last_rejected_reason
        dc.last_rejected_at = now
        dc.last_rejected_reason = reason
        if previous is None or previous_reason != reason or now - previous >= REJECTION_AUDIT_EVERY:
            client = request.client.host if request.client else None
            await audit.record(
                s,
                actor_user_id=None,
                actor_email=None,
                action="datacenter.agent.rejected",
                target_type="datacenter",
                target_id=datacenter_id,
                detail={"name": dc.name, "reason": reason, "client": client},
                trace_id=trace_id_of(request),
            )


async def _datacenter(s: AsyncSession, datacenter_id: int) -> Datacenter:
    dc = await s.get(Datacenter, datacenter_id)
    if dc is None:
        raise ApiProblem(404, f"no data center with id {datacenter_id}; see GET /api/datacenters")
    return dc


@router.put("/{datacenter_id}/heartbeat", response_model=m.HeartbeatAck)
async def heartbeat(
    datacenter_id: DcId, body: m.Heartbeat, request: Request, s: DbSession
) -> m.HeartbeatAck:
    await _require_agent(request, datacenter_id)
    dc = await _datacenter(s, datacenter_id)
    if body.healthy:
        # The console's clock, never the DC's: skew between sites cannot expire a lease.
        dc.last_heartbeat_at = datetime.now(UTC)
    if body.version:
        dc.version = body.version
    return m.HeartbeatAck(cordoned=dc.cordoned, leaseSeconds=DEFAULT_LEASE.total_seconds())


@router.put("/{datacenter_id}/snapshot", response_model=m.HeartbeatAck)
async def snapshot(
    datacenter_id: DcId, body: m.DatacenterSnapshot, request: Request, s: DbSession
) -> m.HeartbeatAck:
    await _require_agent(request, datacenter_id)
    dc = await _datacenter(s, datacenter_id)
    await store_snapshot(s, datacenter_id, body)
    return m.HeartbeatAck(cordoned=dc.cordoned, leaseSeconds=DEFAULT_LEASE.total_seconds())


async def _set_cordon(
    request: Request, who: Principal, s: AsyncSession, datacenter_id: int, cordoned: bool
) -> m.DatacenterHealth:
    await ids.list_users(s, who)  # cluster admins only
    dc = await _datacenter(s, datacenter_id)
    if dc.cordoned != cordoned:
        dc.cordoned = cordoned
        dc.cordoned_at = datetime.now(UTC) if cordoned else None
        action = "datacenter.cordon" if cordoned else "datacenter.uncordon"
        await audit_event(s, request, who, action, "datacenter", dc.id, name=dc.name)
    await s.flush()
    return next(d for d in await registry(s, datacenter_urls(request)) if d.id == datacenter_id)


@router.post("/{datacenter_id}/cordon", response_model=m.DatacenterHealth)
async def cordon(
    datacenter_id: DcId, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.DatacenterHealth:
    """No new workspaces land in the DC; the ones there keep running."""
    return await _set_cordon(request, who, s, datacenter_id, True)


@router.post("/{datacenter_id}/uncordon", response_model=m.DatacenterHealth)
async def uncordon(
    datacenter_id: DcId, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.DatacenterHealth:
    return await _set_cordon(request, who, s, datacenter_id, False)
