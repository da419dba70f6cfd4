"""custom domains and their workspace routes (organization members use org_memberships)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 19:45:31.765681
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("datacenter_id", sa.Integer(), nullable=False),
        sa.Column("verification_token", sa.String(length=100), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("verification_reason", sa.Text(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("max_body_size_mb", sa.Float(), nullable=True),
        sa.Column("max_connection_timeout_s", sa.Float(), nullable=True),
        sa.Column("use_regex", sa.Boolean(), nullable=True),
        sa.Column("config_revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datacenter_id"],
            ["datacenters.id"],
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domains_team_id"), ["team_id"], unique=False)

    op.create_table(
        "domain_routes",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["domain_id"], ["domains.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("domain_id", "path", "workspace_id"),
    )
    with op.batch_alter_table("domain_routes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domain_routes_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("domain_routes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_routes_workspace_id"))

    op.drop_table("domain_routes")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domains_team_id"))

    op.drop_table("domains")
