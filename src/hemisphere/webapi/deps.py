"""Dependencies shared by the roles' routers: a transactional DB session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.engine import Database


def db_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    async with db_of(request).transaction() as s:
        yield s


# scope="function": commit before the response is sent, so a failed commit is an error response
# and a client that reads right after a write sees it.
DbSession = Annotated[AsyncSession, Depends(_transaction, scope="function")]


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
