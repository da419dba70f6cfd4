"""Identity use cases: users, organizations, teams, memberships, API tokens.

Each function takes the caller (`Principal`) where authorization matters and raises the typed
errors of `identity.errors`; a resource the caller may not see raises `NotFound`, like one that
does not exist. Callers own the transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import (
    ApiToken,
    Datacenter,
    Organization,
    OrgMembership,
    Team,
    TeamMembership,
    User,
    Workspace,
)
from hemisphere.identity.emails import normalize_email
from hemisphere.identity.errors import (
    AlreadyExists,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
)
from hemisphere.identity.principal import Principal, TeamRole
from hemisphere.identity.secrets import (
    hash_password,
    hash_token,
    new_token,
    verify_password,
)

DEFAULT_ORG_NAME = "default"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$|^[^@\s]+@localhost$")
MIN_PASSWORD = 8


def _aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything we store is UTC."""
    if dt is None or dt.tzinfo is not None:
        return dt
    return dt.replace(tzinfo=UTC)


def principal_of(user: User, kind: str = "api") -> Principal:
    return Principal(user.id, user.email, user.name, user.is_cluster_admin, kind)


# ---- users -------------------------------------------------------------------------------


async def create_user(
    s: AsyncSession, email: str, name: str, password: str, *, is_cluster_admin: bool = False
) -> User:
    email = normalize_email(email)
    if not _EMAIL.match(email):
        raise InvalidInput(f"{email!r} is not an e-mail address", field="email")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters", field="password")
    if await s.scalar(select(User.id).where(User.email == email)) is not None:
        raise AlreadyExists(f"a user with e-mail {email} already exists", field="email")
    user = User(
        email=email,
        name=name.strip() or email.split("@")[0],
        password_hash=hash_password(password),
        is_cluster_admin=is_cluster_admin,
    )
    s.add(user)
    # Organization membership is explicit (issue 10): a new user joins no organization, since an
    # organization's members see its teams and each other's e-mail addresses.
    await s.flush()
    return user


async def authenticate(s: AsyncSession, email: str, password: str) -> User:
    user = await s.scalar(select(User).where(User.email == normalize_email(email)))
    # Verify against a dummy hash when the user is unknown so timing does not reveal e-mails.
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise InvalidCredentials("wrong e-mail or password")
    if not verify_password(user.password_hash, password):
        raise InvalidCredentials("wrong e-mail or password")
    if user.disabled:
        raise InvalidCredentials("this account is disabled; ask an administrator")
    return user


_DUMMY_HASH = hash_password("not-a-real-password-used-for-timing")


async def set_password(s: AsyncSession, user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters", field="password")
    user.password_hash = hash_password(password)
    await s.flush()


async def list_users(s: AsyncSession, caller: Principal) -> list[User]:
    _require_cluster_admin(caller)
    return list((await s.scalars(select(User).order_by(User.id))).all())


async def update_user(
    s: AsyncSession,
    caller: Principal,
    user_id: int,
    *,
    disabled: bool | None = None,
    is_cluster_admin: bool | None = None,
) -> User:
    _require_cluster_admin(caller)
    user = await s.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    if user.id == caller.user_id and (disabled or is_cluster_admin is False):
        raise InvalidInput("you cannot disable yourself or drop your own admin rights")
    if disabled is not None:
        user.disabled = disabled
    if is_cluster_admin is not None:
        user.is_cluster_admin = is_cluster_admin
    await s.flush()
    return user


def _require_cluster_admin(caller: Principal) -> None:
    if not caller.is_cluster_admin:
        raise NotFound("not found")


# ---- tokens ------------------------------------------------------------------------------


async def issue_token(
    s: AsyncSession, user: User, name: str, *, kind: str = "api", ttl: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the plaintext is returned once and never stored."""
    plaintext = new_token()
    row = ApiToken(
        user_id=user.id,
        name=name[:100] or "token",
        token_hash=hash_token(plaintext),
        prefix=plaintext[:12],
        kind=kind,
        expires_at=datetime.now(UTC) + ttl if ttl else None,
    )
    s.add(row)
    await s.flush()
    return row, plaintext


async def resolve_token(s: AsyncSession, token: str) -> Principal:
    row = await s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None:
        raise InvalidCredentials("the token is not valid")
    expires = _aware(row.expires_at)
    if expires is not None and expires < datetime.now(UTC):
        raise InvalidCredentials("the token has expired")
    user = await s.get(User, row.user_id)
    if user is None or user.disabled:
        raise InvalidCredentials("the token's user is disabled")
    return principal_of(user, row.kind)


async def list_tokens(s: AsyncSession, caller: Principal) -> list[ApiToken]:
    q = select(ApiToken).where(ApiToken.user_id == caller.user_id, ApiToken.kind == "api")
    return list((await s.scalars(q.order_by(ApiToken.id))).all())


async def revoke_token(s: AsyncSession, caller: Principal, token_id: int) -> None:
    row = await s.get(ApiToken, token_id)
    if row is None or row.user_id != caller.user_id:
        raise NotFound(f"no token with id {token_id}")
    await s.delete(row)
    await s.flush()


async def revoke_plaintext(s: AsyncSession, token: str) -> None:
    row = await s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is not None:
        await s.delete(row)
        await s.flush()


# ---- organizations -----------------------------------------------------------------------


async def ensure_default_org(s: AsyncSession) -> Organization:
    org = await s.scalar(select(Organization).where(Organization.name == DEFAULT_ORG_NAME))
    if org is None:
        org = Organization(name=DEFAULT_ORG_NAME)
        s.add(org)
        await s.flush()
    return org


async def list_orgs(s: AsyncSession, caller: Principal) -> list[Organization]:
    q = select(Organization)
    if not caller.is_cluster_admin:
        q = q.join(OrgMembership).where(OrgMembership.user_id == caller.user_id)
    return list((await s.scalars(q.order_by(Organization.created_at))).all())


async def create_org(
    s: AsyncSession, caller: Principal, name: str, admin_email: str
) -> Organization:
    _require_cluster_admin(caller)
    if await s.scalar(select(Organization.id).where(Organization.name == name)) is not None:
        raise AlreadyExists(f"an organization named {name!r} already exists", field="name")
    admin = await s.scalar(select(User).where(User.email == normalize_email(admin_email)))
    if admin is None:
        raise InvalidInput(f"no user with e-mail {admin_email}", field="adminEmail")
    org = Organization(name=name)
    s.add(org)
    await s.flush()
    s.add(OrgMembership(organization_id=org.id, user_id=admin.id, role=0))
    await s.flush()
    return org


async def org_teams(s: AsyncSession, caller: Principal, org_id: str) -> list[Team]:
    member = await s.get(OrgMembership, (org_id, caller.user_id))
    if member is None and not caller.is_cluster_admin:
        raise NotFound(f"no organization with id {org_id}")
    q = select(Team).where(Team.organization_id == org_id).order_by(Team.id)
    return list((await s.scalars(q)).all())


# ---- teams -------------------------------------------------------------------------------


async def create_team(
    s: AsyncSession, caller: Principal, name: str, dc_id: int, org_id: str | None = None
) -> Team:
    name = name.strip()
    if not name:
        raise InvalidInput("team name must not be empty", field="name")
    if await s.get(Datacenter, dc_id) is None:
        raise InvalidInput(
            f"no data center with id {dc_id}; list them at /api/metadata/datacenters", field="dc"
        )
    if org_id is None:
        # The default organization holds teams created without one; creating a team does not
        # make the creator a member of it (that would show them every other team in it).
        org_id = (await ensure_default_org(s)).id
    elif (
        await s.get(OrgMembership, (org_id, caller.user_id)) is None and not caller.is_cluster_admin
    ):
        raise InvalidInput(f"no organization with id {org_id}", field="organizationId")
    taken = select(Team.id).where(Team.organization_id == org_id, Team.name == name)
    if await s.scalar(taken) is not None:
        raise AlreadyExists(f"a team named {name!r} already exists", field="name")
    team = Team(name=name, organization_id=org_id, default_datacenter_id=dc_id)
    s.add(team)
    try:
        await s.flush()
    except IntegrityError as exc:
        raise AlreadyExists(f"a team named {name!r} already exists", field="name") from exc
    s.add(TeamMembership(team_id=team.id, user_id=caller.user_id, role=int(TeamRole.ADMIN)))
    await s.flush()
    return team


async def team_role(s: AsyncSession, user_id: int, team_id: int) -> TeamRole | None:
    """The user's role in the team; None when not a member or when the user is disabled, so
    long-lived grants (preview cookies, terminals) end with the account."""
    role = await s.scalar(
        select(TeamMembership.role)
        .join(User, User.id == TeamMembership.user_id)
        .where(
            TeamMembership.team_id == team_id,
            TeamMembership.user_id == user_id,
            User.disabled.is_(False),
        )
    )
    return None if role is None else TeamRole(role)


async def visible_team(s: AsyncSession, caller: Principal, team_id: int) -> tuple[Team, TeamRole]:
    """The team and the caller's role in it; cluster admins see every team (as admin)."""
    team = await s.get(Team, team_id)
    role = await team_role(s, caller.user_id, team_id) if team else None
    if team is None or (role is None and not caller.is_cluster_admin):
        raise NotFound(f"no team with id {team_id}")
    return team, role if role is not None else TeamRole.ADMIN


async def admin_team(s: AsyncSession, caller: Principal, team_id: int) -> Team:
    team, role = await visible_team(s, caller, team_id)
    if role != TeamRole.ADMIN:
        raise Forbidden("only team admins can do this")
    return team


async def list_teams(s: AsyncSession, caller: Principal) -> list[tuple[Team, TeamRole]]:
    q = (
        select(Team, TeamMembership.role)
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .where(TeamMembership.user_id == caller.user_id)
        .order_by(Team.id)
    )
    return [(t, TeamRole(r)) for t, r in (await s.execute(q)).all()]


async def is_first_team(s: AsyncSession, team: Team) -> bool:
    first = await s.scalar(
        select(func.min(Team.id)).where(Team.organization_id == team.organization_id)
    )
    return first == team.id


async def delete_team(s: AsyncSession, caller: Principal, team_id: int) -> Team:
    team = await admin_team(s, caller, team_id)
    if await s.scalar(select(func.count()).where(Workspace.team_id == team_id)):
        raise AlreadyExists(
            f"team {team.name!r} still has workspaces; delete them first", field="teamId"
        )
    await s.delete(team)
    await s.flush()
    return team


async def list_members(
    s: AsyncSession, caller: Principal, team_id: int
) -> list[tuple[TeamMembership, User]]:
    await visible_team(s, caller, team_id)
    q = (
        select(TeamMembership, User)
        .join(User, User.id == TeamMembership.user_id)
        .where(TeamMembership.team_id == team_id)
        .order_by(TeamMembership.created_at, User.id)
    )
    return [(m, u) for m, u in (await s.execute(q)).all()]


async def add_member(
    s: AsyncSession, caller: Principal, team_id: int, email: str, role: int
) -> TeamMembership | None:
    """Add the user with `email`; None when there is none. Only cluster admins learn that (an
    error): to a team admin the answer is the same as for an existing account, so adding members
    cannot be used to find out who has one (issue 10; pending members come with issue 13)."""
    await admin_team(s, caller, team_id)
    role_value = _role(role)
    user = await s.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        if not caller.is_cluster_admin:
            return None
        raise InvalidInput(
            f"no user with e-mail {email}; an administrator creates users first", field="userEmail"
        )
    if await s.get(TeamMembership, (team_id, user.id)) is not None:
        raise AlreadyExists(f"{email} is already a member of this team", field="userEmail")
    m = TeamMembership(team_id=team_id, user_id=user.id, role=int(role_value))
    s.add(m)
    await s.flush()
    return m


async def remove_member(s: AsyncSession, caller: Principal, team_id: int, user_id: int) -> None:
    if user_id != caller.user_id:
        await admin_team(s, caller, team_id)
    else:
        await visible_team(s, caller, team_id)
    m = await s.get(TeamMembership, (team_id, user_id))
    if m is None:
        raise NotFound(f"user {user_id} is not a member of team {team_id}")
    if m.role == TeamRole.ADMIN and await _admin_count(s, team_id) <= 1:
        raise AlreadyExists("a team needs at least one admin; promote someone else first")
    await s.delete(m)
    await s.flush()


async def set_member_role(
    s: AsyncSession, caller: Principal, team_id: int, user_id: int, role: int
) -> TeamMembership:
    await admin_team(s, caller, team_id)
    role_value = _role(role)
    m = await s.get(TeamMembership, (team_id, user_id))
    if m is None:
        raise NotFound(f"user {user_id} is not a member of team {team_id}")
    if (
        m.role == TeamRole.ADMIN
        and role_value != TeamRole.ADMIN
        and await _admin_count(s, team_id) <= 1
    ):
        raise AlreadyExists("a team needs at least one admin; promote someone else first")
    m.role = int(role_value)
    await s.flush()
    return m


async def _admin_count(s: AsyncSession, team_id: int) -> int:
    q = select(func.count()).where(
        TeamMembership.team_id == team_id, TeamMembership.role == int(TeamRole.ADMIN)
    )
    return int(await s.scalar(q) or 0)


def _role(role: int) -> TeamRole:
    try:
        return TeamRole(role)
    except ValueError:
        raise InvalidInput("role must be 0 (admin) or 1 (member)", field="role") from None
