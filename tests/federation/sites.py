"""A console and a replica DC as two real `hemisphere serve` processes with two databases, and
the fakes for failures a real console cannot produce on demand (a tampering link).

The DC reaches the console through `FeedLink`, a reverse proxy in this test process: passthrough
by default, so everything the DC sees is the real console's answer unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hemisphere.console.bootstrap import FirstAdmin, read_first_admin
from hemisphere.db import to_sync_url
from hemisphere.db.models import IdentityChange, ReplicaCursor
from hemisphere.sdk import HemisphereClient
from tests.services.platform import free_port

DC_ID = 1


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def traversable_dir(prefix: str) -> Path:
    """Workspace users must traverse the DC's data dir (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


@dataclass
class Site:
    """One `hemisphere serve ROLE` process with exactly the given HEMISPHERE_* variables."""

    args: list[str]
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> Site:
        base = {k: v for k, v in os.environ.items() if not k.startswith("HEMISPHERE_")}
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hemisphere.cli.main", "serve", *self.args],
            env={**base, **self.env, "HEMISPHERE_PORT": str(self.port),
                 "HEMISPHERE_HOST": "127.0.0.1"},
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"{self.args} exited:\n{self.output()}"
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{self.args} not ready:\n{self.output()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    def metric(self, name: str, labels: str = "") -> float:
        """A counter or gauge from the site's /metrics (0 when not yet exported)."""
        body = httpx.get(self.url + "/metrics", timeout=5).text
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in body.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0


class FeedLink:
    """A reverse proxy between the DC and the console.

    A FAKE for failures the real console cannot produce on demand — an entry altered on the
    wire, an entry lost on the wire, a replayed page: `mode` is "pass" (the console's answer
    untouched), "tamper" (one byte of the first entry's payload changed), "gap" (the first entry
    of a page dropped) or "replay" (the page re-served from seq 1 whatever cursor is asked for).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.port = free_port()
        self.served_altered = 0
        self.served_replays = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: Request) -> Response:
        params = dict(request.query_params)
        mode = self.mode
        if mode == "replay" and request.url.path == "/api/federation/changes":
            params["after"] = "0"
        try:
            async with httpx.AsyncClient(timeout=120) as http:
                r = await http.request(
                    request.method,
                    self.upstream + request.url.path,
                    params=params,
                    content=await request.body(),
                    headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
                )
        except httpx.TransportError:
            # What an ingress answers when no console is behind it.
            return Response(b"no upstream", status_code=502)
        if mode == "replay" and request.url.path == "/api/federation/changes":
            self.served_replays += 1
        body = r.content
        mode = self.mode  # now: a long-poll may have started before the test switched modes
        if request.url.path == "/api/federation/changes" and r.status_code == 200:
            page = json.loads(body)
            if page["entries"] and mode in ("tamper", "gap"):
                if mode == "tamper":
                    page["entries"][0]["payload"] = _flip_one_byte(page["entries"][0]["payload"])
                else:
                    page["entries"] = page["entries"][1:]
                self.served_altered += 1
                body = json.dumps(page).encode()
        return Response(body, status_code=r.status_code, media_type="application/json")

    def start(self) -> FeedLink:
        app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._handle,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)


def _flip_one_byte(payload: dict[str, Any]) -> dict[str, Any]:
    """Change one character of the first string value (e.g. a user's e-mail)."""
    out = dict(payload)
    for k, v in out.items():
        if isinstance(v, str) and v:
            out[k] = chr(ord(v[0]) ^ 1) + v[1:]
            return out
    for k, v in out.items():
        if isinstance(v, int) and not isinstance(v, bool):
            out[k] = v ^ 1
            return out
    raise AssertionError(f"nothing to tamper with in {payload}")


@dataclass
class Federation:
    """A console and one replica DC (id 1) on two databases."""

    console_db: str
    dc_db: str
    root: Path
    key: Ed25519PrivateKey = field(default_factory=new_key)
    agent_token: str = field(default_factory=lambda: "hsa_" + secrets.token_urlsafe(32))
    trusted_pems: list[str] = field(default_factory=list)
    console: Site | None = None
    dc: Site | None = None
    link: FeedLink | None = None
    _engines: dict[str, Engine] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.console_dir = traversable_dir("hemisphere-console-")
        self.dc_dir = traversable_dir("hemisphere-dc-")
        self.tokens_dir = self.root / "agent-tokens"
        self.tokens_dir.mkdir(parents=True, exist_ok=True)
        (self.tokens_dir / f"dc-{DC_ID}").write_text(self.agent_token)
        self.console_port = free_port()
        self.dc_port = free_port()
        self.trusted_pems = self.trusted_pems or [public_pem(self.key)]

    def console_env(self) -> dict[str, str]:
        dcs = [{"id": DC_ID, "name": "dc-one", "city": "Here", "country_code": "DE",
                "url": f"http://127.0.0.1:{self.dc_port}"}]  # fmt: skip
        return {
            "HEMISPHERE_DATA_DIR": str(self.console_dir),
            "HEMISPHERE_DATABASE_URL": self.console_db,
            "HEMISPHERE_PUBLIC_URL": f"http://127.0.0.1:{self.console_port}",
            "HEMISPHERE_IDENTITY_MODE": "replica",
            "HEMISPHERE_DATACENTERS": json.dumps(dcs),
            "HEMISPHERE_AGENT_TOKENS_DIR": str(self.tokens_dir),
            "HEMISPHERE_SIGNING_PRIVATE_KEY": private_pem(self.key),
            "HEMISPHERE_LOG_LEVEL": "WARNING",
        }

    def dc_env(self) -> dict[str, str]:
        assert self.link is not None
        return {
            "HEMISPHERE_DATA_DIR": str(self.dc_dir),
            "HEMISPHERE_DATABASE_URL": self.dc_db,
            "HEMISPHERE_DATACENTER_ID": str(DC_ID),
            "HEMISPHERE_PUBLIC_URL": f"http://127.0.0.1:{self.dc_port}",
            "HEMISPHERE_PREVIEW_DOMAIN": f"localhost:{self.dc_port}",
            "HEMISPHERE_CONSOLE_URL": self.link.url,
            "HEMISPHERE_IDENTITY_MODE": "replica",
            "HEMISPHERE_AGENT_TOKEN": self.agent_token,
            "HEMISPHERE_SIGNING_PUBLIC_KEY": ",".join(self.trusted_pems),
            "HEMISPHERE_RECONCILE_INTERVAL": "0.5",
            "HEMISPHERE_FEED_WAIT": "10",
            "HEMISPHERE_LOG_LEVEL": "WARNING",
        }

    def start_console(self) -> Site:
        self.console = Site(["console"], self.console_env(), self.console_port,
                            self.root / "console.log").start()  # fmt: skip
        if self.link is None:
            self.link = FeedLink(self.console.url).start()
        return self.console

    def start_dc(self) -> Site:
        self.dc = Site(["dc", "--datacenter", str(DC_ID)], self.dc_env(), self.dc_port,
                       self.root / "dc.log").start()  # fmt: skip
        return self.dc

    def stop(self) -> None:
        for site in (self.dc, self.console):
            if site is not None:
                site.stop()
        if self.link is not None:
            self.link.stop()
        for engine in self._engines.values():
            engine.dispose()
        shutil.rmtree(self.console_dir, ignore_errors=True)
        shutil.rmtree(self.dc_dir, ignore_errors=True)

    @property
    def admin(self) -> FirstAdmin:
        admin = read_first_admin(self.console_dir / "first-admin.txt")
        assert admin is not None
        return admin

    def console_client(self, token: str | None = None) -> HemisphereClient:
        assert self.console is not None
        return HemisphereClient(self.console.url, token or self.admin.token)

    def dc_client(self, token: str | None = None) -> HemisphereClient:
        assert self.dc is not None
        return HemisphereClient(self.dc.url, token)

    def engine(self, url: str) -> Engine:
        if url not in self._engines:
            self._engines[url] = create_engine(to_sync_url(url))
        return self._engines[url]

    def head(self) -> int:
        with self.engine(self.console_db).connect() as c:
            return int(c.scalar(select(func.coalesce(func.max(IdentityChange.seq), 0))) or 0)

    def cursor(self) -> int:
        with self.engine(self.dc_db).connect() as c:
            return int(c.scalar(select(ReplicaCursor.seq).where(ReplicaCursor.id == 1)) or 0)

    def count(self, url: str, table: str) -> int:
        with self.engine(url).connect() as c:
            return int(c.scalar(text(f"SELECT count(*) FROM {table}")) or 0)

    def wait_caught_up(self, timeout: float = 60) -> int:
        head = self.head()
        wait_for(lambda: self.cursor() >= head, timeout, f"DC cursor to reach {head}")
        return head


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def federation(console_db: str, dc_db: str, root: Path) -> Iterator[Federation]:
    fed = Federation(console_db, dc_db, root)
    try:
        fed.start_console()
        fed.start_dc()
        yield fed
    finally:
        fed.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)
