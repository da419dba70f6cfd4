"""The audit trail: who did what, written in the same transaction as the change it records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import AuditEvent


async def record(
    s: AsyncSession,
    *,
    actor_user_id: int | None,
    actor_email: str | None,
    action: str,
    target_type: str,
    target_id: object = None,
    team_id: int | None = None,
    detail: dict[str, Any] | None = None,
    trace_id: str | None = None,
) -> None:
    s.add(
        AuditEvent(
            actor_user_id=actor_user_id,
            actor_email=actor_email,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            team_id=team_id,
            detail=detail or {},
            trace_id=trace_id,
        )
    )
    await s.flush()


async def events(
    s: AsyncSession, *, team_ids: list[int] | None, limit: int, before_id: int | None
) -> list[AuditEvent]:
    """Newest first. `team_ids=None` means every event (cluster admins)."""
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if team_ids is not None:
        q = q.where(AuditEvent.team_id.in_(team_ids))
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    return list((await s.scalars(q)).all())
