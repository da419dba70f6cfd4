"""The console's REST API: authentication, tokens, users, organizations, teams, members,
data centers and the audit log. Handlers read parse → authorize → query → convert → write."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from hemisphere.db.models import Datacenter, User
from hemisphere.db.models import Organization as OrgRow
from hemisphere.db.models import Team as TeamRow
from hemisphere.identity import service as ids
from hemisphere.identity.principal import TeamRole
from hemisphere.observability import audit
from hemisphere.sdk import models as m
from hemisphere.webapi.audit import audit_event
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession, as_utc
from hemisphere.webapi.login import LoginThrottled, authenticate_throttled
from hemisphere.webapi.problems import ApiProblem

router = APIRouter(prefix="/api")


def team_out(t: TeamRow, is_first: bool = False) -> m.Team:
    return m.Team(
        id=t.id,
        defaultDataCenterId=t.default_datacenter_id,
        name=t.name,
        description=t.description,
        isFirst=is_first,
        organizationId=t.organization_id,
    )


def user_out(u: User) -> m.UserInfo:
    return m.UserInfo(
        id=u.id,
        email=u.email,
        name=u.name,
        isClusterAdmin=u.is_cluster_admin,
        disabled=u.disabled,
        createdAt=as_utc(u.created_at),
    )


# ---- auth and tokens ------------------------------------------------------------------------


@router.post("/auth/login", response_model=m.TokenCreated, tags=["auth"])
async def login(body: m.LoginRequest, request: Request, s: DbSession) -> m.TokenCreated:
    try:
        user = await authenticate_throttled(request, s, body.email, body.password)
    except LoginThrottled as exc:
        raise ApiProblem(429, str(exc), {"Retry-After": str(exc.seconds)}) from None
    row, token = await ids.issue_token(s, user, body.tokenName)
    who = ids.principal_of(user)
    await audit_event(s, request, who, "login", "user", user.id)
    return m.TokenCreated(id=row.id, name=row.name, token=token, userId=user.id)


@router.get("/me", response_model=m.Me, tags=["auth"])
async def me(who: CurrentPrincipal) -> m.Me:
    return m.Me(id=who.user_id, email=who.email, name=who.name, isClusterAdmin=who.is_cluster_admin)


@router.get("/tokens", response_model=list[m.TokenInfo], tags=["auth"])
async def list_tokens(who: CurrentPrincipal, s: DbSession) -> list[m.TokenInfo]:
    return [
        m.TokenInfo(id=t.id, name=t.name, prefix=t.prefix, createdAt=as_utc(t.created_at))
        for t in await ids.list_tokens(s, who)
    ]


@router.post("/tokens", response_model=m.TokenCreated, tags=["auth"])
async def create_token(
    body: m.TokenCreate, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.TokenCreated:
    user = await s.get(User, who.user_id)
    assert user is not None
    row, token = await ids.issue_token(s, user, body.name)
    await audit_event(s, request, who, "token.create", "token", row.id, name=body.name)
    return m.TokenCreated(id=row.id, name=row.name, token=token, userId=user.id)


@router.delete("/tokens/{token_id}", tags=["auth"])
async def delete_token(
    token_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    await ids.revoke_token(s, who, token_id)
    await audit_event(s, request, who, "token.revoke", "token", token_id)


# ---- users (cluster admins) -----------------------------------------------------------------


@router.get("/users", response_model=list[m.UserInfo], tags=["admin"])
async def list_users(who: CurrentPrincipal, s: DbSession) -> list[m.UserInfo]:
    return [user_out(u) for u in await ids.list_users(s, who)]


@router.post("/users", response_model=m.UserInfo, tags=["admin"])
async def create_user(
    body: m.UserCreate, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.UserInfo:
    await ids.list_users(s, who)  # authorizes: cluster admins only
    user = await ids.create_user(
        s, body.email, body.name, body.password, is_cluster_admin=body.isClusterAdmin
    )
    await audit_event(s, request, who, "user.create", "user", user.id, email=user.email)
    return user_out(user)


@router.patch("/users/{user_id}", response_model=m.UserInfo, tags=["admin"])
async def update_user(
    user_id: m.Id, body: m.UserUpdate, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.UserInfo:
    user = await ids.update_user(
        s, who, user_id, disabled=body.disabled, is_cluster_admin=body.isClusterAdmin
    )
    await audit_event(
        s, request, who, "user.update", "user", user_id, **body.model_dump(exclude_none=True)
    )
    return user_out(user)


# ---- organizations --------------------------------------------------------------------------


def _org_out(o: OrgRow) -> m.Organization:
    return m.Organization(id=o.id, name=o.name, createdAt=as_utc(o.created_at))


@router.get("/organizations", response_model=list[m.Organization], tags=["organizations"])
async def list_orgs(who: CurrentPrincipal, s: DbSession) -> list[m.Organization]:
    return [_org_out(o) for o in await ids.list_orgs(s, who)]


@router.get("/clusters/organizations", response_model=list[m.Organization], tags=["organizations"])
async def list_all_orgs(who: CurrentPrincipal, s: DbSession) -> list[m.Organization]:
    await ids.list_users(s, who)  # cluster admins only
    return [_org_out(o) for o in await ids.list_orgs(s, who)]


@router.post("/clusters/organizations", response_model=m.Organization, tags=["organizations"])
async def create_org(
    body: m.OrganizationCreate, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.Organization:
    org = await ids.create_org(s, who, body.name, body.adminEmail)
    await audit_event(s, request, who, "organization.create", "organization", org.id, name=org.name)
    return _org_out(org)


@router.get("/organizations/{org_id}/teams", response_model=list[m.Team], tags=["organizations"])
async def org_teams(org_id: m.Segment, who: CurrentPrincipal, s: DbSession) -> list[m.Team]:
    teams = await ids.org_teams(s, who, org_id)
    return [team_out(t, i == 0) for i, t in enumerate(teams)]


# ---- teams ----------------------------------------------------------------------------------


@router.get("/teams", response_model=list[m.ListTeam], tags=["teams"])
async def list_teams(who: CurrentPrincipal, s: DbSession) -> list[m.ListTeam]:
    out = []
    for t, role in await ids.list_teams(s, who):
        base = team_out(t, await ids.is_first_team(s, t))
        out.append(m.ListTeam(**base.model_dump(), role=int(role)))
    return out


@router.post("/teams", response_model=m.Team, tags=["teams"])
async def create_team(
    body: m.TeamCreate, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.Team:
    team = await ids.create_team(s, who, body.name, body.dc, body.organizationId)
    await audit_event(
        s, request, who, "team.create", "team", team.id, team_id=team.id, name=team.name
    )
    return team_out(team, await ids.is_first_team(s, team))


@router.get("/teams/{team_id}", response_model=m.Team, tags=["teams"])
async def get_team(team_id: m.Id, who: CurrentPrincipal, s: DbSession) -> m.Team:
    team, _ = await ids.visible_team(s, who, team_id)
    return team_out(team, await ids.is_first_team(s, team))


@router.delete("/teams/{team_id}", tags=["teams"])
async def delete_team(team_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession) -> None:
    team = await ids.delete_team(s, who, team_id)
    await audit_event(
        s, request, who, "team.delete", "team", team_id, team_id=team_id, name=team.name
    )


@router.get("/teams/{team_id}/members", response_model=list[m.TeamMember], tags=["teams"])
async def list_members(team_id: m.Id, who: CurrentPrincipal, s: DbSession) -> list[m.TeamMember]:
    return [
        m.TeamMember(
            userId=u.id,
            teamId=team_id,
            role=mem.role,
            createdAt=as_utc(mem.created_at),
            name=u.name,
            email=u.email,
        )
        for mem, u in await ids.list_members(s, who, team_id)
    ]


@router.post("/teams/{team_id}/members", tags=["teams"])
async def add_member(
    team_id: m.Id, body: m.MemberAdd, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    mem = await ids.add_member(s, who, team_id, body.userEmail, body.role)
    if mem is None:  # no such account: answered like a success, recorded for the admins
        await audit_event(s, request, who, "team.member.add.unknown", "user", None,
                          team_id=team_id, role=body.role)  # fmt: skip
        return
    await audit_event(
        s, request, who, "team.member.add", "user", mem.user_id, team_id=team_id, role=mem.role
    )


@router.delete("/teams/{team_id}/members/{user_id}", tags=["teams"])
async def remove_member(
    team_id: m.Id, user_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    await ids.remove_member(s, who, team_id, user_id)
    await audit_event(s, request, who, "team.member.remove", "user", user_id, team_id=team_id)


@router.put("/teams/{team_id}/members/{user_id}/role", tags=["teams"])
async def set_role(
    team_id: m.Id,
    user_id: m.Id,
    body: m.RoleUpdate,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> None:
    mem = await ids.set_member_role(s, who, team_id, user_id, body.role)
    await audit_event(
        s, request, who, "team.member.role", "user", user_id, team_id=team_id, role=mem.role
    )


# ---- data centers and audit -----------------------------------------------------------------


@router.get("/metadata/datacenters", response_model=list[m.Datacenter], tags=["metadata"])
async def datacenters(who: CurrentPrincipal, s: DbSession) -> list[m.Datacenter]:
    rows = await s.scalars(select(Datacenter).order_by(Datacenter.id))
    return [
        m.Datacenter(id=d.id, name=d.name, city=d.city, countryCode=d.country_code) for d in rows
    ]


@router.get("/audit", response_model=list[m.AuditEntry], tags=["admin"])
async def audit_log(
    who: CurrentPrincipal,
    s: DbSession,
    teamId: m.Id | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    beforeId: m.Id | None = None,
) -> list[m.AuditEntry]:
    if teamId is not None:
        await ids.admin_team(s, who, teamId)
        team_ids: list[int] | None = [teamId]
    elif who.is_cluster_admin:
        team_ids = None
    else:
        admin_of = [t.id for t, r in await ids.list_teams(s, who) if r == TeamRole.ADMIN]
        if not admin_of:
            raise ApiProblem(
                404, "no audit log you may read: it needs team or cluster admin rights"
            )
        team_ids = admin_of
    rows = await audit.events(s, team_ids=team_ids, limit=limit, before_id=beforeId)
    return [
        m.AuditEntry(
            id=e.id,
            at=as_utc(e.at),
            actorUserId=e.actor_user_id,
            actorEmail=e.actor_email,
            action=e.action,
            targetType=e.target_type,
            targetId=e.target_id,
            teamId=e.team_id,
            detail=e.detail,
            traceId=e.trace_id,
        )
        for e in rows
    ]
