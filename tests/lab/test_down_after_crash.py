"""`lab down` removes everything from lab.json alone, even when `lab up` was SIGKILLed half-way
(some sites started, the CLI gone)."""

from __future__ import annotations

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
from tests.lab.harness import EXAMPLES, leftovers

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
