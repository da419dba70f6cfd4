"""Databases: a CloudNativePG `Cluster` where a site hosts one, an endpoint where it is external.

A database that DCs at other sites use (the shared database of 2A/3A) is also exposed through a
LoadBalancer Service at the name the spec gives; `database_env` is how every service finds the
database it should use, from wherever it runs.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hemisphere.installer.render.images import POSTGRESQL, mirrored
from hemisphere.installer.render.meta import Manifest, make
from hemisphere.installer.render.secrets import DB_SECRET
from hemisphere.installer.render.storage import BLOCK_STORAGE_CLASS, pool_affinity
from hemisphere.topology import (
    CloudNativePGDatabase,
    DatabaseAssignment,
    Datacenter,
    ExternalDatabase,
    InstallSpec,
)

__all__ = ["EXTERNAL_DB_SERVICE", "PUBLIC_DB_SERVICE", "database_env", "render_databases"]

PUBLIC_DB_SERVICE = "hemisphere-db-public"
EXTERNAL_DB_SERVICE = "hemisphere-db-external"


def _cnpg_cluster(spec: InstallSpec, db: DatabaseAssignment, site: str) -> list[Manifest]:
    assert isinstance(db.config, CloudNativePGDatabase)
    config = db.config
    where = spec.site(site)
    storage: dict[str, Any] = {"size": config.storage_size}
    if isinstance(where, Datacenter):
        storage["storageClass"] = BLOCK_STORAGE_CLASS
    body: dict[str, Any] = {
        "instances": config.instances,
        "imageName": mirrored(POSTGRESQL[config.postgres_version], where.registry),
        "primaryUpdateStrategy": "unsupervised",
        "storage": storage,
        "bootstrap": {
            "initdb": {"database": db.dbname, "owner": db.user, "secret": {"name": DB_SECRET}}
        },
        "enableSuperuserAccess": False,
    }
    if isinstance(where, Datacenter) and where.workers is not None:
        body["affinity"] = {"nodeSelector": pool_affinity(where)}
    out = [
        make(
            "postgresql.cnpg.io/v1",
            "Cluster",
            db.cluster_name,
            site=site,
            phase="dependencies",
            component="database",
            annotations={"hemisphere.dev/database": db.key},
            spec=body,
        )
    ]
    if config.expose is not None:
        out.append(
            make(
                "v1",
                "Service",
                PUBLIC_DB_SERVICE,
                site=site,
                phase="dependencies",
                component="database",
                annotations={"external-dns.alpha.kubernetes.io/hostname": config.expose.host},
                spec={
                    "type": "LoadBalancer",
                    "selector": {
                        "cnpg.io/cluster": db.cluster_name,
                        "cnpg.io/instanceRole": "primary",
                    },
                    "ports": [
                        {
                            "name": "postgres",
                            "port": config.expose.port,
                            "targetPort": 5432,
                            "protocol": "TCP",
                        }
                    ],
                },
            )
        )
    return out


def _external_endpoint(db: DatabaseAssignment, site: str) -> list[Manifest]:
    assert isinstance(db.config, ExternalDatabase)
    host, port = db.config.host, db.config.port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return [
            make(
                "v1",
                "Service",
                EXTERNAL_DB_SERVICE,
                site=site,
                phase="dependencies",
                component="database",
                spec={
                    "type": "ExternalName",
                    "externalName": host,
                    "ports": [{"name": "postgres", "port": port, "protocol": "TCP"}],
                },
            )
        ]
    family = "IPv4" if address.version == 4 else "IPv6"
    service = make(
        "v1",
        "Service",
        EXTERNAL_DB_SERVICE,
        site=site,
        phase="dependencies",
        component="database",
        spec={"ports": [{"name": "postgres", "port": port, "protocol": "TCP"}]},
    )
    slice_ = make(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        f"{EXTERNAL_DB_SERVICE}-1",
        site=site,
        phase="dependencies",
        component="database",
        addressType=family,
        endpoints=[{"addresses": [str(address)]}],
        ports=[{"name": "postgres", "port": port, "protocol": "TCP"}],
    )
    slice_["metadata"]["labels"]["kubernetes.io/service-name"] = EXTERNAL_DB_SERVICE
    return [service, slice_]


def render_databases(spec: InstallSpec, site: str) -> list[Manifest]:
    """The database objects of `site`: those it hosts, and the external one it uses."""
    out: list[Manifest] = []
    for db in spec.databases:
        if db.site == site:
            out.extend(_cnpg_cluster(spec, db, site))
    used = spec.database_of_site(site)
    if not used.in_cluster:
        out.extend(_external_endpoint(used, site))
    return out


def database_env(spec: InstallSpec, site: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Plain settings and secret-backed env vars for services on `site` to reach their DB."""
    db = spec.database_of_site(site)
    endpoint = db.endpoint_for(site)
    url = f"postgresql://{db.user}@{endpoint.host}:{endpoint.port}/{db.dbname}?sslmode={db.sslmode}"
    if isinstance(db.config, ExternalDatabase):
        ref = {"name": db.config.password_secret.name, "key": db.config.password_secret.key}
    else:
        ref = {"name": DB_SECRET, "key": "password"}
    settings = {"HEMISPHERE_DATABASE_URL": url, "HEMISPHERE_DATABASE": db.key}
    secret_env = [{"name": "HEMISPHERE_DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": ref}}]
    return settings, secret_env
