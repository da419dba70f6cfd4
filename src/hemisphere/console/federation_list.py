"""The workspaces of all data centers in one list (issue 9), without ever waiting on a bad DC.

For each DC the console asks the DC's API concurrently, each DC with its own deadline
(HEMISPHERE_FEDERATION_LIST_DEADLINE, 1.5 s). A DC that is slow, cut off or down contributes
its last status snapshot instead, every row marked `stale: true` with `staleSeconds`; a DC with
neither contributes nothing and says so. The answer is therefore always on time and explicit
about what is partial: the extension (`GET /api/federation/workspaces`) lists each DC's source,
and the Codesphere list (`GET /api/workspaces/team/{teamId}`, served by the routing middleware)
keeps the Codesphere shape, with `X-Hemisphere-Partial` naming the DCs that were not live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.console.federation_directory import (
    Federation,
    KnownDatacenter,
    Unroutable,
)
from hemisphere.db.engine import Database
from hemisphere.db.models import DatacenterSnapshot, Team, TeamMembership
from hemisphere.federation.lease import age_seconds
from hemisphere.identity.principal import Principal
from hemisphere.sdk import models as m
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession, db_of
from hemisphere.webapi.problems import ApiProblem

router = APIRouter(prefix="/api/federation", tags=["federation"])

# Team lists asked of one DC at once (an admin may see many teams).
_PER_DC_CONCURRENCY = 8
# Headers a call to the in-process DC carries over from the caller.
_LOCAL_HEADERS = ("authorization", "cookie", "x-csrf-token")


@dataclass
class DcPart:
    """What one DC contributed."""

    dc: KnownDatacenter
    source: str = "none"  # live | snapshot | none
    rows: list[dict[str, Any]] = field(default_factory=list)  # Codesphere Workspace objects
    stale_s: float | None = None
    error: str | None = None

    @property
    def stale(self) -> bool:
        return self.source != "live"


def federation_of(request: Request) -> Federation:
    fed: Federation = request.app.state.federation
    return fed


async def visible_teams(s: AsyncSession, who: Principal, team: int | None) -> list[int]:
    """The teams whose workspaces the caller may list (cluster admins: all)."""
    q = select(Team.id).order_by(Team.id)
    if not who.is_cluster_admin:
        q = q.join(TeamMembership, TeamMembership.team_id == Team.id).where(
            TeamMembership.user_id == who.user_id
        )
    if team is not None:
        q = q.where(Team.id == team)
    return [int(t) for t in await s.scalars(q)]


async def gather(
    fed: Federation,
    request: Request,
    s: AsyncSession,
    who: Principal,
    team_ids: Sequence[int],
    only_dc: int | None = None,
) -> list[DcPart]:
    """Every DC's workspaces of `team_ids`, live or from its snapshot, in DC order."""
    dcs = [d for d in await fed.datacenters(s) if only_dc is None or d.id == only_dc]
    parts = [DcPart(dc) for dc in dcs]
    db = db_of(request)
    await asyncio.gather(*(_fill(fed, request, db, who, part, team_ids) for part in parts))
    return parts


async def _fill(
    fed: Federation,
    request: Request,
    db: Database,
    who: Principal,
    part: DcPart,
    team_ids: Sequence[int],
) -> None:
    try:
        part.rows = await asyncio.wait_for(
            _live(fed, request, who, part.dc, team_ids), fed.list_deadline_s
        )
        part.source = "live"
        return
    except TimeoutError:
        part.error = f"{part.dc.label} did not answer within {fed.list_deadline_s:g} s"
    except Unroutable as exc:
        part.error = exc.detail
    except (httpx.HTTPError, ValueError) as exc:
        part.error = f"{part.dc.label} unreachable ({type(exc).__name__})"
    except _DcRefused as exc:
        part.error = f"{part.dc.label} answered {exc.status}"
    # Read only when needed: a snapshot holds a whole DC's list.
    async with db.session() as s:
        snap = await s.get(DatacenterSnapshot, part.dc.id)
    if snap is not None:
        now = datetime.now(UTC)
        part.source = "snapshot"
        part.stale_s = age_seconds(snap.received_at, now)
        wanted = set(team_ids)
        taken = snap.received_at.isoformat()
        part.rows = [
            _snapshot_row(w, part.dc.id, part.stale_s, taken)
            for w in snap.workspaces
            if w.get("teamId") in wanted
        ]


class _DcRefused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


async def _live(
    fed: Federation,
    request: Request,
    who: Principal,
    dc: KnownDatacenter,
    team_ids: Sequence[int],
) -> list[dict[str, Any]]:
    if fed.is_local(dc.id):
        headers = {k: v for k, v in request.headers.items() if k in _LOCAL_HEADERS}
    else:
        headers = fed.auth_headers(request.app.state, request.headers, who, dc)
    client = fed.client_for(dc, headers)
    gate = asyncio.Semaphore(_PER_DC_CONCURRENCY)

    async def one(team_id: int) -> list[dict[str, Any]]:
        async with gate:
            status, body = await client.get_json(f"/api/workspaces/team/{team_id}")
        if status == 404:
            return []  # the team is not known there (yet)
        if status != 200 or not isinstance(body, list):
            raise _DcRefused(status)
        # With a shared database a DC could see other DCs' rows: each DC speaks for its own.
        return [w for w in body if isinstance(w, dict) and w.get("dataCenterId") == dc.id]

    try:
        lists = await asyncio.gather(*(one(t) for t in team_ids))
    finally:
        await client.aclose()
    return [w for rows in lists for w in rows]


def _snapshot_row(
    w: Mapping[str, Any], dc_id: int, stale_s: float | None, taken: str
) -> dict[str, Any]:
    """A snapshot entry in the Codesphere Workspace shape, marked stale."""
    return {
        "id": w.get("id"),
        "teamId": w.get("teamId"),
        "name": w.get("name"),
        "planId": w.get("planId"),
        "isPrivateRepo": bool(w.get("isPrivateRepo", False)),
        "replicas": int(w.get("replicas", 0)),
        "dataCenterId": dc_id,
        "userId": int(w.get("userId", 0)),
        "gitUrl": None,
        "initialBranch": None,
        "sourceWorkspaceId": None,
        "welcomeMessage": None,
        "vpnConfig": None,
        "restricted": True,
        # Codesphere requires a creation time; an agent that sent none: when it was seen.
        "createdAt": w.get("createdAt") or w.get("updatedAt") or taken,
        "state": w.get("state"),
        "updatedAt": w.get("updatedAt"),
        "stale": True,
        "staleSeconds": stale_s,
    }


def codesphere_rows(parts: Sequence[DcPart]) -> list[dict[str, Any]]:
    return sorted((w for p in parts for w in p.rows), key=lambda w: int(w.get("id") or 0))


def partial_header(parts: Sequence[DcPart]) -> str:
    """`X-Hemisphere-Partial`: the DCs that were not live, e.g. `2 (par) snapshot 12.5s`."""
    return ", ".join(
        f"{p.dc.id} ({p.dc.name}) {p.source}"
        + (f" {p.stale_s:g}s" if p.stale_s is not None else "")
        for p in parts
        if p.stale
    )


@router.get("/workspaces", response_model=m.FederatedWorkspaceList)
async def federated_workspaces(
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
    dc: int | None = Query(default=None, ge=0, le=2**31 - 1, description="only this DC"),
    team: int | None = Query(default=None, ge=0, le=2**31 - 1, description="only this team"),
    state: str | None = Query(default=None, max_length=16, description="only this state"),
    q: str | None = Query(default=None, max_length=100, description="name contains, or id"),
) -> m.FederatedWorkspaceList:
    """Hemisphere extension: the workspaces of every DC the caller may see, with each DC's
    source (live / snapshot / none)."""
    fed = federation_of(request)
    teams = await visible_teams(s, who, team)
    if team is not None and not teams:
        raise ApiProblem(404, f"no team with id {team}")
    parts = await gather(fed, request, s, who, teams, only_dc=dc)
    needle = (q or "").strip().lower()
    out: list[m.FederatedWorkspace] = []
    for p in parts:
        for w in p.rows:
            if state and w.get("state") != state:
                continue
            if (
                needle
                and needle not in str(w.get("name", "")).lower()
                and needle != str(w.get("id"))
            ):
                continue
            out.append(
                m.FederatedWorkspace(
                    id=w["id"],
                    name=w["name"],
                    teamId=w["teamId"],
                    dataCenterId=p.dc.id,
                    dataCenterName=p.dc.name,
                    state=w.get("state") or "stopped",
                    planId=w["planId"],
                    updatedAt=w.get("updatedAt") or w.get("createdAt"),
                    stale=p.stale,
                    staleSeconds=p.stale_s,
                )
            )
    out.sort(key=lambda w: w.id)
    return m.FederatedWorkspaceList(
        workspaces=out,
        datacenters=[
            m.DatacenterListStatus(
                id=p.dc.id,
                name=p.dc.name,
                source=p.source,
                stale=p.stale,
                staleSeconds=p.stale_s,
                error=p.error,
                count=len(p.rows),
            )
            for p in parts
        ],
        partial=any(p.stale for p in parts),
    )
