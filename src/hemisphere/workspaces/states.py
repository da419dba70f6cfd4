"""The workspace lifecycle (ARCHITECTURE §4) and the pure reconcile planner.

    stopped → starting → running → stopping → stopped,   any → deleting → (gone),   any → failed

`plan` compares what the database wants with what the runtime observes and returns the actions
that move one step closer. It does no I/O, so every crash point is just "plan again".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from hemisphere.workspaces.runtime.base import Observed, ObservedPhase


class State(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    DELETING = "deleting"
    FAILED = "failed"


@dataclass(frozen=True)
class Desired:
    """What the DB says about one workspace of this data center."""

    workspace_id: int
    replicas: int
    state: State
    provisioned: bool
    reason: str | None = None


class ActionKind(StrEnum):
    PROVISION = "provision"
    START = "start"
    STOP = "stop"
    REMOVE = "remove"  # sandbox + storage of a workspace being deleted
    STOP_ORPHAN = "stop_orphan"  # runtime holds a sandbox no DB row explains: stop, keep data
    RECORD = "record"  # write state (and reason) to the DB
    FORGET = "forget"  # delete the DB row (after storage is gone)


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    workspace_id: int
    state: State | None = None
    reason: str | None = None


def plan(desired: Iterable[Desired], observed: Mapping[int, Observed]) -> list[Action]:
    actions: list[Action] = []
    seen: set[int] = set()
    for d in desired:
        seen.add(d.workspace_id)
        actions.extend(_plan_one(d, observed.get(d.workspace_id)))
    # Orphans only arise when the database lost rows behind our back (restored backup, wrong
    # URL); deleting their data would turn a config mistake into data loss, so stop only.
    for wid in sorted(set(observed) - seen):
        if observed[wid].phase != ObservedPhase.STOPPED:
            actions.append(Action(ActionKind.STOP_ORPHAN, wid))
    return actions


def _record(d: Desired, state: State, reason: str | None = None) -> list[Action]:
    if d.state == state and d.reason == reason:
        return []
    return [Action(ActionKind.RECORD, d.workspace_id, state, reason)]


def _plan_one(d: Desired, obs: Observed | None) -> list[Action]:
    wid = d.workspace_id
    phase = obs.phase if obs else None

    if d.state == State.DELETING:
        if obs is None:
            return [Action(ActionKind.FORGET, wid)]
        return [Action(ActionKind.REMOVE, wid)]

    if d.replicas >= 1:
        if d.state == State.FAILED and phase != ObservedPhase.RUNNING:
            return []  # stays failed until the user asks again (PATCH replicas clears it)
        if not d.provisioned or obs is None:
            # Storage missing (never provisioned, or lost): provision, then start right away
            # (a failed provision ends the list; the next pass plans again).
            return [
                *_record(d, State.STARTING),
                Action(ActionKind.PROVISION, wid),
                Action(ActionKind.START, wid),
            ]
        if phase == ObservedPhase.RUNNING:
            return _record(d, State.RUNNING)
        if phase == ObservedPhase.FAILED:
            return [
                *_record(d, State.STARTING),
                Action(ActionKind.STOP, wid),
                Action(ActionKind.START, wid),
            ]
        if phase == ObservedPhase.STARTING:
            return _record(d, State.STARTING)
        return [*_record(d, State.STARTING), Action(ActionKind.START, wid)]

    # replicas == 0: want it stopped (storage kept).
    if phase in (ObservedPhase.RUNNING, ObservedPhase.STARTING, ObservedPhase.FAILED):
        return [*_record(d, State.STOPPING), Action(ActionKind.STOP, wid)]
    if d.state == State.FAILED:
        return []
    return _record(d, State.STOPPED)
