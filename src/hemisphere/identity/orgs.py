"""Organization use cases: members and their roles, cluster admins, moving a team between
organizations (API §3).

Organization roles mirror team roles (0 admin, 1 member); Codesphere's wire form is a string, so
`parse_org_role` accepts "admin"/"member" as well as 0/1. Org admins manage their organization's
members, cluster admins manage everything, and an organization the caller is not in is reported
exactly like a missing one. Callers own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import Organization, OrgMembership, Team, TeamMembership, User
from hemisphere.identity.emails import normalize_email
from hemisphere.identity.errors import AlreadyExists, Forbidden, InvalidInput, NotFound
from hemisphere.identity.principal import Principal, TeamRole
from hemisphere.identity.service import DEFAULT_ORG_NAME, admin_team, ensure_default_org


class OrgRole(IntEnum):
    ADMIN = 0
    MEMBER = 1

    @property
    def wire(self) -> str:
        return "admin" if self is OrgRole.ADMIN else "member"


_ROLE_NAMES = {
    "admin": OrgRole.ADMIN,
    "0": OrgRole.ADMIN,
    "member": OrgRole.MEMBER,
    "1": OrgRole.MEMBER,
}


def parse_org_role(value: int | str) -> OrgRole:
    if isinstance(value, int) and value in (0, 1):
        return OrgRole(value)
    if isinstance(value, str) and value.strip().lower() in _ROLE_NAMES:
        return _ROLE_NAMES[value.strip().lower()]
    raise InvalidInput(
        f'{value!r} is not an organization role: use "admin" or "member" (or 0 / 1)', field="role"
    )


@dataclass(frozen=True)
class TeamMove:
    team: Team
    from_org_id: str
    to_org: Organization
    removed_user_ids: tuple[int, ...]


# ---- organizations and members --------------------------------------------------------------


async def visible_org(
    s: AsyncSession, caller: Principal, org_id: str
) -> tuple[Organization, OrgRole]:
    """The organization and the caller's role in it; cluster admins act as admins everywhere."""
    org = await s.get(Organization, org_id)
    member = await s.get(OrgMembership, (org_id, caller.user_id)) if org else None
    if org is None or (member is None and not caller.is_cluster_admin):
        raise NotFound(f"no organization with id {org_id}")
    if caller.is_cluster_admin or member is None:
        return org, OrgRole.ADMIN
    return org, OrgRole(member.role)


async def admin_org(s: AsyncSession, caller: Principal, org_id: str) -> Organization:
    org, role = await visible_org(s, caller, org_id)
    if role != OrgRole.ADMIN:
        raise Forbidden(f"only admins of organization {org.name!r} can do this")
    return org


async def list_members(
    s: AsyncSession, caller: Principal, org_id: str
) -> list[tuple[OrgMembership, User]]:
    await visible_org(s, caller, org_id)
    q = (
        select(OrgMembership, User)
        .join(User, User.id == OrgMembership.user_id)
        .where(OrgMembership.organization_id == org_id)
        .order_by(OrgMembership.created_at, User.id)
    )
    return [(m, u) for m, u in (await s.execute(q)).all()]


async def add_member(
    s: AsyncSession, caller: Principal, org_id: str, email: str, role: int | str
) -> OrgMembership | None:
    """Add the user with `email`; None when there is none, which only cluster admins are told
    (as an error); an org admin gets the same answer as for an existing account (issue 10)."""
    org = await admin_org(s, caller, org_id)
    role_value = parse_org_role(role)
    user = await s.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        if not caller.is_cluster_admin:
            return None
        raise InvalidInput(
            f"no user with e-mail {email}; an administrator creates users first (POST /api/users)",
            field="email",
        )
    if await s.get(OrgMembership, (org_id, user.id)) is not None:
        raise AlreadyExists(
            f"{email} is already a member of organization {org.name!r}", field="email"
        )
    m = OrgMembership(organization_id=org_id, user_id=user.id, role=int(role_value))
    s.add(m)
    await s.flush()
    return m


async def remove_member(s: AsyncSession, caller: Principal, org_id: str, user_id: int) -> list[int]:
    """Remove the member and their memberships in the organization's teams (a team member
    outside the team's organization is not allowed); returns the ids of those teams."""
    if user_id == caller.user_id:
        org, _ = await visible_org(s, caller, org_id)  # anyone may leave
    else:
        org = await admin_org(s, caller, org_id)
    m = await s.get(OrgMembership, (org_id, user_id))
    if m is None:
        raise NotFound(f"user {user_id} is not a member of organization {org.name!r}")
    if m.role == OrgRole.ADMIN and await _org_admin_count(s, org_id) <= 1:
        raise AlreadyExists("an organization needs at least one admin; promote someone else first")
    team_rows = (
        await s.execute(
            select(TeamMembership, Team)
            .join(Team, Team.id == TeamMembership.team_id)
            .where(Team.organization_id == org_id, TeamMembership.user_id == user_id)
            .order_by(Team.id)
        )
    ).all()
    for tm, team in team_rows:
        if tm.role == TeamRole.ADMIN and await _team_admin_count(s, team.id) <= 1:
            raise AlreadyExists(
                f"user {user_id} is the only admin of team {team.name!r} (id {team.id}) in this "
                "organization; make someone else admin there first"
            )
    for tm, _ in team_rows:
        await s.delete(tm)
    await s.delete(m)
    await s.flush()
    return [team.id for _, team in team_rows]


async def set_member_role(
    s: AsyncSession, caller: Principal, org_id: str, user_id: int, role: int | str
) -> OrgMembership:
    org = await admin_org(s, caller, org_id)
    role_value = parse_org_role(role)
    m = await s.get(OrgMembership, (org_id, user_id))
    if m is None:
        raise NotFound(f"user {user_id} is not a member of organization {org.name!r}")
    if (
        m.role == OrgRole.ADMIN
        and role_value != OrgRole.ADMIN
        and await _org_admin_count(s, org_id) <= 1
    ):
        raise AlreadyExists("an organization needs at least one admin; promote someone else first")
    m.role = int(role_value)
    await s.flush()
    return m


# ---- cluster admins -------------------------------------------------------------------------


async def add_cluster_admin(s: AsyncSession, caller: Principal, email: str) -> User:
    """Make a user cluster admin; idempotent."""
    if not caller.is_cluster_admin:
        raise NotFound("not found")
    user = await s.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise InvalidInput(f"no user with e-mail {email}", field="email")
    if user.disabled:
        raise InvalidInput(f"{email} is disabled; enable the account first", field="email")
    user.is_cluster_admin = True
    await s.flush()
    return user


# ---- moving teams ---------------------------------------------------------------------------


async def migrate_team(
    s: AsyncSession, caller: Principal, team_id: int, org_id: str | None, *, force: bool
) -> TeamMove:
    """Move a team into an organization the caller administers (default: the default one).

    Every team member must belong to the target organization. With `force`, members who do
    not are removed from the team (Codesphere's documented semantics), as long as an admin
    remains.
    """
    team = await admin_team(s, caller, team_id)
    target = await _target_org(s, caller, org_id)
    source = team.organization_id
    if target.id == source:
        return TeamMove(team, source, target, ())
    clash = select(Team.id).where(Team.organization_id == target.id, Team.name == team.name)
    if await s.scalar(clash) is not None:
        raise AlreadyExists(
            f"organization {target.name!r} already has a team named {team.name!r}",
            field="organizationId",
        )
    rows = (
        await s.execute(
            select(TeamMembership, User)
            .join(User, User.id == TeamMembership.user_id)
            .where(TeamMembership.team_id == team_id)
            .order_by(User.id)
        )
    ).all()
    in_target = set(
        (
            await s.scalars(
                select(OrgMembership.user_id).where(OrgMembership.organization_id == target.id)
            )
        ).all()
    )
    outside = [(tm, u) for tm, u in rows if u.id not in in_target]
    if outside and not force:
        emails = ", ".join(u.email for _, u in outside)
        raise AlreadyExists(
            f"{emails} not in organization {target.name!r}: add them "
            f"(POST /api/organizations/{target.id}/members) or send force=true to remove them "
            "from the team",
            field="force",
        )
    staying_admins = [tm for tm, u in rows if u.id in in_target and tm.role == int(TeamRole.ADMIN)]
    if outside and not staying_admins:
        raise AlreadyExists(
            f"no team admin is a member of organization {target.name!r}, so the team would have "
            "no admin; add one of its admins to the organization first",
            field="force",
        )
    for tm, _ in outside:
        await s.delete(tm)
    team.organization_id = target.id
    await s.flush()
    return TeamMove(team, source, target, tuple(u.id for _, u in outside))


async def _target_org(s: AsyncSession, caller: Principal, org_id: str | None) -> Organization:
    org = await ensure_default_org(s) if org_id is None else await s.get(Organization, org_id)
    member = await s.get(OrgMembership, (org.id, caller.user_id)) if org else None
    if org is None or (member is None and not caller.is_cluster_admin):
        raise InvalidInput(
            f"no organization with id {org_id or DEFAULT_ORG_NAME}; "
            "list yours at /api/organizations",
            field="organizationId",
        )
    if not caller.is_cluster_admin and (member is None or member.role != OrgRole.ADMIN):
        raise Forbidden(f"only admins of organization {org.name!r} can move teams into it")
    return org


async def _org_admin_count(s: AsyncSession, org_id: str) -> int:
    q = select(func.count()).where(
        OrgMembership.organization_id == org_id, OrgMembership.role == int(OrgRole.ADMIN)
    )
    return int(await s.scalar(q) or 0)


async def _team_admin_count(s: AsyncSession, team_id: int) -> int:
    q = select(func.count()).where(
        TeamMembership.team_id == team_id, TeamMembership.role == int(TeamRole.ADMIN)
    )
    return int(await s.scalar(q) or 0)
