"""Pipelines from ci.yml and their server-sent log streams, over the API, in real sandboxes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from hemisphere.sdk import BadRequest, HemisphereClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.services.platform import RunningPlatform

CI_YML = """\
schemaVersion: v0.2
prepare:
  steps:
    - name: hello
      command: echo "preparing $GREETING"; echo line-two
    - command: echo done > prepared.txt
test:
  steps:
    - command: echo testing; exit 4
    - command: echo never
run:
  steps:
    - command: echo serving; sleep 300
"""


def _status(p: RunningPlatform, token: str, wid: int, stage: str) -> list[dict[str, object]]:
    r = httpx.get(
        f"{p.base_url}/api/workspaces/{wid}/pipeline/{stage}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _wait_stage(
    p: RunningPlatform, token: str, wid: int, stage: str, state: str
) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        (replica,) = _status(p, token, wid, stage)
        if replica["state"] == state:
            return replica
        assert time.monotonic() < deadline, replica
        time.sleep(0.2)


def _post(p: RunningPlatform, token: str, path: str) -> httpx.Response:
    return httpx.post(p.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _sse(p: RunningPlatform, token: str, path: str) -> list[tuple[str, object]]:
    events: list[tuple[str, object]] = []
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with httpx.stream("GET", p.base_url + path, headers=headers, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
    return events


@pytest.fixture
def running(
    platform: RunningPlatform,
) -> Iterator[tuple[RunningPlatform, str, int, HemisphereClient]]:
    _, token = platform.new_user()
    with platform.client(token) as c:
        team = c.create_team("ci", dc=1)
        ws = c.create_workspace(new_ws(team.id, "ci", env=[{"name": "GREETING", "value": "hi"}]))
        wait_for(c, ws.id, lambda s: s.isRunning)
        yield platform, token, ws.id, c


def test_prepare_runs_every_step_and_streams_its_logs(running) -> None:  # type: ignore[no-untyped-def]
    p, token, wid, c = running
    c.execute(wid, f"cat > ci.yml <<'EOF'\n{CI_YML}EOF")
    assert _post(p, token, f"/api/workspaces/{wid}/pipeline/prepare/start").status_code == 200
    replica = _wait_stage(p, token, wid, "prepare", "success")
    assert replica["server"] == "codesphere-ide" and replica["replica"] == "codesphere-ide-0"
    steps = replica["steps"]
    assert [s["state"] for s in steps] == ["success", "success"]  # type: ignore[index, union-attr]
    assert all(s["startedAt"] and s["finishedAt"] for s in steps)  # type: ignore[index, union-attr]
    assert c.execute(wid, "cat prepared.txt").output == "done\n"
    events = _sse(p, token, f"/api/workspaces/{wid}/logs/prepare/0")
    lines = [entry["data"] for name, batch in events for entry in batch]  # type: ignore[union-attr, index]
    assert [name for name, _ in events] == ["data"] * len(events)
    assert lines == ["preparing hi", "line-two"]


def test_a_failing_step_stops_the_stage(running) -> None:  # type: ignore[no-untyped-def]
    p, token, wid, c = running
    c.execute(wid, f"cat > ci.yml <<'EOF'\n{CI_YML}EOF")
    _post(p, token, f"/api/workspaces/{wid}/pipeline/test/start")
    replica = _wait_stage(p, token, wid, "test", "failure")
    assert [s["state"] for s in replica["steps"]] == ["failure", "waiting"]  # type: ignore[union-attr, index]


def test_run_stage_keeps_running_until_stopped(running) -> None:  # type: ignore[no-untyped-def]
    p, token, wid, c = running
    c.execute(wid, f"cat > ci.prod.yml <<'EOF'\n{CI_YML}EOF")
    assert _post(p, token, f"/api/workspaces/{wid}/pipeline/run/start/prod").status_code == 200
    replica = _wait_stage(p, token, wid, "run", "running")
    assert replica["server"] == "app"
    assert _post(p, token, f"/api/workspaces/{wid}/pipeline/run/stop").status_code == 200
    replica = _wait_stage(p, token, wid, "run", "aborted")
    assert c.execute(wid, "pgrep -f '^sleep 300' || echo none").output.strip() == "none"
    events = _sse(p, token, f"/api/workspaces/{wid}/logs/run/0/server/app")
    assert [e["data"] for _, batch in events for e in batch] == ["serving"]  # type: ignore[union-attr, index]


def test_pipeline_errors_name_the_problem(running) -> None:  # type: ignore[no-untyped-def]
    p, token, wid, c = running
    r = _post(p, token, f"/api/workspaces/{wid}/pipeline/prepare/start")
    assert r.status_code == 400 and "no ci.yml" in r.json()["detail"]
    c.execute(wid, "printf 'prepare:\\n  steps: [\\n' > ci.yml")
    r = _post(p, token, f"/api/workspaces/{wid}/pipeline/prepare/start")
    assert r.status_code == 400 and r.json()["detail"].startswith("ci.yml:")
    c.execute(wid, "printf 'prepare:\\n  steps:\\n    - name: x\\n' > ci.yml")
    r = _post(p, token, f"/api/workspaces/{wid}/pipeline/prepare/start")
    assert r.status_code == 400 and "prepare.steps[0].command" in r.json()["detail"]
    r = _post(p, token, f"/api/workspaces/{wid}/pipeline/deploy/start")
    assert r.status_code == 400 and "stage" in r.json()["detail"]
    c.stop_workspace(wid)
    wait_for(c, wid, lambda s: s.state == "stopped")
    r = _post(p, token, f"/api/workspaces/{wid}/pipeline/prepare/start")
    assert r.status_code == 400 and "not running" in r.json()["detail"]
    with pytest.raises(BadRequest):
        c.execute(wid, "true")
