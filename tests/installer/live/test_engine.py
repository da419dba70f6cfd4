"""The apply engine on small hand-written manifests, against a real API server: readiness
timeouts name the object, pre-existing objects are adopted and never deleted, an operator's CRD
is left alone, an unknown kind is refused clearly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hemisphere.installer.live import (
    Action,
    Event,
    SiteTarget,
    Step,
    apply_site,
    load_kubeconfig,
    status_site,
    uninstall_site,
)
from hemisphere.installer.live.crds import bundled_crd_for
from tests.services.kube import KubeCluster, kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.k8s]

NS = "engine-test"


def _ns(name: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _deployment(name: str, *, replicas: int = 1, node_selector: dict[str, str] | None = None,
                phase: str = "platform", timeout: str | None = None) -> dict[str, Any]:  # fmt: skip
    annotations = {"hemisphere.dev/phase": phase}
    if timeout:
        annotations["hemisphere.dev/ready-timeout-seconds"] = timeout
    pod: dict[str, Any] = {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]}
    if node_selector:
        pod["nodeSelector"] = node_selector
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
        },
    }


@pytest.fixture
def cluster(kube_harness) -> KubeCluster:
    c: KubeCluster = kube_harness.cluster()
    yield c  # type: ignore[misc]
    c.reset()


def _target(cluster: KubeCluster, manifests: list[dict[str, Any]]) -> SiteTarget:
    return SiteTarget("test", load_kubeconfig(cluster.kubeconfig, cluster.context), manifests)


def test_phases_apply_in_order_and_wait_for_readiness(cluster: KubeCluster) -> None:
    events: list[Event] = []
    manifests = [
        _deployment("web", replicas=2),
        _deployment("db", phase="dependencies"),
        _ns(),
    ]
    report = asyncio.run(apply_site(_target(cluster, manifests), on_event=events.append))
    assert report.error is None
    objects = [(e.phase, e.obj) for e in events if e.step == Step.OBJECT]
    assert objects == [
        ("infra", f"Namespace {NS}"),
        ("dependencies", f"Deployment {NS}/db"),
        ("platform", f"Deployment {NS}/web"),
    ]
    ready = [e.obj for e in events if e.step == Step.READY]
    assert f"Deployment {NS}/web" in ready
    # The db phase was ready before the platform phase started.
    steps = [(e.step, e.phase) for e in events]
    assert steps.index((Step.PHASE_DONE, "dependencies")) < steps.index(
        (Step.PHASE_STARTED, "platform")
    )
    again = asyncio.run(apply_site(_target(cluster, manifests)))
    assert not again.changed and again.actions[Action.UNCHANGED] == 3


def test_readiness_timeout_names_the_object_and_the_reason(cluster: KubeCluster) -> None:
    manifests = [_ns(), _deployment("stuck", node_selector={"zone": "nowhere"}, timeout="3")]
    report = asyncio.run(apply_site(_target(cluster, manifests)))
    assert report.error is not None
    assert f"Deployment {NS}/stuck not ready after 3s (phase platform)" in report.error
    assert "0/1 replicas available" in report.error
    assert "didn't match Pod's node affinity/selector" in report.error  # the scheduler's words
    status = asyncio.run(status_site(_target(cluster, manifests)))
    bad = {str(o.ref): o for o in status.unhealthy}
    assert f"Deployment {NS}/stuck" in bad


def test_preexisting_objects_are_adopted_and_survive_uninstall(cluster: KubeCluster) -> None:
    kubectl(cluster, "create", "namespace", NS)
    kubectl(cluster, "-n", NS, "create", "configmap", "settings", "--from-literal=mine=yes")
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": NS},
        "data": {"hemisphere": "1"},
    }
    ours = {**config, "metadata": {"name": "ours", "namespace": NS}}
    target = _target(cluster, [_ns(), config, ours])
    report = asyncio.run(apply_site(target))
    assert report.error is None
    # The namespace gains no field (unchanged), the ConfigMap gains a key (adopted).
    assert report.actions[Action.ADOPTED] == 1 and report.actions[Action.CREATED] == 1
    assert report.actions[Action.UNCHANGED] == 1
    merged = kubectl(cluster, "-n", NS, "get", "configmap", "settings", "-o", "jsonpath={.data}")
    assert '"mine":"yes"' in merged and '"hemisphere":"1"' in merged

    gone = asyncio.run(uninstall_site(target))
    assert gone.error is None
    assert gone.actions[Action.DELETED] == 1 and gone.actions[Action.NOT_OURS] == 2
    left = kubectl(cluster, "-n", NS, "get", "configmaps", "-o", "name")
    assert "configmap/settings" in left and "configmap/ours" not in left


def test_an_operators_crd_is_kept(cluster: KubeCluster) -> None:
    crd = bundled_crd_for("postgresql.cnpg.io/v1", "Cluster")
    assert crd is not None
    operator_crd = {**crd, "metadata": {"name": crd["metadata"]["name"]}}  # no Hemisphere label
    with cluster.client() as c:
        c.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=operator_crd)
    db = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "db", "namespace": NS},
        "spec": {"instances": 1, "storage": {"size": "1Gi"}},
    }
    events: list[Event] = []
    target = _target(cluster, [_ns(), db])
    report = asyncio.run(apply_site(target, on_event=events.append))
    assert report.error is None
    assert report.actions[Action.KEPT] == 1
    asyncio.run(uninstall_site(target))
    with cluster.client() as c:
        assert (
            c.get(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
            ).status_code
            == 200
        )


def test_a_kind_nobody_serves_is_refused_before_anything_is_applied(cluster: KubeCluster) -> None:
    odd = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    report = asyncio.run(apply_site(_target(cluster, [_ns(), odd])))
    assert report.error is not None
    assert "Gadget (example.com/v1) is not served" in report.error
    assert "install its operator first" in report.error
    with cluster.client() as c:
        assert c.get(f"/api/v1/namespaces/{NS}").status_code == 404


def test_a_bad_phase_annotation_is_reported(cluster: KubeCluster) -> None:
    bad = _ns()
    bad["metadata"]["annotations"] = {"hemisphere.dev/phase": "later"}
    report = asyncio.run(apply_site(_target(cluster, [bad])))
    assert report.error is not None and "'later' is not one of infra" in report.error
