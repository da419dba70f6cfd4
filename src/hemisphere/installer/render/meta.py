"""Object skeletons: the labels and annotations every rendered object carries.

`managed-by` and `site` let `apply`, `status` and `uninstall` find exactly what Hemisphere created;
the phase annotation tells `apply` when to send the object (infra → dependencies → platform).
"""

from __future__ import annotations

from typing import Any, Literal

from hemisphere.topology import NAMESPACE

__all__ = [
    "MANAGED_BY",
    "PHASES",
    "PHASE_ANNOTATION",
    "SITE_LABEL",
    "Manifest",
    "Phase",
    "make",
    "selector_labels",
]

Manifest = dict[str, Any]
Phase = Literal["infra", "dependencies", "platform"]
PHASES: tuple[Phase, ...] = ("infra", "dependencies", "platform")

MANAGED_BY = "hemisphere"
SITE_LABEL = "hemisphere.dev/site"
PHASE_ANNOTATION = "hemisphere.dev/phase"


def selector_labels(component: str) -> dict[str, str]:
    """The labels a Service or NetworkPolicy selects a component's pods by."""
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": "hemisphere"}


def make(
    api_version: str,
    kind: str,
    name: str,
    *,
    site: str,
    phase: Phase,
    component: str,
    namespaced: bool = True,
    annotations: dict[str, str] | None = None,
    **body: Any,
) -> Manifest:
    """A manifest with Hemisphere's metadata; `body` holds `spec`, `data` and the like."""
    labels = {
        **selector_labels(component),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        SITE_LABEL: site,
    }
    metadata: dict[str, Any] = {"name": name}
    if namespaced:
        metadata["namespace"] = NAMESPACE
    metadata["labels"] = labels
    metadata["annotations"] = {PHASE_ANNOTATION: phase, **(annotations or {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}
