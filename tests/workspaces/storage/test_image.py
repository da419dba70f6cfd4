"""Enforced workspace storage (issue 10 finding 5) with real sandboxes, real loop-mounted ext4
images and real kill -9: a tenant writing past its plan gets ENOSPC and nobody else notices; a
grown home keeps its files; the platform's reserve refuses what the disk cannot hold; crashes
leave no mounts or loop devices behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hemisphere.workspaces.runtime.base import ObservedPhase, RuntimePermanentError
from hemisphere.workspaces.runtime.local import LocalRuntime
from hemisphere.workspaces.storage.image import ImageStorage, loop_devices
from tests.workspaces.runtime.test_local import cgroup_parent, running, sh, spec

__all__ = ["cgroup_parent"]  # the session fixture, shared with the runtime tests


def mounts_under(path: Path) -> list[str]:
    return [
        line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(str(path))
    ]  # fmt: skip


def loops_under(path: Path) -> list[Path]:
    return [b for b in loop_devices().values() if str(b).startswith(str(path))]


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hemisphere-img-", dir="/tmp"))
    os.chmod(path, 0o711)
    yield path
    for point in sorted(mounts_under(path), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    shutil.rmtree(path, ignore_errors=True)


def make_runtime(root: Path, cgroup_parent: str, reserve_mib: int = 64) -> LocalRuntime:
    return LocalRuntime(
        root,
        uid_base=310_000,
        cgroup_parent=cgroup_parent,
        storage=ImageStorage(root / "homes", reserve_bytes=reserve_mib * 1024 * 1024),
    )


@pytest.fixture
async def runtime(root: Path, cgroup_parent: str) -> AsyncIterator[LocalRuntime]:
    rt = make_runtime(root, cgroup_parent)
    yield rt
    for wid in await rt.observe():
        await rt.remove(wid)
    assert mounts_under(root) == [] and loops_under(root) == []


async def test_writing_past_the_quota_fails_inside_and_nowhere_else(
    runtime: LocalRuntime, root: Path
) -> None:
    await running(runtime, spec(1, storage_mib=64), spec(2, storage_mib=64))
    result = await sh(runtime, 1, "head -c 100000000 /dev/zero > big; echo rc=$?", timeout_s=60)
    assert "No space left on device" in result.error and "rc=1" in result.output
    assert 40 <= await runtime.storage_usage_mib(1) <= 64
    # The neighbour and the host are untouched: its home still takes writes.
    assert (await sh(runtime, 2, "echo fine > f && cat f")).output == "fine\n"
    # Sparse image: the host holds what was written, not a byte past the image's size.
    image = root / "homes" / ".images" / "ws-1.img"
    assert image.stat().st_blocks * 512 <= 70 * 1024 * 1024


async def test_grown_storage_keeps_its_files_across_stop_and_start(runtime: LocalRuntime) -> None:
    await running(runtime, spec(3, storage_mib=32))
    await sh(runtime, 3, "echo precious > keep.txt")
    await runtime.stop(3)
    assert (await runtime.observe())[3].phase == ObservedPhase.STOPPED
    await runtime.start(spec(3, storage_mib=96))
    df = await sh(runtime, 3, "cat keep.txt; df -m --output=size . | tail -1")
    lines = df.output.split()
    assert lines[0] == "precious" and int(lines[1]) > 64
    # 70 MiB fit now, which 32 MiB never could.
    assert (await sh(runtime, 3, "head -c 70000000 /dev/zero > f; echo $?")).output == "0\n"


async def test_reserve_refuses_an_image_the_disk_cannot_promise(
    root: Path, cgroup_parent: str
) -> None:
    st = os.statvfs(root)
    free_mib = st.f_bavail * st.f_frsize // (1024 * 1024)
    rt = make_runtime(root, cgroup_parent, reserve_mib=free_mib - 100)
    with pytest.raises(RuntimePermanentError, match=r"cannot hold 200 MiB more.*reserved"):
        await rt.provision(spec(4, storage_mib=200))
    assert await rt.observe() == {}
    await rt.provision(spec(4, storage_mib=32))  # fits above the reserve


_CRASH_AFTER_MOUNT = """
import asyncio, os, signal, sys
from pathlib import Path
from hemisphere.workspaces.storage.image import ImageStorage

async def main() -> None:
    st = ImageStorage(Path(sys.argv[1]), reserve_bytes=0)
    if sys.argv[2] == "attach":
        await st.attach(int(sys.argv[3]), 32)
        os.kill(os.getpid(), signal.SIGKILL)  # between mount and the sandbox's record
    async def populate(target: Path) -> None:
        (target / "half").write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)  # mid-clone, the partial image mounted
    await st.create(int(sys.argv[3]), 0, 0, populate, size_mib=32)

asyncio.run(main())
"""


def _crash(root: Path, what: str, wid: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_AFTER_MOUNT, str(root / "homes"), what, str(wid)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr.decode()


async def test_kill_between_mount_and_record_converges(runtime: LocalRuntime, root: Path) -> None:
    await runtime.provision(spec(5, storage_mib=32))
    _crash(root, "attach", 5)
    assert mounts_under(root) == [str(root / "homes" / "ws-5")]
    # A fresh platform process sees the mount without a sandbox; stopping cleans it.
    rt = make_runtime(root, runtime.cgroup_parent)
    assert (await rt.observe())[5].phase == ObservedPhase.FAILED
    await rt.stop(5)
    assert (await rt.observe())[5].phase == ObservedPhase.STOPPED
    assert mounts_under(root) == [] and loops_under(root) == []
    await running(rt, spec(5, storage_mib=32))
    assert (await sh(rt, 5, "echo ok")).output == "ok\n"


async def test_kill_mid_populate_converges(runtime: LocalRuntime, root: Path) -> None:
    _crash(root, "create", 6)
    assert len(mounts_under(root)) == 1 and len(loops_under(root)) == 1
    rt = make_runtime(root, runtime.cgroup_parent)
    assert (await rt.observe())[6].phase == ObservedPhase.FAILED
    await rt.provision(spec(6, storage_mib=32))  # cleans the leftovers, builds anew
    assert mounts_under(root) == [] and loops_under(root) == []
    assert (await rt.observe())[6].phase == ObservedPhase.STOPPED
    await rt.start(spec(6, storage_mib=32))
    assert (await sh(rt, 6, "ls")).output == ""
    await rt.remove(6)
    assert await rt.observe() == {}
    assert mounts_under(root) == [] and loops_under(root) == []


def test_auto_keeps_directory_homes_of_an_older_installation(root: Path) -> None:
    from hemisphere.config import Settings
    from hemisphere.dc.app import make_storage, storage_summary
    from hemisphere.workspaces.storage.local import LocalDirectoryStorage

    settings = Settings(data_dir=root, database_url="sqlite://")
    assert isinstance(make_storage(settings), ImageStorage)
    old_home = root / "workspaces" / "homes" / "ws-7"
    old_home.mkdir(parents=True)
    (old_home / "work.txt").write_text("years of it")
    # Mounting an image over it would hide these files: auto stays with directories, says why.
    assert isinstance(make_storage(settings), LocalDirectoryStorage)
    assert "NOT enforced" in storage_summary(settings) and "ws-7" in storage_summary(settings)
