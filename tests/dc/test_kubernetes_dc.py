"""A data center configured with the kubernetes runtime: the API and the reconciler drive
workspaces as Pods/PVCs/Services on a real kube-apiserver (kwok nodes run the Pods)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hemisphere.sdk import HemisphereClient
from tests.dc.test_api_workspaces import new_ws, wait_for, wait_gone
from tests.services.kube import KubeCluster, kubectl
from tests.services.platform import RunningPlatform, platform_settings

pytestmark = [pytest.mark.e2e, pytest.mark.k8s]
NS = "dc-workspaces"
CLASS = "ceph-block-test"


@pytest.fixture
def cluster(kube_harness) -> Iterator[KubeCluster]:  # type: ignore[no-untyped-def]
    c: KubeCluster = kube_harness.cluster()
    with c.client() as client:
        client.post(
            "/apis/storage.k8s.io/v1/storageclasses",
            json={
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": CLASS},
                "provisioner": "rook-ceph.rbd.csi.ceph.com",
            },
        )
    yield c
    c.reset()


def _objects(cluster: KubeCluster, kind: str, wid: int) -> list[str]:
    out = kubectl(cluster, "get", kind, "-n", NS, "-l", f"hemisphere.dev/workspace-id={wid}",
                  "-o", "json")  # fmt: skip
    return [item["metadata"]["name"] for item in json.loads(out)["items"]]


def _eventually(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_kubernetes_dc_runs_workspaces_as_pods(data_dir: Path, cluster: KubeCluster) -> None:
    settings = platform_settings(
        data_dir,
        runtime="kubernetes",
        kubeconfig=str(cluster.kubeconfig),
        kube_context=cluster.context,
        storage_class=CLASS,
        workspace_namespace=NS,
        workspace_images={"ubuntu-24.04": "registry.invalid/hemisphere/workspace:ubuntu-24.04"},
    )
    p = RunningPlatform(settings).start()
    try:
        _, token = p.new_user()
        c: HemisphereClient
        with p.client(token) as c:
            team = c.create_team("k8s", dc=1)
            ws = c.create_workspace(new_ws(team.id, "on-k8s"))
            wait_for(c, ws.id, lambda s: s.isRunning, timeout=120)
            assert _objects(cluster, "pods", ws.id) == [f"ws-{ws.id}"]
            assert _objects(cluster, "pvc", ws.id) == [f"ws-{ws.id}-home"]
            assert _objects(cluster, "services", ws.id) == [f"ws-{ws.id}"]
            phase = kubectl(cluster, "get", "pod", f"ws-{ws.id}", "-n", NS,
                            "-o", "jsonpath={.status.phase}")  # fmt: skip
            assert phase.strip() == "Running"

            c.stop_workspace(ws.id)
            wait_for(c, ws.id, lambda s: s.state == "stopped", timeout=120)
            _eventually(lambda: _objects(cluster, "pods", ws.id) == [], "the Pod to go")
            assert _objects(cluster, "pvc", ws.id) == [f"ws-{ws.id}-home"]  # storage kept

            c.start_workspace(ws.id)
            wait_for(c, ws.id, lambda s: s.isRunning, timeout=120)
            assert _objects(cluster, "pods", ws.id) == [f"ws-{ws.id}"]

            c.delete_workspace(ws.id)
            wait_gone(c, ws.id, timeout=120)
            _eventually(
                lambda: not any(_objects(cluster, k, ws.id) for k in ("pods", "pvc", "services")),
                "every object of the workspace to be removed",
            )
    finally:
        p.stop()
