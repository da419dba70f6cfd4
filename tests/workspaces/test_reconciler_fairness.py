"""One tenant cannot stall the reconciler for everyone (issue 10, finding 3).

Workspace A (team 1) clones from a tarpit: a real TCP server on loopback that accepts and never
answers, so `git clone` hangs. While it hangs, another team's new workspace must start and a
running one must stop; A itself fails at its provisioning deadline with a reason that says so,
and the clone is killed. Team one asking for as many hung clones as the DC has provisioning slots
gets only its share of them, and a hung clone its owner deletes goes away at once instead of at
its deadline. Real platform, real sandboxes, real git.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from tests.dc.test_api_workspaces import new_ws, wait_for, wait_gone
from tests.services.platform import RunningPlatform, observe_sandboxes, platform_settings

DEADLINE_S = 30.0  # A's provisioning deadline; B and C must converge well within it


class Tarpit:
    """Accepts TCP connections on loopback and never sends a byte."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = int(self._server.getsockname()[1])
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(conn)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._held)

    def still_open(self) -> int:
        """Connections whose client has not hung up: what the client sent is read and dropped,
        and a closed peer then reads as EOF."""
        alive = 0
        with self._lock:
            for conn in self._held:
                try:
                    while conn.recv(65536, socket.MSG_DONTWAIT):
                        pass
                except BlockingIOError:
                    alive += 1
                except OSError:
                    pass
        return alive

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for conn in self._held:
                conn.close()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    t = Tarpit()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def deadline_platform(data_dir: Path) -> Iterator[RunningPlatform]:
    p = RunningPlatform(platform_settings(data_dir, provision_deadline_s=DEADLINE_S)).start()
    try:
        yield p
    finally:
        p.stop()


def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _team_client(p: RunningPlatform, name: str) -> tuple[HemisphereClient, int]:
    _, token = p.new_user(name)
    c = p.client(token)
    return c, c.create_team(name, dc=1).id


def test_a_hung_clone_delays_only_its_own_workspace(
    deadline_platform: RunningPlatform, tarpit: Tarpit
) -> None:
    p = deadline_platform
    per_team = p.settings.provisions_per_team
    one, team1 = _team_client(p, "tenant-one")
    two, team2 = _team_client(p, "tenant-two")
    with one, two:
        c_ws = two.create_workspace(new_ws(team2, "running-one"))
        wait_for(two, c_ws.id, lambda s: s.isRunning)

        # Team one asks for as many hung clones as the DC has provisioning slots.
        url = f"http://127.0.0.1:{tarpit.port}/repo.git"
        a_ws = one.create_workspace(new_ws(team1, "tarpit", gitUrl=url))
        eventually(lambda: tarpit.accepted >= 1, "the clone never reached the tarpit")
        more = [
            one.create_workspace(new_ws(team1, f"tarpit-{i}", gitUrl=url)).id
            for i in range(p.settings.reconcile_concurrency // 2 - 1)
        ]
        eventually(lambda: tarpit.accepted >= per_team, "team one's clones never started")

        # While they hang: another team's new workspace starts, a running one stops.
        b_ws = two.create_workspace(new_ws(team2, "newcomer"))
        two.update_workspace(c_ws.id, m.WorkspaceUpdate(replicas=0))
        wait_for(two, b_ws.id, lambda s: s.isRunning)
        wait_for(two, c_ws.id, lambda s: s.state == "stopped")
        assert tarpit.accepted == per_team, "one team held more provisioning slots than its share"
        assert one.workspace_status(a_ws.id).state == "starting"
        assert two.execute(b_ws.id, "echo up").output == "up\n"
        # Deleting a workspace whose clone hangs does not wait for the clone's deadline (and
        # hands its slot to the team's next workspace).
        one.delete_workspace(more[0])
        wait_gone(one, more[0])
        eventually(lambda: tarpit.still_open() == per_team, "the deleted clone was not killed")
        assert one.workspace_status(a_ws.id).state == "starting"

        # A gives up at its deadline, says why, and leaves nothing behind.
        eventually(
            lambda: one.workspace_status(a_ws.id).state == "failed",
            "A never failed at its provisioning deadline",
            timeout=DEADLINE_S * 4,
        )
        reason = one.workspace_status(a_ws.id).reason or ""
        assert f"did not finish within {DEADLINE_S:g} s" in reason, reason
        assert "git" in reason
        for wid in more[1:]:
            one.delete_workspace(wid)
        for wid in more[1:]:
            wait_gone(one, wid)
        eventually(lambda: tarpit.still_open() == 0, "the hung clones were not killed")
        eventually(
            lambda: a_ws.id not in observe_sandboxes(p.settings.data_dir),
            "A's half-made storage was not cleaned",
        )
        # It stays failed (no retry loop against the tarpit) while the others are untouched.
        accepted = tarpit.accepted
        time.sleep(p.settings.reconcile_interval_s * 4)
        assert tarpit.accepted == accepted
        assert one.workspace_status(a_ws.id).state == "failed"
        assert two.workspace_status(b_ws.id).isRunning
