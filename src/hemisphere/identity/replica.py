"""`IdentityReader` of a replica DC (2B): identity tables replicated from the console's feed,
plus login tokens this DC issued itself.

A user can log in at a cut-off DC (the argon2 hashes are replicated); the token it gets is
DC-local (`hsd_` prefix, table `dc_local_tokens`, 12 h): valid at this DC only, never written to
the replicated `api_tokens` table (which the feed owns) and never sent back to the console.
Console-issued API tokens work here as soon as their feed entry arrived; revocation and
disabling a user take effect when theirs does.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.engine import Database
from hemisphere.db.models import DcLocalToken, User
from hemisphere.identity import service
from hemisphere.identity.errors import InvalidCredentials
from hemisphere.identity.principal import Principal, TeamRole
from hemisphere.identity.secrets import hash_token

__all__ = ["LOCAL_TOKEN_PREFIX", "LOCAL_TOKEN_TTL", "ReplicaIdentity", "issue_local_token"]

LOCAL_TOKEN_PREFIX = "hsd_"
LOCAL_TOKEN_TTL = timedelta(hours=12)


async def issue_local_token(s: AsyncSession, user: User) -> tuple[DcLocalToken, str]:
    plaintext = LOCAL_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = DcLocalToken(
        user_id=user.id,
        token_hash=hash_token(plaintext),
        prefix=plaintext[:12],
        expires_at=datetime.now(UTC) + LOCAL_TOKEN_TTL,
    )
    s.add(row)
    await s.flush()
    return row, plaintext


async def principal_for_user(s: AsyncSession, user_id: int) -> Principal:
    user = await s.get(User, user_id)
    if user is None or user.disabled:
        raise InvalidCredentials("the asserted user does not exist here or is disabled")
    return service.principal_of(user, "assertion")


class ReplicaIdentity:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def principal_for_token(self, token: str) -> Principal:
        async with self._db.session() as s:
            if not token.startswith(LOCAL_TOKEN_PREFIX):
                return await service.resolve_token(s, token)
            row = await s.scalar(
                select(DcLocalToken).where(DcLocalToken.token_hash == hash_token(token))
            )
            if row is None:
                raise InvalidCredentials("the token is not valid at this data center")
            expires = (
                row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
            )
            if expires < datetime.now(UTC):
                raise InvalidCredentials("the token has expired; log in again")
            user = await s.get(User, row.user_id)
            if user is None or user.disabled:
                raise InvalidCredentials("the token's user is disabled")
            return service.principal_of(user, "session")

    async def principal_for_user(self, user_id: int) -> Principal:
        async with self._db.session() as s:
            return await principal_for_user(s, user_id)

    async def team_role(self, user_id: int, team_id: int) -> TeamRole | None:
        async with self._db.session() as s:
            return await service.team_role(s, user_id, team_id)
