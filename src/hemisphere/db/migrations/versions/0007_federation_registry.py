"""data-center registry: cordon, agent version, refused agents; last status snapshot per DC

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datacenters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.String(length=50), nullable=True))
        batch_op.add_column(
            sa.Column("cordoned", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("cordoned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("last_rejected_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("last_rejected_reason", sa.String(length=200), nullable=True))
    op.create_table(
        "datacenter_snapshots",
        sa.Column("datacenter_id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("workspaces", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["datacenter_id"], ["datacenters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("datacenter_id"),
    )


def downgrade() -> None:
    op.drop_table("datacenter_snapshots")
    with op.batch_alter_table("datacenters", schema=None) as batch_op:
        batch_op.drop_column("last_rejected_reason")
        batch_op.drop_column("last_rejected_at")
        batch_op.drop_column("cordoned_at")
        batch_op.drop_column("cordoned")
        batch_op.drop_column("version")
