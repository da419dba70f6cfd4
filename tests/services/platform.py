"""A real Hemisphere server (uvicorn on a loopback port, in a thread) for API tests, driven
through the SDK client like any user would."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn

from hemisphere.config import Settings
from hemisphere.console.bootstrap import FirstAdmin
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk import models as m
from hemisphere.server import Roles, build_app
from hemisphere.server.app import Started


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
            ws="websockets-sansio", lifespan="on",
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
        shutil.rmtree(path, ignore_errors=True)
        _remove_cgroup_parents(path)


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
