"""Minimal CustomResourceDefinitions for the operator kinds the renderer emits.

The real CRDs ship with the operators (CloudNativePG, Rook, k0smotron, Kamaji), which the
installer cannot fetch in an air-gapped site. These minimal versions (`crds/*.yaml`) declare
the documented top-level fields with their types and keep unknown fields, so the API server
accepts and stores every object we render; when an operator is installed later its full CRD
replaces them. The installer applies them first, and only for kinds the cluster does not serve
yet; a CRD that exists without Hemisphere's label (installed by the operator) is never touched.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["bundled_crd_for", "bundled_crds"]


@cache
def bundled_crds() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    folder = resources.files("hemisphere.installer.live") / "crds"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(entry.read_text()) if d)
    return tuple(docs)


def bundled_crd_for(api_version: str, kind: str) -> dict[str, Any] | None:
    """The bundled CRD serving apiVersion/kind, if any."""
    group, _, version = api_version.partition("/")
    for crd in bundled_crds():
        spec = crd["spec"]
        if (
            spec["group"] == group
            and spec["names"]["kind"] == kind
            and any(v["name"] == version for v in spec["versions"])
        ):
            return crd
    return None
