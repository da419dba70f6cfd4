"""The interface of the per-workspace persistent storage a host runtime mounts as the home.

The local runtime binds one directory per workspace into its sandbox. Where that directory lives
is the storage backend's business (`local` = a plain directory on this host; `cephfs` = a CephFS
directory mounted with ceph-fuse), so the runtime only sees this Protocol.

Contract: a home appears atomically (`create` builds it under a temporary name and renames it
when complete), so a crash never leaves a half-cloned home that looks finished; `destroy` first
renames the home away, so it disappears atomically too. Both are idempotent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

Populate = Callable[[Path], Awaitable[None]]
"""Fills a new, empty home (owned by the workspace uid) before it is published."""


class WorkspaceStorage(Protocol):
    def home(self, workspace_id: int) -> Path:
        """Where the workspace's home is (or will be) on this host."""
        ...

    def exists(self, workspace_id: int) -> bool:
        """True once `create` has published the home."""
        ...

    def workspace_ids(self) -> set[int]:
        """Every workspace holding anything here: a home, or leftovers of an interrupted
        `create`/`destroy` (see `has_leftovers`)."""
        ...

    def has_leftovers(self, workspace_id: int) -> bool:
        """True if an interrupted `create` or `destroy` left directories behind."""
        ...

    async def create(
        self, workspace_id: int, uid: int, gid: int, populate: Populate | None = None
    ) -> bool:
        """Publish a home owned by uid:gid, mode 0700, filled by `populate`. Returns False if it
        already existed. Leftovers of earlier attempts are removed first."""
        ...

    async def discard_leftovers(self, workspace_id: int) -> None:
        """Remove what interrupted `create`/`destroy` calls left behind; the home is untouched."""
        ...

    async def destroy(self, workspace_id: int) -> None:
        """Delete the home and any leftovers. Idempotent."""
        ...

    async def usage_bytes(self, workspace_id: int) -> int:
        """Disk space the home occupies (allocated blocks, hard links counted once); 0 if absent."""
        ...
