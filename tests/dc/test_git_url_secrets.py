"""Credentials inside a gitUrl (issue 10, finding 9): stored sealed, shown redacted in every
response, and opened only for the clone, which must still authenticate with them."""

from __future__ import annotations

import secrets
import sqlite3
import time
from pathlib import Path

from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.services.git_http import git_http_server
from tests.services.platform import RunningPlatform


def test_git_credentials_are_sealed_redacted_and_used_for_the_clone(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    secret = "tok" + secrets.token_hex(12)
    with git_http_server(tmp_path, f"dev:{secret}") as url:
        with_creds = url.replace("http://", f"http://dev:{secret}@")
        shown = url.replace("http://", "http://***@")
        with platform.client() as c:
            team = c.create_team("git", dc=1)
            ws = c.create_workspace(new_ws(team.id, "private", gitUrl=with_creds))
            assert ws.gitUrl == shown
            wait_for(c, ws.id, lambda s: s.isRunning)
            # The clone authenticated: the server answers 401 without the URL's password.
            assert c.execute(ws.id, "cat README.md").output == "cloned!\n"
            assert c.get_workspace(ws.id).gitUrl == shown
            assert [w.gitUrl for w in c.list_workspaces(team.id)] == [shown]
            # A wrong password fails the clone, and the reason does not echo the URL.
            bad = c.create_workspace(
                new_ws(team.id, "wrong", gitUrl=url.replace("http://", "http://dev:nope-x1@"))
            )
            deadline = time.monotonic() + 60
            while (st := c.workspace_status(bad.id)).state != "failed":
                assert time.monotonic() < deadline and st.state != "running"
                time.sleep(0.1)
            assert "nope-x1" not in (st.reason or "")
            assert "nope-x1" not in (c.get_workspace(bad.id).stateReason or "")
            assert "nope-x1" not in str(c.audit(team.id))

    db = platform.settings.data_dir / "hemisphere.db"
    with sqlite3.connect(db) as conn:
        stored = conn.execute(
            "SELECT git_url, git_url_sealed FROM workspaces ORDER BY id"
        ).fetchall()
    assert stored[0][0] == shown and stored[0][1] is not None
    assert secret.encode() not in stored[0][1]
    for path in db.parent.glob("hemisphere.db*"):
        assert secret.encode() not in path.read_bytes(), path
