"""`lab down` removes everything from lab.json alone, even when `lab up` was SIGKILLed half-way
(some sites started, the CLI gone)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hemisphere import lab
from hemisphere.sdk import models as m
from tests.lab.harness import EXAMPLES, admin_client, leftovers, running_lab, wait_until

pytestmark = pytest.mark.e2e


def test_down_after_the_up_cli_was_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(tempfile.mkdtemp(prefix="hemisphere-lab-"))
    root.chmod(0o711)  # the postgres user traverses it
    monkeypatch.setenv("HEMISPHERE_LAB_DIR", str(root))
    try:
        _kill_up_then_down(root)
    finally:
        lab.down("crash")
    root.rmdir()


def _kill_up_then_down(root: Path) -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "hemisphere.cli.main", "lab", "up", "--name", "crash",
         str(EXAMPLES / "federated-individual-db.yaml")],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    state_file = root / "crash" / "lab.json"
    deadline = time.monotonic() + 120
    while True:
        assert cli.poll() is None, "lab up finished before it could be killed"
        if state_file.exists():
            procs = json.loads(state_file.read_text())["processes"]
            if procs and all(p["pid"] for p in procs):
                break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    state = lab.open_lab("crash")
    assert any(lab.status(state)["sites"][0]["processes"])
    lab.down("crash")
    lab.down("crash")  # idempotent
    assert leftovers(state) == []
    assert not (root / "crash").exists()


def test_down_after_a_dc_was_sigkilled_stops_its_sandboxes() -> None:
    """A SIGKILLed DC cannot stop its (detached) sandboxes; `lab down` kills them through the
    runtime's cgroups and removes those."""
    with running_lab("federated-shared-db.yaml", "orphan") as state:
        with admin_client(state) as c:
            team = c.create_team("orphans", 1)
            ws = c.create_workspace(m.WorkspaceCreate(teamId=team.id, name="left", planId=7,
                                                      isPrivateRepo=False, replicas=1))  # fmt: skip
            wait_until(lambda: c.workspace_status(ws.id).state == "running", 120, "running")
            pid = int(c.execute(ws.id, "nohup sleep 100000 >/dev/null 2>&1 & echo $!").output)
        lab.kill(state, "fra:dc")
        fra = state.process("fra", "dc")
        tag = hashlib.sha256(str(Path(fra.data_dir, "workspaces")).encode()).hexdigest()[:10]
        group = Path("/sys/fs/cgroup/pids", f"hemisphere-{tag}")
        # The formula matches the runtime's (dc/app.py): the orphaned sandbox is in it.
        assert list(group.glob("ws-*/cgroup.procs")), "the sandbox should outlive its DC"
        assert pid > 0
    # running_lab's teardown ran `lab down` and checked the namespaces, veths and processes.
    assert not group.exists()
    assert not Path(fra.data_dir).exists()
