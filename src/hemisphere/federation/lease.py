"""A data center's health as the console sees it: a lease renewed by heartbeats.

The agent beats every `DEFAULT_HEARTBEAT_INTERVAL` (2.5 s) and the lease is `DEFAULT_LEASE`
(10 s): a DC is Unknown within 10 s of silence, and three beats in a row may be late or lost
before it is — so WAN jitter of a few hundred milliseconds never raises a false alarm. Only the
console's own clock is read (the time it *received* each beat), so clock skew between sites
changes nothing. A cordoned DC is shown as Cordoned whatever its lease says; its lease health is
reported beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

DEFAULT_LEASE = timedelta(seconds=10)
DEFAULT_HEARTBEAT_INTERVAL_S = 2.5


class DcHealth(StrEnum):
    READY = "Ready"
    UNKNOWN = "Unknown"  # the lease expired: cut off, down, or its agent is
    NEVER_SEEN = "NeverSeen"


class DcStatus(StrEnum):
    """What the registry shows: the lease's health, unless an admin cordoned the DC."""

    READY = "Ready"
    UNKNOWN = "Unknown"
    NEVER_SEEN = "NeverSeen"
    CORDONED = "Cordoned"


def dc_health(
    last_heartbeat: datetime | None, now: datetime, lease: timedelta = DEFAULT_LEASE
) -> DcHealth:
    if last_heartbeat is None:
        return DcHealth.NEVER_SEEN
    return DcHealth.READY if now - _utc(last_heartbeat) <= lease else DcHealth.UNKNOWN


def dc_status(
    last_heartbeat: datetime | None,
    now: datetime,
    *,
    cordoned: bool,
    lease: timedelta = DEFAULT_LEASE,
) -> DcStatus:
    if cordoned:
        return DcStatus.CORDONED
    return DcStatus(dc_health(last_heartbeat, now, lease).value)


def age_seconds(at: datetime | None, now: datetime) -> float | None:
    """How long ago `at` was, never negative (a beat stamped by a faster clock reads as 0)."""
    if at is None:
        return None
    return max(0.0, round((now - _utc(at)).total_seconds(), 1))


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
