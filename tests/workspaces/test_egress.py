"""SSRF through `gitUrl` (issue 10 finding 4), against real clones in real sandboxes.

The clone may connect only to addresses the egress policy allows, only to the one it checked,
never follows redirects, and every failure reads the same. Traffic goes only to loopback or to
a network namespace this module creates (a veth pair in the 198.19.0.0/16 benchmarking range,
allowed by configuration the way an operator would allow an internal git server)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hemisphere.workspaces.egress import REFUSED, UNREACHABLE, GitEgressPolicy, local_addresses
from hemisphere.workspaces.runtime.base import RuntimePermanentError
from hemisphere.workspaces.runtime.local import LocalRuntime
from tests.workspaces.runtime.test_local import cgroup_parent, running, sh, spec

__all__ = ["cgroup_parent"]

_SERVER = r"""
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass
    def do_GET(self):
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", sys.argv[3] + self.path[len("/redirect"):])
            self.end_headers()
            return
        super().do_GET()
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])),
    functools.partial(Handler, directory=sys.argv[4])).serve_forever()
"""


class CountingListener:
    """A loopback TCP listener that counts the connections it accepts (and answers nothing)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@dataclass
class LabNet:
    """A git server inside a network namespace of our own."""

    network: str
    server: str  # the namespace side's address
    port: int  # a git (dumb HTTP) server; /redirect/... answers 302 to loopback
    closed_port: int  # nothing listens there


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _bare_repo(base: Path) -> Path:
    work, bare = base / "work", base / "srv" / "repo.git"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    work.mkdir(parents=True)
    for args in (["init", "-q", "-b", "main"], ["add", "README.md"], ["commit", "-q", "-m", "x"]):
        if args[0] == "add":
            (work / "README.md").write_text("from the lab network\n")
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, env=env)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    return base / "srv"


@pytest.fixture(scope="module")
def loopback() -> Iterator[CountingListener]:
    listener = CountingListener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def lab(loopback: CountingListener) -> Iterator[LabNet]:
    tag = secrets.token_hex(3)
    ns, host_if, ns_if = f"hs-egress-{tag}", f"hse{tag}a", f"hse{tag}b"
    octet = int(tag[:2], 16)
    network = ipaddress.ip_network(f"198.19.{octet}.0/30")
    gw, server = (str(a) for a in network.hosts())
    base = Path(tempfile.mkdtemp(prefix="hemisphere-egress-"))
    srv = _bare_repo(base)
    _ip("netns", "add", ns)
    proc = None
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
        _ip("addr", "add", f"{gw}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns, "addr", "add", f"{server}/30", "dev", ns_if)
        _ip("-n", ns, "link", "set", ns_if, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        port = 8080
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", _SERVER, server, str(port),
             f"http://127.0.0.1:{loopback.port}", str(srv)],
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((server, port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the lab git server never listened"
                time.sleep(0.05)
        yield LabNet(network=str(network), server=server, port=port, closed_port=8081)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hemisphere-egress-rt-", dir="/tmp"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _runtime(root: Path, cgroup_parent: str, *allowed: str) -> LocalRuntime:
    return LocalRuntime(
        root,
        uid_base=320_000,
        cgroup_parent=cgroup_parent,
        egress=GitEgressPolicy.of(allow_private=False, allow_networks=allowed),
    )


async def _refusal(rt: LocalRuntime, wid: int, url: str) -> str:
    with pytest.raises(RuntimePermanentError) as failed:
        await rt.provision(spec(wid, git_url=url))
    assert await rt.observe() == {}  # nothing was made
    return str(failed.value)


def test_policy_refuses_internal_addresses_and_allows_public_ones() -> None:
    strict, private = GitEgressPolicy(), GitEgressPolicy(allow_private=True)
    refused = ["127.0.0.1", "::1", "169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "::",
               "::ffff:127.0.0.1", "240.0.0.1"]  # fmt: skip
    for raw in refused:
        assert not strict.allows(ipaddress.ip_address(raw)), raw
        assert not private.allows(ipaddress.ip_address(raw)), raw
    for raw in ("10.1.2.3", "172.16.0.1", "192.168.1.1", "fd00::1", "100.64.0.1", "198.18.0.1"):
        assert not strict.allows(ipaddress.ip_address(raw)), raw
        assert private.allows(ipaddress.ip_address(raw)), raw
    for raw in ("8.8.8.8", "2001:4860:4860::8888"):
        assert strict.allows(ipaddress.ip_address(raw)), raw
    own = local_addresses()
    assert own and not any(private.allows(a, own) for a in own)


async def test_loopback_is_refused_without_connecting(
    root: Path, cgroup_parent: str, loopback: CountingListener
) -> None:
    rt = _runtime(root, cgroup_parent)
    for url in (f"http://127.0.0.1:{loopback.port}/repo.git",
                f"http://localhost:{loopback.port}/repo.git",
                f"http://[::ffff:127.0.0.1]:{loopback.port}/repo.git"):  # fmt: skip
        assert await _refusal(rt, 1, url) == REFUSED
    assert loopback.accepted == 0


async def test_private_range_is_refused_unless_allowed(
    root: Path, cgroup_parent: str, lab: LabNet
) -> None:
    rt = _runtime(root, cgroup_parent)  # 198.19/16 is not allowed here
    assert await _refusal(rt, 2, f"http://{lab.server}:{lab.port}/repo.git") == REFUSED
    assert await _refusal(rt, 2, "http://10.255.255.1/repo.git") == REFUSED
    assert await _refusal(rt, 2, "file:///etc/repo.git") != UNREACHABLE


async def test_redirect_to_loopback_is_not_followed(
    root: Path, cgroup_parent: str, lab: LabNet, loopback: CountingListener
) -> None:
    rt = _runtime(root, cgroup_parent, lab.network)
    url = f"http://{lab.server}:{lab.port}/redirect/repo.git"
    assert await _refusal(rt, 3, url) == UNREACHABLE
    assert loopback.accepted == 0


async def test_closed_and_open_ports_read_the_same(
    root: Path, cgroup_parent: str, lab: LabNet
) -> None:
    rt = _runtime(root, cgroup_parent, lab.network)
    closed = await _refusal(rt, 4, f"http://{lab.server}:{lab.closed_port}/repo.git")
    open_not_git = await _refusal(rt, 4, f"http://{lab.server}:{lab.port}/nothing.git")
    unresolvable = await _refusal(rt, 4, "http://no-such-host.invalid/repo.git")
    assert closed == open_not_git == unresolvable == UNREACHABLE


async def test_a_legitimate_clone_from_an_allowed_network_works(
    root: Path, cgroup_parent: str, lab: LabNet
) -> None:
    rt = _runtime(root, cgroup_parent, lab.network)
    try:
        await running(rt, spec(5, git_url=f"http://{lab.server}:{lab.port}/repo.git"))
        assert (await sh(rt, 5, "cat README.md")).output == "from the lab network\n"
    finally:
        for wid in await rt.observe():
            await rt.remove(wid)
