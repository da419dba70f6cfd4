"""Workspaces over the real HTTP API with real bubblewrap sandboxes."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from hemisphere.sdk import BadRequest, Conflict, HemisphereClient, NotFound
from hemisphere.sdk import models as m
from tests.services.platform import RunningPlatform


def wait_for(
    c: HemisphereClient, wid: int, ok: Callable[[m.WorkspaceStatus], bool], timeout: float = 60
) -> m.WorkspaceStatus:
    deadline = time.monotonic() + timeout
    while True:
        st = c.workspace_status(wid)
        if ok(st):
            return st
        assert st.state != "failed", st.reason
        assert time.monotonic() < deadline, f"workspace {wid} stuck in {st.state}"
        time.sleep(0.1)


def wait_gone(c: HemisphereClient, wid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            c.get_workspace(wid)
        except NotFound:
            return
        assert time.monotonic() < deadline, f"workspace {wid} was not deleted"
        time.sleep(0.1)


def new_ws(team_id: int, name: str, **kw: object) -> m.WorkspaceCreate:
    fields: dict[str, object] = {
        "teamId": team_id,
        "name": name,
        "planId": 7,
        "isPrivateRepo": False,
        "replicas": 1,
    }
    fields.update(kw)
    return m.WorkspaceCreate.model_validate(fields)


def test_workspace_lifecycle(platform_any_db: RunningPlatform) -> None:
    p = platform_any_db
    _, token = p.new_user("dev")
    with p.client(token) as c:
        team = c.create_team("devs", dc=1)
        ws = c.create_workspace(
            new_ws(team.id, "api", env=[m.EnvVar(name="GREETING", value="hello")])
        )
        assert ws.dataCenterId == 1 and ws.replicas == 1 and ws.state == "starting"
        assert ws.devDomain == f"3000-api-{ws.id}.{p.settings.preview_domain}"
        wait_for(c, ws.id, lambda s: s.isRunning)

        res = c.execute(ws.id, 'echo "$GREETING $EXTRA"; echo oops >&2; exit 3', env={"EXTRA": "x"})
        assert (res.output, res.error, res.exitCode) == ("hello x\n", "oops\n", 3)
        assert c.execute(ws.id, "id -u").output.strip() != "0"
        c.execute(ws.id, "echo kept > ~/notes.txt")

        c.set_env(ws.id, {"GREETING": "hi", "NEW": "1"})
        assert {e.name: e.value for e in c.get_env(ws.id)} == {"GREETING": "hi", "NEW": "1"}
        c.delete_env(ws.id, ["NEW"])
        assert [e.name for e in c.get_env(ws.id)] == ["GREETING"]
        assert c.execute(ws.id, "echo $GREETING").output == "hi\n"

        c.stop_workspace(ws.id)
        st = wait_for(c, ws.id, lambda s: s.state == "stopped")
        assert not st.isRunning
        with pytest.raises(BadRequest) as not_running:
            c.execute(ws.id, "true")
        assert "not running" in (not_running.value.detail or "")

        c.start_workspace(ws.id)
        wait_for(c, ws.id, lambda s: s.isRunning)
        assert c.execute(ws.id, "cat ~/notes.txt").output == "kept\n"

        assert [w.id for w in c.list_workspaces(team.id)] == [ws.id]
        c.delete_workspace(ws.id)
        wait_gone(c, ws.id)
        assert c.list_workspaces(team.id) == []
    storage = p.settings.workspaces_dir
    assert not any(str(ws.id) in child.name for child in storage.rglob("*") if child.is_dir())


def test_other_teams_workspaces_answer_404(platform: RunningPlatform) -> None:
    _, alice = platform.new_user("alice")
    _, mallory = platform.new_user("mallory")
    with platform.client(alice) as a:
        team = a.create_team("alice", dc=1)
        ws = a.create_workspace(new_ws(team.id, "secret", replicas=0))
    with platform.client(mallory) as c:
        calls = [
            lambda: c.get_workspace(ws.id),
            lambda: c.workspace_status(ws.id),
            lambda: c.execute(ws.id, "true"),
            lambda: c.get_env(ws.id),
            lambda: c.set_env(ws.id, {"A": "b"}),
            lambda: c.start_workspace(ws.id),
            lambda: c.delete_workspace(ws.id),
            lambda: c.list_workspaces(team.id),
            lambda: c.create_workspace(new_ws(team.id, "intruder")),
        ]
        for call in calls:
            with pytest.raises(NotFound):
                call()
    with platform.client(alice) as a:
        assert a.get_workspace(ws.id).state == "stopped"
        assert [w.name for w in a.list_workspaces(team.id)] == ["secret"]


def test_bad_workspace_input(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    with platform.client(token) as c:
        team = c.create_team("t", dc=1)
        c.create_workspace(new_ws(team.id, "one", replicas=0))
        cases: list[tuple[dict[str, object], str]] = [
            ({"name": "one"}, "name"),
            ({"name": "Bad_Name"}, "name"),
            ({"name": "x", "planId": 999}, "planId"),
            ({"name": "x", "baseImage": "windows"}, "baseImage"),
            ({"name": "x", "gitUrl": "file:///etc"}, "gitUrl"),
            ({"name": "x", "replicas": 5}, "replicas"),
            ({"name": "x", "env": [{"name": "1BAD", "value": "v"}]}, "env"),
            ({"name": "x", "dataCenterId": 7}, "dataCenterId"),
        ]
        for override, fld in cases:
            body = {"teamId": team.id, "planId": 7, "isPrivateRepo": False, "replicas": 0}
            body.update(override)
            r = httpx.post(
                platform.base_url + "/api/workspaces",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code in (400, 409), (override, r.text)
            assert fld in r.json()["detail"], (override, r.json())
        with pytest.raises(Conflict):
            c.create_workspace(new_ws(team.id, "one"))
        assert [w.name for w in c.list_workspaces(team.id)] == ["one"]


def test_exec_times_out_and_reports_it(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    with platform.client(token) as c:
        team = c.create_team("t", dc=1)
        ws = c.create_workspace(new_ws(team.id, "slow"))
        wait_for(c, ws.id, lambda s: s.isRunning)
        res = c.execute(ws.id, "echo started; sleep 30")
        assert res.timedOut and res.exitCode != 0
        assert res.output == "started\n"
        assert "timed out" in res.error


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[str]:
    """A bare git repository served over dumb HTTP on loopback."""
    src = tmp_path / "src"
    src.mkdir()
    run = partial(subprocess.run, check=True, capture_output=True, cwd=src)
    run(["git", "init", "-q", "-b", "main"])
    (src / "README.md").write_text("cloned!\n")
    run(["git", "add", "."])
    run(["git", "-c", "user.email=t@e.st", "-c", "user.name=t", "commit", "-qm", "init"])
    bare = tmp_path / "srv" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "srv"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    finally:
        server.shutdown()
        server.server_close()


def test_git_clone_on_create(platform: RunningPlatform, git_server: str) -> None:
    _, token = platform.new_user()
    with platform.client(token) as c:
        team = c.create_team("t", dc=1)
        ws = c.create_workspace(new_ws(team.id, "cloned", gitUrl=git_server))
        wait_for(c, ws.id, lambda s: s.isRunning)
        out = c.execute(ws.id, "cat README.md && git rev-parse --abbrev-ref HEAD")
        assert out.output == "cloned!\nmain\n", out
        head = httpx.get(
            f"{platform.base_url}/api/workspaces/{ws.id}/git/head",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert head == {"head": "main"}
        broken = c.create_workspace(new_ws(team.id, "broken", gitUrl=git_server + "-missing"))
        deadline = time.monotonic() + 60
        while (st := c.workspace_status(broken.id)).state != "failed":
            assert time.monotonic() < deadline and st.state != "running"
            time.sleep(0.1)
        assert st.reason and "clone" in st.reason.lower()


def test_storage_over_quota_is_reported(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    with platform.client(token) as c:
        team = c.create_team("t", dc=1)
        ws = c.create_workspace(new_ws(team.id, "hoarder", storageMib=1))
        wait_for(c, ws.id, lambda s: s.isRunning)
        c.execute(ws.id, "head -c 3M /dev/zero > big.bin")
        deadline = time.monotonic() + 30
        while not (got := c.get_workspace(ws.id)).stateReason:
            assert time.monotonic() < deadline, "over-quota was never reported"
            time.sleep(0.2)
        assert got.stateReason.startswith("over storage quota")
        assert got.storageUsedMib >= 3
        c.execute(ws.id, "rm big.bin")
        while c.get_workspace(ws.id).stateReason:
            assert time.monotonic() < deadline + 30, "over-quota flag was never cleared"
            time.sleep(0.2)
