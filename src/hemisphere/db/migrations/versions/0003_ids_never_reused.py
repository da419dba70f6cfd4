"""ids of users, teams, workspaces and tokens are never reused (SQLite AUTOINCREMENT)

PostgreSQL sequences never hand out an id twice; SQLite's rowid does after a delete, which let a
new team inherit the id, links and audit history of a deleted one. SQLite can only change this by
rebuilding the table, which batch mode does (foreign keys are off during migrations).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("users", "teams", "workspaces", "api_tokens")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
