"""A stand-in CSI provisioner for the Kubernetes harness (there is no storage driver on kwok).

It does what an external-provisioner sidecar does, without a real volume behind it: for every
PersistentVolumeClaim that the PV controller hands to an external provisioner (annotation
`volume.kubernetes.io/storage-provisioner`), it creates a PersistentVolume pre-bound to the claim
(claimRef), whatever the storage class's provisioner is named; the real PV controller in
kube-controller-manager then binds them. Released volumes with reclaim policy Delete are deleted.

Run by tests/services/kube.py as a child process, one per cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
import time
from pathlib import Path
from typing import Any

import httpx

PROVISIONER_ANNOTATIONS = (
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
)


def _pv_for(pvc: dict[str, Any], volumes_dir: Path) -> dict[str, Any]:
    meta, spec = pvc["metadata"], pvc["spec"]
    size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    path = volumes_dir / meta["uid"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {"pv.kubernetes.io/provisioned-by": "hemisphere-test-provisioner"},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "storageClassName": spec.get("storageClassName", ""),
            "persistentVolumeReclaimPolicy": "Delete",
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def reconcile_once(client: httpx.Client, volumes_dir: Path, made: set[str]) -> None:
    pvcs = client.get("/api/v1/persistentvolumeclaims").json().get("items", [])
    for pvc in pvcs:
        annotations = pvc["metadata"].get("annotations") or {}
        wants = any(a in annotations for a in PROVISIONER_ANNOTATIONS)
        uid = pvc["metadata"]["uid"]
        if not wants or pvc["spec"].get("volumeName") or pvc["metadata"].get("deletionTimestamp"):
            continue
        if uid in made:
            continue  # its volume exists; the PV controller is binding them
        (volumes_dir / uid).mkdir(parents=True, exist_ok=True)
        r = client.post("/api/v1/persistentvolumes", json=_pv_for(pvc, volumes_dir))
        if r.status_code in (201, 409):
            made.add(uid)
    pvs = client.get("/api/v1/persistentvolumes").json().get("items", [])
    for pv in pvs:
        if (
            pv.get("status", {}).get("phase") in ("Released", "Failed")
            and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
        ):
            client.delete(f"/api/v1/persistentvolumes/{pv['metadata']['name']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    for flag in ("--server", "--ca", "--cert", "--key", "--volumes-dir"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    volumes_dir = Path(args.volumes_dir)
    volumes_dir.mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    with httpx.Client(base_url=args.server, verify=ctx, timeout=10) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                reconcile_once(client, volumes_dir, made)
            time.sleep(0.1)


if __name__ == "__main__":
    main()
