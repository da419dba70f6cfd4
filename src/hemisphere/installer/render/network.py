"""NetworkPolicies: namespace `codesphere` accepts only the traffic its components need.

Ingress is denied by default; allowed are traffic inside the namespace, the ingress controller to
the web components, the operators to what they manage (Rook, CloudNativePG, k0smotron/Kamaji, in
their default namespaces), and from the DCs' node networks to what this site serves them over the
WAN (an exposed shared database, hosted control planes). Egress stays open: agents dial out.
"""

from __future__ import annotations

from typing import Any

from hemisphere.installer.render.controlplanes import CONTROL_PLANE_PORTS
from hemisphere.installer.render.meta import Manifest, make
from hemisphere.installer.render.platform import HTTP_PORT
from hemisphere.topology import CloudNativePGDatabase, Datacenter, InstallSpec

__all__ = ["OPERATOR_NAMESPACES", "render_network_policies"]

OPERATOR_NAMESPACES = {
    "rook": "rook-ceph",
    "cloudnativepg": "cnpg-system",
    "k0smotron": "k0smotron",
    "kamaji": "kamaji-system",
}
_NS_LABEL = "kubernetes.io/metadata.name"


def _policy(site: str, name: str, pod_selector: dict[str, Any], ingress: list[Any]) -> Manifest:
    return make(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        name,
        site=site,
        phase="infra",
        component="network",
        spec={"podSelector": pod_selector, "policyTypes": ["Ingress"], "ingress": ingress},
    )


def _from_namespace(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {_NS_LABEL: namespace}}}


def _ports(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def _in(key: str, values: list[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": "In", "values": values}]}


def _wan_sources(spec: InstallSpec, site: str, users: list[Datacenter]) -> list[dict[str, Any]]:
    cidrs = [str(dc.network.node_cidr) for dc in users]
    own = spec.site(site).network
    if own is not None:  # load balancers may hand traffic on from the site's own nodes
        cidrs.append(str(own.node_cidr))
    return [{"ipBlock": {"cidr": c}} for c in dict.fromkeys(cidrs)]


def render_network_policies(spec: InstallSpec, site: str) -> list[Manifest]:
    where = spec.site(site)
    web = []
    if site == spec.console_site:
        web.append("console")
    if isinstance(where, Datacenter):
        web.append("dc")
    out = [
        _policy(site, "default-deny-ingress", {}, []),
        _policy(site, "allow-same-namespace", {}, [{"from": [{"podSelector": {}}]}]),
        _policy(
            site,
            "allow-ingress-controller",
            _in("app.kubernetes.io/name", web),
            [
                {
                    "from": [_from_namespace(where.ingress.controller_namespace)],
                    "ports": _ports(HTTP_PORT),
                }
            ],
        ),
    ]
    hosted_dbs = [db for db in spec.databases if db.site == site]
    if hosted_dbs:
        out.append(
            _policy(
                site,
                "allow-cloudnativepg-operator",
                {"matchExpressions": [{"key": "cnpg.io/cluster", "operator": "Exists"}]},
                [
                    {
                        "from": [_from_namespace(OPERATOR_NAMESPACES["cloudnativepg"])],
                        "ports": _ports(8000, 5432),
                    }
                ],
            )
        )
    for db in hosted_dbs:
        config = db.config
        if not isinstance(config, CloudNativePGDatabase) or config.expose is None:
            continue
        remote = [dc for dc in spec.datacenters if dc.name in db.users and dc.name != site]
        if remote:
            out.append(
                _policy(
                    site,
                    "allow-database-from-datacenters",
                    {"matchLabels": {"cnpg.io/cluster": db.cluster_name}},
                    [{"from": _wan_sources(spec, site, remote), "ports": _ports(5432)}],
                )
            )
    if isinstance(where, Datacenter):
        sources: list[dict[str, Any]] = [_from_namespace(OPERATOR_NAMESPACES["rook"])]
        sources.append({"ipBlock": {"cidr": str(where.network.node_cidr)}})
        out.append(
            _policy(
                site,
                "allow-ceph",
                _in("app", ["rook-ceph-mon", "rook-ceph-mgr", "rook-ceph-osd", "rook-ceph-mds"]),
                [{"from": sources}],
            )
        )
    hosted = spec.hosted_control_planes_on(site)
    if hosted:
        cp = getattr(where, "control_planes", None)
        provider = getattr(cp, "provider", "k0smotron")
        out.append(
            _policy(
                site,
                "allow-control-planes-from-workers",
                {},
                [
                    {
                        "from": [
                            *_wan_sources(spec, site, list(hosted)),
                            _from_namespace(OPERATOR_NAMESPACES[provider]),
                        ],
                        "ports": _ports(*CONTROL_PLANE_PORTS),
                    }
                ],
            )
        )
    return out
