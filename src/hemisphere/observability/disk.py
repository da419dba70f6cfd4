"""Free space of the data directory: a readiness check and a metric (issue 10).

On a full disk every platform write (login, tokens, stop, delete) failed while `/readyz` said
ready. Workspace images cannot take the platform's reserve (workspaces/storage/image.py), but
logs, the database and other tenants of the host can still fill the disk; when free space drops
below the reserve `/readyz` answers 503 with the reason, so load balancers and the DC's health
(federation/heartbeat.py) see it before writes fail, and `/metrics` exports the free bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import Gauge

from hemisphere.observability.metrics import REGISTRY

_MIB = 1024 * 1024

DATA_DIR_FREE = Gauge(
    "hemisphere_data_dir_free_bytes",
    "Bytes available to the platform on the file system of its data directory.",
    registry=REGISTRY,
)
DATA_DIR_RESERVE = Gauge(
    "hemisphere_data_dir_reserve_bytes",
    "Free space below which the platform reports itself not ready (HEMISPHERE_DISK_RESERVE_MIB).",
    registry=REGISTRY,
)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DataDirDisk:
    """The data directory's disk, watched against `reserve_bytes`."""

    def __init__(self, path: Path, reserve_bytes: int) -> None:
        self.path = path
        self.reserve_bytes = reserve_bytes
        DATA_DIR_FREE.set_function(self._free_or_zero)
        DATA_DIR_RESERVE.set(reserve_bytes)

    def _free_or_zero(self) -> float:
        try:
            return float(free_bytes(self.path))
        except OSError:
            return 0.0

    async def ready_problem(self) -> str | None:
        """Why the platform should not be considered ready because of its disk, or None."""
        try:
            free = free_bytes(self.path)
        except OSError as exc:
            return f"data directory {self.path} unreadable ({exc.strerror})"
        if free < self.reserve_bytes:
            return (
                f"low disk: {free // _MIB} MiB free in the data directory {self.path}, below "
                f"the reserve of {self.reserve_bytes // _MIB} MiB (HEMISPHERE_DISK_RESERVE_MIB); "
                "free space or grow the disk before writes start failing"
            )
        return None
