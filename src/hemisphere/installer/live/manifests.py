"""Pure facts about rendered manifests: identity, phase, apply order, ownership labels, and the
projection used to compare desired with live objects. No I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "PHASES",
    "PHASE_ANNOTATION",
    "SITE_LABEL",
    "ObjRef",
    "apply_order",
    "is_builtin",
    "is_managed",
    "owned_copy",
    "phase_of",
    "project",
    "ref_of",
]

Obj = dict[str, Any]

PHASES = ("infra", "dependencies", "platform")
PHASE_ANNOTATION = "hemisphere.dev/phase"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "hemisphere"
SITE_LABEL = "hemisphere.dev/site"

_KIND_ORDER = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "StorageClass": 3,
    "IngressClass": 3,
    "ServiceAccount": 4,
    "ClusterRole": 5,
    "Role": 5,
    "ClusterRoleBinding": 6,
    "RoleBinding": 6,
    "Secret": 7,
    "ConfigMap": 7,
    "ResourceQuota": 7,
    "LimitRange": 7,
    "PersistentVolumeClaim": 8,
    "Service": 9,
    "NetworkPolicy": 9,
    "Deployment": 10,
    "StatefulSet": 10,
    "DaemonSet": 10,
    "Job": 10,
    "CronJob": 10,
    "Ingress": 11,
    "PodDisruptionBudget": 11,
}
_BUILTIN_GROUPS = frozenset(
    {
        "v1",
        "apps",
        "batch",
        "rbac.authorization.k8s.io",
        "networking.k8s.io",
        "storage.k8s.io",
        "policy",
        "scheduling.k8s.io",
        "apiextensions.k8s.io",
        "autoscaling",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "admissionregistration.k8s.io",
        "certificates.k8s.io",
        "node.k8s.io",
    }
)


@dataclass(frozen=True, order=True)
class ObjRef:
    """The identity of one object in one cluster."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def ref_of(obj: Mapping[str, Any]) -> ObjRef:
    meta = obj.get("metadata") or {}
    return ObjRef(
        str(obj.get("apiVersion")),
        str(obj.get("kind")),
        str(meta.get("namespace") or ""),
        str(meta.get("name")),
    )


def is_builtin(api_version: str) -> bool:
    group = api_version.split("/")[0] if "/" in api_version else "v1"
    return group in _BUILTIN_GROUPS


def phase_of(obj: Mapping[str, Any]) -> str:
    """The apply phase: annotation `hemisphere.dev/phase`, else by kind (namespaces, CRDs,
    storage classes and RBAC are infra; everything else is platform)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    phase = annotations.get(PHASE_ANNOTATION)
    if phase in PHASES:
        return str(phase)
    if phase is not None:
        raise ValueError(
            f"{ref_of(obj)}: annotation {PHASE_ANNOTATION}={phase!r} is not one of "
            f"{', '.join(PHASES)}"
        )
    return "infra" if _KIND_ORDER.get(str(obj.get("kind")), 99) <= 6 else "platform"


def apply_order(objs: Iterable[Obj]) -> list[Obj]:
    """Stable order inside one phase: namespaces, CRDs, RBAC, config, storage, workloads, CRs."""
    return sorted(objs, key=lambda o: _KIND_ORDER.get(str(o.get("kind")), 12))


def is_managed(live: Mapping[str, Any] | None) -> bool:
    labels = ((live or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE


def owned_copy(obj: Mapping[str, Any], site: str, *, adopt: bool) -> Obj:
    """What Hemisphere applies: the manifest with the ownership labels, or, for an object that
    existed before Hemisphere (adopt=True), without them, so uninstall leaves it alone."""
    out: Obj = _drop_empty_lists(copy.deepcopy(dict(obj)))
    labels = out.setdefault("metadata", {}).setdefault("labels", {})
    if adopt:
        labels.pop(MANAGED_BY_LABEL, None)
        labels.pop(SITE_LABEL, None)
        if not labels:
            out["metadata"].pop("labels")
    else:
        labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
        labels.setdefault(SITE_LABEL, site)
    return out


def _drop_empty_lists(value: Any) -> Any:
    """Remove `key: []` entries. The API server stores an empty list as absent (Go omitempty),
    so applying `[]` re-claims the field on every server-side apply and bumps resourceVersion
    each time; absent and empty mean the same to every built-in kind."""
    if isinstance(value, dict):
        return {k: _drop_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_drop_empty_lists(v) for v in value]
    return value


def project(desired: Any, live: Any) -> Any:
    """The part of `live` that `desired` specifies (same shape as desired). Lists of maps are
    matched by position; a missing live value projects to None."""
    if isinstance(desired, Mapping):
        live_map = live if isinstance(live, Mapping) else {}
        return {k: project(v, live_map.get(k)) for k, v in desired.items()}
    if isinstance(desired, list):
        live_list = live if isinstance(live, list) else []
        projected = [
            project(d, live_list[i] if i < len(live_list) else None) for i, d in enumerate(desired)
        ]
        return projected + live_list[len(desired) :]
    return live


def normalize_quantities(value: Any) -> Any:
    """Numbers and strings compare as strings (the API server may turn 1 into "1")."""
    if isinstance(value, Mapping):
        return {k: normalize_quantities(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_quantities(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return str(value)
    return value
