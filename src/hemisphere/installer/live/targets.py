"""From an install spec and its rendered manifests to the per-site targets the engine runs on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hemisphere.installer.live.engine import SiteTarget
from hemisphere.installer.live.kubeconfig import load_kubeconfig
from hemisphere.topology import InstallSpec

__all__ = ["site_targets"]


def site_targets(
    spec: InstallSpec,
    rendered: Mapping[str, Sequence[Mapping[str, Any]]],
    only: Sequence[str] = (),
) -> list[SiteTarget]:
    """One target per site (central first), reading each site's kubeconfig/context.

    `only` limits the sites (by name); an unknown name raises KeyError with the known ones.
    """
    unknown = [name for name in only if name not in spec.site_names]
    if unknown:
        raise KeyError(
            f"no site named {', '.join(unknown)}; sites are {', '.join(spec.site_names)}"
        )
    targets: list[SiteTarget] = []
    for site in spec.sites:
        if only and site.name not in only:
            continue
        access = load_kubeconfig(site.kubernetes.kubeconfig, site.kubernetes.context)
        targets.append(SiteTarget(site.name, access, list(rendered.get(site.name, []))))
    return targets
