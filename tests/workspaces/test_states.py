"""The pure reconcile planner: desired + observed in, actions out."""

from __future__ import annotations

import pytest

from hemisphere.workspaces.runtime.base import Observed, ObservedPhase
from hemisphere.workspaces.states import Action, ActionKind, Desired, State, plan

RUNNING = ObservedPhase.RUNNING
STOPPED = ObservedPhase.STOPPED
STARTING = ObservedPhase.STARTING
FAILED = ObservedPhase.FAILED
A = ActionKind


def _plan(d: Desired, phase: ObservedPhase | None) -> list[tuple[ActionKind, State | None]]:
    observed = {} if phase is None else {d.workspace_id: Observed(d.workspace_id, phase)}
    return [(a.kind, a.state) for a in plan([d], observed)]


@pytest.mark.parametrize(
    ("desired", "phase", "expected"),
    [
        # want running
        (Desired(1, 1, State.STARTING, False), None, [(A.PROVISION, None), (A.START, None)]),
        (Desired(1, 1, State.STOPPED, False), None,
         [(A.RECORD, State.STARTING), (A.PROVISION, None), (A.START, None)]),
        (Desired(1, 1, State.STARTING, True), None, [(A.PROVISION, None), (A.START, None)]),  # storage lost
        (Desired(1, 1, State.STARTING, True), STOPPED, [(A.START, None)]),
        (Desired(1, 1, State.STARTING, True), STARTING, []),
        (Desired(1, 1, State.STARTING, True), RUNNING, [(A.RECORD, State.RUNNING)]),
        (Desired(1, 1, State.RUNNING, True), RUNNING, []),
        (Desired(1, 1, State.RUNNING, True), STOPPED, [(A.RECORD, State.STARTING), (A.START, None)]),
        (Desired(1, 1, State.RUNNING, True), FAILED,
         [(A.RECORD, State.STARTING), (A.STOP, None), (A.START, None)]),
        (Desired(1, 1, State.FAILED, True, "clone failed"), STOPPED, []),
        # want stopped
        (Desired(1, 0, State.RUNNING, True), RUNNING, [(A.RECORD, State.STOPPING), (A.STOP, None)]),
        (Desired(1, 0, State.STOPPING, True), RUNNING, [(A.STOP, None)]),
        (Desired(1, 0, State.STOPPING, True), STOPPED, [(A.RECORD, State.STOPPED)]),
        (Desired(1, 0, State.STOPPED, False), None, []),
        (Desired(1, 0, State.STOPPED, True), STOPPED, []),
        # deleting
        (Desired(1, 0, State.DELETING, True), RUNNING, [(A.REMOVE, None)]),
        (Desired(1, 0, State.DELETING, True), STOPPED, [(A.REMOVE, None)]),
        (Desired(1, 0, State.DELETING, False), None, [(A.FORGET, None)]),
    ],
)  # fmt: skip
def test_plan_one_workspace(
    desired: Desired, phase: ObservedPhase | None, expected: list[tuple[ActionKind, State | None]]
) -> None:
    assert _plan(desired, phase) == expected


def test_converged_state_plans_nothing() -> None:
    desired = [Desired(1, 1, State.RUNNING, True), Desired(2, 0, State.STOPPED, True)]
    observed = {1: Observed(1, RUNNING), 2: Observed(2, STOPPED)}
    assert plan(desired, observed) == []


def test_orphans_are_stopped_but_their_data_is_kept() -> None:
    observed = {5: Observed(5, RUNNING), 6: Observed(6, STOPPED)}
    assert plan([], observed) == [Action(ActionKind.STOP_ORPHAN, 5)]


def test_each_workspace_is_planned_on_its_own() -> None:
    desired = [Desired(i, i % 2, State.STOPPED, False) for i in range(1, 7)]
    actions = plan(desired, {})
    assert plan(desired, {}) == actions  # deterministic
    assert {a.workspace_id for a in actions if a.kind is ActionKind.PROVISION} == {1, 3, 5}
    assert {a.workspace_id for a in actions if a.kind is ActionKind.START} == {1, 3, 5}
    assert {a.workspace_id for a in actions} == {1, 3, 5}  # stopped ones need nothing
