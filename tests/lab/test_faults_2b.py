"""Scenario 2B (a database per DC, identity replicated from the console's feed) as a lab.

Cut off from the console, a DC keeps logging users in and writing workspaces; identity writes
at the DC answer 503 naming the console; after healing, what the console wrote meanwhile
reaches the DC exactly once. Same counters as 2A: 0 lost, 0 duplicated, monotonic.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from hemisphere import lab
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.sdk.errors import ApiError
from tests.lab.harness import WriteStream, admin_client, record, running_lab, wait_until

pytestmark = pytest.mark.e2e
FAULT_S = 30
JITTER_S = 60
DC = "fra"


@pytest.fixture(scope="module")
def state() -> Iterator[lab.LabState]:
    with running_lab("federated-individual-db.yaml", "f2b") as s:
        yield s


def _dc(state: lab.LabState) -> HemisphereClient:
    return admin_client(state, state.site(DC).url)


def _dc_emails(state: lab.LabState, tag: str) -> list[str]:
    with _dc(state) as c:
        return [u.email for u in c.list_users() if u.email.startswith(f"{tag}-")]


@pytest.fixture(scope="module")
def workspace(state: lab.LabState) -> tuple[int, int]:
    with admin_client(state) as c:
        team = c.create_team("faults", 1)
    with _dc(state) as c:
        wait_until(lambda: any(t.id == team.id for t in c.list_teams()), 60, "team at the DC")
        ws = c.create_workspace(m.WorkspaceCreate(teamId=team.id, name="steady", planId=7,
                                                  isPrivateRepo=False, replicas=1))  # fmt: skip
        wait_until(lambda: c.workspace_status(ws.id).state == "running", 120, "workspace running")
        out = c.execute(ws.id, "nohup sleep 100000 >/dev/null 2>&1 & echo $!").output
    return ws.id, int(out.strip())


def _alive(state: lab.LabState, workspace: tuple[int, int]) -> bool:
    wid, pid = workspace
    with _dc(state) as c:
        return c.execute(wid, f"kill -0 {pid} && echo alive").output.strip() == "alive"


def test_every_site_logs_the_first_admin_in(state: lab.LabState) -> None:
    admin = lab.first_admin(state)
    assert admin is not None
    for site in state.sites:
        with HemisphereClient(site.url, timeout=10) as c:
            wait_until(lambda c=c: bool(c.login(admin.email, admin.password).token), 60,
                       f"login at {site.name}")  # fmt: skip
    record("2B", "up: login at console + 3 DCs", "kept working")


def _streams(state: lab.LabState, wid: int, tag: str) -> tuple[WriteStream, WriteStream]:
    console, dc = admin_client(state), _dc(state)
    users = WriteStream(lambda n: console.create_user(
        f"{tag}-{n}@lab.example", secrets.token_urlsafe(12), f"{tag} {n}"), (console,))  # fmt: skip
    env = WriteStream(lambda n: dc.set_env(wid, {"SEQ": str(n)}), (dc,))
    return users.start(), env.start()


def _count(state: lab.LabState, wid: int, tag: str, users: WriteStream, env: WriteStream) -> float:
    """Wait until the DC has every acknowledged identity write; check 0 lost / dup / order."""
    wanted = {f"{tag}-{n}@lab.example" for n in users.acked}
    seconds = wait_until(lambda: wanted <= set(_dc_emails(state, tag)), 120, "DC catch-up")
    emails = _dc_emails(state, tag)
    assert len(emails) == len(set(emails)), "identity applied twice at the DC"
    with _dc(state) as c:
        seq = {e.name: e.value for e in c.get_env(wid)}.get("SEQ")
    if env.acked:
        assert seq is not None and int(seq) >= max(env.acked), (seq, max(env.acked))
    return seconds


def test_a_cut_dc_central(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    users, env = _streams(state, wid, "cut")
    time.sleep(3)
    lab.cut(state, f"{DC}-hq")
    time.sleep(FAULT_S / 2)
    admin = lab.first_admin(state)
    assert admin is not None
    with HemisphereClient(state.site(DC).url, timeout=10) as c:
        c.login(admin.email, admin.password)  # replicated credentials, console unreachable
    with _dc(state) as c, pytest.raises(ApiError) as refused:
        c.create_user("during-cut@lab.example", secrets.token_urlsafe(12), "x")
    assert refused.value.status == 503 and "console" in (refused.value.detail or "")
    time.sleep(FAULT_S / 2)
    lab.heal(state, f"{DC}-hq")
    healed = time.monotonic()
    users.stop()
    env.stop()
    assert users.acked and not users.refused
    assert env.acked and not env.refused and not env.failed  # the DC's own database
    assert _alive(state, workspace)
    seconds = _count(state, wid, "cut", users, env)
    record("2B", "cut fra-hq 30 s", "kept working; 503 naming console; converged",
           converged_s=round(time.monotonic() - healed, 1), catch_up_wait_s=seconds,
           identity_acked=len(users.acked), dc_writes_acked=len(env.acked), lost=0,
           duplicated=0)  # fmt: skip


def test_b_console_down(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    lab.kill(state, "hq:console")
    dc = _dc(state)
    env = WriteStream(lambda n: dc.set_env(wid, {"SEQ": str(n)}), (dc,)).start()
    time.sleep(FAULT_S)
    admin = lab.first_admin(state)
    assert admin is not None
    with HemisphereClient(state.site(DC).url, timeout=10) as c:
        c.login(admin.email, admin.password)
    back = time.monotonic()
    lab.restart(state, "hq:console")
    env.stop()
    assert env.acked and not env.refused
    assert _alive(state, workspace)
    users = WriteStream(lambda n: None)
    _count(state, wid, "none", users, env)
    record("2B", "console down 30 s", "kept working (login + DC writes)",
           converged_s=round(time.monotonic() - back, 1), dc_writes_acked=len(env.acked))  # fmt: skip


def test_c_dc_db_down(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    lab.db_stop(state, DC)
    dc = _dc(state)
    env = WriteStream(lambda n: dc.set_env(wid, {"SEQ": str(n)}), (dc,)).start()
    time.sleep(FAULT_S)
    env.stop()
    lab.db_start(state, DC)
    back = time.monotonic()
    with _dc(state) as c:
        wait_until(lambda: c.set_env(wid, {"PROBE": "1"}) is None, 120, "DC writes again")
    assert env.refused and {s for _, s, _ in env.refused} == {503}, env.refused[:3]
    assert all("metadata store unreachable" in (d or "") for _, _, d in env.refused)
    assert _alive(state, workspace)
    record("2B", "fra DB down 30 s", "refused clearly + converged",
           converged_s=round(time.monotonic() - back, 1), refused=len(env.refused),
           statuses=sorted({s for _, s, _ in env.refused}))  # fmt: skip


def test_d_kill_dc_mid_reconcile(state: lab.LabState, workspace: tuple[int, int]) -> None:
    with _dc(state) as c:
        team = next(t for t in c.list_teams() if t.name == "faults")
        ws = c.create_workspace(m.WorkspaceCreate(teamId=team.id, name="mid", planId=7,
                                                  isPrivateRepo=False, replicas=1))  # fmt: skip
        lab.kill(state, f"{DC}:dc")
        killed = time.monotonic()
        lab.restart(state, f"{DC}:dc")
    with _dc(state) as c:
        wait_until(lambda: c.workspace_status(ws.id).state == "running", 120, "mid")
    assert _alive(state, workspace)
    record("2B", "kill -9 dc mid-reconcile", "converged",
           converged_s=round(time.monotonic() - killed, 1))  # fmt: skip


def test_e_jitter(state: lab.LabState, workspace: tuple[int, int]) -> None:
    wid = workspace[0]
    lab.delay(state, DC, lab.Delay(200, 100))
    users, env = _streams(state, wid, "jitter")
    time.sleep(JITTER_S)
    users.stop()
    env.stop()
    with admin_client(state) as c:
        health = {d.id: d.health for d in c.datacenter_registry()}
    lab.delay(state, DC, lab.Delay(0))
    assert health[1] == "Ready"
    assert env.acked and not env.refused and not env.failed
    seconds = _count(state, wid, "jitter", users, env)
    record("2B", "200±100 ms jitter 60 s", "kept working", catch_up_wait_s=seconds,
           dc_writes_acked=len(env.acked), identity_acked=len(users.acked), lost=0)  # fmt: skip
