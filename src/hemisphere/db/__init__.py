"""Persistence: SQLAlchemy 2 models, async engine/session factory and Alembic migrations.

SQLite is the embedded default; PostgreSQL is selected by URL. Nothing above this package writes
SQL dialect specifics.
"""

from hemisphere.db.engine import Database, to_async_url, to_sync_url
from hemisphere.db.migrate import downgrade, upgrade_to_head

__all__ = ["Database", "downgrade", "to_async_url", "to_sync_url", "upgrade_to_head"]
