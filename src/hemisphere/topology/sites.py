"""The sites of an install spec: the optional central site and the data centers.

Each site is a Kubernetes cluster the installer talks to. These models hold only what a site
says about itself; whether the sites fit together for the chosen scenario is `rules.py`'s job.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hemisphere.topology.fields import (
    Cidr,
    CountryCode,
    DnsLabel,
    Duration,
    Hostname,
    KubeconfigPath,
    Quantity,
    RegistryHost,
    fail,
    short,
)

__all__ = [
    "CentralSite",
    "CephNode",
    "CephStorage",
    "CloudNativePGDatabase",
    "Database",
    "DatabaseExposure",
    "Datacenter",
    "ExternalDatabase",
    "HostedControlPlanes",
    "Ingress",
    "KubernetesAccess",
    "Network",
    "SecretKeyRef",
    "Site",
    "Storage",
    "Tls",
    "WorkerPool",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KubernetesAccess(_Model):
    """How the installer reaches the site's Kubernetes API."""

    kubeconfig: KubeconfigPath = Field(
        description="kubeconfig file; a relative path is relative to the spec file"
    )
    context: str | None = Field(default=None, description="context in the kubeconfig to use")


class Network(_Model):
    """The site's address ranges; they must not overlap any other site's."""

    node_cidr: Cidr = Field(description="addresses of the site's nodes (and its egress)")
    pod_cidr: Cidr = Field(description="the cluster's pod network")
    service_cidr: Cidr = Field(description="the cluster's service network")


class CephNode(_Model):
    """A storage node of the DC's Ceph cluster (its Kubernetes node name)."""

    name: str = Field(min_length=1, max_length=253)
    devices: tuple[str, ...] = Field(
        default=(), description="raw block devices to use, e.g. sdb; empty means all free ones"
    )


class CephStorage(_Model):
    """The DC's own Ceph cluster, run by Rook on the DC's nodes. Never shared with another DC."""

    mon_count: Literal[1, 3, 5] = 3
    replicas: int = Field(default=3, ge=1, le=5, strict=True)
    nodes: tuple[CephNode, ...] = Field(
        default=(), description="storage nodes; empty means every node with free devices"
    )
    public_network: Cidr | None = Field(
        default=None, description="Ceph traffic network; must lie inside the DC's node_cidr"
    )
    data_dir_host_path: str = Field(default="/var/lib/rook", pattern=r"^/[^\x00]*$")
    filesystem: bool = Field(default=True, description="also create CephFS (shared volumes)")


class Storage(_Model):
    ceph: CephStorage = Field(default_factory=CephStorage)


class SecretKeyRef(_Model):
    """A Kubernetes Secret (in namespace `codesphere` of each site using it) and key."""

    name: DnsLabel
    key: str = Field(default="password", min_length=1, max_length=253)


class DatabaseExposure(_Model):
    """How DCs at other sites reach an in-cluster database (a LoadBalancer Service)."""

    host: Hostname = Field(description="DNS name of the load balancer, reachable from each DC")
    port: int = Field(default=5432, ge=1, le=65535, strict=True)


class CloudNativePGDatabase(_Model):
    """PostgreSQL run in the site's cluster by the CloudNativePG operator."""

    type: Literal["cloudnativepg"]
    instances: int = Field(default=3, ge=1, le=9, strict=True)
    storage_size: Quantity = "20Gi"
    postgres_version: Literal[14, 15, 16, 17] = 16
    expose: DatabaseExposure | None = Field(
        default=None, description="required when DCs at other sites use this database"
    )


class ExternalDatabase(_Model):
    """A PostgreSQL server the customer runs outside the cluster."""

    type: Literal["external"]
    url: str = Field(description="postgresql://USER@HOST[:PORT]/DBNAME, without a password")
    password_secret: SecretKeyRef
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] = "verify-full"

    @field_validator("url", mode="plain")
    @classmethod
    def _check_url(cls, value: object) -> str:
        example = "postgresql://codesphere@db.fra.example.com:5432/codesphere"
        if not isinstance(value, str):
            raise fail(f"expected a URL, got {type(value).__name__}", f"write e.g. {example}")
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise fail(
                f"{short(value)} is not a valid URL ({exc})", f"write e.g. {example}"
            ) from None
        if parts.scheme not in ("postgres", "postgresql"):
            raise fail(
                f"URL scheme {short(parts.scheme)} is not postgresql", f"write e.g. {example}"
            )
        if parts.password is not None:
            raise fail(
                "the URL contains a password",
                "remove it from the URL and put it in the Secret named by password_secret",
            )
        if not parts.hostname:
            raise fail("the URL has no host", f"write e.g. {example}")
        if not parts.username:
            raise fail("the URL has no user", f"write e.g. {example}")
        if not unquote(parts.path).strip("/"):
            raise fail("the URL names no database", f"end the URL with /DBNAME, e.g. {example}")
        if port == 0:
            raise fail("the URL's port is 0", "use the server's port, usually 5432")
        return value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 5432

    @property
    def user(self) -> str:
        return unquote(urlsplit(self.url).username or "")

    @property
    def dbname(self) -> str:
        return unquote(urlsplit(self.url).path).strip("/")


Database = Annotated[CloudNativePGDatabase | ExternalDatabase, Field(discriminator="type")]


class Tls(_Model):
    """Where the ingress certificate comes from."""

    mode: Literal["provided", "acme"] = "provided"
    secret_name: DnsLabel = Field(
        default="hemisphere-tls", description="TLS Secret in namespace codesphere"
    )
    cluster_issuer: str | None = Field(
        default=None, description="cert-manager ClusterIssuer (mode acme)"
    )

    @model_validator(mode="after")
    def _issuer_for_acme(self) -> Tls:
        if self.mode == "acme" and not self.cluster_issuer:
            raise fail(
                "tls mode acme needs a cert-manager ClusterIssuer",
                "add cluster_issuer: <name of your ClusterIssuer>, or use mode: provided",
            )
        return self


class Ingress(_Model):
    """The ingress controller the site already runs."""

    class_name: str = Field(default="nginx", min_length=1, max_length=253)
    controller_namespace: DnsLabel = "ingress-nginx"
    tls: Tls = Field(default_factory=Tls)


class WorkerPool(_Model):
    """Customer worker nodes joining a DC's hosted control plane (scenarios 3A/3B)."""

    pool: DnsLabel = Field(description="node label value hemisphere.dev/pool of these workers")
    nodes: int = Field(ge=1, le=5000, strict=True)
    join_token_ttl: Duration = "24h"


class HostedControlPlanes(_Model):
    """The central site's host for the DCs' Kubernetes control planes (scenarios 3A/3B)."""

    provider: Literal["k0smotron", "kamaji"] = "k0smotron"
    kubernetes_version: str = Field(default="v1.31.2", pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+$")
    replicas: int = Field(default=1, ge=1, le=5, strict=True)
    service_type: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"


class _SiteBase(_Model):
    kubernetes: KubernetesAccess
    registry: RegistryHost | None = Field(
        default=None, description="image mirror the site pulls from (required when air-gapped)"
    )
    ingress: Ingress = Field(default_factory=Ingress)


class Datacenter(_SiteBase):
    """A data center: a Kubernetes cluster running the platform services for its workspaces."""

    id: int = Field(ge=1, le=2**31 - 1, strict=True, description="data-center id used by the API")
    name: DnsLabel = Field(description="short name; also the site's cluster name")
    city: str = Field(min_length=1, max_length=100)
    country_code: CountryCode
    domain: Hostname = Field(description="workspace API and preview URLs live under this domain")
    network: Network
    storage: Storage = Field(default_factory=Storage)
    database: Database | None = Field(
        default=None, description="the DC's own database (individual-database scenarios)"
    )
    runtime: Literal["local", "kubernetes"] = "kubernetes"
    workers: WorkerPool | None = Field(
        default=None, description="customer worker pool (hosted control-plane scenarios)"
    )


class CentralSite(_SiteBase):
    """The central site: management console, and per scenario the shared DB or hosted CPs."""

    name: DnsLabel = "central"
    domain: Hostname = Field(description="the management console's DNS name")
    network: Network | None = None
    database: Database = Field(description="shared database, or the console's own database")
    control_planes: HostedControlPlanes | None = Field(
        default=None, description="hosts each DC's Kubernetes control plane (3A/3B)"
    )


Site = CentralSite | Datacenter
