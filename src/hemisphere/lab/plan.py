"""What a lab of a spec consists of, computed without touching the host.

`plan_lab(spec, name, slot)` places every site in its own network namespace with one /30 to the
hub (the root network namespace): the hub end is `10.251.<slot>.<4i+1>`, the site's own address
`10.251.<slot>.<4i+2>`. A site has no default route, so the only addresses it can reach are its
own and its hub end — where the WAN proxy (toxiproxy, in the hub) listens, one listener per
directed service link. Every database the spec names runs in one site: its own site when the
spec hosts it in a cluster; the central site for a shared or console database kept outside
every cluster (2A's trusted zone); the one DC that uses it otherwise (2B's external DC database).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hemisphere.lab.errors import LabSpecError
from hemisphere.topology import DatabaseAssignment, Datacenter, InstallSpec

__all__ = [
    "HTTP_PORT",
    "NETWORK",
    "LabPlan",
    "PlannedDatabase",
    "PlannedLink",
    "PlannedSite",
    "plan_lab",
]

NETWORK = ipaddress.IPv4Network("10.251.0.0/16")
HTTP_PORT = 8080
POSTGRES_PORT = 5432
_PROXY_PORTS = 20000  # the first port of a site's WAN listeners on its hub address
_MAX_SITES = 64  # /30s in one /24 slot


@dataclass(frozen=True)
class PlannedSite:
    name: str
    index: int
    datacenter_id: int | None  # None: the central site
    netns: str
    veth: str  # the hub end, in the root namespace (IFNAMSIZ: at most 15 characters)
    hub_address: str
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}:{HTTP_PORT}"


@dataclass(frozen=True)
class PlannedDatabase:
    key: str  # the spec's name of it: shared, console or dc-<id>
    site: str
    port: int
    dbname: str
    user: str
    users: tuple[str, ...]  # the sites whose services connect to it


@dataclass(frozen=True)
class PlannedLink:
    """One directed WAN link for one service: `client` connects to `listen`, which the proxy
    forwards to `upstream` in `server`."""

    name: str
    client: str
    server: str
    service: str  # console, dc, or db-<key>
    listen_host: str
    listen_port: int
    upstream_host: str
    upstream_port: int

    @property
    def listen(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"


@dataclass(frozen=True)
class LabPlan:
    name: str
    slot: int
    console_site: str
    sites: tuple[PlannedSite, ...]
    databases: tuple[PlannedDatabase, ...]
    links: tuple[PlannedLink, ...]

    def site(self, name: str) -> PlannedSite:
        for site in self.sites:
            if site.name == name:
                return site
        raise KeyError(name)

    def link_to(self, client: str, server: str, service: str) -> PlannedLink | None:
        for link in self.links:
            if (link.client, link.server, link.service) == (client, server, service):
                return link
        return None


def _database_site(spec: InstallSpec, db: DatabaseAssignment) -> str:
    if db.site is not None:
        return db.site
    if db.shared or db.key == "console":
        return spec.console_site
    return db.users[0]


def plan_lab(spec: InstallSpec, name: str, slot: int) -> LabPlan:
    """The sites, databases and WAN links of a lab named `name` in address slot `slot`."""
    if spec.central is None or len(spec.datacenters) < 2:
        raise LabSpecError(
            f"a lab needs a spec with a `central` site and at least two datacenters; "
            f"{spec.name!r} ({spec.scenario}) has "
            f"{'a' if spec.central else 'no'} central site and {len(spec.datacenters)} "
            "datacenter(s) — try examples/federated-shared-db.yaml or "
            "examples/federated-individual-db.yaml"
        )
    names = [spec.central.name, *(dc.name for dc in spec.datacenters)]
    if len(names) > _MAX_SITES:
        raise LabSpecError(f"a lab holds at most {_MAX_SITES} sites; the spec has {len(names)}")
    if not 0 <= slot < 256:
        raise LabSpecError(f"address slot {slot} is outside 0..255")
    base = int(NETWORK.network_address) + slot * 256
    sites = []
    for i, site_name in enumerate(names):
        site = spec.site(site_name)
        sites.append(
            PlannedSite(
                name=site_name,
                index=i,
                datacenter_id=site.id if isinstance(site, Datacenter) else None,
                netns=f"hs-{name}-{site_name}",
                veth=f"hs{slot}s{i}",
                hub_address=str(ipaddress.IPv4Address(base + 4 * i + 1)),
                address=str(ipaddress.IPv4Address(base + 4 * i + 2)),
            )
        )
    by_name = {s.name: s for s in sites}

    databases = []
    per_site: dict[str, int] = {}
    for assignment in spec.databases:
        home = _database_site(spec, assignment)
        n = per_site.get(home, 0)
        per_site[home] = n + 1
        databases.append(
            PlannedDatabase(
                assignment.key, home, POSTGRES_PORT + n, assignment.dbname, assignment.user,
                assignment.users,
            )
        )  # fmt: skip

    links: list[PlannedLink] = []
    next_port: dict[str, int] = {}

    def link(client: str, server: str, service: str, port: int) -> None:
        n = next_port.get(client, _PROXY_PORTS)
        next_port[client] = n + 1
        links.append(
            PlannedLink(
                name=f"{client}-to-{server}-{service}",
                client=client,
                server=server,
                service=service,
                listen_host=by_name[client].hub_address,
                listen_port=n,
                upstream_host=by_name[server].address,
                upstream_port=port,
            )
        )

    console = spec.console_site
    for dc in spec.datacenters:
        link(dc.name, console, "console", HTTP_PORT)
        link(console, dc.name, "dc", HTTP_PORT)
    for db in databases:
        for user in db.users:
            if user != db.site:
                link(user, db.site, f"db-{db.key}", db.port)
    return LabPlan(name, slot, console, tuple(sites), tuple(databases), tuple(links))
