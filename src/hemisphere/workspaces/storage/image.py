"""Workspace homes as loop-mounted ext4 images: the storage a tenant cannot overfill (issue 10).

A plain directory on the host's file system has no size limit of its own: a 2 GiB plan wrote
4 GiB to the host root, and a full host disk stopped the platform. Here every home is a file
system of its own, exactly as large as the workspace's storage: writing past it fails with
ENOSPC inside the workspace and nothing else notices.

Measured on this host (ARCHITECTURE.md §7 kind of facts): loop devices work (`/dev/loop-control`,
`mount -o loop`), mkfs.ext4 of a sparse 10 GiB image takes ~10 ms and allocates ~4 MiB (inode
tables are "discarded" = punched, the journal left as holes with lazy_journal_init); ext4
ONLINE resize is refused (EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE, which root lacks here), so
images are resized offline, when the home is next attached (at start). XFS tools are not
installed; ext4 project quotas would need the host's own file system to be ext4 with quota
enabled, which we do not control. Hence images.

Layout under `root` (0711):

    ws-<id>/                      mount point of the home while attached (empty, 0700 otherwise)
    .images/ws-<id>.img           the home's file system (sparse), root's, 0600
    .images/.partial-ws-<id>-<t>.img  an image being built by `create`
    .images/.trash-ws-<id>-<t>.img    an image being deleted by `destroy`
    .partial-ws-<id>-<t>/         where `create` mounts a partial image to populate it

Mounts use `nosuid,nodev`; `mount -o loop` sets the loop device's autoclear flag, so the
device goes away with the last unmount (and with a crash between attaching and mounting). A
crash can still leave a mount behind (kill -9 between mount and sandbox record); `mounted`,
`has_leftovers` and `discard_leftovers` read the kernel's own tables (/proc/self/mountinfo,
/sys/block/loop*/loop/backing_file) so the reconciler finds and cleans them.

Capacity: images are sparse, but each counts with its full size against the host's free space,
and no image is created or grown if that would leave less than `reserve_bytes` free for the
platform's own data (database, keys, logs) — see `capacity_problem`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import struct
from pathlib import Path

from hemisphere.workspaces.storage.base import Populate
from hemisphere.workspaces.storage.errors import (
    StorageCapacityError,
    StorageError,
    StorageLayoutError,
)
from hemisphere.workspaces.storage.local import fsync_dir, require_searchable_parents

log = logging.getLogger("hemisphere.storage")

_MIB = 1024 * 1024
_TOOLS_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
_IMAGE = re.compile(r"^ws-(\d+)\.img$")
_HOME_DIR = re.compile(r"^ws-(\d+)$")
_LEFTOVER_IMAGE = re.compile(r"^\.(?:partial|trash)-ws-(\d+)-[0-9a-f]+\.img$")
_LEFTOVER_DIR = re.compile(r"^\.partial-ws-(\d+)-[0-9a-f]+$")
_MIN_MIB = 16  # below this ext4's own metadata leaves no room for a home
_SYS_BLOCK = Path("/sys/block")
MOUNTINFO = Path("/proc/self/mountinfo")


def loop_mounts_work(root: Path | None = None) -> str | None:
    """None if this host can loop-mount images (and `root` holds no directory homes they would
    hide); else why not (for `HEMISPHERE_STORAGE=auto`)."""
    if root is not None and (legacy := directory_homes(root)):
        return (
            f"{len(legacy)} workspace(s) under {root} have directory homes (e.g. ws-{legacy[0]}); "
            "delete or move them to use enforced images"
        )
    if os.geteuid() != 0:
        return "not running as root"
    if not Path("/dev/loop-control").exists():
        return "no /dev/loop-control (loop devices unavailable)"
    if "ext4" not in Path("/proc/filesystems").read_text():
        return "the kernel has no ext4"
    for tool in ("mkfs.ext4", "e2fsck", "resize2fs", "mount", "umount", "losetup"):
        if not any(Path(d, tool).exists() for d in _TOOLS_ENV["PATH"].split(":")):
            return f"{tool} is not installed (apt-get install e2fsprogs mount)"
    return None


def directory_homes(root: Path) -> list[int]:
    """Workspaces under `root` whose home is a plain directory with content and no image: the
    homes of the directory backend. Images mounted over them would hide their files, so an
    installation that has them keeps that backend (or moves them first)."""
    found = []
    images = root / ".images"
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(root):
            match = _HOME_DIR.match(entry.name)
            if not match or not entry.is_dir(follow_symlinks=False):
                continue
            if (images / f"ws-{match.group(1)}.img").exists():
                continue
            with contextlib.suppress(OSError), os.scandir(entry.path) as inside:
                if next(inside, None) is not None:
                    found.append(int(match.group(1)))
    return sorted(found)


class ImageStorage:
    """`WorkspaceStorage` (base.py) with one loop-mounted ext4 image per workspace."""

    def __init__(self, root: Path, *, reserve_bytes: int = 1024 * _MIB) -> None:
        self.root = root.absolute()
        self.images = self.root / ".images"
        self.reserve_bytes = reserve_bytes
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.images.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StorageLayoutError(
                f"cannot create the workspace storage directory {self.root}: {exc.strerror}; "
                "choose a data directory this process can write"
            ) from exc
        os.chmod(self.root, 0o711)  # noqa: S103 - enter, never list
        os.chmod(self.images, 0o700)
        require_searchable_parents(self.root)

    # ---- where things are ---------------------------------------------------------------

    def home(self, workspace_id: int) -> Path:
        return self.root / f"ws-{workspace_id}"

    def image(self, workspace_id: int) -> Path:
        return self.images / f"ws-{workspace_id}.img"

    def exists(self, workspace_id: int) -> bool:
        return self.image(workspace_id).is_file()

    def mounted(self, workspace_id: int) -> bool:
        return str(self.home(workspace_id)) in _mount_points()

    def workspace_ids(self) -> set[int]:
        ids: set[int] = set()
        for entry in os.scandir(self.images):
            match = _IMAGE.match(entry.name) or _LEFTOVER_IMAGE.match(entry.name)
            if match:
                ids.add(int(match.group(1)))
        for entry in os.scandir(self.root):
            match = _LEFTOVER_DIR.match(entry.name)
            if match:
                ids.add(int(match.group(1)))
        for point in _mount_points():
            match = re.match(rf"^{re.escape(str(self.root))}/ws-(\d+)$", point)
            if match:
                ids.add(int(match.group(1)))
        return ids

    def has_leftovers(self, workspace_id: int) -> bool:
        return bool(self._leftover_images(workspace_id) or self._leftover_dirs(workspace_id))

    # ---- capacity -----------------------------------------------------------------------

    def size_mib(self, workspace_id: int) -> int:
        """The image's size (the workspace's quota as currently built); 0 if absent."""
        try:
            return self.image(workspace_id).stat().st_size // _MIB
        except FileNotFoundError:
            return 0

    def capacity_problem(self, grow_mib: int) -> str | None:
        """Why `grow_mib` more MiB of images may not be promised on this host's disk, or None.
        Sparse images count with their full size: their unallocated part is promised space."""
        if grow_mib <= 0:
            return None
        st = os.statvfs(self.images)
        free = st.f_bavail * st.f_frsize
        promised = 0
        for entry in os.scandir(self.images):
            with contextlib.suppress(OSError):
                s = entry.stat(follow_symlinks=False)
                promised += max(0, s.st_size - s.st_blocks * 512)
        left = free - promised - grow_mib * _MIB
        if left >= self.reserve_bytes:
            return None
        return (
            f"this data center's disk cannot hold {grow_mib} MiB more of workspace storage: "
            f"{max(0, free - promised) // _MIB} MiB are free after what existing workspaces "
            f"may still use, and {self.reserve_bytes // _MIB} MiB stay reserved for the "
            "platform (HEMISPHERE_DISK_RESERVE_MIB); choose a smaller storageMib or ask the "
            "operator for more disk"
        )

    def used_mib(self, workspace_id: int) -> int:
        return -(-self._used_bytes(workspace_id) // _MIB)

    # ---- lifecycle ----------------------------------------------------------------------

    async def create(
        self,
        workspace_id: int,
        uid: int,
        gid: int,
        populate: Populate | None = None,
        *,
        size_mib: int = 1024,
    ) -> bool:
        if self.exists(workspace_id):
            return False
        await self.discard_leftovers(workspace_id)
        size_mib = max(size_mib, _MIN_MIB)
        if (why := self.capacity_problem(size_mib)) is not None:
            raise StorageCapacityError(why)
        token = secrets.token_hex(4)
        partial = self.images / f".partial-ws-{workspace_id}-{token}.img"
        mount_point = self.root / f".partial-ws-{workspace_id}-{token}"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.ftruncate(fd, size_mib * _MIB)
            finally:
                os.close(fd)
            # -m 0: no blocks reserved for root (the tenant is never root); discard punches
            # the inode tables, lazy_journal_init leaves the journal as holes: ~4 MiB on disk.
            await _run(
                "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_journal_init=1", str(partial)
            )
            mount_point.mkdir(mode=0o700)
            await _mount(partial, mount_point)
            try:
                os.chown(mount_point, uid, gid)
                os.chmod(mount_point, 0o700)
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(mount_point / "lost+found")
                if populate is not None:
                    await populate(mount_point)
            finally:
                await _umount(mount_point)
            os.rmdir(mount_point)
            os.rename(partial, self.image(workspace_id))
            fsync_dir(self.images)
        except BaseException:
            await asyncio.shield(self.discard_leftovers(workspace_id))
            raise
        return True

    async def attach(self, workspace_id: int, size_mib: int) -> None:
        """Mount the home at `home()` (idempotent), first resizing the image to `size_mib`
        if that changed (offline: see the module docstring). A shrink the data does not fit
        into is skipped with a warning; the service refuses those before they get here."""
        if self.mounted(workspace_id):
            return
        image = self.image(workspace_id)
        if not image.is_file():
            raise StorageError(f"workspace {workspace_id} has no storage image at {image}")
        size_mib = max(size_mib, _MIN_MIB)
        current = self.size_mib(workspace_id)
        if size_mib != current:
            await self._resize(workspace_id, current, size_mib)
        home = self.home(workspace_id)
        home.mkdir(mode=0o700, exist_ok=True)
        await _mount(image, home)

    async def detach(self, workspace_id: int) -> None:
        """Unmount the home (idempotent). The caller has killed the workspace's processes."""
        home = self.home(workspace_id)
        if self.mounted(workspace_id):
            used = self._used_bytes(workspace_id)
            tmp = self._used_file(workspace_id).with_suffix(".tmp")
            tmp.write_text(f"{used}\n")
            os.replace(tmp, self._used_file(workspace_id))
            await _umount(home)
        await self._detach_loops({self.image(workspace_id)})

    async def discard_leftovers(self, workspace_id: int) -> None:
        for mount_point in self._leftover_dirs(workspace_id):
            if str(mount_point) in _mount_points():
                await _umount(mount_point)
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(mount_point)
        images = self._leftover_images(workspace_id)
        await self._detach_loops(set(images))
        for path in images:
            path.unlink(missing_ok=True)

    async def destroy(self, workspace_id: int) -> None:
        await self.detach(workspace_id)
        image = self.image(workspace_id)
        if image.is_file():
            os.rename(image, self.images / f".trash-ws-{workspace_id}-{secrets.token_hex(4)}.img")
            fsync_dir(self.images)
        await self.discard_leftovers(workspace_id)
        self._used_file(workspace_id).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(self.home(workspace_id))

    async def usage_bytes(self, workspace_id: int) -> int:
        return self._used_bytes(workspace_id)

    # ---- internals ----------------------------------------------------------------------

    def _used_bytes(self, workspace_id: int) -> int:
        """Measured from the file system, never by walking tenant files: statvfs of the mount
        root while attached, else what `detach` measured last (the superblock's own counters,
        which include ext4's metadata, when it never measured)."""
        if self.mounted(workspace_id):
            st = os.statvfs(self.home(workspace_id))
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(self._used_file(workspace_id).read_text())
        try:
            with open(self.image(workspace_id), "rb") as f:
                f.seek(1024)
                sb = f.read(1024)
        except FileNotFoundError:
            return 0
        if len(sb) < 58 or sb[56:58] != b"\x53\xef":
            return 0  # not (yet) an ext4 image
        blocks_lo: int
        free_lo: int
        log_size: int
        blocks_lo, free_lo, log_size = struct.unpack_from("<4xI4xI8xI", sb)
        return (blocks_lo - free_lo) * (1024 << log_size)

    def _used_file(self, workspace_id: int) -> Path:
        return self.images / f"ws-{workspace_id}.used"

    async def _resize(self, workspace_id: int, current: int, size_mib: int) -> None:
        image = self.image(workspace_id)
        if size_mib > current and (why := self.capacity_problem(size_mib - current)):
            raise StorageCapacityError(why)
        await _run("e2fsck", "-f", "-p", str(image), ok=(0, 1))
        if size_mib > current:
            os.truncate(image, size_mib * _MIB)
            await _run("resize2fs", str(image))
            return
        try:
            await _run("resize2fs", str(image), f"{size_mib}M")
        except StorageError as exc:
            log.warning(
                "storage not shrunk: the data does not fit",
                extra={"workspace": workspace_id, "error": str(exc)},
            )
            return
        os.truncate(image, size_mib * _MIB)

    def _leftover_images(self, workspace_id: int) -> list[Path]:
        return [
            Path(e.path)
            for e in os.scandir(self.images)
            if (m := _LEFTOVER_IMAGE.match(e.name)) and int(m.group(1)) == workspace_id
        ]

    def _leftover_dirs(self, workspace_id: int) -> list[Path]:
        return [
            Path(e.path)
            for e in os.scandir(self.root)
            if (m := _LEFTOVER_DIR.match(e.name)) and int(m.group(1)) == workspace_id
        ]

    async def _detach_loops(self, images: set[Path]) -> None:
        """Detach loop devices still backed by `images` (autoclear normally does it; a device
        whose file system is still in use elsewhere goes when that use ends)."""
        for device, backing in loop_devices().items():
            if backing in images:
                with contextlib.suppress(StorageError):
                    await _run("losetup", "-d", device)


def loop_devices() -> dict[str, Path]:
    """Attached loop devices and their backing files (the kernel's view)."""
    found: dict[str, Path] = {}
    if not _SYS_BLOCK.is_dir():
        return found
    for entry in _SYS_BLOCK.iterdir():
        backing = entry / "loop" / "backing_file"
        if entry.name.startswith("loop"):
            with contextlib.suppress(OSError):
                name = backing.read_text().strip().removesuffix(" (deleted)")
                found[f"/dev/{entry.name}"] = Path(name)
    return found


def _mount_points() -> set[str]:
    points = set()
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.add(_unescape(fields[4]))
    return points


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


async def _mount(image: Path, target: Path) -> None:
    await _run("mount", "-t", "ext4", "-o", "loop,nosuid,nodev", str(image), str(target))


async def _umount(target: Path) -> None:
    try:
        await _run("umount", str(target))
    except StorageError:
        # Busy (a process we could not kill still holds it): detach it from the tree now, the
        # kernel frees it, and with it the loop device, when the last user goes.
        await _run("umount", "-l", str(target))


async def _run(*argv: str, ok: tuple[int, ...] = (0,)) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=_TOOLS_ENV,
    )
    out, _ = await proc.communicate()
    if proc.returncode not in ok:
        text = out.decode(errors="replace").strip()[-500:] or "no output"
        raise StorageError(f"{argv[0]} failed (exit {proc.returncode}): {text}")
