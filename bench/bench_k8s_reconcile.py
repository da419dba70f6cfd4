"""Kubernetes runtime latency: workspace start requested -> Pod Running and Ready (on kwok).

On one harness cluster (real kube-apiserver, scheduler, controller-manager; kwok nodes; the
harness's stand-in volume provisioner), for N workspaces (default 100, 10 at a time):

* runtime: `KubernetesRuntime.provision()` + `start()` (namespace/PVC/Service by server-side
  apply, then the Pod), latency until a watch sees the Pod Ready;
* baseline, same objects: a PVC and the same Pod created directly with the client (two POSTs);
* baseline, bare Pod: the Pod without a volume (scheduling + kwok only).

All three in the same run, each in a fresh namespace. Run: `python -m bench k8s_reconcile`.
Size: HEMISPHERE_BENCH_K8S_WORKSPACES (default 100).
"""

from __future__ import annotations

import asyncio
import copy
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tests.services.kube import KubeHarness

from hemisphere.installer.live import KubeClient, load_kubeconfig
from hemisphere.installer.live.kubeconfig import ClusterAccess
from hemisphere.workspaces.runtime.base import SandboxSpec
from hemisphere.workspaces.runtime.kubernetes import KubernetesRuntime, KubernetesRuntimeConfig

COUNT = int(os.environ.get("HEMISPHERE_BENCH_K8S_WORKSPACES", "100"))
CONCURRENCY = 10
CLASS = "bench-rbd"
IMAGES = {"ubuntu-24.04": "registry.invalid/hemisphere/workspace:ubuntu-24.04"}


def _spec(wid: int) -> SandboxSpec:
    return SandboxSpec(wid, 1, f"ws{wid}", cpu_millis=100, memory_mib=128, storage_mib=256)


async def _ready_times(client: KubeClient, namespace: str, out: dict[str, float],
                       started: asyncio.Event) -> None:  # fmt: skip
    """Record when each Pod in `namespace` is first seen Ready (monotonic clock)."""
    started.set()
    while True:
        async for _, pod in client.watch("v1", "Pod", namespace, timeout_s=600):
            name = pod["metadata"]["name"]
            conds = (pod.get("status") or {}).get("conditions") or []
            if name not in out and any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in conds
            ):
                out[name] = time.monotonic()


async def _measure(
    access: ClusterAccess, namespace: str, start: Callable[[int], Awaitable[None]]
) -> list[float]:
    async with KubeClient(access) as client:
        await client.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
        ready: dict[str, float] = {}
        watching = asyncio.Event()
        watcher = asyncio.create_task(_ready_times(client, namespace, ready, watching))
        await watching.wait()
        await asyncio.sleep(0.3)  # the watch is established
        requested: dict[str, float] = {}
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(wid: int) -> None:
            async with gate:
                requested[f"ws-{wid}"] = time.monotonic()
                await start(wid)

        await asyncio.gather(*(one(w) for w in range(1, COUNT + 1)))
        deadline = time.monotonic() + 300
        while len(ready) < COUNT and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        if len(ready) < COUNT:
            raise RuntimeError(f"{namespace}: only {len(ready)}/{COUNT} pods became Ready")
        return [ready[name] - t0 for name, t0 in requested.items()]


def _row(table: Table, what: str, latencies: list[float], wall: float) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)]
    table.add_row(
        what,
        f"{statistics.median(ms):.0f}",
        f"{p95:.0f}",
        f"{ms[-1]:.0f}",
        f"{len(ms) / wall:.1f}",
    )


async def _run(access: ClusterAccess, table: Table) -> None:
    config = KubernetesRuntimeConfig(
        access=access, storage_class=CLASS, namespace="bench-runtime", images=IMAGES
    )
    runtime = KubernetesRuntime(config)

    async def via_runtime(wid: int) -> None:
        await runtime.provision(_spec(wid))
        await runtime.start(_spec(wid))

    direct_cfg = KubernetesRuntimeConfig(
        access=access, storage_class=CLASS, namespace="bench-direct", images=IMAGES
    )
    shapes = KubernetesRuntime(direct_cfg)  # only to build the very same manifests
    raw = KubeClient(access)

    async def direct(wid: int) -> None:
        await raw.create(shapes.claim_manifest(_spec(wid)))
        await raw.create(shapes.pod_manifest(_spec(wid)))

    async def bare(wid: int) -> None:
        pod: dict[str, Any] = copy.deepcopy(shapes.pod_manifest(_spec(wid)))
        pod["metadata"]["namespace"] = "bench-bare"
        pod["spec"].pop("volumes")
        pod["spec"]["containers"][0].pop("volumeMounts")
        await raw.create(pod)

    try:
        for what, namespace, fn in (
            ("runtime: provision + start", "bench-runtime", via_runtime),
            ("baseline: PVC + Pod, direct", "bench-direct", direct),
            ("baseline: bare Pod, direct", "bench-bare", bare),
        ):
            t0 = time.monotonic()
            latencies = await _measure(access, namespace, fn)
            _row(table, what, latencies, time.monotonic() - t0)
    finally:
        await runtime.aclose()
        await raw.aclose()


def main() -> None:
    console = Console()
    harness = KubeHarness(Path(tempfile.mkdtemp(prefix="hemisphere-bench-k8s-")))
    try:
        t0 = time.monotonic()
        cluster = harness.cluster()
        start_s = time.monotonic() - t0
        with cluster.client() as c:
            c.post(
                "/apis/storage.k8s.io/v1/storageclasses",
                json={
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": CLASS},
                    "provisioner": "rook-ceph.rbd.csi.ceph.com",
                },
            )
        access = load_kubeconfig(cluster.kubeconfig, cluster.context)
        table = Table(
            title=f"start requested -> Pod Ready, {COUNT} workspaces, {CONCURRENCY} at a time "
            f"(kube-apiserver + kwok; cluster started in {start_s:.1f} s)"
        )
        for col in ("path", "p50 ms", "p95 ms", "max ms", "per s"):
            table.add_column(col, justify="left" if col == "path" else "right")
        asyncio.run(_run(access, table))
        console.print(table)
    finally:
        harness.stop()


if __name__ == "__main__":
    main()
