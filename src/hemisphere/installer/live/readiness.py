"""When is an applied object ready? Pure rules per kind, read from the object's status.

Kinds without a rule are ready once the API server accepted them. Custom resources are in that
group: their operator may not run yet (the installer cannot assume it), so `status` reports
their Ready condition when they have one instead of blocking apply on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Readiness", "check", "has_rule"]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str
    failed: bool = False  # cannot become ready without a change (e.g. Job failed)


def _conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    status = obj.get("status") or {}
    return {str(c.get("type")): c for c in status.get("conditions") or []}


def _generation_seen(obj: Obj) -> bool:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    return int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)


def _deployment(obj: Obj) -> Readiness:
    want = int((obj.get("spec") or {}).get("replicas", 1))
    status = obj.get("status") or {}
    available, updated = (
        int(status.get("availableReplicas") or 0),
        int(status.get("updatedReplicas") or 0),
    )
    progressing = _conditions(obj).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Readiness(False, f"progress deadline exceeded: {progressing.get('message')}", True)
    if not _generation_seen(obj):
        return Readiness(False, "controller has not seen the latest generation")
    if updated < want or available < want:
        return Readiness(False, f"{available}/{want} replicas available ({updated} updated)")
    return Readiness(True, f"{available}/{want} replicas available")


def _statefulset(obj: Obj) -> Readiness:
    want = int((obj.get("spec") or {}).get("replicas", 1))
    status = obj.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if not _generation_seen(obj):
        return Readiness(False, "controller has not seen the latest generation")
    if ready < want or updated < want:
        return Readiness(False, f"{ready}/{want} replicas ready ({updated} updated)")
    return Readiness(True, f"{ready}/{want} replicas ready")


def _daemonset(obj: Obj) -> Readiness:
    status = obj.get("status") or {}
    want = int(status.get("desiredNumberScheduled") or 0)
    ready = int(status.get("numberReady") or 0)
    if not _generation_seen(obj):
        return Readiness(False, "controller has not seen the latest generation")
    if ready < want:
        return Readiness(False, f"{ready}/{want} pods ready")
    return Readiness(True, f"{ready}/{want} pods ready")


def _job(obj: Obj) -> Readiness:
    conds = _conditions(obj)
    if (conds.get("Failed") or {}).get("status") == "True":
        return Readiness(False, f"job failed: {conds['Failed'].get('message')}", True)
    want = int((obj.get("spec") or {}).get("completions") or 1)
    done = int((obj.get("status") or {}).get("succeeded") or 0)
    if done < want:
        return Readiness(False, f"{done}/{want} completions")
    return Readiness(True, "complete")


def _crd(obj: Obj) -> Readiness:
    established = (_conditions(obj).get("Established") or {}).get("status") == "True"
    return Readiness(established, "established" if established else "not established yet")


def _namespace(obj: Obj) -> Readiness:
    phase = (obj.get("status") or {}).get("phase")
    return Readiness(phase == "Active", f"phase {phase}", phase == "Terminating")


def _pvc(obj: Obj) -> Readiness:
    phase = (obj.get("status") or {}).get("phase")
    # A claim on a WaitForFirstConsumer class stays Pending until a Pod uses it: not an error.
    return Readiness(phase in ("Bound", "Pending"), f"phase {phase}", phase == "Lost")


_RULES: dict[str, Callable[[Obj], Readiness]] = {
    "Deployment": _deployment,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Job": _job,
    "CustomResourceDefinition": _crd,
    "Namespace": _namespace,
    "PersistentVolumeClaim": _pvc,
}


def has_rule(kind: str) -> bool:
    return kind in _RULES


def check(obj: Obj) -> Readiness:
    rule = _RULES.get(str(obj.get("kind")))
    if rule is not None:
        return rule(obj)
    ready = _conditions(obj).get("Ready")
    if ready is not None:
        ok = ready.get("status") == "True"
        return Readiness(ok, str(ready.get("message") or ready.get("reason") or ready["status"]))
    return Readiness(True, "accepted")
