"""The sites an upgrade walks, in rollout order, read from the install spec.

The site running the management console goes first (the policy lets DCs lag one release, never
lead), then the data centers in the order the spec lists them. Each site has a readiness URL:
`https://<site domain>/readyz` unless the operator names another one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hemisphere.topology import InstallSpec, load_spec


class Role(StrEnum):
    CONSOLE = "console"
    DC = "dc"
    BOTH = "console+dc"  # the one site of an air-gapped install


@dataclass(frozen=True)
class SiteTarget:
    name: str
    role: Role
    health_url: str

    @property
    def runs_console(self) -> bool:
        return self.role in (Role.CONSOLE, Role.BOTH)

    @property
    def runs_dc(self) -> bool:
        return self.role in (Role.DC, Role.BOTH)


def sites_from_spec(
    spec: InstallSpec, health_urls: dict[str, str] | None = None
) -> list[SiteTarget]:
    overrides = health_urls or {}
    console = spec.console_site
    targets: list[SiteTarget] = []
    if spec.central is not None:
        url = overrides.get(spec.central.name, f"https://{spec.central.domain}/readyz")
        targets.append(SiteTarget(spec.central.name, Role.CONSOLE, url))
    for dc in spec.datacenters:
        role = Role.BOTH if dc.name == console else Role.DC
        url = overrides.get(dc.name, f"https://{dc.domain}/readyz")
        targets.append(SiteTarget(dc.name, role, url))
    targets.sort(key=lambda t: 0 if t.runs_console else 1)
    return targets


def load_sites(spec_path: Path, health_urls: dict[str, str] | None = None) -> list[SiteTarget]:
    return sites_from_spec(load_spec(spec_path), health_urls)
