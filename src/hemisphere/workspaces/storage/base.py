"""The interface of the per-workspace persistent storage a host runtime mounts as the home.

The local runtime binds one directory per workspace into its sandbox. Where that directory lives
is the storage backend's business (`image` = a loop-mounted ext4 image whose size is the quota;
`local` = a plain directory on this host; later `cephfs` = a CephFS directory with
`ceph.quota.max_bytes`, mounted with ceph-fuse), so the runtime only sees this Protocol.

A home that needs mounting is `attach`ed before the sandbox starts and `detach`ed after it
stopped; a crash in between leaves it `mounted` without a sandbox, which the runtime reports so
the reconciler stops (= detaches) it. Capacity is the backend's: `capacity_problem` says why
more space cannot be promised (the API refuses with that reason before anything is made).

Contract: a home appears atomically (`create` builds it under a temporary name and renames it
when complete), so a crash never leaves a half-cloned home that looks finished; `destroy` first
renames the home away, so it disappears atomically too. Both are idempotent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

Populate = Callable[[Path], Awaitable[None]]
"""Fills a new, empty home (owned by the workspace uid) before it is published."""


@runtime_checkable
class StorageCapacity(Protocol):
    """What the workspace service asks of a storage backend before it records a size."""

    def capacity_problem(self, grow_mib: int) -> str | None: ...

    def used_mib(self, workspace_id: int) -> int: ...


@runtime_checkable
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

    def mounted(self, workspace_id: int) -> bool:
        """True while the home is attached (always False for backends that need no mount)."""
        ...

    def size_mib(self, workspace_id: int) -> int:
        """The size the home is built with (its enforced quota); 0 when not enforced/absent."""
        ...

    def capacity_problem(self, grow_mib: int) -> str | None:
        """Why `grow_mib` more MiB of homes cannot be promised here (StorageCapacityError's
        message), or None if they can."""
        ...

    def used_mib(self, workspace_id: int) -> int:
        """What the home holds, MiB rounded up (as `usage_bytes`, without awaiting)."""
        ...

    async def create(
        self,
        workspace_id: int,
        uid: int,
        gid: int,
        populate: Populate | None = None,
        *,
        size_mib: int = 0,
    ) -> bool:
        """Publish a home of `size_mib` owned by uid:gid, mode 0700, filled by `populate`.
        Returns False if it already existed. Leftovers of earlier attempts are removed first.
        StorageCapacityError if the space cannot be promised."""
        ...

    async def attach(self, workspace_id: int, size_mib: int) -> None:
        """Make the home available at `home()` with `size_mib` (resizing it if that changed).
        Idempotent."""
        ...

    async def detach(self, workspace_id: int) -> None:
        """Undo `attach` once the workspace's processes are gone. Idempotent."""
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
