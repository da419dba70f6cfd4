"""A data center's health as the console sees it: a lease renewed by heartbeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

DEFAULT_LEASE = timedelta(seconds=30)


class DcHealth(StrEnum):
    HEALTHY = "Healthy"
    UNKNOWN = "Unknown"  # the lease expired: cut off, down, or its agent is
    NEVER_SEEN = "NeverSeen"


def dc_health(
    last_heartbeat: datetime | None, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> DcHealth:
    if last_heartbeat is None:
        return DcHealth.NEVER_SEEN
    if last_heartbeat.tzinfo is None:
        last_heartbeat = last_heartbeat.replace(tzinfo=UTC)
    return DcHealth.HEALTHY if now - last_heartbeat <= lease else DcHealth.UNKNOWN
