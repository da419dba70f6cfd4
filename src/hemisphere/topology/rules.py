"""The seed's rules for each scenario, checked on a spec whose fields are individually valid.

Each rule is a function from the spec to the violations it finds; `RULES` lists them with the
sentence of the seed they enforce. A violation carries a field path, which the loader turns into
a file line. Every rule has its own tests (tests/topology/test_rules.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hemisphere.topology.sites import CloudNativePGDatabase, Datacenter, ExternalDatabase
from hemisphere.topology.spec import InstallSpec

__all__ = ["RULES", "Rule", "Violation", "check"]

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Violation:
    path: Path
    message: str
    fix: str


@dataclass(frozen=True)
class Rule:
    id: str
    seed: str
    check: Callable[[InstallSpec], Iterator[Violation]]


_PUBLIC_REGISTRIES = (
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "ghcr.io",
    "quay.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "gcr.io",
    "pkg.dev",
    "public.ecr.aws",
    "amazonaws.com",
    "mcr.microsoft.com",
    "azurecr.io",
    "registry.gitlab.com",
    "nvcr.io",
)
_CLUSTER_LOCAL_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local", ".local")


def _dc_path(spec: InstallSpec, dc: Datacenter, *rest: str | int) -> Path:
    return ("datacenters", spec.datacenters.index(dc), *rest)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _registry_host(registry: str) -> str:
    host = registry.split("/", 1)[0]
    if host.startswith("["):
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


def _is_public_registry(registry: str) -> bool:
    host = _registry_host(registry)
    address = _ip(host)
    if address is not None:
        return address.is_global
    return any(host == p or host.endswith("." + p) for p in _PUBLIC_REGISTRIES)


def _cluster_local(host: str) -> bool:
    address = _ip(host)
    if address is not None:
        return address.is_loopback or address.is_unspecified
    return host == "localhost" or host.endswith(_CLUSTER_LOCAL_SUFFIXES) or "." not in host


# --- shape of the scenario -----------------------------------------------------------------


def _scenario_sites(spec: InstallSpec) -> Iterator[Violation]:
    info = spec.scenario_info
    if info.central_site and spec.central is None:
        yield Violation(
            ("central",),
            f"scenario {spec.scenario} ({info.number}) needs a central site for the management "
            "console, and it is missing",
            "add a `central:` section with name, domain, kubernetes and database",
        )
    if not info.central_site and spec.central is not None:
        yield Violation(
            ("central",),
            f"scenario {spec.scenario} runs everything in one cluster and has no central site",
            "remove the `central:` section (the console runs in the data center's cluster)",
        )
    if info.max_datacenters is not None and len(spec.datacenters) > info.max_datacenters:
        yield Violation(
            ("datacenters", info.max_datacenters),
            f"scenario {spec.scenario} runs in a single Kubernetes cluster, but "
            f"{len(spec.datacenters)} data centers are declared",
            "keep one data center, or choose a federated or central-cp scenario",
        )


# --- air-gapped ------------------------------------------------------------------------------


def _air_gapped_closed(spec: InstallSpec) -> Iterator[Violation]:
    if not spec.is_air_gapped:
        return
    for dc in spec.datacenters:
        if dc.registry is None:
            yield Violation(
                _dc_path(spec, dc, "registry"),
                "an air-gapped data center must pull every image from a registry inside the "
                "customer's infrastructure, and none is set",
                "add registry: <host[:port]> of your mirror (filled by `hemisphere bundle push`)",
            )
        elif _is_public_registry(dc.registry):
            yield Violation(
                _dc_path(spec, dc, "registry"),
                f"registry {dc.registry!r} is on the internet; an air-gapped install cannot "
                "reach it",
                "use a registry mirror inside your network",
            )
        if dc.ingress.tls.mode == "acme":
            yield Violation(
                _dc_path(spec, dc, "ingress", "tls", "mode"),
                "ACME certificates need an internet certificate authority",
                "use mode: provided with a certificate from your own CA",
            )
        db = dc.database
        if isinstance(db, ExternalDatabase):
            address = _ip(db.host)
            if address is not None and address.is_global:
                yield Violation(
                    _dc_path(spec, dc, "database", "url"),
                    f"database host {db.host} is a public internet address",
                    "use a database inside your network, or type: cloudnativepg",
                )


# --- databases -------------------------------------------------------------------------------


def _shared_database(spec: InstallSpec) -> Iterator[Violation]:
    if not spec.shares_database:
        return
    if spec.central is None:
        # Air-gapped: the one database lives in the one data center.
        for dc in spec.datacenters[:1]:
            if dc.database is None:
                yield Violation(
                    _dc_path(spec, dc, "database"),
                    "the data center declares no database; the console and services need one",
                    "add database: {type: cloudnativepg}",
                )
        return
    for dc in spec.datacenters:
        if dc.database is not None:
            yield Violation(
                _dc_path(spec, dc, "database"),
                f"scenario {spec.scenario} has exactly one shared database (central.database); "
                f"data center {dc.name!r} declares its own",
                "remove this database, or choose an individual-database scenario",
            )
    db = spec.central.database
    remote_dcs = [dc for dc in spec.datacenters if dc.name != spec.central.name]
    if isinstance(db, CloudNativePGDatabase) and remote_dcs and db.expose is None:
        yield Violation(
            ("central", "database", "expose"),
            "the shared database runs in the central cluster but is not exposed, so the data "
            f"centers ({', '.join(d.name for d in remote_dcs)}) cannot reach it",
            "add expose: {host: <DNS name of its load balancer>, port: 5432}",
        )
    if isinstance(db, ExternalDatabase) and _cluster_local(db.host):
        yield Violation(
            ("central", "database", "url"),
            f"shared database host {db.host!r} is only reachable inside one cluster, not from "
            "every data center",
            "use a host name or address every data center can reach",
        )


def _individual_databases(spec: InstallSpec) -> Iterator[Violation]:
    if spec.shares_database:
        return
    seen: dict[tuple[str, int, str], Datacenter] = {}
    console = spec.central.database if spec.central is not None else None
    for dc in spec.datacenters:
        db = dc.database
        if db is None:
            yield Violation(
                _dc_path(spec, dc, "database"),
                f"scenario {spec.scenario} gives every data center its own database; "
                f"{dc.name!r} declares none",
                "add database: {type: cloudnativepg} (or type: external with url and "
                "password_secret)",
            )
            continue
        if not isinstance(db, ExternalDatabase):
            continue
        key = (db.host.lower(), db.port, db.dbname)
        if key in seen:
            yield Violation(
                _dc_path(spec, dc, "database", "url"),
                f"data centers {seen[key].name!r} and {dc.name!r} point at the same database; "
                "each must have its own",
                "give this data center its own database (another host or database name)",
            )
        seen.setdefault(key, dc)
        if (
            isinstance(console, ExternalDatabase)
            and (
                console.host.lower(),
                console.port,
                console.dbname,
            )
            == key
        ):
            yield Violation(
                _dc_path(spec, dc, "database", "url"),
                "this data center's database is the console's database",
                "give the data center its own database",
            )
        address = _ip(db.host)
        for other in spec.datacenters:
            if other is dc or address is None:
                continue
            if address in other.network.node_cidr:
                yield Violation(
                    _dc_path(spec, dc, "database", "url"),
                    f"database host {db.host} is inside data center {other.name!r}'s network "
                    f"({other.network.node_cidr}); its data would leave {dc.name!r}",
                    "use a database inside this data center",
                )


def _console_reaches_dcs(spec: InstallSpec) -> Iterator[Violation]:
    if spec.shares_database or spec.central is None:
        return
    for dc in spec.datacenters:
        if _cluster_local(dc.domain):
            yield Violation(
                _dc_path(spec, dc, "domain"),
                f"the console aggregates data center {dc.name!r} through {dc.domain}, which is "
                "not reachable from outside its cluster",
                "use a DNS name the central site can resolve and reach",
            )


# --- control planes --------------------------------------------------------------------------


def _hosted_control_planes(spec: InstallSpec) -> Iterator[Violation]:
    hosted = spec.hosts_control_planes
    if spec.central is not None:
        if hosted and spec.central.control_planes is None:
            yield Violation(
                ("central", "control_planes"),
                f"scenario {spec.scenario} hosts one Kubernetes control plane per data center on "
                "the central site, and central.control_planes is missing",
                "add control_planes: {provider: k0smotron} (or kamaji)",
            )
        if not hosted and spec.central.control_planes is not None:
            yield Violation(
                ("central", "control_planes"),
                f"in scenario {spec.scenario} each data center runs its own control plane",
                "remove central.control_planes, or choose a central-cp scenario",
            )
    for dc in spec.datacenters:
        if hosted and dc.workers is None:
            yield Violation(
                _dc_path(spec, dc, "workers"),
                f"data center {dc.name!r} provides the worker nodes for its hosted control plane, "
                "and declares no worker pool",
                "add workers: {pool: <node pool name>, nodes: <count>}",
            )
        if not hosted and dc.workers is not None:
            yield Violation(
                _dc_path(spec, dc, "workers"),
                f"in scenario {spec.scenario} the data center's own cluster owns its nodes; a "
                "worker pool for a hosted control plane does not apply",
                "remove workers, or choose a central-cp scenario",
            )


# --- storage ---------------------------------------------------------------------------------


def _ceph_per_dc(spec: InstallSpec) -> Iterator[Violation]:
    owner: dict[str, Datacenter] = {}
    for dc in spec.datacenters:
        ceph = dc.storage.ceph
        names = [n.name for n in ceph.nodes]
        for index, node in enumerate(ceph.nodes):
            path = _dc_path(spec, dc, "storage", "ceph", "nodes", index, "name")
            first = owner.get(node.name)
            if first is not None and first is not dc:
                yield Violation(
                    path,
                    f"Ceph node {node.name!r} is also a storage node of data center "
                    f"{first.name!r}; Ceph is never shared across data centers",
                    "list each storage node under exactly one data center",
                )
            elif names.index(node.name) != index:
                yield Violation(path, f"Ceph node {node.name!r} is listed twice", "remove one")
            owner.setdefault(node.name, dc)
        if ceph.nodes and ceph.replicas > len(ceph.nodes):
            yield Violation(
                _dc_path(spec, dc, "storage", "ceph", "replicas"),
                f"{ceph.replicas} replicas need as many storage nodes; {len(ceph.nodes)} listed",
                f"lower replicas to {len(ceph.nodes)} or list more nodes",
            )
        if ceph.nodes and ceph.mon_count > len(ceph.nodes):
            yield Violation(
                _dc_path(spec, dc, "storage", "ceph", "mon_count"),
                f"{ceph.mon_count} monitors need as many nodes; {len(ceph.nodes)} listed",
                "lower mon_count or list more nodes",
            )
        public = ceph.public_network
        if public is not None and not (
            public.version == dc.network.node_cidr.version
            and public.subnet_of(dc.network.node_cidr)  # type: ignore[arg-type]
        ):
            yield Violation(
                _dc_path(spec, dc, "storage", "ceph", "public_network"),
                f"Ceph network {public} is outside the data center's node network "
                f"{dc.network.node_cidr}; Ceph traffic must stay inside the data center",
                f"use a range inside {dc.network.node_cidr}",
            )


# --- identity of sites -----------------------------------------------------------------------


def _unique_names(spec: InstallSpec) -> Iterator[Violation]:
    ids: dict[int, Datacenter] = {}
    for dc in spec.datacenters:
        if dc.id in ids:
            yield Violation(
                _dc_path(spec, dc, "id"),
                f"data center id {dc.id} is also used by {ids[dc.id].name!r}",
                f"give each data center its own id, e.g. {max(ids) + 1}",
            )
        ids.setdefault(dc.id, dc)
    names: dict[str, Path] = {}
    if spec.central is not None:
        names[spec.central.name] = ("central", "name")
    for dc in spec.datacenters:
        path = _dc_path(spec, dc, "name")
        if dc.name in names:
            yield Violation(
                path,
                f"site name {dc.name!r} is used twice; site names name the clusters",
                "give each site its own name",
            )
        names.setdefault(dc.name, path)


def _unique_domains(spec: InstallSpec) -> Iterator[Violation]:
    domains: list[tuple[str, Path, bool]] = []
    if spec.central is not None:
        domains.append((spec.central.domain, ("central", "domain"), False))
    domains.extend((dc.domain, _dc_path(spec, dc, "domain"), True) for dc in spec.datacenters)
    for i, (domain, path, _) in enumerate(domains):
        if any(domain == other for other, _, _ in domains[:i]):
            yield Violation(
                path, f"domain {domain} is used by another site", "give each site its own domain"
            )
        for other, _, is_dc in domains:
            captured = domain.endswith("." + other) and "." not in domain[: -len(other) - 1]
            if is_dc and captured:
                yield Violation(
                    path,
                    f"{domain} would be captured by the preview URLs (*.{other}) of the "
                    "data center using that domain",
                    f"use a name outside *.{other}",
                )


def _disjoint_cidrs(spec: InstallSpec) -> Iterator[Violation]:
    seen: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, Path]] = []
    for site in spec.sites:
        network = site.network
        if network is None:
            continue
        base: Path = (
            ("central", "network") if site is spec.central else _dc_path(spec, site, "network")  # type: ignore[arg-type]
        )
        for field in ("node_cidr", "pod_cidr", "service_cidr"):
            cidr = getattr(network, field)
            for other, label, _ in seen:
                if cidr.version == other.version and cidr.overlaps(other):
                    yield Violation(
                        (*base, field),
                        f"{cidr} overlaps {label} ({other})",
                        "choose a range that overlaps no other range of any site",
                    )
                    break
            seen.append((cidr, f"{site.name} {field}", (*base, field)))


RULES: tuple[Rule, ...] = (
    Rule(
        "scenario-sites",
        "each scenario's sites: air-gapped is one cluster; the others have "
        "a central management console",
        _scenario_sites,
    ),
    Rule(
        "air-gapped-closed",
        "air-gapped: no site or registry outside the customer's "
        "infrastructure and no internet dependency",
        _air_gapped_closed,
    ),
    Rule(
        "shared-database",
        "2A/3A: exactly one shared database reachable from every DC",
        _shared_database,
    ),
    Rule("individual-databases", "2B/3B: one database per DC", _individual_databases),
    Rule("console-reaches-dcs", "2B/3B: a console that can reach every DC", _console_reaches_dcs),
    Rule(
        "hosted-control-planes",
        "3A/3B: a central site hosting one control plane per DC and customer worker pools per DC",
        _hosted_control_planes,
    ),
    Rule("ceph-per-dc", "Ceph is never shared across DCs", _ceph_per_dc),
    Rule("unique-names", "DC ids and site names are unique", _unique_names),
    Rule("unique-domains", "domains are unique", _unique_domains),
    Rule("disjoint-cidrs", "CIDRs do not overlap", _disjoint_cidrs),
)


def check(spec: InstallSpec) -> list[tuple[Rule, Violation]]:
    """Every violation of every rule, in rule order."""
    return [(rule, v) for rule in RULES for v in rule.check(spec)]
