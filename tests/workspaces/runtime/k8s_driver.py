"""A stand-in "dc process" for the crash tests: drives the Kubernetes runtime for many
workspaces, printing one line per finished operation, until killed.

    python -m tests.workspaces.runtime.k8s_driver KUBECONFIG CONTEXT NAMESPACE CLASS OP ID...

OP is `start` (provision + start) or `remove`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from hemisphere.installer.live import load_kubeconfig
from hemisphere.workspaces.runtime.base import SandboxSpec
from hemisphere.workspaces.runtime.kubernetes import KubernetesRuntime, KubernetesRuntimeConfig

IMAGES = {"ubuntu-24.04": "registry.invalid/hemisphere/workspace:ubuntu-24.04"}


def spec(workspace_id: int) -> SandboxSpec:
    return SandboxSpec(
        workspace_id=workspace_id,
        team_id=7,
        name=f"ws{workspace_id}",
        cpu_millis=500,
        memory_mib=512,
        storage_mib=1024,
        env={"GREETING": "hello"},
    )


async def main(argv: list[str]) -> None:
    kubeconfig, context, namespace, storage_class, op, *ids = argv
    runtime = KubernetesRuntime(
        KubernetesRuntimeConfig(
            access=load_kubeconfig(Path(kubeconfig), context),
            storage_class=storage_class,
            namespace=namespace,
            images=IMAGES,
        )
    )
    try:
        for raw in ids:
            wid = int(raw)
            if op == "start":
                await runtime.provision(spec(wid))
                await runtime.start(spec(wid))
            else:
                await runtime.remove(wid)
            print(f"done {wid}", flush=True)
    finally:
        await runtime.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
