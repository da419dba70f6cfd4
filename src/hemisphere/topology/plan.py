"""The plan summary: what runs where, which links cross a WAN, and what breaks if one is cut.

`summarize(spec)` is pure data for `hemisphere plan` to print: the sites, where each component
runs, which database each DC uses, every link that leaves a site, and the scenario's pros and
cons restated with the installation's own names (the seed's trade-offs made concrete).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from hemisphere.topology.scenarios import Point, Scenario
from hemisphere.topology.sites import (
    CentralSite,
    CloudNativePGDatabase,
    Datacenter,
    ExternalDatabase,
)
from hemisphere.topology.spec import DatabaseAssignment, InstallSpec

__all__ = [
    "ComponentPlacement",
    "DatabaseRow",
    "Link",
    "PlanSummary",
    "SiteRow",
    "TradeOff",
    "summarize",
]


@dataclass(frozen=True)
class SiteRow:
    name: str
    role: str
    location: str
    operator: str
    kubernetes: str
    domain: str


@dataclass(frozen=True)
class ComponentPlacement:
    component: str
    site: str
    detail: str


@dataclass(frozen=True)
class DatabaseRow:
    key: str
    location: str
    used_by: tuple[str, ...]
    operator: str


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    purpose: str
    crosses_wan: bool
    if_cut: str


@dataclass(frozen=True)
class TradeOff:
    point: Point
    pro: bool
    concrete: str


@dataclass(frozen=True)
class PlanSummary:
    installation: str
    version: str
    scenario: Scenario
    sites: tuple[SiteRow, ...]
    components: tuple[ComponentPlacement, ...]
    databases: tuple[DatabaseRow, ...]
    links: tuple[Link, ...]
    trade_offs: tuple[TradeOff, ...]

    @property
    def wan_links(self) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.crosses_wan)


def _names(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _db_location(db: DatabaseAssignment) -> str:
    config = db.config
    if isinstance(config, CloudNativePGDatabase):
        where = f"in cluster {db.site} (CloudNativePG, {config.instances} instance"
        where += "s)" if config.instances != 1 else ")"
        if config.expose is not None:
            where += f", exposed at {config.expose.host}:{config.expose.port}"
        return where
    return f"external {config.host}:{config.port}/{config.dbname}"


def _kubernetes(spec: InstallSpec, site: CentralSite | Datacenter) -> str:
    if isinstance(site, Datacenter):
        cp = spec.control_plane_host_for(site.id)
        if cp.hosted:
            pool = f"; workers: pool {site.workers.pool}" if site.workers else ""
            return f"control plane hosted on {cp.site} ({cp.provider}){pool}"
        return "own control plane"
    hosted = spec.hosted_control_planes_on(site.name)
    if hosted and site.control_planes is not None:
        return (
            f"own control plane; hosts {len(hosted)} DC control planes "
            f"({site.control_planes.provider})"
        )
    return "own control plane"


def _sites(spec: InstallSpec) -> tuple[SiteRow, ...]:
    rows = []
    for site in spec.sites:
        if isinstance(site, Datacenter):
            role = f"data center {site.id}"
            location = f"{site.city}, {site.country_code}"
            domain = site.domain
        else:
            role, location, domain = "central", "-", site.domain
        rows.append(
            SiteRow(
                site.name,
                role,
                location,
                spec.operator_of(site.name),
                _kubernetes(spec, site),
                domain,
            )
        )
    return tuple(rows)


def _components(spec: InstallSpec) -> tuple[ComponentPlacement, ...]:
    out = [ComponentPlacement("management console", spec.console_site, spec.console_url)]
    for dc in spec.datacenters:
        cp = spec.control_plane_host_for(dc.id)
        out.append(
            ComponentPlacement(
                f"Kubernetes control plane of {dc.name}",
                cp.site,
                f"{cp.provider}, operated by the {cp.operator}" if cp.hosted else "customer",
            )
        )
        out.append(
            ComponentPlacement(
                f"DC services + agent of {dc.name}",
                dc.name,
                f"runtime {dc.runtime}, https://{dc.domain}",
            )
        )
        ceph = dc.storage.ceph
        nodes = ", ".join(n.name for n in ceph.nodes) if ceph.nodes else "all nodes"
        out.append(
            ComponentPlacement(
                f"Ceph of {dc.name}",
                dc.name,
                f"{ceph.mon_count} mons, {ceph.replicas}x replicated, on {nodes}",
            )
        )
        if dc.registry:
            out.append(ComponentPlacement(f"image mirror of {dc.name}", dc.name, dc.registry))
    for db in spec.databases:
        out.append(
            ComponentPlacement(
                f"database {db.key}", db.site or "outside the clusters", _db_location(db)
            )
        )
    return tuple(out)


def _databases(spec: InstallSpec) -> tuple[DatabaseRow, ...]:
    rows = []
    for db in spec.databases:
        operator = spec.operator_of(db.site) if db.site else "customer"
        rows.append(DatabaseRow(db.key, _db_location(db), db.users, operator))
    return tuple(rows)


def _external_is_local(db: DatabaseAssignment, dc: Datacenter) -> bool:
    if not isinstance(db.config, ExternalDatabase):
        return False
    try:
        address = ipaddress.ip_address(db.config.host)
    except ValueError:
        return False
    return address in dc.network.node_cidr


def _links(spec: InstallSpec) -> tuple[Link, ...]:
    out: list[Link] = []
    console = spec.console_site
    for dc in spec.datacenters:
        db = spec.database_for(dc.id)
        if db.site != dc.name:
            target = db.site or _db_location(db)
            local = _external_is_local(db, dc)
            out.append(
                Link(
                    f"{dc.name} DC services",
                    f"database {db.key} ({target})",
                    "workspace metadata reads and writes",
                    crosses_wan=not local,
                    if_cut=(
                        f"workspaces running in {dc.name} keep running; metadata writes fail "
                        "fast with 503 'metadata store unreachable' until the link returns, and "
                        "the reconciler takes no destructive action"
                    ),
                )
            )
        if console != dc.name:
            if spec.shares_database:
                consequence = (
                    f"the console marks {dc.name} Unknown when its lease expires and shows its "
                    "last status snapshot, flagged stale with its age"
                )
            else:
                consequence = (
                    f"{dc.name} keeps working on its own database: users still log in "
                    "(replicated credentials, console-signed tokens verified offline); identity "
                    f"changes reach {dc.name} when the link returns (the change feed resumes "
                    "from its cursor); the console's aggregated view shows the last snapshot, "
                    "flagged stale"
                )
            out.append(
                Link(
                    f"{dc.name} agent",
                    f"console on {console} ({spec.console_host})",
                    "heartbeats, identity change feed, status snapshots (dials out)",
                    crosses_wan=True,
                    if_cut=consequence,
                )
            )
        cp = spec.control_plane_host_for(dc.id)
        if cp.hosted:
            ttl = dc.workers.join_token_ttl if dc.workers else "its TTL"
            out.append(
                Link(
                    f"{dc.name} workers",
                    f"hosted control plane on {cp.site}",
                    "kubelet and konnectivity to the Kubernetes API",
                    crosses_wan=True,
                    if_cut=(
                        f"running pods in {dc.name} keep running, but nothing is scheduled, "
                        "restarted or changed there: workspaces cannot start or stop and "
                        f"installs and upgrades of {dc.name} wait; new workers cannot join "
                        f"(join tokens expire after {ttl})"
                    ),
                )
            )
    for site in spec.sites:
        if site.registry is None:
            out.append(
                Link(
                    f"{site.name} nodes",
                    "public image registries (ghcr.io, quay.io)",
                    "image pulls",
                    crosses_wan=True,
                    if_cut=(
                        f"running pods in {site.name} are unaffected; new or rescheduled pods "
                        "cannot pull images (set `registry:` to a mirror to remove this link)"
                    ),
                )
            )
    return tuple(out)


def _trade_offs(spec: InstallSpec) -> tuple[TradeOff, ...]:
    info = spec.scenario_info
    dcs = [dc.name for dc in spec.datacenters]
    central = spec.central.name if spec.central else spec.console_site
    dbs = spec.databases
    shared = spec.console_database
    registries = [dc.registry for dc in spec.datacenters if dc.registry]
    cp_hosts = sorted({spec.control_plane_host_for(d.id).site for d in spec.datacenters})
    facts: dict[str, Callable[[], str]] = {
        "max-security": lambda: f"{_names(dcs)} runs with no link outside its own cluster.",
        "full-control": lambda: "You operate the control plane, database, console and Ceph.",
        "offline": lambda: f"Images come only from {_names(registries) or 'your mirror'}.",
        "ops-overhead": lambda: (
            f"Your team patches Kubernetes, {_names([d.key for d in dbs])} database and "
            f"Ceph in {_names(dcs)}."
        ),
        "manual-updates": lambda: (
            f"Each update is a bundle imported into {_names(registries) or 'the mirror'} and "
            "applied by you."
        ),
        "unified-management": lambda: (
            f"One console on {central} and one database ({_db_location(shared)}) serve "
            f"{_names(dcs)}."
        ),
        "k8s-control": lambda: f"{_names(dcs)} each run their own control plane.",
        "ceph-locality": lambda: f"Each of {_names(dcs)} stores workspace files in its own Ceph.",
        "central-view": lambda: f"{spec.console_url} shows every DC: {_names(dcs)}.",
        "shared-db-complexity": lambda: (
            f"{_db_location(shared)} is a single point of failure for {_names(dcs)}; plan its "
            "HA/DR."
        ),
        "data-aggregation": lambda: (
            f"Users, teams and workspace metadata of {_names(dcs)} all live in "
            f"{_db_location(shared)}."
        ),
        "wan-dependency": lambda: (
            f"{_names(dcs)} need reliable links to {central} and the shared database for "
            "unified features."
        ),
        "data-isolation": lambda: (
            "Metadata stays per DC: "
            + "; ".join(
                f"{dc.name}: {_db_location(spec.database_for(dc.id))}" for dc in spec.datacenters
            )
            + "."
        ),
        "k8s-db-control": lambda: f"You run the control plane and database of {_names(dcs)}.",
        "aggregated-view": lambda: f"The console on {central} aggregates {_names(dcs)}.",
        "reduced-wan": lambda: f"{_names(dcs)} keep working when cut off from {central}.",
        "more-databases": lambda: f"You run {len(dbs)} databases: {_names([d.key for d in dbs])}.",
        "siloed-users": lambda: (
            f"Users and teams are managed on {central} and replicated to {_names(dcs)}."
        ),
        "wan-console": lambda: f"The console on {central} needs a link to each of {_names(dcs)}.",
        "simplified-k8s": lambda: f"The control planes of {_names(dcs)} run on {_names(cp_hosts)}.",
        "worker-control": lambda: f"You run the workers and Ceph of {_names(dcs)}.",
        "worker-db-control": lambda: f"You run the workers, Ceph and database of {_names(dcs)}.",
        "fast-onboarding": lambda: "A new DC needs workers and Ceph; its control plane is created.",
        "vendor-dependency": lambda: (
            f"The control planes, console and database of {_names(dcs)} depend on {central}, "
            "operated by the vendor."
        ),
        "vendor-cp-dependency": lambda: (
            f"The control planes of {_names(dcs)} depend on {central}, operated by the vendor."
        ),
        "shared-db-concerns": lambda: (
            f"{_db_location(shared)} (vendor-operated) is a single point of failure for "
            f"{_names(dcs)}."
        ),
        "internet": lambda: f"{_names(dcs)} need a robust connection to {central}.",
        "metadata-transfer": lambda: (
            f"Workspace metadata and users of {_names(dcs)} reside on {central}."
        ),
        "max-metadata-isolation": lambda: (
            "Each DC's metadata stays in its own database: "
            + ", ".join(f"{dc.name}" for dc in spec.datacenters)
            + "."
        ),
        "db-responsibility": lambda: f"You operate HA/DR for {len(spec.datacenters)} DC databases.",
        "console-data-transfer": lambda: (
            f"The console on {central} reads status and data from {_names(dcs)}."
        ),
    }
    out = []
    for pro, points in ((True, info.pros), (False, info.cons)):
        for point in points:
            make = facts.get(point.id)
            out.append(TradeOff(point, pro, make() if make else point.text))
    return tuple(out)


def summarize(spec: InstallSpec) -> PlanSummary:
    """The plan summary of a loaded (valid) spec."""
    return PlanSummary(
        installation=spec.name,
        version=spec.version,
        scenario=spec.scenario_info,
        sites=_sites(spec),
        components=_components(spec),
        databases=_databases(spec),
        links=_links(spec),
        trade_offs=_trade_offs(spec),
    )
