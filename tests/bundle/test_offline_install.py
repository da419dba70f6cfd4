"""The offline-install proof: in a network namespace with no route out, Hemisphere installs
from nothing but the bundle's wheels and starts (`hemisphere up`, answering /readyz)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hemisphere.bundle import WheelSet, extract_bundle, verify_bundle
from tests.bundle.conftest import KeyPair, make_bundle

pytestmark = pytest.mark.e2e


@pytest.fixture
def offline_netns() -> Iterator[str]:
    """A fresh network namespace: only a loopback interface, no routes, no way out."""
    name = f"hsp-offline-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(
            ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
            check=True,
            capture_output=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)


def _enter(netns: str) -> list[str]:
    # nsenter joins only the network namespace; `ip netns exec` would also remount /sys, hiding
    # the cgroup controllers the local workspace runtime of `hemisphere up` checks for.
    return ["nsenter", f"--net=/run/netns/{netns}", "--"]


def _in(
    netns: str, *command: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_enter(netns), *command], capture_output=True, text=True, check=False, env=env,
        timeout=timeout,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_install_from_bundle_wheels_without_network_and_start(
    tmp_path: Path, vendor_key: KeyPair, offline_netns: str
) -> None:
    bundle = make_bundle(tmp_path / "full.bundle", None, vendor_key, wheels=WheelSet.ALL)
    manifest = verify_bundle(bundle, [vendor_key.public]).manifest
    assert sum(1 for f in manifest.files if f.kind == "wheel") > 20  # hemisphere + dependencies
    root = tmp_path / "unpacked"
    extract_bundle(bundle, root, [vendor_key.public])

    probe = _in(
        offline_netns, sys.executable, "-c",
        "import socket; socket.create_connection(('151.101.0.223', 443), timeout=3)",
    )  # fmt: skip
    assert probe.returncode != 0 and "unreachable" in probe.stderr.lower(), probe.stderr

    venv = tmp_path / "venv"
    created = _in(offline_netns, sys._base_executable, "-m", "venv", str(venv))  # type: ignore[attr-defined]
    assert created.returncode == 0, created.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    installed = _in(
        offline_netns, str(venv / "bin" / "pip"), "install", "--no-index", "--no-cache-dir",
        "--find-links", str(root / "wheels"), "hemisphere", env=env, timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    helped = _in(offline_netns, str(venv / "bin" / "hemisphere"), "--help", env=env)
    assert helped.returncode == 0, helped.stderr
    assert "bundle" in helped.stdout and "upgrade" in helped.stdout

    port = _free_port()
    # the local runtime's workspace users must be able to traverse the data dir's parents
    data_parent = Path(tempfile.mkdtemp(prefix="hsp-offline-data-"))
    data_parent.chmod(0o711)
    data = data_parent / "data"
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*_enter(offline_netns), str(venv / "bin" / "hemisphere"), "up",
             "--data-dir", str(data), "--port", str(port), "--host", "127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        ready = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and server.poll() is None:
            ready = _in(
                offline_netns, str(venv / "bin" / "python"), "-c",
                f"import urllib.request as u; print(u.urlopen('http://127.0.0.1:{port}/readyz',"
                " timeout=2).status)",
            )  # fmt: skip
            if ready.returncode == 0:
                break
            time.sleep(0.5)
        assert ready is not None and ready.returncode == 0, log.read_text()[-3000:]
        assert ready.stdout.strip() == "200"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(data_parent, ignore_errors=True)
