"""The console's organization API beyond listing: members and roles, cluster admins, moving a
team to another organization (API §3). Handlers read parse → authorize → query → convert → write;
every change is audited in the same transaction."""

from __future__ import annotations

from fastapi import APIRouter, Request

from hemisphere.db.models import OrgMembership, User
from hemisphere.identity import orgs
from hemisphere.sdk import models as m
from hemisphere.webapi.audit import audit_event
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession, as_utc

router = APIRouter(prefix="/api")


def member_out(mem: OrgMembership, u: User) -> m.OrgMember:
    return m.OrgMember(
        userId=u.id,
        organizationId=mem.organization_id,
        role=orgs.OrgRole(mem.role).wire,
        createdAt=as_utc(mem.created_at),
        name=u.name,
        email=u.email,
    )


# ---- organization members -------------------------------------------------------------------


@router.get(
    "/organizations/{org_id}/members", response_model=list[m.OrgMember], tags=["organizations"]
)
async def list_org_members(
    org_id: m.Segment, who: CurrentPrincipal, s: DbSession
) -> list[m.OrgMember]:
    return [member_out(mem, u) for mem, u in await orgs.list_members(s, who, org_id)]


@router.post("/organizations/{org_id}/members", tags=["organizations"])
async def add_org_member(
    org_id: m.Segment, body: m.OrgMemberAdd, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    mem = await orgs.add_member(s, who, org_id, body.email, body.role)
    if mem is None:  # no such account: answered like a success, recorded for the admins
        await audit_event(s, request, who, "organization.member.add.unknown", "user", None,
                          organizationId=org_id)  # fmt: skip
        return
    await audit_event(
        s, request, who, "organization.member.add", "user", mem.user_id,
        organizationId=org_id, role=orgs.OrgRole(mem.role).wire,
    )  # fmt: skip


@router.delete("/organizations/{org_id}/members/{user_id}", tags=["organizations"])
async def remove_org_member(
    org_id: m.Segment, user_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    team_ids = await orgs.remove_member(s, who, org_id, user_id)
    await audit_event(
        s, request, who, "organization.member.remove", "user", user_id,
        organizationId=org_id, removedFromTeams=team_ids,
    )  # fmt: skip


@router.put("/organizations/{org_id}/members/{user_id}/role", tags=["organizations"])
async def set_org_member_role(
    org_id: m.Segment,
    user_id: m.Id,
    body: m.OrgRoleUpdate,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> None:
    mem = await orgs.set_member_role(s, who, org_id, user_id, body.role)
    await audit_event(
        s, request, who, "organization.member.role", "user", user_id,
        organizationId=org_id, role=orgs.OrgRole(mem.role).wire,
    )  # fmt: skip


# ---- cluster admins and team migration ------------------------------------------------------


@router.post("/clusters/admins", tags=["admin"])
async def add_cluster_admin(
    body: m.ClusterAdminAdd, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    user = await orgs.add_cluster_admin(s, who, body.email)
    await audit_event(s, request, who, "cluster.admin.add", "user", user.id, email=user.email)


@router.post("/teams/{team_id}/migrate", tags=["teams"])
async def migrate_team(
    team_id: m.Id, body: m.TeamMigrate, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    move = await orgs.migrate_team(s, who, team_id, body.organizationId, force=body.force)
    if move.to_org.id != move.from_org_id:
        await audit_event(
            s, request, who, "team.migrate", "team", team_id, team_id=team_id,
            fromOrganizationId=move.from_org_id, toOrganizationId=move.to_org.id,
            removedUserIds=list(move.removed_user_ids),
        )  # fmt: skip
