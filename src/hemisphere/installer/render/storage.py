"""Storage of one data center: its own Rook `CephCluster`, pools and StorageClasses.

Ceph is never shared across data centers: each DC's cluster gets its own Ceph on its own nodes
(restricted to the DC's worker pool when the control plane is hosted centrally), and the
StorageClasses name that cluster (Rook's `clusterID` is the namespace it runs in). The CSI
provisioner names assume the Rook operator runs in namespace `rook-ceph` (Rook's default).
"""

from __future__ import annotations

from typing import Any

from hemisphere.installer.render.images import CEPH, mirrored
from hemisphere.installer.render.meta import Manifest, make
from hemisphere.topology import NAMESPACE, Datacenter

__all__ = [
    "BLOCK_POOL",
    "BLOCK_STORAGE_CLASS",
    "FILESYSTEM",
    "FILE_STORAGE_CLASS",
    "POOL_LABEL",
    "pool_affinity",
    "render_storage",
]

CEPH_CLUSTER = "hemisphere-ceph"
BLOCK_POOL = "hemisphere-block"
FILESYSTEM = "hemisphere-fs"
BLOCK_STORAGE_CLASS = "ceph-block"
FILE_STORAGE_CLASS = "ceph-filesystem"
POOL_LABEL = "hemisphere.dev/pool"
_OPERATOR_NAMESPACE = "rook-ceph"


def pool_affinity(dc: Datacenter) -> dict[str, str]:
    """Node selector that keeps the DC's pods on its customer worker pool (hosted CPs)."""
    return {POOL_LABEL: dc.workers.pool} if dc.workers is not None else {}


def _csi_secrets(kind: str) -> dict[str, str]:
    prefix = "csi.storage.k8s.io"
    return {
        f"{prefix}/provisioner-secret-name": f"rook-csi-{kind}-provisioner",
        f"{prefix}/provisioner-secret-namespace": NAMESPACE,
        f"{prefix}/controller-expand-secret-name": f"rook-csi-{kind}-provisioner",
        f"{prefix}/controller-expand-secret-namespace": NAMESPACE,
        f"{prefix}/node-stage-secret-name": f"rook-csi-{kind}-node",
        f"{prefix}/node-stage-secret-namespace": NAMESPACE,
    }


def _cluster(dc: Datacenter) -> Manifest:
    ceph = dc.storage.ceph
    storage: dict[str, Any]
    if ceph.nodes:
        storage = {
            "useAllNodes": False,
            "useAllDevices": False,
            "nodes": [
                {"name": n.name, "devices": [{"name": d} for d in n.devices]}
                if n.devices
                else {"name": n.name, "useAllDevices": True}
                for n in ceph.nodes
            ],
        }
    else:
        storage = {"useAllNodes": True, "useAllDevices": True}
    spec: dict[str, Any] = {
        "cephVersion": {"image": mirrored(CEPH, dc.registry), "allowUnsupported": False},
        "dataDirHostPath": ceph.data_dir_host_path,
        "mon": {"count": ceph.mon_count, "allowMultiplePerNode": False},
        "mgr": {"count": 2 if ceph.mon_count > 1 else 1, "allowMultiplePerNode": False},
        "dashboard": {"enabled": False},
        "crashCollector": {"disable": True},
        "storage": storage,
    }
    if ceph.public_network is not None:
        spec["network"] = {
            "provider": "host",
            "addressRanges": {"public": [str(ceph.public_network)]},
        }
    if dc.workers is not None:
        spec["placement"] = {
            "all": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": POOL_LABEL,
                                        "operator": "In",
                                        "values": [dc.workers.pool],
                                    }
                                ]
                            }
                        ]
                    }
                }
            }
        }
    return make(
        "ceph.rook.io/v1",
        "CephCluster",
        CEPH_CLUSTER,
        site=dc.name,
        phase="dependencies",
        component="storage",
        spec=spec,
    )


def render_storage(dc: Datacenter) -> list[Manifest]:
    """CephCluster, block pool, filesystem and StorageClasses of data center `dc`."""
    ceph = dc.storage.ceph
    replicated = {"size": ceph.replicas, "requireSafeReplicaSize": ceph.replicas > 1}
    out = [
        _cluster(dc),
        make(
            "ceph.rook.io/v1",
            "CephBlockPool",
            BLOCK_POOL,
            site=dc.name,
            phase="dependencies",
            component="storage",
            spec={"failureDomain": "host", "replicated": replicated},
        ),
        make(
            "storage.k8s.io/v1",
            "StorageClass",
            BLOCK_STORAGE_CLASS,
            site=dc.name,
            phase="infra",
            component="storage",
            namespaced=False,
            provisioner=f"{_OPERATOR_NAMESPACE}.rbd.csi.ceph.com",
            parameters={
                "clusterID": NAMESPACE,
                "pool": BLOCK_POOL,
                "imageFormat": "2",
                "imageFeatures": "layering",
                "csi.storage.k8s.io/fstype": "ext4",
                **_csi_secrets("rbd"),
            },
            reclaimPolicy="Delete",
            allowVolumeExpansion=True,
            volumeBindingMode="Immediate",
        ),
    ]
    if ceph.filesystem:
        out += [
            make(
                "ceph.rook.io/v1",
                "CephFilesystem",
                FILESYSTEM,
                site=dc.name,
                phase="dependencies",
                component="storage",
                spec={
                    "metadataPool": {"replicated": replicated},
                    "dataPools": [{"name": "replicated", "replicated": replicated}],
                    "preserveFilesystemOnDelete": True,
                    "metadataServer": {"activeCount": 1, "activeStandby": ceph.replicas > 1},
                },
            ),
            make(
                "storage.k8s.io/v1",
                "StorageClass",
                FILE_STORAGE_CLASS,
                site=dc.name,
                phase="infra",
                component="storage",
                namespaced=False,
                provisioner=f"{_OPERATOR_NAMESPACE}.cephfs.csi.ceph.com",
                parameters={
                    "clusterID": NAMESPACE,
                    "fsName": FILESYSTEM,
                    "pool": f"{FILESYSTEM}-replicated",
                    **_csi_secrets("cephfs"),
                },
                reclaimPolicy="Delete",
                allowVolumeExpansion=True,
                volumeBindingMode="Immediate",
            ),
        ]
    return out
