"""Hostile input at the API edge (issue 10, finding 11): every row below answered 500 (or was
stored and broke the workspace later) before; now each is a 400 whose `detail` names the field.

One real server (SQLite, local runtime) and one running sandbox serve the whole table."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.platform import (
    RunningPlatform,
    _remove_cgroup_parents,
    _runtime_for,
    observe_sandboxes,
    platform_settings,
)

BIG = 2**63  # one past SQLite's and PostgreSQL's largest integer
HUGE = 2**40  # fits SQLite, overflows PostgreSQL's INTEGER columns


class Ctx:
    def __init__(self, p: RunningPlatform, http: httpx.Client, team: int, ws: int) -> None:
        self.p, self.http, self.team, self.ws = p, http, team, ws


@pytest.fixture(scope="module")
def ctx() -> Iterator[Ctx]:
    data_dir = Path(tempfile.mkdtemp(prefix="hemisphere-bad-input-"))
    data_dir.chmod(0o711)
    p = RunningPlatform(platform_settings(data_dir)).start()
    assert p.admin is not None
    http = httpx.Client(
        base_url=p.base_url, headers={"Authorization": f"Bearer {p.admin.token}"}, timeout=60
    )
    try:
        team = http.post("/api/teams", json={"name": "hostile", "dc": 1}).json()["id"]
        ws = http.post(
            "/api/workspaces",
            json={"teamId": team, "name": "w", "planId": 7, "isPrivateRepo": False, "replicas": 1},
        ).json()["id"]
        deadline = time.monotonic() + 60
        while not http.get(f"/api/workspaces/{ws}/status").json()["isRunning"]:
            assert time.monotonic() < deadline, "the workspace did not start"
            time.sleep(0.1)
        yield Ctx(p, http, team, ws)
    finally:
        http.close()
        p.stop()
        for wid in observe_sandboxes(data_dir):  # left by a server that died
            asyncio.run(_runtime_for(data_dir).remove(wid))
        shutil.rmtree(data_dir, ignore_errors=True)
        _remove_cgroup_parents(data_dir)


NEW = {"teamId": 1, "name": "a", "planId": 7, "isPrivateRepo": False, "replicas": 0}

# (method, path template, body, the field `detail` must name). {ws} and {team} are filled in.
CASES: tuple[tuple[str, str, Any, str], ...] = (
    # ids >= 2^63 (and > INTEGER) in path, query and body
    ("GET", f"/api/teams/{BIG}", None, "team_id"),
    ("DELETE", f"/api/teams/{BIG}", None, "team_id"),
    ("GET", f"/api/teams/{BIG}/members", None, "team_id"),
    ("DELETE", f"/api/teams/{{team}}/members/{BIG}", None, "user_id"),
    ("DELETE", f"/api/tokens/{BIG}", None, "token_id"),
    ("PATCH", f"/api/users/{BIG}", {"disabled": True}, "user_id"),
    ("GET", f"/api/audit?teamId={BIG}", None, "teamId"),
    ("GET", f"/api/audit?beforeId={BIG}", None, "beforeId"),
    ("GET", f"/api/workspaces/{BIG}", None, "workspace_id"),
    ("GET", f"/api/workspaces/{HUGE}", None, "workspace_id"),
    ("GET", f"/api/workspaces/team/{BIG}", None, "team_id"),
    ("DELETE", f"/api/workspaces/{BIG}", None, "workspace_id"),
    ("GET", f"/api/workspaces/{BIG}/env-vars", None, "workspace_id"),
    ("GET", f"/api/domains/team/{BIG}", None, "team_id"),
    ("GET", f"/api/workspaces/{{ws}}/logs/test/{BIG}", None, "step"),
    ("PUT", f"/api/datacenters/{BIG}/heartbeat", {}, "datacenter_id"),
    ("POST", "/api/teams", {"name": "x", "dc": BIG}, "dc"),
    ("POST", "/api/teams/{team}/members", {"userEmail": "a@b.c", "role": BIG}, "role"),
    (
        "POST",
        "/api/workspaces",
        {"teamId": BIG, "name": "a", "planId": 7, "isPrivateRepo": False, "replicas": 0},
        "teamId",
    ),
    (
        "POST",
        "/api/workspaces",
        {"teamId": 1, "name": "a", "planId": BIG, "isPrivateRepo": False, "replicas": 0},
        "planId",
    ),
    ("POST", "/api/workspaces", {**NEW, "sourceWorkspaceId": HUGE}, "sourceWorkspaceId"),
    ("PATCH", "/api/workspaces/{ws}", {"storageMib": BIG}, "storageMib"),
    ("PATCH", "/api/workspaces/{ws}", {"planId": BIG}, "planId"),
    # NUL in command, workingDir, env names and values
    ("POST", "/api/workspaces/{ws}/execute", {"command": "echo\x00x"}, "command"),
    (
        "POST",
        "/api/workspaces/{ws}/execute",
        {"command": "pwd", "workingDir": "a\x00"},
        "workingDir",
    ),
    ("POST", "/api/workspaces/{ws}/execute", {"command": "pwd", "env": {"A\x00": "1"}}, "env"),
    ("POST", "/api/workspaces/{ws}/execute", {"command": "pwd", "env": {"A": "1\x00"}}, "env"),
    ("PUT", "/api/workspaces/{ws}/env-vars", [{"name": "A\x00", "value": "x"}], "[0].name"),
    ("PUT", "/api/workspaces/{ws}/env-vars", [{"name": "OK", "value": "x\x00y"}], "[0].value"),
    ("DELETE", "/api/workspaces/{ws}/env-vars", ["A\x00"], "[0]"),
    ("POST", "/api/workspaces", {**NEW, "env": [{"name": "A", "value": "\x00"}]}, "env[0].value"),
    # env names starting with a digit (a shell cannot export them)
    ("POST", "/api/workspaces/{ws}/execute", {"command": "pwd", "env": {"1A": "1"}}, "env"),
    ("PUT", "/api/workspaces/{ws}/env-vars", [{"name": "1A", "value": "x"}], "[0].name"),
    # one environment entry longer than the kernel's MAX_ARG_STRLEN (UTF-8 bytes count)
    ("POST", "/api/workspaces/{ws}/execute", {"command": "pwd", "env": {"A": "é" * 65536}}, "env"),
    ("POST", "/api/workspaces/{ws}/execute", {"command": "é" * 65536}, "command"),
    # team, organization and user names with NUL or bidi control characters
    ("POST", "/api/teams", {"name": "a\x00b", "dc": 1}, "name"),
    ("POST", "/api/teams", {"name": "evil\u202egnp.exe", "dc": 1}, "name"),
    ("POST", "/api/teams", {"name": "a\u2066b", "dc": 1}, "name"),
    ("POST", "/api/teams", {"name": "a\u200fb", "dc": 1}, "name"),
    ("POST", "/api/clusters/organizations", {"name": "o\u202d", "adminEmail": "a@b.c"}, "name"),
    ("POST", "/api/users", {"email": "x@y.z", "name": "n\x00", "password": "p" * 12}, "name"),
    ("POST", "/api/tokens", {"name": "t\u202a"}, "name"),
    ("PATCH", "/api/workspaces/{ws}", {"name": "a\x00b"}, "name"),
    (
        "POST",
        "/api/workspaces",
        {"teamId": 1, "name": "a\u202e", "planId": 7, "isPrivateRepo": False, "replicas": 0},
        "name",
    ),
    # NUL in path segments and in other free text (PostgreSQL text cannot hold it)
    ("GET", "/api/organizations/a%00b/teams", None, "org_id"),
    ("GET", "/api/domains/team/{team}/domain/a%00b", None, "domain_name"),
    ("POST", "/api/workspaces/{ws}/git/pull/or%00igin", None, "remote"),
    ("POST", "/api/workspaces/{ws}/pipeline/te%00st/start", None, "stage"),
    ("POST", "/api/auth/login", {"email": "a@b.c", "password": "x\x00"}, "password"),
    ("PUT", "/api/domains/team/{team}/domain/x.example/workspace-connections", {"/\x00": [1]}, ""),
    ("POST", "/api/workspaces", {**NEW, "gitUrl": "https://h/r\x01"}, "gitUrl"),
)


@pytest.mark.parametrize(("method", "path", "body", "field"), CASES)
def test_bad_input_is_a_400_naming_the_field(
    ctx: Ctx, method: str, path: str, body: Any, field: str
) -> None:
    url = path.format(ws=ctx.ws, team=ctx.team) if "{" in path else path
    r = ctx.http.request(method, url, json=body)
    assert r.status_code == 400, (r.status_code, r.text)
    problem = r.json()
    assert set(problem) == {"status", "title", "detail", "traceId"}
    assert problem["detail"].startswith(f"{field}") or f" {field}" in problem["detail"], problem


def test_lone_surrogate_in_a_name_is_a_400(ctx: Ctx) -> None:
    raw = b'{"name": "a\\ud800b", "dc": 1}'
    r = ctx.http.post("/api/teams", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("name: ")


def test_stored_env_beyond_the_exec_limit_is_refused_and_execs_keep_working(ctx: Ctx) -> None:
    """Each PUT fits the body limit; together they would make every exec fail with E2BIG."""
    wid = ctx.ws
    chunk = "x" * 60_000
    first = [{"name": f"BIG{i}", "value": chunk} for i in range(12)]
    assert ctx.http.put(f"/api/workspaces/{wid}/env-vars", json=first).status_code == 200
    second = [{"name": f"MORE{i}", "value": chunk} for i in range(12)]
    r = ctx.http.put(f"/api/workspaces/{wid}/env-vars", json=second)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("env: ")
    # A command's own env on top of the stored one is held to the same budget.
    extra = {f"E{i}": chunk for i in range(8)}
    r = ctx.http.post(f"/api/workspaces/{wid}/execute", json={"command": "true", "env": extra})
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("env: ")
    r = ctx.http.post(f"/api/workspaces/{wid}/execute", json={"command": "echo ${#BIG0}"})
    assert r.status_code == 200, r.text
    assert r.json()["output"] == "60000\n"
    ctx.http.request("DELETE", f"/api/workspaces/{wid}/env-vars", json=[e["name"] for e in first])


def test_a_refused_nul_value_leaves_the_workspace_usable(ctx: Ctx) -> None:
    wid = ctx.ws
    bad = [{"name": "BAD", "value": "x\x00y"}]
    assert ctx.http.put(f"/api/workspaces/{wid}/env-vars", json=bad).status_code == 400
    r = ctx.http.post(f"/api/workspaces/{wid}/execute", json={"command": "echo ok"})
    assert (r.status_code, r.json()["output"]) == (200, "ok\n")
