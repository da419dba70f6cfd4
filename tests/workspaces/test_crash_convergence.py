"""Kill -9 the platform in the middle of starting, stopping and deleting a workspace; a restart
converges to exactly what the database asks for, with no orphaned sandbox or storage.

The process is a real `hemisphere up` started as a subprocess. HEMISPHERE_CRASH_AT makes it
SIGKILL itself at a named point of the reconciler, so every crash point is hit for certain
instead of by timing luck.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hemisphere.sdk import HemisphereClient, NotFound
from hemisphere.sdk import models as m
from hemisphere.workspaces.runtime.base import ObservedPhase
from hemisphere.workspaces.storage.image import loop_devices
from tests.services.platform import Up, observe_sandboxes

pytestmark = pytest.mark.e2e


def _wait_state(c: HemisphereClient, wid: int, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (st := c.workspace_status(wid)).state != state:
        assert st.state != "failed", st.reason
        assert time.monotonic() < deadline, f"workspace {wid} is {st.state}, wanted {state}"
        time.sleep(0.1)


def _mounts_and_loops(data_dir: Path) -> tuple[list[str], list[Path]]:
    """Home mounts and loop devices of this data dir, from the kernel (storage/image.py)."""
    mounts = [
        line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{data_dir}/")
    ]  # fmt: skip
    loops = [b for b in loop_devices().values() if str(b).startswith(f"{data_dir}/")]
    return mounts, loops


def _only_running_mounted(data_dir: Path, *running: int) -> None:
    mounts, loops = _mounts_and_loops(data_dir)
    home = data_dir / "workspaces" / "homes"
    assert sorted(mounts) == sorted(str(home / f"ws-{w}") for w in running)
    assert sorted(loops) == sorted(home / ".images" / f"ws-{w}.img" for w in running)


def _create(c: HemisphereClient, name: str, replicas: int = 1) -> int:
    team = next((t for t in c.list_teams() if t.name == "crash"), None) or c.create_team("crash", 1)
    ws = c.create_workspace(
        m.WorkspaceCreate(
            teamId=team.id, name=name, planId=7, isPrivateRepo=False, replicas=replicas
        )
    )
    return ws.id


@pytest.mark.parametrize(
    "point", ["provision:before", "provision:after", "start:before", "start:after", "record:after"]
)
def test_crash_while_starting_converges(up: Up, point: str) -> None:
    up.start(crash_at=point)
    with up.client() as c:
        wid = _create(c, "starting")
    up.wait_killed()
    up.start()
    with up.client() as c:
        _wait_state(c, wid, "running")
        assert c.execute(wid, "echo alive").output == "alive\n"
    assert observe_sandboxes(up.data_dir) == {wid: ObservedPhase.RUNNING}
    _only_running_mounted(up.data_dir, wid)


@pytest.mark.parametrize("point", ["stop:before", "stop:after"])
def test_crash_while_stopping_converges(up: Up, point: str) -> None:
    up.start(crash_at=point)
    with up.client() as c:
        wid = _create(c, "stopping")
        _wait_state(c, wid, "running")
        c.execute(wid, "echo precious > ~/data.txt")
        c.stop_workspace(wid)
    up.wait_killed()
    up.start()
    with up.client() as c:
        _wait_state(c, wid, "stopped")
    assert observe_sandboxes(up.data_dir) == {wid: ObservedPhase.STOPPED}
    _only_running_mounted(up.data_dir)
    with up.client() as c:
        c.start_workspace(wid)
        _wait_state(c, wid, "running")
        assert c.execute(wid, "cat ~/data.txt").output == "precious\n"


@pytest.mark.parametrize("point", ["remove:before", "remove:after", "forget:before"])
def test_crash_while_deleting_converges(up: Up, point: str) -> None:
    up.start(crash_at=point)
    with up.client() as c:
        keep = _create(c, "keep", replicas=0)
        wid = _create(c, "doomed")
        _wait_state(c, wid, "running")
        c.delete_workspace(wid)
    up.wait_killed()
    up.start()
    with up.client() as c:
        deadline = time.monotonic() + 60
        while True:
            try:
                c.get_workspace(wid)
            except NotFound:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.get_workspace(keep).state == "stopped"
    observed = observe_sandboxes(up.data_dir)
    assert wid not in observed  # no sandbox, no storage left
    homes = [p.name for p in (up.data_dir / "workspaces").rglob("*") if p.is_dir()]
    assert not any(name.endswith(f"-{wid}") or name == str(wid) for name in homes), homes
    assert not (up.data_dir / "workspaces" / "homes" / ".images" / f"ws-{wid}.img").exists()
    _only_running_mounted(up.data_dir)


def test_ctrl_c_stops_workspaces_and_the_next_up_brings_them_back(up: Up) -> None:
    up.start()
    with up.client() as c:
        wid = _create(c, "persistent")
        _wait_state(c, wid, "running")
        c.execute(wid, "echo still-here > ~/file.txt")
    assert up.interrupt() == 0
    first_output = up.output()
    assert "Admin e-mail: admin@hemisphere.local" in first_output
    assert "API token: hsp_" in first_output
    assert observe_sandboxes(up.data_dir) == {wid: ObservedPhase.STOPPED}
    _only_running_mounted(up.data_dir)  # Ctrl-C unmounted the home
    up.start()
    with up.client() as c:
        _wait_state(c, wid, "running")
        assert c.execute(wid, "cat ~/file.txt").output == "still-here\n"
    assert up.interrupt() == 0
    assert "Admin password:" in up.output()  # printed again from the credentials file
