"""Execute cannot be used to take the data center's memory (issue 10, finding 12): output is
capped per stream and says so (`truncated`), and one workspace runs at most a few executes at
once. Real sandboxes, a real server; the memory test measures the real `hemisphere up` process."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.console.bootstrap import read_first_admin
from hemisphere.sdk import HemisphereClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.services.platform import RunningPlatform, Up, platform_settings

_MIB = 1 << 20
BIG = "yes | head -c 16777216"  # 16 MiB of "y\n" on stdout


@pytest.fixture
def slow_exec_platform(data_dir: Path) -> Iterator[RunningPlatform]:
    """Defaults for the caps, but an exec deadline long enough for commands the test holds."""
    p = RunningPlatform(platform_settings(data_dir, exec_timeout_s=60.0)).start()
    try:
        yield p
    finally:
        p.stop()


def _running_workspace(c: HemisphereClient, name: str) -> int:
    team = c.create_team(f"{name}-team", dc=1)
    ws = c.create_workspace(new_ws(team.id, name))
    wait_for(c, ws.id, lambda s: s.isRunning)
    return ws.id


def _execute(base_url: str, token: str, wid: int, command: str) -> httpx.Response:
    with httpx.Client(base_url=base_url, timeout=120) as http:
        return http.post(
            f"/api/workspaces/{wid}/execute",
            json={"command": command},
            headers={"Authorization": f"Bearer {token}"},
        )


def test_big_output_is_capped_and_says_so(slow_exec_platform: RunningPlatform) -> None:
    p = slow_exec_platform
    _, token = p.new_user("dev")
    with p.client(token) as c:
        wid = _running_workspace(c, "big")
        res = c.execute(wid, f"{BIG}; yes e | head -c 3000000 >&2; echo done >&2")
        assert res.exitCode == 0 and not res.timedOut
        assert res.truncated is True
        assert len(res.output.encode()) == p.settings.exec_max_output_bytes == _MIB
        assert set(res.output) == {"y", "\n"}
        assert len(res.error.encode()) == _MIB  # each stream has its own cap
        small = c.execute(wid, "echo hi")
        assert small.output == "hi\n" and small.truncated is False


def test_concurrent_executes_per_workspace_are_limited(
    slow_exec_platform: RunningPlatform,
) -> None:
    p = slow_exec_platform
    limit = p.settings.exec_concurrency
    _, token = p.new_user("dev")
    with p.client(token) as c:
        wid = _running_workspace(c, "busy")
        other = _running_workspace(c, "calm")
    home = p.settings.workspaces_dir / "homes" / f"ws-{wid}"
    hold = "touch ~/started-$RANDOM$RANDOM; while [ ! -e ~/release ]; do sleep 0.05; done"
    with concurrent.futures.ThreadPoolExecutor(limit) as pool:
        held = [pool.submit(_execute, p.base_url, token, wid, hold) for _ in range(limit)]
        deadline = time.monotonic() + 60
        while len(list(home.glob("started-*"))) < limit:
            assert time.monotonic() < deadline, "the held executes did not start"
            assert not any(f.done() for f in held), [f.result().text for f in held if f.done()]
            time.sleep(0.05)
        extra = _execute(p.base_url, token, wid, "echo one too many")
        # Another workspace is not affected by this one's limit.
        elsewhere = _execute(p.base_url, token, other, "echo fine")
        (home / "release").touch()
        results = [f.result() for f in held]
    assert extra.status_code == 429, extra.text
    assert int(extra.headers["retry-after"]) >= 1
    body = extra.json()
    assert set(body) == {"status", "title", "detail", "traceId"}
    assert body["status"] == 429 and f"{limit} executes" in body["detail"]
    assert elsewhere.status_code == 200 and elsewhere.json()["output"] == "fine\n"
    assert [r.status_code for r in results] == [200] * limit
    assert all(r.json()["exitCode"] == 0 for r in results)
    # The slots come back once the executes finish.
    assert _execute(p.base_url, token, wid, "echo again").json()["output"] == "again\n"


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.e2e
def test_server_memory_stays_bounded_under_big_outputs(
    up: Up, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 concurrent 16 MiB outputs (the attack took the platform from 170 MB to 705 MB)."""
    monkeypatch.setenv("HEMISPHERE_EXEC_CONCURRENCY", "32")  # let all 30 run at once
    up.start()
    assert up.proc is not None
    admin = read_first_admin(up.data_dir / "first-admin.txt")
    assert admin is not None
    token = admin.token
    with up.client() as c:
        wid = _running_workspace(c, "mem")
        c.execute(wid, BIG)  # warm up every code path once before the baseline
    pid = up.proc.pid
    before = _rss_kib(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        results = list(pool.map(lambda _: _execute(up.url, token, wid, BIG), range(30)))
    peak = _rss_kib(pid, "VmHWM")
    assert [r.status_code for r in results] == [200] * 30
    grew_mib = (peak - before) / 1024
    print(f"server RSS {before // 1024} MiB, peak {peak // 1024} MiB under 30 big outputs")
    assert grew_mib < 150, f"the server's RSS grew by {grew_mib:.0f} MiB (peak) under the load"
    assert all(r.json()["truncated"] for r in results)
