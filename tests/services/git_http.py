"""A bare git repository served over dumb HTTP on loopback, optionally behind Basic auth, for
tests that clone (the credentials prove the platform really used the URL's userinfo)."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _AuthHandler(SimpleHTTPRequestHandler):
    expected: str | None = None  # "user:password", or None for no auth

    def __init__(self, *args: Any, expected: str | None, **kw: Any) -> None:
        self.expected = expected
        super().__init__(*args, **kw)

    def do_GET(self) -> None:
        if self.expected is not None:
            want = "Basic " + base64.b64encode(self.expected.encode()).decode()
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def git_http_server(root: Path, credentials: str | None = None) -> Iterator[str]:
    """Serve a one-commit repository (README.md = "cloned!") at the URL yielded (no userinfo)."""
    src = root / "src"
    src.mkdir(parents=True)
    run = partial(subprocess.run, check=True, capture_output=True, cwd=src)
    run(["git", "init", "-q", "-b", "main"])
    (src / "README.md").write_text("cloned!\n")
    run(["git", "add", "."])
    run(["git", "-c", "user.email=t@e.st", "-c", "user.name=t", "commit", "-qm", "init"])
    bare = root / "srv" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(src), str(bare)], check=True)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    handler = partial(_AuthHandler, directory=str(root / "srv"), expected=credentials)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    finally:
        server.shutdown()
        server.server_close()
