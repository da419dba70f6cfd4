"""Helpers for the live-cluster tests: example specs pointed at harness clusters, the CLI as a
subprocess, and snapshots of what Hemisphere put into a cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.services.kube import KubeCluster

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class HarnessSpec:
    """An example spec whose sites point at harness clusters."""

    path: Path
    sites: dict[str, KubeCluster]  # site name -> cluster


def point_spec_at(example: str, clusters: Sequence[KubeCluster], tmp: Path) -> HarnessSpec:
    """Copy `examples/<example>.yaml` into tmp with each site's kubeconfig/context rewritten to
    a harness cluster (central site first, then the DCs, in spec order)."""
    doc = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    site_docs: list[dict[str, Any]] = ([doc["central"]] if doc.get("central") else []) + list(
        doc["datacenters"]
    )
    assert len(clusters) >= len(site_docs), f"{example} needs {len(site_docs)} clusters"
    sites: dict[str, KubeCluster] = {}
    for site, cluster in zip(site_docs, clusters, strict=False):
        site["kubernetes"] = {"kubeconfig": str(cluster.kubeconfig), "context": cluster.context}
        sites[site.get("name", "central")] = cluster
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{example}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return HarnessSpec(path, sites)


def hemisphere(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (`python -m hemisphere.cli.main ...`)."""
    proc = subprocess.run(
        [sys.executable, "-m", "hemisphere.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"hemisphere {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


_SKIP_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation")


def managed_snapshot(cluster: KubeCluster, kinds: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Every object labelled managed-by=hemisphere of the given (apiVersion, plural) kinds,
    server-populated fields removed: the live state to compare between runs/clusters."""
    out: dict[str, Any] = {}
    with cluster.client() as c:
        for api_version, plural in kinds:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            for _ in range(20):  # 429 while a just-created CRD's endpoint starts serving
                resp = c.get(
                    f"{base}/{plural}",
                    params={"labelSelector": "app.kubernetes.io/managed-by=hemisphere"},
                )
                if resp.status_code != 429:
                    break
                time.sleep(0.25)
            if resp.status_code == 404:
                continue
            resp.raise_for_status()
            for item in resp.json()["items"]:
                meta = item["metadata"]
                if meta.get("ownerReferences"):
                    continue  # made by a controller (EndpointSlices copy Service labels)
                key = f"{api_version}/{plural}/{meta.get('namespace', '')}/{meta['name']}"
                meta = {k: v for k, v in meta.items() if k not in _SKIP_META}
                spec = _strip_allocated(item.get("spec"))
                out[key] = {"metadata": meta, "spec": spec, "data": item.get("data")}
    return out


def _strip_allocated(spec: Any) -> Any:
    """Fields the cluster allocates (differ between clusters and runs)."""
    if not isinstance(spec, Mapping):
        return spec
    return {k: v for k, v in spec.items() if k not in ("clusterIP", "clusterIPs", "volumeName")}


SNAPSHOT_KINDS = (
    ("v1", "namespaces"),
    ("v1", "configmaps"),
    ("v1", "secrets"),
    ("v1", "services"),
    ("v1", "serviceaccounts"),
    ("apps/v1", "deployments"),
    ("storage.k8s.io/v1", "storageclasses"),
    ("networking.k8s.io/v1", "networkpolicies"),
    ("networking.k8s.io/v1", "ingresses"),
    ("rbac.authorization.k8s.io/v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "rolebindings"),
    ("discovery.k8s.io/v1", "endpointslices"),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
    ("ceph.rook.io/v1", "cephclusters"),
    ("ceph.rook.io/v1", "cephblockpools"),
    ("ceph.rook.io/v1", "cephfilesystems"),
    ("postgresql.cnpg.io/v1", "clusters"),
    ("k0smotron.io/v1beta1", "clusters"),
    ("k0smotron.io/v1beta1", "jointokenrequests"),
    ("kamaji.clastix.io/v1alpha1", "tenantcontrolplanes"),
)


def plain_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("site ")]


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)


@pytest.fixture
def spec_on(kube_harness: Any, tmp_path: Path) -> Callable[[str, int], HarnessSpec]:
    """`spec_on("air-gapped", 1)`: the example pointed at the first n harness clusters, which
    are reset (emptied) after the test."""
    used: list[KubeCluster] = []

    def make(example: str, count: int) -> HarnessSpec:
        clusters = kube_harness.clusters(count)
        used.extend(clusters)
        return point_spec_at(example, clusters, tmp_path / example)

    yield make  # type: ignore[misc]
    for cluster in used:
        cluster.reset()
