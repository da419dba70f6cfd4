"""Hosted Kubernetes control planes: one per data center, in the central site's cluster.

k0smotron: a `Cluster` per DC plus a `JoinTokenRequest` whose Secret holds the token the DC's
worker pool joins with (expiring after the pool's `join_token_ttl`). Kamaji: a
`TenantControlPlane` per DC (workers join with a kubeadm bootstrap token from it). The DC's pod and
service ranges from the spec become the control plane's cluster network.
"""

from __future__ import annotations

from hemisphere.installer.render.images import K0S_REPOSITORY, k0s_version, mirrored
from hemisphere.installer.render.meta import Manifest, make
from hemisphere.topology import NAMESPACE, Datacenter, HostedControlPlanes, InstallSpec

__all__ = ["control_plane_name", "render_control_planes"]

_API_PORT = 6443
_KONNECTIVITY_PORT = 8132
CONTROL_PLANE_PORTS = (_API_PORT, _KONNECTIVITY_PORT)


def control_plane_name(dc: Datacenter) -> str:
    return f"cp-{dc.name}"


def _k0smotron(
    site: str, dc: Datacenter, cp: HostedControlPlanes, registry: str | None
) -> list[Manifest]:
    name = control_plane_name(dc)
    cluster = make(
        "k0smotron.io/v1beta1",
        "Cluster",
        name,
        site=site,
        phase="dependencies",
        component="control-plane",
        annotations={"hemisphere.dev/datacenter": str(dc.id)},
        spec={
            "replicas": cp.replicas,
            "image": mirrored(K0S_REPOSITORY, registry),
            "version": k0s_version(cp.kubernetes_version),
            "service": {
                "type": cp.service_type,
                "apiPort": _API_PORT,
                "konnectivityPort": _KONNECTIVITY_PORT,
            },
            "persistence": {"type": "emptyDir"},
            "k0sConfig": {
                "apiVersion": "k0s.k0sproject.io/v1beta1",
                "kind": "ClusterConfig",
                "spec": {
                    "network": {
                        "podCIDR": str(dc.network.pod_cidr),
                        "serviceCIDR": str(dc.network.service_cidr),
                    }
                },
            },
        },
    )
    assert dc.workers is not None
    token = make(
        "k0smotron.io/v1beta1",
        "JoinTokenRequest",
        f"{name}-{dc.workers.pool}",
        site=site,
        phase="dependencies",
        component="control-plane",
        annotations={"hemisphere.dev/datacenter": str(dc.id)},
        spec={
            "clusterRef": {"name": name, "namespace": NAMESPACE},
            "expiry": dc.workers.join_token_ttl,
            "role": "worker",
        },
    )
    return [cluster, token]


def _kamaji(site: str, dc: Datacenter, cp: HostedControlPlanes) -> list[Manifest]:
    return [
        make(
            "kamaji.clastix.io/v1alpha1",
            "TenantControlPlane",
            control_plane_name(dc),
            site=site,
            phase="dependencies",
            component="control-plane",
            annotations={"hemisphere.dev/datacenter": str(dc.id)},
            spec={
                "controlPlane": {
                    "deployment": {"replicas": cp.replicas},
                    "service": {"serviceType": cp.service_type},
                },
                "kubernetes": {
                    "version": cp.kubernetes_version,
                    "kubelet": {"cgroupfs": "systemd"},
                },
                "networkProfile": {
                    "port": _API_PORT,
                    "podCidr": str(dc.network.pod_cidr),
                    "serviceCidr": str(dc.network.service_cidr),
                },
                "addons": {
                    "coreDNS": {},
                    "kubeProxy": {},
                    "konnectivity": {"server": {"port": _KONNECTIVITY_PORT}},
                },
            },
        )
    ]


def render_control_planes(spec: InstallSpec, site: str) -> list[Manifest]:
    """The control planes site `site` hosts for data centers (none for most sites)."""
    hosted = spec.hosted_control_planes_on(site)
    if not hosted:
        return []
    central = spec.site(site)
    cp = getattr(central, "control_planes", None)
    assert isinstance(cp, HostedControlPlanes)
    out: list[Manifest] = []
    for dc in hosted:
        if cp.provider == "k0smotron":
            out.extend(_k0smotron(site, dc, cp, central.registry))
        else:
            out.extend(_kamaji(site, dc, cp))
    return out
