"""A lab for the fault suite, started by the same code as `hemisphere lab up`, plus the counted
write streams and the matrix the suite prints at the end.

`running_lab` removes the lab even when a test fails, then checks the host: no namespace, no
veth, no process and no mount of the lab is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hemisphere import lab
from hemisphere.lab import host
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk.errors import ApiError

EXAMPLES = Path(__file__).parents[2] / "examples"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
MATRIX: list[dict[str, Any]] = []


def record(scenario: str, fault: str, outcome: str, **details: Any) -> None:
    MATRIX.append({"scenario": scenario, "fault": fault, "outcome": outcome, **details})


def leftovers(state: lab.LabState) -> list[str]:
    """What of the lab is still on the host (kernel and /proc only)."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [s.netns for s in state.sites if s.netns in netns.split()]
    found += [s.veth for s in state.sites if Path("/sys/class/net", s.veth).exists()]
    procs = [*state.processes]
    found += [f"{p.site}:{p.role} pid {p.pid}" for p in procs if host.alive(p.pid, p.start_ticks)]
    if host.alive(state.toxiproxy.pid, state.toxiproxy.start_ticks):
        found.append("toxiproxy")
    mounts = Path("/proc/mounts").read_text()
    found += [line.split()[1] for line in mounts.splitlines() if state.dir in line.split()[1]]
    for db in state.databases:
        if lab.control.postgres_of(state, db).is_running():
            found.append(f"database {db.key}")
    return found


@contextmanager
def running_lab(spec: str, name: str) -> Iterator[lab.LabState]:
    root = Path(tempfile.mkdtemp(prefix="hemisphere-lab-"))
    root.chmod(0o711)
    old = os.environ.get("HEMISPHERE_LAB_DIR")
    os.environ["HEMISPHERE_LAB_DIR"] = str(root)
    state: lab.LabState | None = None
    try:
        try:
            state = lab.up(EXAMPLES / spec, name)
        except BaseException:
            if (root / name / "lab.json").exists():
                state = lab.open_lab(name)
            raise
        yield state
    finally:
        lab.down(name)
        if old is None:
            os.environ.pop("HEMISPHERE_LAB_DIR", None)
        else:
            os.environ["HEMISPHERE_LAB_DIR"] = old
        if state is not None:
            assert leftovers(state) == []
        assert not (root / name).exists()
        root.rmdir()


def admin_client(state: lab.LabState, url: str | None = None) -> HemisphereClient:
    admin = lab.first_admin(state)
    assert admin is not None
    return HemisphereClient(url or state.site(state.console_site).url, admin.token, timeout=10)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `check`; return the seconds it took (for the matrix), fail after `timeout`."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return round(time.monotonic() - start, 1)
        except Exception:  # a site that is still coming back
            pass
        assert time.monotonic() - start < timeout, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.25)


@dataclass
class WriteStream:
    """A thread doing `write(n)` for n = 1, 2, … every `period_s`, counting what the client was
    told: `acked` got a success, `refused` got an HTTP error (status and detail kept)."""

    write: Callable[[int], None]
    clients: tuple[HemisphereClient, ...] = ()  # closed by stop()
    period_s: float = 0.2
    acked: list[int] = field(default_factory=list)
    refused: list[tuple[int, int, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # transport errors
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> WriteStream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                self.write(n)
                self.acked.append(n)
            except ApiError as exc:
                self.refused.append((n, exc.status, exc.detail))
            except Exception as exc:  # counted: a timeout or a reset
                self.failed.append((n, type(exc).__name__))
            time.sleep(self.period_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        for client in self.clients:
            client.close()


def write_matrix() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "lab-fault-matrix.json"
    path.write_text(json.dumps(MATRIX, indent=2))
    return path
