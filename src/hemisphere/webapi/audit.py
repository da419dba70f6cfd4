"""Recording an audit event for the request being handled (who, what, trace ID)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.identity.principal import Principal
from hemisphere.observability import audit
from hemisphere.webapi.problems import trace_id_of


async def audit_event(
    s: AsyncSession,
    request: Request,
    who: Principal | None,
    action: str,
    target_type: str,
    target_id: object = None,
    team_id: int | None = None,
    **detail: object,
) -> None:
    await audit.record(
        s,
        actor_user_id=who.user_id if who else None,
        actor_email=who.email if who else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        team_id=team_id,
        detail=dict(detail),
        trace_id=trace_id_of(request),
    )
