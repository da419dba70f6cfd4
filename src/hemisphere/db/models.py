"""The relational schema. Changing it means adding an Alembic revision in db/migrations/versions.

Ids are integers (the Codesphere wire contract), except organizations (UUID strings).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Ids that appear in URLs and audit entries are never reused after a delete: SQLite would
# otherwise hand a new team the id (and the audit history) of a deleted one.
_NO_REUSE = {"sqlite_autoincrement": True}


class User(Base):
    __tablename__ = "users"
    __table_args__ = _NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_cluster_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgMembership(Base):
    __tablename__ = "org_memberships"
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[int] = mapped_column(Integer)  # 0 admin, 1 member
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_team_org_name"),
        _NO_REUSE,
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    default_datacenter_id: Mapped[int] = mapped_column(ForeignKey("datacenters.id"))
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamMembership(Base):
    __tablename__ = "team_memberships"
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[int] = mapped_column(Integer)  # 0 admin, 1 member (Codesphere values)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = _NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="api")  # api | session
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class Datacenter(Base):
    __tablename__ = "datacenters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    city: Mapped[str] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(2))
    domain: Mapped[str] = mapped_column(String(253))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the DC's agent last said (issue 9): its version, and whether it is healthy.
    version: Mapped[str | None] = mapped_column(String(50), default=None)
    # Cordoned: no new workspaces land here; existing ones keep running.
    cordoned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    cordoned_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last agent that presented a wrong credential for this DC, and why it was refused.
    last_rejected_at: Mapped[datetime | None] = mapped_column(default=None)
    last_rejected_reason: Mapped[str | None] = mapped_column(String(200), default=None)


class DatacenterSnapshot(Base):
    """The last status a DC's agent pushed (one row per DC, replaced on each push): what the
    console shows, marked stale with its age, when the DC itself cannot be asked."""

    __tablename__ = "datacenter_snapshots"
    datacenter_id: Mapped[int] = mapped_column(
        ForeignKey("datacenters.id", ondelete="CASCADE"), primary_key=True
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # state -> number
    # [{id, name, teamId, state, planId, updatedAt}], the DC's workspaces when it pushed.
    workspaces: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class Plan(Base):
    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(50), unique=True)
    cpu: Mapped[float] = mapped_column(Float)  # cores
    ram_mib: Mapped[int] = mapped_column(Integer)
    storage_mib: Mapped[int] = mapped_column(Integer)
    temp_storage_mib: Mapped[int] = mapped_column(Integer)
    pids_max: Mapped[int] = mapped_column(Integer, default=512)
    price_usd: Mapped[float] = mapped_column(Float, default=0.0)
    max_replicas: Mapped[int] = mapped_column(Integer, default=1)
    on_demand: Mapped[bool] = mapped_column(Boolean, default=False)
    deprecated: Mapped[bool] = mapped_column(Boolean, default=False)


class BaseImage(Base):
    __tablename__ = "base_images"
    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    supported_until: Mapped[datetime] = mapped_column()


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (
        UniqueConstraint("team_id", "name", name="uq_workspace_team_name"),
        Index("ix_workspaces_dc_state", "datacenter_id", "state"),
        _NO_REUSE,
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    datacenter_id: Mapped[int] = mapped_column(ForeignKey("datacenters.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(63))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    base_image: Mapped[str] = mapped_column(String(50))
    is_private_repo: Mapped[bool] = mapped_column(Boolean, default=False)
    replicas: Mapped[int] = mapped_column(Integer, default=1)  # desired: 0 stopped, >=1 running
    restricted: Mapped[bool] = mapped_column(Boolean, default=True)
    # The URL as shown (credentials replaced by ***); the URL as given, sealed to this row, when
    # it carried credentials (workspaces/git_urls.py). Only the clone opens it.
    git_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    git_url_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    git_ref: Mapped[str | None] = mapped_column(String(255), default=None)
    initial_branch: Mapped[str | None] = mapped_column(String(255), default=None)
    source_workspace_id: Mapped[int | None] = mapped_column(Integer, default=None)
    welcome_message: Mapped[str | None] = mapped_column(String(1000), default=None)
    vpn_config: Mapped[str | None] = mapped_column(String(100), default=None)
    storage_mib: Mapped[int | None] = mapped_column(Integer, default=None)
    # Observed/lifecycle state written by the reconciler (and by the API for transitions).
    state: Mapped[str] = mapped_column(String(16), default="stopped")
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    provisioned: Mapped[bool] = mapped_column(Boolean, default=False)
    storage_used_mib: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WorkspaceEnvVar(Base):
    __tablename__ = "workspace_env_vars"
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value_sealed: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    actor_email: Mapped[str | None] = mapped_column(String(254), default=None)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64), default=None)
    team_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    trace_id: Mapped[str | None] = mapped_column(String(64), default=None)


class Domain(Base):
    """A team's custom domain, served by one data center's ingress (API §9).

    The name is unique across the installation: two teams cannot both route one host name.
    """

    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    datacenter_id: Mapped[int] = mapped_column(ForeignKey("datacenters.id"))
    # Published as the TXT record value; proves who asked for the domain.
    verification_token: Mapped[str] = mapped_column(String(100))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verification_reason: Mapped[str | None] = mapped_column(Text, default=None)
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    restricted: Mapped[bool] = mapped_column(Boolean, default=True)
    max_body_size_mb: Mapped[float | None] = mapped_column(Float, default=None)
    max_connection_timeout_s: Mapped[float | None] = mapped_column(Float, default=None)
    use_regex: Mapped[bool | None] = mapped_column(Boolean, default=None)
    config_revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainRoute(Base):
    """One path prefix (or regex) of a domain routed to one workspace; a path may fan out."""

    __tablename__ = "domain_routes"
    domain_id: Mapped[int] = mapped_column(
        ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class IdentityChange(Base):
    """One entry of the console's identity change feed (federation/feed.py serves it).

    Written by db/changefeed.py in the same transaction as the identity write it describes;
    `seq` is gap-free and in commit order, so a DC that applies seq N+1 after N has seen every
    change. The payload is the whole row, so a DC applies an entry without reading anything
    else.
    """

    __tablename__ = "identity_changes"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    op: Mapped[str] = mapped_column(String(8))  # upsert | delete
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReplicaCursor(Base):
    """A replica DC's position in the console's feed; advanced in the transaction that applies
    the entries, so each entry has its effect exactly once."""

    __tablename__ = "replica_cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # the console's, last seen
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DcLocalToken(Base):
    """A login token issued by a replica DC from replicated credentials: valid at that DC only
    and never sent to the console (the api_tokens table belongs to the feed)."""

    __tablename__ = "dc_local_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
