"""Who is calling, and the narrow identity interface the dc role depends on (ARCHITECTURE §2, §3).

The dc role never reads identity tables directly: it asks an `IdentityReader`. In shared-DB
topologies that is `DatabaseIdentity` over the one database; federation backs it with a replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class TeamRole(IntEnum):
    """Codesphere's wire values: 0 = Admin, 1 = Member."""

    ADMIN = 0
    MEMBER = 1


@dataclass(frozen=True)
class Principal:
    user_id: int
    email: str
    name: str
    is_cluster_admin: bool = False
    token_kind: str = "api"


class IdentityReader(Protocol):
    async def principal_for_token(self, token: str) -> Principal:
        """The caller behind a bearer token; raises `InvalidCredentials`."""
        ...

    async def principal_for_user(self, user_id: int) -> Principal:
        """The user a verified console-signed assertion names; raises `InvalidCredentials`
        when that user does not exist (here) or is disabled."""
        ...

    async def team_role(self, user_id: int, team_id: int) -> TeamRole | None:
        """The user's role in the team, or None when not a member."""
        ...
