"""Commented starter specs for `hemisphere spec init --scenario NAME`.

A starter is valid as written (it passes `spec validate`), so a platform engineer edits working
YAML instead of filling in blanks: the comments say what each section means in their scenario.
What differs between scenarios comes from the scenario's row, never from its name.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from hemisphere.topology.scenarios import SCENARIOS, ScenarioName
from hemisphere.topology.schema import SCHEMA_ID

__all__ = ["starter_spec"]


@dataclass(frozen=True)
class _Place:
    name: str
    city: str
    country: str


_PLACES = (
    _Place("fra", "Frankfurt", "DE"),
    _Place("par", "Paris", "FR"),
    _Place("ams", "Amsterdam", "NL"),
    _Place("waw", "Warsaw", "PL"),
    _Place("mad", "Madrid", "ES"),
)


def _cidrs(site: int) -> tuple[str, str, str]:
    """Node, pod and service ranges of site number `site` (0 is the central site)."""
    return (f"10.{site}.0.0/18", f"10.{site}.64.0/18", f"10.{site}.128.0/18")


def _place(index: int) -> _Place:
    place = _PLACES[index % len(_PLACES)]
    if index < len(_PLACES):
        return place
    return _Place(f"{place.name}{index // len(_PLACES) + 1}", place.city, place.country)


def _central(name: ScenarioName) -> str:
    info = SCENARIOS[name]
    who = "the vendor" if info.central_operator == "vendor" else "you"
    if info.shared_database:
        db_note = (
            "# The ONE shared database: the console and every data center use it.\n"
            "  # It runs here (CloudNativePG) and is exposed so every DC can reach it; or use\n"
            "  # type: external with url + password_secret for a database in a trusted zone."
        )
        expose = "\n    expose:\n      host: db.example.com    # DNS name of its load balancer\n"
    else:
        db_note = (
            "# The console's own database (identity, DC registry, DC snapshots).\n"
            "  # Workspace metadata stays in each data center's database."
        )
        expose = "\n"
    control = ""
    if info.hosted_control_planes:
        control = (
            "  # One hosted Kubernetes control plane per data center runs in this cluster;\n"
            "  # the DCs' worker pools join it with expiring tokens.\n"
            "  control_planes:\n"
            "    provider: k0smotron          # or kamaji\n"
            "    kubernetes_version: v1.31.2\n"
            "    replicas: 1\n"
        )
    return (
        f"# The central site, operated by {who}: the management console"
        + (" and the hosted control planes" if info.hosted_control_planes else "")
        + ".\n"
        "central:\n"
        "  name: central\n"
        "  domain: console.example.com      # the console's URL\n"
        "  kubernetes:\n"
        "    kubeconfig: kubeconfigs/central.yaml   # relative to this file\n"
        "  network:\n"
        "    node_cidr: 10.0.0.0/18\n"
        "    pod_cidr: 10.0.64.0/18\n"
        "    service_cidr: 10.0.128.0/18\n"
        f"  {db_note}\n"
        "  database:\n"
        "    type: cloudnativepg\n"
        "    instances: 3\n"
        "    storage_size: 20Gi"
        f"{expose}"
        f"{control}"
    )


def _datacenter(name: ScenarioName, index: int) -> str:
    info = SCENARIOS[name]
    place = _place(index)
    nodes, pods, services = _cidrs(index + 1)
    lines = [
        f"  - id: {index + 1}",
        f"    name: {place.name}",
        f"    city: {place.city}",
        f"    country_code: {place.country}",
        f"    domain: {place.name}.example.com   # workspace API and *.{place.name}.example.com "
        "previews",
        "    kubernetes:",
        f"      kubeconfig: kubeconfigs/{place.name}.yaml"
        + (
            "   # written when its hosted control plane is up" if info.hosted_control_planes else ""
        ),
        "    network:",
        f"      node_cidr: {nodes}",
        f"      pod_cidr: {pods}",
        f"      service_cidr: {services}",
        "    storage:",
        "      ceph:                 # this DC's own Ceph cluster (never shared)",
        "        mon_count: 3",
        "        replicas: 3",
        "    runtime: kubernetes     # workspaces as pods; `local` uses bubblewrap sandboxes",
    ]
    if info.air_gapped:
        lines.insert(
            7,
            "    registry: registry.internal.example.com:5000   # your mirror "
            "(hemisphere bundle push)",
        )
    if not info.shared_database or info.air_gapped:
        lines += [
            "    database:               # "
            + ("the one database" if info.air_gapped else "this DC's own database"),
            "      type: cloudnativepg",
            "      instances: 3",
            "      storage_size: 20Gi",
        ]
    if info.hosted_control_planes:
        lines += [
            "    workers:                # your worker nodes, joining the hosted control plane",
            f"      pool: {place.name}-workers",
            "      nodes: 3",
            "      join_token_ttl: 24h",
        ]
    return "\n".join(lines) + "\n"


def starter_spec(name: ScenarioName, datacenters: int | None = None) -> str:
    """A commented, valid install spec for scenario `name` with `datacenters` DCs."""
    info = SCENARIOS[name]
    count = datacenters if datacenters is not None else (1 if info.max_datacenters == 1 else 3)
    if info.max_datacenters is not None:
        count = min(count, info.max_datacenters)
    count = max(min(count, 254), 1)
    head = (
        f"# yaml-language-server: $schema={SCHEMA_ID}\n"
        f"# Hemisphere install spec — scenario {info.number}: {info.title}.\n"
        + "".join(f"# {line}\n" for line in textwrap.wrap(info.summary, 96))
        + "# Check it with `hemisphere spec validate FILE`, read `hemisphere plan FILE`.\n"
        'version: "1.67.0"\n'
        f"scenario: {name}\n"
        "name: example\n"
    )
    body = _central(name) if info.central_site else ""
    dcs = "".join(_datacenter(name, i) for i in range(count))
    return head + body + "datacenters:\n" + dcs
