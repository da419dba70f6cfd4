"""Scenario 2A (one shared database) as a lab: faults injected while writes stream, counted.

One lab for the module; the faults run one after another against it (~30 s each, jitter 60 s).
Each test asserts what kept working, the exact error where it could not, convergence after
healing (seconds recorded in the matrix), and from the counters: every acknowledged write is
present exactly once, and the last value is never older than the last acknowledged one.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from hemisphere import lab
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from tests.lab.harness import WriteStream, admin_client, record, running_lab, wait_until

pytestmark = pytest.mark.e2e
FAULT_S = 30
JITTER_S = 60
DC = "fra"


@pytest.fixture(scope="module")
def state() -> Iterator[lab.LabState]:
    with running_lab("federated-shared-db.yaml", "f2a") as s:
        yield s


@pytest.fixture(scope="module")
def workspace(state: lab.LabState) -> tuple[int, int]:
    """A running workspace in fra with a process started before any fault: (id, pid)."""
    with admin_client(state) as c:
        team = c.create_team("faults", 1)
        ws = c.create_workspace(m.WorkspaceCreate(teamId=team.id, name="steady", planId=7,
                                                  isPrivateRepo=False, replicas=1))  # fmt: skip
        wait_until(lambda: c.workspace_status(ws.id).state == "running", 120, "workspace running")
        out = c.execute(ws.id, "nohup sleep 100000 >/dev/null 2>&1 & echo $!").output
    return ws.id, int(out.strip())


def _dc(state: lab.LabState) -> HemisphereClient:
    return admin_client(state, state.site(DC).url)


def _alive(state: lab.LabState, workspace: tuple[int, int]) -> bool:
    wid, pid = workspace
    with _dc(state) as c:
        return c.execute(wid, f"kill -0 {pid} && echo alive").output.strip() == "alive"


def _streams(state: lab.LabState, wid: int, tag: str) -> tuple[WriteStream, WriteStream]:
    console, dc = admin_client(state), _dc(state)
    users = WriteStream(lambda n: console.create_user(
        f"{tag}-{n}@lab.example", secrets.token_urlsafe(12), f"{tag} {n}"), (console,))  # fmt: skip
    env = WriteStream(lambda n: dc.set_env(wid, {"SEQ": str(n)}), (dc,))
    return users.start(), env.start()


def _count(state: lab.LabState, wid: int, tag: str, users: WriteStream, env: WriteStream) -> None:
    """0 lost, 0 duplicated, 0 out of order."""
    with admin_client(state) as c:
        emails = [u.email for u in c.list_users() if u.email.startswith(f"{tag}-")]
        seq = {e.name: e.value for e in c.get_env(wid)}.get("SEQ")
    assert len(emails) == len(set(emails)), "duplicated identity writes"
    lost = {f"{tag}-{n}@lab.example" for n in users.acked} - set(emails)
    assert not lost, f"acknowledged identity writes lost: {sorted(lost)}"
    refused_present = {f"{tag}-{n}@lab.example" for n, _, _ in users.refused} & set(emails)
    assert not refused_present, f"refused writes applied: {refused_present}"
    if env.acked:
        assert seq is not None and int(seq) >= max(env.acked), (seq, max(env.acked))


def _heal_time(state: lab.LabState, wid: int) -> float:
    with _dc(state) as c:
        return wait_until(lambda: c.set_env(wid, {"PROBE": "1"}) is None, 120, "DC writes again")


def test_status_json_names_every_site_process_database_and_link(state: lab.LabState) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hemisphere.cli.main", "lab", "status", "--json", "--name", "f2a"],
        capture_output=True, text=True, check=True, env=dict(os.environ),
    )  # fmt: skip
    report = json.loads(out.stdout)
    assert [s["name"] for s in report["sites"]] == ["hq", "fra", "par", "vie"]
    assert all(p["alive"] for s in report["sites"] for p in s["processes"])
    assert [d["state"] for s in report["sites"] for d in s["databases"]] == ["up"]
    assert {link["state"] for link in report["links"]} == {"up"} and len(report["links"]) == 9
    with HemisphereClient(report["console_url"], report["admin"]["token"]) as c:
        assert c.me().email == report["admin"]["email"]


def test_sites_reach_each_other_only_through_the_wan_proxy(state: lab.LabState) -> None:
    fra, par = state.site("fra"), state.site("par")

    def connect(netns: str, address: str) -> int:
        probe = f"import socket; socket.create_connection(({address!r}, 8080), timeout=3)"
        return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-c",
                               probe], capture_output=True).returncode  # fmt: skip

    assert connect(fra.netns, par.address) != 0  # no route from one site to another
    assert connect(fra.netns, state.site("hq").address) != 0
    console_link = next(link for link in state.links if link.name == "fra-to-hq-console")
    host, port = console_link.listen.rsplit(":", 1)
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=3)"
    assert subprocess.run(["nsenter", f"--net=/run/netns/{fra.netns}", sys.executable, "-c",
                           probe]).returncode == 0  # fmt: skip


def test_a_cut_dc_central_during_writes(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    users, env = _streams(state, wid, "cut")
    time.sleep(3)
    lab.cut(state, f"{DC}-hq")
    time.sleep(FAULT_S)
    during = len(env.refused) + len(env.failed)
    lab.heal(state, f"{DC}-hq")
    seconds = _heal_time(state, wid)
    time.sleep(2)
    users.stop()
    env.stop()
    # The console owns identity and its database: identity writes never stopped.
    assert users.acked and not users.refused and not users.failed
    # The DC's metadata writes went to the shared database over the cut link: refused, 503.
    assert during > 0 and all(s == 503 for _, s, _ in env.refused), env.refused[:3]
    assert _alive(state, workspace)
    _count(state, wid, "cut", users, env)
    record("2A", "cut fra-hq 30 s", "kept working + converged",
           converged_s=seconds, identity_acked=len(users.acked), dc_writes_acked=len(env.acked),
           dc_writes_refused=len(env.refused), lost=0, duplicated=0)  # fmt: skip


def test_b_console_down(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    lab.kill(state, "hq:console")
    dc = _dc(state)
    env = WriteStream(lambda n: dc.set_env(wid, {"SEQ": str(n)}), (dc,)).start()
    time.sleep(FAULT_S)
    # Workspaces are the DC's: writes at the DC keep working while the console is gone.
    assert _alive(state, workspace)
    back = time.monotonic()
    lab.restart(state, "hq:console")
    with admin_client(state) as c:
        wait_until(lambda: bool(c.list_users()), 60, "the console")
    seconds = round(time.monotonic() - back, 1)  # restart included
    env.stop()
    assert env.acked and not env.refused
    _count(state, wid, "none", WriteStream(lambda n: None), env)
    record("2A", "console down 30 s", "kept working (DC writes)", converged_s=seconds,
           dc_writes_acked=len(env.acked), lost=0)  # fmt: skip


def test_c_shared_db_down(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    lab.db_stop(state, "hq")
    dc = _dc(state)
    env = WriteStream(lambda n: dc.set_env(wid, {"SEQ": str(n)}), (dc,)).start()
    time.sleep(FAULT_S)
    env.stop()
    lab.db_start(state, "hq")
    seconds = _heal_time(state, wid)
    assert env.refused, "no write was refused while the shared database was down"
    assert {s for _, s, _ in env.refused} == {503}
    assert all("metadata store unreachable" in (d or "") for _, _, d in env.refused)
    assert _alive(state, workspace)
    _count(state, wid, "none", WriteStream(lambda n: None), env)
    record("2A", "shared DB down 30 s", "refused clearly (503) + converged",
           converged_s=seconds, refused=len(env.refused), lost=0)  # fmt: skip


def test_d_kill_dc_mid_reconcile(state: lab.LabState, workspace: tuple[int, int]) -> None:
    with admin_client(state) as c:
        team = next(t for t in c.list_teams() if t.name == "faults")
        ws = c.create_workspace(m.WorkspaceCreate(teamId=team.id, name="mid", planId=7,
                                                  isPrivateRepo=False, replicas=1))  # fmt: skip
        lab.kill(state, f"{DC}:dc")  # while it provisions and starts `mid`
        killed = time.monotonic()
        lab.restart(state, f"{DC}:dc")
        wait_until(lambda: c.workspace_status(ws.id).state == "running", 120, "mid")
        seconds = round(time.monotonic() - killed, 1)  # restart included
    assert _alive(state, workspace)
    record("2A", "kill -9 dc mid-reconcile", "converged", converged_s=seconds)


def test_e_jitter(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    lab.delay(state, DC, lab.Delay(200, 100))
    users, env = _streams(state, wid, "jitter")
    time.sleep(JITTER_S)
    users.stop()
    env.stop()
    lab.delay(state, DC, lab.Delay(0))
    with admin_client(state) as c:
        health = {d.id: d.health for d in c.datacenter_registry()}
    assert health[1] == "Ready"
    assert env.acked and not env.refused and not env.failed
    _count(state, wid, "jitter", users, env)
    record("2A", "200±100 ms jitter 60 s", "kept working", dc_writes_acked=len(env.acked),
           identity_acked=len(users.acked), lost=0)  # fmt: skip
