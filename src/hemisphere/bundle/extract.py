"""Safe extraction: verify everything first, then write only regular files inside a fresh dir.

`extract_bundle` runs two passes over the archive. Pass one verifies the signature and every
checksum and writes nothing. Pass two streams the same checks again (the file may have changed
between passes) into a private staging directory next to the target, creating each file with
O_EXCL|O_NOFOLLOW below a directory tree it made itself; only when the second pass succeeds is
the staging directory renamed to the target. A failure removes the staging directory, so
nothing is left behind and nothing is ever written outside the target.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hemisphere.bundle.errors import BundleError, IntegrityError
from hemisphere.bundle.model import MANIFEST_NAME, SIGNATURE_NAME, FileEntry
from hemisphere.bundle.paths import join_inside
from hemisphere.bundle.units import human_size
from hemisphere.bundle.verify import (
    BundleHead,
    Progress,
    VerifiedBundle,
    verify_bundle,
    walk_bundle,
)


class StagingSink:
    """Writes verified-in-progress files below `root`, refusing anything but new regular files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fd: int | None = None

    def open(self, entry: FileEntry) -> Callable[[bytes], None]:
        target = join_inside(self.root, entry.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self.root.resolve()):
            raise IntegrityError(f"{entry.path}: parent directory escapes {self.root}", entry.path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(target, flags, 0o644)
        self._fd = fd

        def write(chunk: bytes) -> None:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]

        return write

    def close(self, entry: FileEntry) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _check_target(target: Path) -> None:
    if target.is_symlink():
        raise BundleError(f"{target} is a symbolic link; extract into a real, empty directory")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BundleError(f"{target} exists and is not an empty directory; choose a new one")


def extract_bundle(
    path: Path,
    target: Path,
    trusted_keys: list[Ed25519PublicKey],
    *,
    progress: Progress | None = None,
    verified: VerifiedBundle | None = None,
) -> VerifiedBundle:
    """Verify `path`, then extract it into `target` (created; must be new or empty)."""
    _check_target(target)
    first = (
        verified if verified is not None else verify_bundle(path, trusted_keys, progress=progress)
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < first.manifest.total_size:
        raise BundleError(
            f"not enough space in {target.parent}: the bundle needs "
            f"{human_size(first.manifest.total_size)}, {human_size(free)} is free"
        )
    staging = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o755)
    sink = StagingSink(staging)

    def same_manifest(head: BundleHead) -> None:
        if head.manifest_bytes != first.head.manifest_bytes:
            raise IntegrityError("the bundle changed between verification and extraction")

    try:
        second = walk_bundle(
            path, trusted_keys, sink=sink, on_head=same_manifest, progress=progress
        )
        (staging / MANIFEST_NAME).write_bytes(second.head.manifest_bytes)
        if second.head.envelope_bytes is not None:
            (staging / SIGNATURE_NAME).write_bytes(second.head.envelope_bytes)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        sink.abort()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return second
