"""Workspace homes as plain directories under one root on this host (the `local` storage).

Layout under `root` (mode 0711: workspace users may pass through, nobody may list it):

    ws-<id>/                    a published home, owned by the workspace uid, mode 0700
    .partial-ws-<id>-<token>/   a home being built by `create` (renamed to ws-<id> when complete)
    .trash-ws-<id>-<token>/     a home being deleted by `destroy` (renamed away first)

The sandbox of a workspace runs as the workspace uid and bind-mounts its home by path, so every
directory above `root` must be searchable (`o+x`) by that uid; the constructor checks this and
says which directory is in the way. Quota is reported (`usage_bytes`), not enforced: a plain
directory on a shared file system has no per-directory limit. That is why the platform uses
image.py wherever loop devices work (HEMISPHERE_STORAGE=image); this backend is for hosts
without them (HEMISPHERE_STORAGE=directory).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import stat
from pathlib import Path

from hemisphere.workspaces.storage.base import Populate
from hemisphere.workspaces.storage.errors import StorageLayoutError

_HOME = re.compile(r"^ws-(\d+)$")
_LEFTOVER = re.compile(r"^\.(?:partial|trash)-ws-(\d+)-[0-9a-f]+$")


class LocalDirectoryStorage:
    """One directory per workspace below `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageLayoutError(
                f"cannot create the workspace storage directory {self.root}: {exc.strerror}; "
                "choose a data directory this process can write"
            ) from exc
        if not self.root.is_dir():
            raise StorageLayoutError(f"workspace storage {self.root} exists but is no directory")
        os.chmod(self.root, 0o711)  # noqa: S103 - enter, never list
        require_searchable_parents(self.root)

    def home(self, workspace_id: int) -> Path:
        return self.root / f"ws-{workspace_id}"

    def exists(self, workspace_id: int) -> bool:
        return self.home(workspace_id).is_dir()

    def mounted(self, workspace_id: int) -> bool:
        return False  # a directory is never mounted: always there

    def size_mib(self, workspace_id: int) -> int:
        return 0  # no size of its own

    def capacity_problem(self, grow_mib: int) -> str | None:
        return None  # nothing is promised: the directory grows until the host disk is full

    def used_mib(self, workspace_id: int) -> int:
        return (
            -(-_allocated_bytes(self.home(workspace_id)) // (1024 * 1024))
            if self.exists(workspace_id)
            else 0
        )

    async def attach(self, workspace_id: int, size_mib: int) -> None:
        """Nothing to mount: the home is always in place."""

    async def detach(self, workspace_id: int) -> None:
        """Nothing to unmount."""

    def workspace_ids(self) -> set[int]:
        ids: set[int] = set()
        for entry in os.scandir(self.root):
            match = _HOME.match(entry.name) or _LEFTOVER.match(entry.name)
            if match and entry.is_dir(follow_symlinks=False):
                ids.add(int(match.group(1)))
        return ids

    def has_leftovers(self, workspace_id: int) -> bool:
        return bool(self._leftovers(workspace_id))

    async def create(
        self,
        workspace_id: int,
        uid: int,
        gid: int,
        populate: Populate | None = None,
        *,
        size_mib: int = 0,
    ) -> bool:
        if self.exists(workspace_id):
            return False
        await self.discard_leftovers(workspace_id)
        partial = self.root / f".partial-ws-{workspace_id}-{secrets.token_hex(4)}"
        partial.mkdir(mode=0o700)
        try:
            os.chown(partial, uid, gid)
            os.chmod(partial, 0o700)
            if populate is not None:
                await populate(partial)
            fsync_dir(partial)
            os.rename(partial, self.home(workspace_id))
            fsync_dir(self.root)
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, partial, True)
            raise
        return True

    async def discard_leftovers(self, workspace_id: int) -> None:
        for path in self._leftovers(workspace_id):
            await asyncio.to_thread(shutil.rmtree, path, True)

    async def destroy(self, workspace_id: int) -> None:
        home = self.home(workspace_id)
        if home.is_dir():
            os.rename(home, self.root / f".trash-ws-{workspace_id}-{secrets.token_hex(4)}")
            fsync_dir(self.root)
        await self.discard_leftovers(workspace_id)

    async def usage_bytes(self, workspace_id: int) -> int:
        home = self.home(workspace_id)
        if not home.is_dir():
            return 0
        return await asyncio.to_thread(_allocated_bytes, home)

    def _leftovers(self, workspace_id: int) -> list[Path]:
        found = []
        for entry in os.scandir(self.root):
            match = _LEFTOVER.match(entry.name)
            if match and int(match.group(1)) == workspace_id:
                found.append(Path(entry.path))
        return found


def require_searchable_parents(root: Path) -> None:
    for parent in root.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise StorageLayoutError(
                f"workspace storage {root} lies below {parent} (mode {stat.S_IMODE(mode):04o}), "
                "which the workspace users cannot enter, so their sandboxes could not mount "
                f"their homes; use a data directory outside it (e.g. /var/lib/hemisphere) or "
                f"run `chmod o+x {parent}`"
            )


def _allocated_bytes(top: Path) -> int:
    """What `du -s` reports: allocated blocks, every inode once, symlinks not followed.

    The tree is the tenant's and may change during the walk, so it is walked by directory fd
    (openat with O_NOFOLLOW), never by path: a directory swapped for a symlink to a host
    directory between listing and descending is skipped, not followed (issue 10)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        top_fd = os.open(top, flags)
    except OSError:
        return 0
    seen: set[tuple[int, int]] = set()
    total, names = _entries(top_fd, seen)
    total += os.fstat(top_fd).st_blocks * 512
    # One open fd per level of the walk, with the subdirectories still to visit on that level.
    stack: list[tuple[int, list[str]]] = [(top_fd, names)]
    while stack:
        fd, pending = stack[-1]
        if not pending:
            os.close(fd)
            stack.pop()
            continue
        try:
            child = os.open(pending.pop(), flags, dir_fd=fd)
        except OSError:
            continue  # vanished, replaced by a symlink, or too deep: usage is an estimate
        size, names = _entries(child, seen)
        total += size
        stack.append((child, names))
    return total


def _entries(fd: int, seen: set[tuple[int, int]]) -> tuple[int, list[str]]:
    """The allocated bytes of the entries of directory `fd` not `seen` before, and the names of
    its subdirectories."""
    total, names = 0, []
    try:
        with os.scandir(fd) as entries:
            listed = list(entries)
    except OSError:
        return 0, []
    for entry in listed:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        total += st.st_blocks * 512
        if stat.S_ISDIR(st.st_mode):
            names.append(entry.name)
    return total, names


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
