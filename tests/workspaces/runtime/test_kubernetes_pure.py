"""The Kubernetes runtime's pure mapping: Pod status -> observed phase and reason, and the
/proc/net/tcp parser used for listening ports. No cluster needed."""

from __future__ import annotations

from typing import Any

import pytest

from hemisphere.workspaces.runtime.base import ObservedPhase
from hemisphere.workspaces.runtime.kubernetes import observe_pod, parse_listening


def _pod(phase: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "ws-1"}, "status": {"phase": phase, **status}}


@pytest.mark.parametrize(
    ("pod", "phase", "reason"),
    [
        (_pod("Running", conditions=[{"type": "Ready", "status": "True"}]),
         ObservedPhase.RUNNING, None),
        (_pod("Running", conditions=[{"type": "Ready", "status": "False"}]),
         ObservedPhase.STARTING, "container not ready"),
        (_pod("Pending", conditions=[{"type": "PodScheduled", "status": "False",
              "reason": "Unschedulable", "message": "0/2 nodes are available"}]),
         ObservedPhase.STARTING, "Unschedulable: 0/2 nodes are available"),
        (_pod("Pending", containerStatuses=[{"state": {"waiting": {
              "reason": "ImagePullBackOff", "message": "pull access denied"}}}]),
         ObservedPhase.FAILED, "ImagePullBackOff: pull access denied"),
        (_pod("Running", containerStatuses=[{"state": {"waiting": {
              "reason": "CrashLoopBackOff"}}}]),
         ObservedPhase.FAILED, "CrashLoopBackOff"),
        (_pod("Failed", reason="Evicted"), ObservedPhase.FAILED, "pod failed: Evicted"),
        (_pod("Succeeded", containerStatuses=[{"state": {"terminated": {
              "reason": "Completed", "exitCode": 0}}}]),
         ObservedPhase.FAILED, "pod succeeded: Completed (exit code 0)"),
        ({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}},
         ObservedPhase.STOPPED, "stopping"),
    ],
)  # fmt: skip
def test_pod_status_maps_to_observed_phase(
    pod: dict[str, Any], phase: ObservedPhase, reason: str | None
) -> None:
    assert observe_pod(pod) == (phase, reason)


def test_listening_ports_from_proc_net_tcp() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 00000000:0BB8 00000000:0000 0A 00000000:00000000\n"  # 3000 LISTEN
        "   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000\n"  # 8080 ESTABLISHED
        "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A\n"
    )
    assert parse_listening(text) == [3000, 8080]
