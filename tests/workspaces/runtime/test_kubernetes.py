"""The Kubernetes workspace runtime against a real API server (kwok nodes run the Pods).

What kwok cannot give: a container. Its "kubelet" runs exec requests as host processes in the
harness's exec_home (HOME), and forwards pod port 8080 to 127.0.0.1:<forward_port>. So exec,
terminal and port-forward are tested end to end through the API server's exec/portforward
subresources and real websocket streams, but what answers is a host process, not an image.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from hemisphere.installer.live import load_kubeconfig
from hemisphere.workspaces.runtime.base import (
    ObservedPhase,
    RuntimePermanentError,
    RuntimeTemporaryError,
    WorkspaceNotRunning,
    WorkspaceRuntime,
)
from hemisphere.workspaces.runtime.kubernetes import KubernetesRuntime, KubernetesRuntimeConfig
from tests.services.kube import KubeCluster, kubectl
from tests.workspaces.runtime.k8s_driver import IMAGES, spec

pytestmark = [pytest.mark.e2e, pytest.mark.k8s]

NS = "codesphere-workspaces"
CLASS = "ceph-rbd-test"


@pytest.fixture
def cluster(kube_harness) -> KubeCluster:
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
    yield c  # type: ignore[misc]
    c.reset()


@pytest.fixture
async def runtime(cluster: KubeCluster) -> AsyncIterator[KubernetesRuntime]:
    rt = KubernetesRuntime(
        KubernetesRuntimeConfig(
            access=load_kubeconfig(cluster.kubeconfig, cluster.context),
            storage_class=CLASS,
            namespace=NS,
            images=IMAGES,
        )
    )
    yield rt
    await rt.aclose()


async def _until(runtime: KubernetesRuntime, wid: int, phase: ObservedPhase | None) -> None:
    """Wait (bounded) until observe() shows `phase` for wid (None: nothing left)."""
    for _ in range(300):
        seen = (await runtime.observe()).get(wid)
        if (seen.phase if seen else None) == phase:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"workspace {wid} never reached {phase}; last {seen}")


def _names(cluster: KubeCluster, kind: str, wid: int) -> list[str]:
    out = kubectl(
        cluster, "-n", NS, "get", kind, "-l", f"hemisphere.dev/workspace-id={wid}", "-o", "name"
    )
    return out.split()


async def test_satisfies_the_protocol(runtime: KubernetesRuntime) -> None:
    rt: WorkspaceRuntime = runtime
    assert rt.name == "kubernetes"


async def test_lifecycle_create_start_stop_start_remove(
    runtime: KubernetesRuntime, cluster: KubeCluster
) -> None:
    s = spec(11)
    await runtime.provision(s)
    await runtime.provision(s)  # idempotent
    await _until(runtime, 11, ObservedPhase.STOPPED)

    await runtime.start(s)
    await _until(runtime, 11, ObservedPhase.RUNNING)
    with cluster.client() as c:
        pod = c.get(f"/api/v1/namespaces/{NS}/pods/ws-11").json()
        claim = c.get(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/ws-11-home").json()
    assert claim["spec"]["storageClassName"] == CLASS
    assert claim["status"]["phase"] == "Bound"
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "ws-11-home"
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert {"name": "GREETING", "value": "hello"} in container["env"]
    await runtime.start(s)  # no-op on a running workspace: same Pod
    with cluster.client() as c:
        assert (
            c.get(f"/api/v1/namespaces/{NS}/pods/ws-11").json()["metadata"]["uid"]
            == pod["metadata"]["uid"]
        )

    # Debian's kubectl, an independent client, reads what the runtime created.
    listed = json.loads(
        kubectl(cluster, "-n", NS, "get", "pods,pvc,svc", "-l", "hemisphere.dev/workspace-id=11",
                "-o", "json")
    )  # fmt: skip
    kinds = sorted((i["kind"], i["metadata"]["name"]) for i in listed["items"])
    assert kinds == [
        ("PersistentVolumeClaim", "ws-11-home"),
        ("Pod", "ws-11"),
        ("Service", "ws-11"),
    ]
    assert all(i["metadata"]["labels"]["hemisphere.dev/team-id"] == "7" for i in listed["items"])

    await runtime.stop(11)
    await _until(runtime, 11, ObservedPhase.STOPPED)
    await runtime.stop(11)  # idempotent
    assert _names(cluster, "pvc", 11) == ["persistentvolumeclaim/ws-11-home"]
    with pytest.raises(WorkspaceNotRunning):
        await runtime.exec(11, "true", env={}, working_dir=None, timeout_s=5)

    await runtime.start(s)
    await _until(runtime, 11, ObservedPhase.RUNNING)
    with cluster.client() as c:  # the same storage came back
        again = c.get(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/ws-11-home").json()
    assert again["metadata"]["uid"] == claim["metadata"]["uid"]

    await runtime.remove(11)
    await _until(runtime, 11, None)
    await runtime.remove(11)  # idempotent
    for kind in ("pods", "pvc", "svc"):
        assert _names(cluster, kind, 11) == []


async def test_git_credentials_live_in_a_secret_never_in_the_pod(
    runtime: KubernetesRuntime, cluster: KubeCluster
) -> None:
    """A gitUrl's password reaches the clone through a Secret and git's credential protocol:
    the Pod spec (stored in the API server, readable by anyone who may list Pods) names the
    Secret, never the value."""
    planted = "planted-" + os.urandom(6).hex()
    s = replace(spec(13), git_url=f"https://alice:{planted}@git.example.com/team/app.git")
    await runtime.provision(s)
    await runtime.start(s)
    with cluster.client() as c:
        pod = c.get(f"/api/v1/namespaces/{NS}/pods/ws-13").json()
        secret = c.get(f"/api/v1/namespaces/{NS}/secrets/ws-13-git").json()
    assert planted not in json.dumps(pod)
    clone = pod["spec"]["initContainers"][0]
    assert "https://git.example.com/team/app.git" in clone["command"][-1]
    refs = {e["name"]: e.get("valueFrom") for e in clone["env"]}
    assert refs["HEMISPHERE_GIT_PASSWORD"] == {
        "secretKeyRef": {"name": "ws-13-git", "key": "password"}
    }
    assert base64.b64decode(secret["data"]["password"]).decode() == planted
    assert base64.b64decode(secret["data"]["username"]).decode() == "alice"

    await runtime.remove(13)
    await _until(runtime, 13, None)
    assert _names(cluster, "secrets", 13) == []


async def test_a_changed_spec_replaces_the_sandbox(runtime: KubernetesRuntime) -> None:
    s = spec(12)
    await runtime.start(s)
    await _until(runtime, 12, ObservedPhase.RUNNING)
    bigger = replace(s, memory_mib=1024)
    with pytest.raises(RuntimeTemporaryError, match="replacing the sandbox"):
        await runtime.start(bigger)
    for _ in range(100):  # the reconciler would retry; so do we
        try:
            await runtime.start(bigger)
            break
        except RuntimeTemporaryError:
            await asyncio.sleep(0.1)
    await _until(runtime, 12, ObservedPhase.RUNNING)


async def test_unknown_base_image_is_permanent(runtime: KubernetesRuntime) -> None:
    with pytest.raises(RuntimePermanentError, match="base image 'arch' has no image"):
        await runtime.start(replace(spec(13), base_image="arch"))


async def test_a_crashed_sandbox_is_observed_failed_with_the_reason(
    runtime: KubernetesRuntime, cluster: KubeCluster
) -> None:
    await runtime.start(spec(14))
    await _until(runtime, 14, ObservedPhase.RUNNING)
    # What a kubelet reports when the container is gone for good.
    with cluster.client() as c:
        pod = c.get(f"/api/v1/namespaces/{NS}/pods/ws-14").json()
        status = pod["status"]
        status["phase"] = "Failed"
        status["reason"] = "Evicted"
        status["message"] = "The node was low on resource: memory."
        r = c.put(f"/api/v1/namespaces/{NS}/pods/ws-14/status", json=pod)
        assert r.status_code == 200, r.text
    await _until(runtime, 14, ObservedPhase.FAILED)
    seen = (await runtime.observe())[14]
    assert seen.reason is not None and "Evicted" in seen.reason
    await runtime.stop(14)  # the reconciler cleans it up
    await _until(runtime, 14, ObservedPhase.STOPPED)


async def test_exec_runs_through_the_api_server(
    runtime: KubernetesRuntime, cluster: KubeCluster
) -> None:
    await runtime.start(spec(15))
    await _until(runtime, 15, ObservedPhase.RUNNING)
    r = await runtime.exec(
        15, 'echo "$GREETING $WHO"; pwd; echo oops >&2; exit 3',
        env={"GREETING": "hi", "WHO": "there"}, working_dir="/tmp", timeout_s=10,
    )  # fmt: skip
    assert (r.output, r.error, r.exit_code, r.timed_out) == ("hi there\n/tmp\n", "oops\n", 3, False)
    ok = await runtime.exec(15, "echo $HOME", env={}, working_dir=None, timeout_s=10)
    assert ok.exit_code == 0 and ok.output.strip() == str(cluster.exec_home)
    slow = await runtime.exec(15, "sleep 30", env={}, working_dir=None, timeout_s=1)
    assert slow.timed_out and slow.exit_code == 124

    (cluster.exec_home / "blob").write_bytes(os.urandom(3 * 1024 * 1024))
    assert await runtime.storage_usage_mib(15) >= 3


async def test_terminal_and_port_forward(runtime: KubernetesRuntime, cluster: KubeCluster) -> None:
    await runtime.start(spec(16))
    await _until(runtime, 16, ObservedPhase.RUNNING)

    term = await runtime.open_terminal(16, 100, 30)
    try:
        deadline = time.monotonic() + 20

        async def run(command: bytes, marker: bytes) -> bytes:
            await term.write(command + b"; echo " + marker[:-1] + b"$((0+" + marker[-1:] + b"))\n")
            out = b""
            while marker not in out and time.monotonic() < deadline:
                out += await asyncio.wait_for(term.read(), 20)
            assert marker in out, out
            return out

        # The initial size travels on the resize channel just after the stream opens, so the
        # very first command may still see 0x0: ask until the size has arrived.
        attempt = 0
        while b"30 100" not in await run(b"stty size", b"marker-" + str(attempt % 10).encode()):
            attempt += 1
            assert time.monotonic() < deadline, "the initial terminal size never arrived"
        await term.resize(120, 40)
        await term.write(b"stty size\n")
        more = b""
        while b"40 120" not in more and time.monotonic() < deadline:
            more += await asyncio.wait_for(term.read(), 20)
        assert b"40 120" in more
        await term.write(b"exit\n")
    finally:
        await term.close()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readline()
        writer.write(b"echo:" + data)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", cluster.forward_port)
    try:
        assert cluster.forward_port in await runtime.listening_ports(16)
        reader, writer = await runtime.connect_port(16, 8080)
        writer.write(b"ping\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.readline(), 20) == b"echo:ping\n"
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


def _drive(cluster: KubeCluster, op: str, ids: list[int], kill_when_claim: str | None) -> int:
    """Run the driver; SIGKILL it as soon as `kill_when_claim` exists (mid-operation)."""
    argv = [sys.executable, "-m", "tests.workspaces.runtime.k8s_driver", str(cluster.kubeconfig),
            cluster.context, NS, CLASS, op, *map(str, ids)]  # fmt: skip
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL) as proc, cluster.client() as c:  # fmt: skip
        while proc.poll() is None:
            if kill_when_claim is not None:
                r = c.get(f"/api/v1/namespaces/{NS}/persistentvolumeclaims/{kill_when_claim}")
                gone = op == "remove" and (
                    r.status_code == 404 or r.json()["metadata"].get("deletionTimestamp")
                )
                if (op == "start" and r.status_code == 200) or gone:
                    os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.005)
        return proc.wait()


async def test_killed_mid_operation_then_rerun_leaves_no_orphans_or_duplicates(
    runtime: KubernetesRuntime, cluster: KubeCluster
) -> None:
    ids = list(range(20, 30))
    code = _drive(cluster, "start", ids, kill_when_claim="ws-24-home")
    assert code == -signal.SIGKILL
    half = await runtime.observe()
    assert 20 in half and 29 not in half  # really interrupted half-way

    for wid in ids:  # the restarted dc process converges
        await runtime.start(spec(wid))
    for wid in ids:
        await _until(runtime, wid, ObservedPhase.RUNNING)
    observed = await runtime.observe()
    assert sorted(observed) == ids
    for kind in ("pods", "pvc", "svc"):
        out = kubectl(cluster, "-n", NS, "get", kind, "-o", "name").split()
        assert len(out) == len(ids), (kind, out)  # one of each per workspace, no duplicates

    code = _drive(cluster, "remove", ids, kill_when_claim="ws-25-home")
    assert code == -signal.SIGKILL
    for wid in ids:
        await runtime.remove(wid)
    for wid in ids:
        await _until(runtime, wid, None)
    for kind in ("pods", "pvc", "svc"):
        assert kubectl(cluster, "-n", NS, "get", kind, "-o", "name").split() == []
    with cluster.client() as c:  # storage released back: no orphaned volumes either
        for _ in range(100):
            pvs = c.get("/api/v1/persistentvolumes").json()["items"]
            if not pvs:
                break
            time.sleep(0.1)
        assert pvs == []
