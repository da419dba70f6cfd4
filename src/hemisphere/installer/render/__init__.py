"""Render an install spec into Kubernetes manifests, per site (cluster), in apply order.

`render(spec, vault=None)` is pure: the same spec (and vault) gives byte-identical YAML. It
returns `{site name: [manifest, ...]}`; every object carries the labels
`app.kubernetes.io/managed-by: hemisphere` and `hemisphere.dev/site: <site>` and the annotation
`hemisphere.dev/phase: infra|dependencies|platform`, and the list is sorted by phase, then kind.

- infra: Namespace `codesphere`, Secrets (only when a vault is given), StorageClasses,
  NetworkPolicies — core objects that need no operator.
- dependencies: Rook Ceph, CloudNativePG databases (or an external database's endpoint), and the
  hosted control planes a central site runs for DCs.
- platform: console, DC services, agent, their ConfigMaps/RBAC/Services and Ingresses.

Without a vault, manifests only *reference* the Secrets (names in `render.secrets`); the
apply step renders with the vault in memory, so a render directory holds no secret values.

Custom resource kinds rendered (everything else is core Kubernetes). `CUSTOM_KINDS` lists them
with the spec fields each operator's documentation requires, which the minimal test CRDs check:

    ceph.rook.io/v1                 CephCluster, CephBlockPool, CephFilesystem   (Rook)
    postgresql.cnpg.io/v1           Cluster                                      (CloudNativePG)
    k0smotron.io/v1beta1            Cluster, JoinTokenRequest                    (k0smotron)
    kamaji.clastix.io/v1alpha1      TenantControlPlane                           (Kamaji)

Operators are expected in their default namespaces (`network.OPERATOR_NAMESPACES`). Images are
listed in `render.images`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hemisphere.installer.render.controlplanes import render_control_planes
from hemisphere.installer.render.database import render_databases
from hemisphere.installer.render.meta import (
    MANAGED_BY,
    PHASE_ANNOTATION,
    PHASES,
    SITE_LABEL,
    Manifest,
    Phase,
    make,
)
from hemisphere.installer.render.network import render_network_policies
from hemisphere.installer.render.output import phase_of, to_yaml, write_manifests
from hemisphere.installer.render.platform import render_platform
from hemisphere.installer.render.secrets import render_secrets
from hemisphere.installer.render.storage import render_storage
from hemisphere.installer.vault import Vault
from hemisphere.topology import NAMESPACE, Datacenter, InstallSpec

__all__ = [
    "CUSTOM_KINDS",
    "MANAGED_BY",
    "PHASES",
    "PHASE_ANNOTATION",
    "SITE_LABEL",
    "CustomKind",
    "Manifest",
    "Phase",
    "phase_of",
    "render",
    "render_site",
    "to_yaml",
    "write_manifests",
]


@dataclass(frozen=True)
class CustomKind:
    """A custom resource kind the renderer emits, and the fields its operator requires."""

    api_version: str
    kind: str
    plural: str
    required: tuple[str, ...]


CUSTOM_KINDS: tuple[CustomKind, ...] = (
    CustomKind(
        "ceph.rook.io/v1",
        "CephCluster",
        "cephclusters",
        ("spec.cephVersion.image", "spec.dataDirHostPath", "spec.mon.count", "spec.storage"),
    ),
    CustomKind(
        "ceph.rook.io/v1",
        "CephBlockPool",
        "cephblockpools",
        ("spec.failureDomain", "spec.replicated.size"),
    ),
    CustomKind(
        "ceph.rook.io/v1",
        "CephFilesystem",
        "cephfilesystems",
        ("spec.metadataPool.replicated.size", "spec.dataPools", "spec.metadataServer.activeCount"),
    ),
    CustomKind(
        "postgresql.cnpg.io/v1",
        "Cluster",
        "clusters",
        (
            "spec.instances",
            "spec.storage.size",
            "spec.imageName",
            "spec.bootstrap.initdb.database",
            "spec.bootstrap.initdb.owner",
            "spec.bootstrap.initdb.secret.name",
        ),
    ),
    CustomKind(
        "k0smotron.io/v1beta1",
        "Cluster",
        "clusters",
        (
            "spec.version",
            "spec.service.type",
            "spec.service.apiPort",
            "spec.service.konnectivityPort",
        ),
    ),
    CustomKind(
        "k0smotron.io/v1beta1",
        "JoinTokenRequest",
        "jointokenrequests",
        ("spec.clusterRef.name", "spec.clusterRef.namespace", "spec.expiry", "spec.role"),
    ),
    CustomKind(
        "kamaji.clastix.io/v1alpha1",
        "TenantControlPlane",
        "tenantcontrolplanes",
        (
            "spec.controlPlane.deployment.replicas",
            "spec.controlPlane.service.serviceType",
            "spec.kubernetes.version",
            "spec.kubernetes.kubelet.cgroupfs",
            "spec.networkProfile.port",
        ),
    ),
)

_KIND_ORDER = (
    "Namespace",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "NetworkPolicy",
    "Role",
    "RoleBinding",
    "CephCluster",
    "CephBlockPool",
    "CephFilesystem",
    "Cluster",
    "TenantControlPlane",
    "JoinTokenRequest",
    "PersistentVolumeClaim",
    "Service",
    "EndpointSlice",
    "Deployment",
    "Ingress",
)


def _order(manifest: Manifest) -> tuple[int, int, str, str]:
    kind = manifest["kind"]
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return (
        PHASES.index(phase_of(manifest)),
        rank,
        manifest["apiVersion"],
        manifest["metadata"]["name"],
    )


def render_site(spec: InstallSpec, site: str, vault: Vault | None = None) -> list[Manifest]:
    """The manifests of one site's cluster, in apply order."""
    where = spec.site(site)
    out: list[Manifest] = [
        make(
            "v1",
            "Namespace",
            NAMESPACE,
            site=site,
            phase="infra",
            component="namespace",
            namespaced=False,
        )
    ]
    if vault is not None:
        out += render_secrets(spec, vault, site)
    out += render_network_policies(spec, site)
    if isinstance(where, Datacenter):
        out += render_storage(where)
    out += render_databases(spec, site)
    out += render_control_planes(spec, site)
    out += render_platform(spec, site)
    return sorted(out, key=_order)


def render(spec: InstallSpec, vault: Vault | None = None) -> dict[str, list[Manifest]]:
    """Site name → its manifests in apply order, for every site of `spec`."""
    return {site: render_site(spec, site, vault) for site in spec.site_names}
