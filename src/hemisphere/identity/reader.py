"""`IdentityReader` over the shared database (topologies with one database)."""

from __future__ import annotations

from hemisphere.db.engine import Database
from hemisphere.identity import service
from hemisphere.identity.principal import Principal, TeamRole
from hemisphere.identity.replica import principal_for_user


class DatabaseIdentity:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def principal_for_token(self, token: str) -> Principal:
        async with self._db.session() as s:
            return await service.resolve_token(s, token)

    async def principal_for_user(self, user_id: int) -> Principal:
        """The user a console-signed assertion names (webapi/auth.py verified it)."""
        async with self._db.session() as s:
            return await principal_for_user(s, user_id)

    async def team_role(self, user_id: int, team_id: int) -> TeamRole | None:
        async with self._db.session() as s:
            return await service.team_role(s, user_id, team_id)
