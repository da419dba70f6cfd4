"""A real Hemisphere server (uvicorn on a loopback port, in a thread) for API tests, driven
through the SDK client like any user would."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from hemisphere.config import Settings
from hemisphere.console.bootstrap import FirstAdmin, read_first_admin
from hemisphere.dc.app import make_runtime
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.server import Roles, build_app
from hemisphere.server.app import Started
from hemisphere.workspaces.runtime.base import ObservedPhase, WorkspaceRuntime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningPlatform:
    settings: Settings
    roles: Roles = field(default_factory=Roles)
    admin: FirstAdmin | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def start(self) -> RunningPlatform:
        started = Started()
        app = build_app(self.settings, self.roles, started=started)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.settings.port, log_config=None, access_log=False,
            ws="websockets-sansio", lifespan="on", proxy_headers=False,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Hemisphere server did not start")
            time.sleep(0.02)
        self.admin = started.first_admin or self.admin
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=60)
        self._server = None

    def client(self, token: str | None = None) -> HemisphereClient:
        if token is None:
            assert self.admin is not None
            token = self.admin.token
        return HemisphereClient(self.base_url, token)

    def new_user(self, prefix: str = "user", *, admin: bool = False) -> tuple[m.UserInfo, str]:
        """A fresh user (created by the cluster admin) and a token from logging in."""
        email = f"{prefix}-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        with self.client() as c:
            user = c.create_user(email, password, prefix, admin=admin)
        with HemisphereClient(self.base_url) as anon:
            token = anon.login(email, password).token
        return user, token


def platform_settings(data_dir: Path, db_url: str | None = None, **kw: object) -> Settings:
    port = free_port()
    base = Settings(
        data_dir=data_dir,
        database_url=db_url or f"sqlite:///{data_dir / 'hemisphere.db'}",
        port=port,
        public_url=f"http://localhost:{port}",
        preview_domain=f"localhost:{port}",
        reconcile_interval_s=0.5,
        usage_interval_s=1.0,
        # The suite's git servers listen on loopback, which the egress policy refuses by
        # default (workspaces/egress.py); tests of that policy pass their own.
        git_allow_networks=("127.0.0.1/32",),
    )
    return base.with_(**kw)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory the workspace users can traverse (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="hemisphere-test-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        _unmount_below(path)
        shutil.rmtree(path, ignore_errors=True)
        _remove_cgroup_parents(path)


def _unmount_below(path: Path) -> None:
    """Workspace homes are loop-mounted images (storage/image.py): a test that left one mounted
    must not make rmtree empty it through the mount and leak the mount and its loop device."""
    points = [
        line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
        if line.split()[1].startswith(f"{path}/")
    ]  # fmt: skip
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _remove_cgroup_parents(data_dir: Path) -> None:
    """Each data dir gets its own cgroup subtree (dc/app.py); drop the empty ones it left."""
    tag = hashlib.sha256(str((data_dir / "workspaces").resolve()).encode()).hexdigest()[:10]
    for controller in ("memory", "cpu", "pids"):
        parent = Path("/sys/fs/cgroup") / controller / f"hemisphere-{tag}"
        if parent.is_dir():
            for child in sorted(parent.iterdir()):
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                parent.rmdir()


@pytest.fixture
def platform(data_dir: Path) -> Iterator[RunningPlatform]:
    """The embedded default (console + dc, SQLite, local runtime) on a free port."""
    p = RunningPlatform(platform_settings(data_dir)).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def platform_any_db(data_dir: Path, db_url: str) -> Iterator[RunningPlatform]:
    """The same on SQLite and on PostgreSQL."""
    p = RunningPlatform(platform_settings(data_dir, db_url)).start()
    try:
        yield p
    finally:
        p.stop()


class Up:
    """`hemisphere up` in a subprocess on a fixed data dir and port."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, crash_at: str = "") -> None:
        self._close()
        env = {
            **os.environ,
            "HEMISPHERE_CRASH_AT": crash_at,
            "HEMISPHERE_RECONCILE_INTERVAL": "0.3",
            "HEMISPHERE_LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hemisphere.cli.main", "up",
             "--data-dir", str(self.data_dir), "--port", str(self.port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "hemisphere up did not become ready"
            time.sleep(0.1)

    def wait_killed(self, timeout: float = 60) -> None:
        assert self.proc is not None
        rc = self.proc.wait(timeout)
        assert rc == -signal.SIGKILL, f"expected the crash point to SIGKILL, got {rc}"

    def interrupt(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(60)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def output(self) -> str:
        if self.proc is None or self.proc.stdout is None or self.proc.poll() is None:
            return ""
        return self.proc.stdout.read().decode(errors="replace")

    def client(self) -> HemisphereClient:
        admin = read_first_admin(self.data_dir / "first-admin.txt")
        assert admin is not None
        return HemisphereClient(self.url, admin.token)


@pytest.fixture
def up(data_dir: Path) -> Iterator[Up]:
    u = Up(data_dir, free_port())
    try:
        yield u
    finally:
        u.kill()
        # Leave no sandbox behind for the next test.
        for wid in observe_sandboxes(data_dir):
            asyncio.run(_runtime_for(data_dir).remove(wid))


def _runtime_for(data_dir: Path) -> WorkspaceRuntime:
    return make_runtime(Settings(data_dir=data_dir, database_url="sqlite://"))


def observe_sandboxes(data_dir: Path) -> dict[int, ObservedPhase]:
    observed = asyncio.run(_runtime_for(data_dir).observe())
    return {wid: o.phase for wid, o in observed.items()}
