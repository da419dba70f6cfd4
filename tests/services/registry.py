"""A real OCI registry for the test session: Debian's `docker-registry` (distribution 2.8) on a
free loopback port with its storage in a temp dir. Tests ask for `oci_registry` and get its
`host` ("127.0.0.1:PORT", plain HTTP, so clients need --insecure / --tls-verify=false)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REGISTRY_BIN = "docker-registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OciRegistry:
    host: str
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log(self) -> str:
        return (self.root / "registry.log").read_text(errors="replace")


def start_registry(root: Path) -> OciRegistry:
    binary = shutil.which(REGISTRY_BIN)
    if binary is None:
        raise RuntimeError("docker-registry is not installed: run scripts/deps-system.sh")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: hemisphere-test-secret\n"
    )
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    registry = OciRegistry(host=f"127.0.0.1:{port}", root=root, process=process)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{registry.url}/v2/", timeout=1).status_code == 200:
                return registry
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"docker-registry did not start:\n{registry.log()}")
        time.sleep(0.05)


def stop_registry(registry: OciRegistry) -> None:
    registry.process.terminate()
    try:
        registry.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        registry.process.kill()
        registry.process.wait()


@pytest.fixture(scope="session")
def oci_registry() -> Iterator[OciRegistry]:
    root = Path(tempfile.mkdtemp(prefix="hemisphere-registry-"))
    registry = start_registry(root)
    try:
        yield registry
    finally:
        stop_registry(registry)
        shutil.rmtree(root, ignore_errors=True)
