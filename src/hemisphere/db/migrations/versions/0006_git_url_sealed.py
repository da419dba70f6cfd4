"""credentials in a workspace's git URL are stored sealed, not in plain text

Existing URLs that carry credentials are sealed (and redacted) by the dc role when it starts
(WorkspaceService.seal_git_credentials): the seal key is not available to a migration.

Revision ID: 0006
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("git_url_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("git_url_sealed")
