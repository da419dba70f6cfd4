"""One tenant cannot exhaust the preview proxy for everyone (issue 10, finding 2).

Workspace A runs a tarpit (a real TCP server in A's sandbox that accepts and never answers) and
gets 300 concurrent preview requests. Another team's workspace B keeps answering its previews,
A's extra requests are refused at once with 503 + Retry-After in the error envelope, and when the
attacker's client goes away A's upstream connections are closed (counted as ESTABLISHED sockets
in A's own network namespace). A second platform with a short read timeout shows the 504.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.dc.preview_hosts import preview_host
from hemisphere.sdk import HemisphereClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.dc.workspace_apps import start_in_background
from tests.services.platform import RunningPlatform, platform_settings

PORT = 3000
ATTACK = 300
ENVELOPE = {"status", "title", "detail", "traceId"}

# Runs INSIDE workspace A (the sandbox has the host's python3): accept, hold, never answer.
TARPIT = r"""
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(1024)
held = []
while True:
    held.append(server.accept()[0])
"""


# Runs INSIDE a workspace: answers every connection with bytes that are not HTTP, then closes.
GARBAGE = r"""
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(sys.argv[1])))
server.listen(16)
while True:
    conn = server.accept()[0]
    conn.sendall(b"SSH-2.0-not-http\r\n\r\n")
    conn.close()
"""


def start_tarpit(c: HemisphereClient, wid: int) -> None:
    c.execute(wid, f"cat > ~/tarpit.py <<'EOF'\n{TARPIT}\nEOF")
    start_in_background(c, wid, f"python3 ~/tarpit.py {PORT}", PORT)


def established_on_port(c: HemisphereClient, wid: int, port: int) -> int:
    """TCP sockets in ESTABLISHED state with `port` on either end, read from inside the
    workspace's network namespace (both ends of a proxied connection live there)."""
    table = c.execute(wid, "cat /proc/net/tcp /proc/net/tcp6").output
    count = 0
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "sl":
            continue
        local, remote, state = fields[1], fields[2], fields[3]
        ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
        count += state == "01" and port in ports
    return count


def eventually(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


class Attack:
    """`n` concurrent requests to one preview host from a client of their own, in a thread;
    `stop()` drops them all (the client disconnects)."""

    def __init__(self, base_url: str, host: str, headers: dict[str, str], n: int) -> None:
        self.base_url, self.host, self.headers, self.n = base_url, host, headers, n
        self.answers: list[httpx.Response] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    def answered(self) -> list[httpx.Response]:
        with self._lock:
            return list(self.answers)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    async def _main(self) -> None:
        limits = httpx.Limits(max_connections=self.n, max_keepalive_connections=self.n)
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, timeout=httpx.Timeout(None)
        ) as client:
            tasks = [asyncio.create_task(self._one(client)) for _ in range(self.n)]
            while not self._stop.is_set():
                await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/", headers={"Host": self.host, **self.headers})
        with self._lock:
            self.answers.append(response)


def _tenant(p: RunningPlatform, name: str) -> tuple[HemisphereClient, dict[str, str], int]:
    _, token = p.new_user(name)
    c = p.client(token)
    team = c.create_team(name, dc=1)
    ws = c.create_workspace(new_ws(team.id, f"{name}-ws"))
    wait_for(c, ws.id, lambda s: s.isRunning)
    return c, {"X-CS-Authorization": f"Bearer {token}"}, ws.id


def _host(p: RunningPlatform, c: HemisphereClient, wid: int) -> str:
    return preview_host(PORT, c.get_workspace(wid).name, wid, p.settings.preview_domain)


def test_a_tarpit_leaves_other_previews_alone(platform: RunningPlatform) -> None:
    p = platform
    limit = p.settings.preview_connections
    attacker, attacker_auth, a = _tenant(p, "attacker")
    victim, victim_auth, b = _tenant(p, "victim")
    with attacker, victim, httpx.Client(base_url=p.base_url, timeout=60) as http:
        start_tarpit(attacker, a)
        start_in_background(victim, b, f"python3 -m http.server {PORT}", PORT)
        a_host, b_host = _host(p, attacker, a), _host(p, victim, b)

        attack = Attack(p.base_url, a_host, attacker_auth, ATTACK)
        try:
            # Beyond its limit, A's requests are refused at once; the rest hang in the tarpit.
            eventually(lambda: len(attack.answered()) >= ATTACK - limit, "A's extra requests hung")
            eventually(
                lambda: established_on_port(attacker, a, PORT) == 2 * limit,
                "A should hold exactly its limit of upstream connections",
            )
            refused = attack.answered()
            assert len(refused) == ATTACK - limit
            assert {r.status_code for r in refused} == {503}
            assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
            assert set(refused[0].json()) == ENVELOPE
            assert f"{limit} preview connections" in refused[0].json()["detail"]

            # Meanwhile the other team's previews answer normally, every one of them.
            statuses = [http.get("/", headers={"Host": b_host, **victim_auth}).status_code
                        for _ in range(20)]  # fmt: skip
            assert statuses == [200] * 20
        finally:
            attack.stop()

        # The attacker went away: A's upstream connections are closed, none left hanging.
        eventually(
            lambda: established_on_port(attacker, a, PORT) == 0,
            "A's upstream connections were not released after the client disconnected",
        )
        assert http.get("/", headers={"Host": b_host, **victim_auth}).status_code == 200


@pytest.fixture
def impatient_platform(data_dir: Path) -> Iterator[RunningPlatform]:
    p = RunningPlatform(platform_settings(data_dir, preview_read_timeout_s=1.0)).start()
    try:
        yield p
    finally:
        p.stop()


def test_an_app_that_never_answers_gets_a_504_one_that_breaks_http_a_502(
    impatient_platform: RunningPlatform,
) -> None:
    p = impatient_platform
    c, auth, wid = _tenant(p, "slow")
    with c, httpx.Client(base_url=p.base_url, timeout=60) as http:
        start_tarpit(c, wid)
        host = _host(p, c, wid)
        r = http.get("/api/x", headers={"Host": host, **auth})
        assert r.status_code == 504, r.text
        body = r.json()
        assert set(body) == ENVELOPE
        assert body["status"] == 504 and body["title"] == "Gateway Timeout"
        assert f"port {PORT}" in body["detail"] and "did not answer" in body["detail"]
        # A person opening it in the browser gets a page with the same status.
        page = http.get("/", headers={"Host": host, "Accept": "text/html", **auth})
        assert page.status_code == 504 and "<h1>" in page.text
        eventually(lambda: established_on_port(c, wid, PORT) == 0, "timed-out upstream kept")

        c.execute(wid, f"cat > ~/garbage.py <<'EOF'\n{GARBAGE}\nEOF")
        start_in_background(c, wid, f"python3 ~/garbage.py {PORT + 1}", PORT + 1)
        garbage_host = preview_host(PORT + 1, c.get_workspace(wid).name, wid,
                                    p.settings.preview_domain)  # fmt: skip
        broken = http.get("/", headers={"Host": garbage_host, **auth})
        assert broken.status_code == 502, broken.text
        assert set(broken.json()) == ENVELOPE and broken.json()["title"] == "Bad Gateway"
