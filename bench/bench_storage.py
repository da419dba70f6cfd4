"""Workspace storage backends side by side (issue 10 finding 5): provision and start latency of
the local runtime with enforced ext4 image homes (storage/image.py: mkfs + loop mount at start,
unmount at stop) beside plain directory homes (storage/local.py), same runtime, same run.

p50/p95 over N workspaces each: provision (create the home), start (attach + sandbox up),
stop (sandbox down + detach).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hemisphere.workspaces.runtime.base import SandboxSpec
from hemisphere.workspaces.runtime.local import LocalRuntime
from hemisphere.workspaces.storage.base import WorkspaceStorage
from hemisphere.workspaces.storage.image import ImageStorage
from hemisphere.workspaces.storage.local import LocalDirectoryStorage

N = 20


def _spec(wid: int) -> SandboxSpec:
    return SandboxSpec(
        workspace_id=wid, team_id=1, name=f"b{wid}", cpu_millis=1000, memory_mib=256,
        storage_mib=2048,
    )  # fmt: skip


def _pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def _measure(make: Callable[[Path], WorkspaceStorage]) -> dict[str, list[float]]:
    root = Path(tempfile.mkdtemp(prefix="hemisphere-bench-storage-", dir="/tmp"))
    os.chmod(root, 0o711)
    rt = LocalRuntime(
        root, uid_base=330_000, cgroup_parent=f"hemisphere-bench-{os.getpid()}",
        storage=make(root / "homes"),
    )  # fmt: skip
    times: dict[str, list[float]] = {"provision": [], "start": [], "stop": []}
    try:
        for wid in range(1, N + 1):
            for phase, call in (
                ("provision", rt.provision(_spec(wid))),
                ("start", rt.start(_spec(wid))),
                ("stop", rt.stop(wid)),
            ):
                t0 = time.perf_counter()
                await call
                times[phase].append(time.perf_counter() - t0)
    finally:
        for wid in await rt.observe():
            await rt.remove(wid)
        shutil.rmtree(root, ignore_errors=True)
    return times


def main() -> None:
    results = {
        "directory": asyncio.run(_measure(LocalDirectoryStorage)),
        "image": asyncio.run(_measure(lambda p: ImageStorage(p))),
    }
    table = Table(title=f"{N} workspaces of 2 GiB: directory (baseline) vs ext4 image, ms")
    table.add_column("backend")
    for phase in ("provision", "start", "stop"):
        table.add_column(f"{phase} p50", justify="right")
        table.add_column(f"{phase} p95", justify="right")
    for name, times in results.items():
        cells = []
        for phase in ("provision", "start", "stop"):
            cells += [f"{_pct(times[phase], 50):.1f}", f"{_pct(times[phase], 95):.1f}"]
        table.add_row(name, *cells)
    Console().print(table)
