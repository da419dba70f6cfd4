"""Progress events the live operations emit; the CLI turns them into a Rich display.

Keeping them as plain data keeps Rich (and any terminal handling) out of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Action", "Event", "EventSink", "Step", "ignore_events"]


class Step(StrEnum):
    SITE_STARTED = "site-started"  # total = number of objects
    PHASE_STARTED = "phase-started"
    OBJECT = "object"  # one object applied/deleted; action says how
    WAITING = "waiting"  # readiness wait of the phase begins (total = objects waited on)
    READY = "ready"  # one object became ready
    PHASE_DONE = "phase-done"
    SITE_DONE = "site-done"
    SITE_FAILED = "site-failed"


class Action(StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    ADOPTED = "adopted"  # existed before Hemisphere: applied, never deleted by uninstall
    KEPT = "kept"  # a CRD some operator installed: left as it is
    DELETED = "deleted"
    ABSENT = "absent"  # uninstall: already gone
    NOT_OURS = "not-ours"  # uninstall: exists but Hemisphere did not create it


@dataclass(frozen=True)
class Event:
    site: str
    step: Step
    phase: str = ""
    obj: str = ""
    action: Action | None = None
    message: str = ""
    total: int = 0


EventSink = Callable[[Event], None]


def ignore_events(_: Event) -> None:
    """An EventSink that drops everything."""
