"""Storage limits through the platform (issue 10 finding 5): real server, real sandboxes, real
loop-mounted images. PATCH storageMib respects the plan and what the home holds, the disk
reserve refuses with 409 in the error envelope, a tenant filling its home leaves the platform
answering, and a low data-directory disk makes /readyz say so."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.sdk.errors import ApiError
from tests.services.platform import RunningPlatform, platform_settings


def _ws(team: int, name: str, **kw: object) -> m.WorkspaceCreate:
    values: dict[str, object] = {"planId": 7, "isPrivateRepo": False, "replicas": 1, **kw}
    return m.WorkspaceCreate(teamId=team, name=name, **values)  # type: ignore[arg-type]


def _running(c: HemisphereClient, wid: int) -> None:
    deadline = time.monotonic() + 60
    while not (st := c.workspace_status(wid)).isRunning:
        assert st.state != "failed", st.reason
        assert time.monotonic() < deadline, f"workspace {wid} never ran"
        time.sleep(0.1)


def _problem(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return exc.value.status, str(exc.value.detail)


def test_tenant_filling_its_home_gets_enospc_and_the_platform_keeps_working(
    platform: RunningPlatform,
) -> None:
    _, token = platform.new_user("hoarder")
    with platform.client(token) as c:
        team = c.create_team("fill", dc=1)
        ws = c.create_workspace(_ws(team.id, "filler", storageMib=64))
        _running(c, ws.id)
        out = c.execute(ws.id, "head -c 200000000 /dev/zero > big; echo rc=$?")
        assert "No space left on device" in out.error and "rc=1" in out.output
        # Everything that failed with 503 on a full host disk still works.
        other = c.create_workspace(_ws(team.id, "after", replicas=0))
        c.stop_workspace(ws.id)
    platform.new_user("after")  # creating a user and logging in write to the database
    assert httpx.get(platform.base_url + "/readyz").status_code == 200
    with platform.client(token) as c:
        c.delete_workspace(other.id)


def test_patch_storage_respects_plan_use_and_reserve(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    with platform.client(token) as c:
        team = c.create_team("patch", dc=1)
        ws = c.create_workspace(_ws(team.id, "sized", storageMib=64))
        _running(c, ws.id)
        with pytest.raises(ApiError) as over:
            c.update_workspace(ws.id, m.WorkspaceUpdate(storageMib=4096))  # plan 7: 2048
        status, detail = _problem(over)
        assert status == 400 and "storageMib" in detail and "2048" in detail
        c.execute(ws.id, "head -c 40000000 /dev/urandom > data")
        with pytest.raises(ApiError) as shrink:
            c.update_workspace(ws.id, m.WorkspaceUpdate(storageMib=20))
        status, detail = _problem(shrink)
        assert status == 400 and "storageMib" in detail and "already uses" in detail
        # Growing within the plan works; it takes effect at the next start, files intact.
        c.update_workspace(ws.id, m.WorkspaceUpdate(storageMib=128))
        c.stop_workspace(ws.id)
        deadline = time.monotonic() + 60
        while c.workspace_status(ws.id).state != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        c.start_workspace(ws.id)
        _running(c, ws.id)
        out = c.execute(ws.id, "stat -c %s data; df -m --output=size . | tail -1")
        size, fs_mib = out.output.split()
        assert size == "40000000" and int(fs_mib) > 100


@pytest.fixture
def reserved_platform(data_dir: Path) -> Iterator[RunningPlatform]:
    """A platform whose disk reserve leaves room for only ~100 MiB of workspace images."""
    st = os.statvfs(data_dir)
    free_mib = st.f_bavail * st.f_frsize // (1024 * 1024)
    settings = platform_settings(data_dir, disk_reserve_mib=free_mib - 100)
    p = RunningPlatform(settings).start()
    try:
        yield p
    finally:
        p.stop()


def test_reserve_refuses_create_and_grow_with_409(reserved_platform: RunningPlatform) -> None:
    p = reserved_platform
    _, token = p.new_user()
    with p.client(token) as c:
        team = c.create_team("reserve", dc=1)
        with pytest.raises(ApiError) as refused:
            c.create_workspace(_ws(team.id, "big", storageMib=1024))
        status, detail = _problem(refused)
        assert status == 409 and "reserved for the platform" in detail
        assert "storageMib" in detail
        ws = c.create_workspace(_ws(team.id, "small", storageMib=32, replicas=0))
        with pytest.raises(ApiError) as grow:
            c.update_workspace(ws.id, m.WorkspaceUpdate(storageMib=2000))
        assert _problem(grow)[0] == 409
    # Sparse images, promised in full: the host itself still has its free space.
    assert httpx.get(p.base_url + "/readyz").status_code == 200


@pytest.fixture
def small_data_dir() -> Iterator[Path]:
    """A data directory on its own 64 MiB tmpfs: a real file system that really fills."""
    path = Path(tempfile.mkdtemp(prefix="hemisphere-lowdisk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0711", "tmpfs", str(path)],
                   check=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


def test_low_disk_makes_readyz_not_ready_and_metrics_show_it(small_data_dir: Path) -> None:
    settings = platform_settings(small_data_dir, disk_reserve_mib=16, storage="directory")
    p = RunningPlatform(settings).start()
    try:
        assert httpx.get(p.base_url + "/readyz").status_code == 200
        filler = small_data_dir / "someone-elses-logs"
        with open(filler, "wb") as f:
            for _ in range(56):
                f.write(b"\0" * (1024 * 1024))
        r = httpx.get(p.base_url + "/readyz")
        assert r.status_code == 503
        assert any("low disk" in msg for msg in r.json()["problems"])
        metrics = httpx.get(p.base_url + "/metrics").text
        free = next(
            float(line.split()[1]) for line in metrics.splitlines()
            if line.startswith("hemisphere_data_dir_free_bytes ")
        )  # fmt: skip
        assert free < 16 * 1024 * 1024
        filler.unlink()
        assert httpx.get(p.base_url + "/readyz").status_code == 200
    finally:
        p.stop()
