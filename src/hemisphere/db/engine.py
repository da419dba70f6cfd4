"""The async engine and session factory, and the URL forms each driver needs.

Users give one URL (`sqlite:///path` or `postgresql://user@host/db`); the app needs the async
driver (aiosqlite / psycopg async) and Alembic the sync one.

An SQLite database file holds password hashes, sealed secrets and token hashes: it is made 0600
before anything opens it (SQLite gives its -wal and -shm files the database file's mode), and an
existing one is brought back to 0600 (issue 10).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hemisphere.db.changefeed import FeedSession


def to_async_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False))
    if u.get_backend_name() == "postgresql":
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL scheme {u.drivername!r}: use sqlite:/// or postgresql://"
    )


def to_sync_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.set(drivername="sqlite").render_as_string(hide_password=False)
    if u.get_backend_name() == "postgresql":
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL scheme {u.drivername!r}: use sqlite:/// or postgresql://"
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file of `url` (if it is one) readable by this user only, or make an
    existing one so, with its -wal/-shm/-journal companions. Other URLs: nothing to do."""
    u = make_url(url)
    database = u.database or ""
    if u.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if database.startswith("file:") or u.query.get("mode") == "memory":
        return  # SQLite URI filenames: the user chose the file's handling
    try:
        fd = os.open(database, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        return  # no such directory: SQLite itself reports that, with the path
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(database + suffix, 0o600)


class Database:
    """Owns the engine; hands out sessions. One per process and database."""

    def __init__(self, url: str, *, pool_timeout_s: float = 5.0) -> None:
        self.url = url
        async_url = to_async_url(url)
        private_sqlite_file(url)
        kwargs: dict[str, Any] = {}
        if async_url.startswith("postgresql"):
            kwargs = {
                "pool_pre_ping": True,
                "pool_timeout": pool_timeout_s,
                "connect_args": {"connect_timeout": 3},
            }
        self.engine: AsyncEngine = create_async_engine(async_url, **kwargs)
        if async_url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # FeedSession: identity writes land in the change feed, whoever makes them.
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=FeedSession
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as s:
            yield s

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits at the end of the block, or rolls back on error."""
        async with self.sessions() as s, s.begin():
            yield s

    async def dispose(self) -> None:
        await self.engine.dispose()
