"""Console pages over HTTP, as a browser without JavaScript uses them: teams and members,
workspaces (create with validation, start/stop/delete, env vars, live fragments), admin pages,
and escaping of everything a user can type."""

from __future__ import annotations

import re
import time

from hemisphere.webapi.auth import SESSION_COOKIE
from tests.console.web.conftest import WebClient
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.services.platform import RunningPlatform

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def field_error(html: str, field: str) -> str:
    """The message shown next to input `field`, lower-cased (the page capitalizes the API's)."""
    found = re.search(rf'<p class="error" id="f-{field}-error">([^<]*)</p>', html)
    return found.group(1).lower() if found else ""


def create_team(web: WebClient, name: str) -> int:
    web.get("/teams")
    r = web.post("/teams", {"name": name, "dc": "1"})
    assert r.status_code == 303, r.text
    return int(re.findall(r"/teams/(\d+)", r.headers["location"])[0])


def test_everything_typed_is_escaped(platform: RunningPlatform, web_admin: WebClient) -> None:
    web = web_admin
    team_id = create_team(web, HOSTILE)
    web.get(f"/teams/{team_id}/workspaces/new")
    r = web.post(
        f"/teams/{team_id}/workspaces",
        {"name": "x", "plan": "7", "dc": "1", "env": f"EVIL={HOSTILE}", "restricted": "on"},
    )
    assert r.status_code == 303
    wid = int(r.headers["location"].split("/")[2].split("?")[0])
    web.get("/admin/users")
    web.post("/admin/users", {"email": "mallory@example.com", "name": HOSTILE,
                              "password": "long-enough-1"})  # fmt: skip
    web.get(f"/teams/{team_id}/members")
    web.post(f"/teams/{team_id}/members", {"email": "mallory@example.com", "role": "1"})
    bad = web.post(f"/teams/{team_id}/members", {"email": f"{HOSTILE}@x.io", "role": "1"})
    assert bad.status_code == 400 and HOSTILE not in bad.text and ESCAPED in bad.text
    pages = [
        "/teams", f"/teams/{team_id}", f"/teams/{team_id}/members",
        f"/workspaces/{wid}", "/admin/users", "/admin/audit",
    ]  # fmt: skip
    for path in pages:
        page = web.get(path)
        assert page.status_code == 200, path
        assert HOSTILE not in page.text, path
        assert ESCAPED in page.text, path
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"


def test_teams_and_members(platform: RunningPlatform, web_user: tuple[WebClient, str, str]) -> None:
    web, _, _ = web_user
    empty = web.post("/teams", {"name": "", "dc": "1"})
    assert empty.status_code == 400 and field_error(empty.text, "name")
    no_dc = web.post("/teams", {"name": "t", "dc": "99"})
    assert no_dc.status_code == 400 and "no data center with id 99" in field_error(no_dc.text, "dc")
    team_id = create_team(web, "crew")
    listing = web.get("/teams").text
    assert f'href="/teams/{team_id}"' in listing and "Admin" in listing

    friend_email = "friend@example.com"
    with platform.client() as admin:
        admin.create_user(friend_email, "friend-password", "Friend")
    web.get(f"/teams/{team_id}/members")
    # Whether an e-mail has an account is not the team admin's to learn (issue 10): an unknown
    # address is answered exactly like a known one.
    unknown = web.post(f"/teams/{team_id}/members", {"email": "nobody@example.com", "role": "1"})
    added = web.post(f"/teams/{team_id}/members", {"email": friend_email, "role": "1"})
    assert added.status_code == unknown.status_code == 303
    assert added.headers["location"] == unknown.headers["location"]
    page = web.get(added.headers["location"]).text
    assert friend_email in page and "Member added." in page
    with platform.client() as admin:
        friend_id = next(u.id for u in admin.list_users() if u.email == friend_email)

    # A plain member sees the list but no controls, and the API refuses their changes.
    member = WebClient(platform)
    member.login(friend_email, "friend-password")
    view = member.get(f"/teams/{team_id}/members")
    assert "Only team admins can add members" in view.text and "Add a member" not in view.text
    refused = member.post(f"/teams/{team_id}/members", {"email": "x@example.com", "role": "1"})
    assert refused.status_code == 403 and "only team admins can do this" in refused.text.lower()
    promoted = web.post(f"/teams/{team_id}/members/{friend_id}/role", {"role": "0"})
    assert promoted.status_code == 303
    assert "Add a member" in member.get(f"/teams/{team_id}/members").text
    removed = web.post(f"/teams/{team_id}/members/{friend_id}/remove")
    assert removed.status_code == 303
    assert member.get(f"/teams/{team_id}").status_code == 404
    # Someone outside the team: not found, like a team that does not exist.
    outsider = WebClient(platform)
    with platform.client() as admin:
        admin.create_user("outsider@example.com", "outsider-password", "Out")
    outsider.login("outsider@example.com", "outsider-password")
    assert outsider.get(f"/teams/{team_id}").status_code == 404
    assert outsider.get(f"/teams/{team_id}/members").status_code == 404
    assert outsider.get("/teams/99999").status_code == 404
    for c in (member, outsider):
        c.close()


def test_last_admin_cannot_step_down(web_user: tuple[WebClient, str, str],
                                     platform: RunningPlatform) -> None:  # fmt: skip
    web, email, _ = web_user
    team_id = create_team(web, "solo")
    with platform.client() as admin:
        me = next(u.id for u in admin.list_users() if u.email == email)
    web.get(f"/teams/{team_id}/members")
    refused = web.post(f"/teams/{team_id}/members/{me}/role", {"role": "1"})
    assert refused.status_code == 409
    assert "A team needs at least one admin" in refused.text


def test_create_workspace_validation_messages(web_user: tuple[WebClient, str, str]) -> None:
    web, _, _ = web_user
    team_id = create_team(web, "builders")
    web.get(f"/teams/{team_id}/workspaces/new")
    base = {"name": "ok-name", "plan": "7", "dc": "1", "restricted": "on"}
    cases = [
        ({"name": "Bad_Name"}, "name", "lower-case letters"),
        ({"plan": "999"}, "plan", "no workspace plan with id 999"),
        ({"dc": "7"}, "dc", "data center 7"),
        ({"git_url": "file:///etc"}, "git_url", "http:// or https://"),
        ({"env": "1BAD=x"}, "env", "must start with a letter"),
        ({"env": "just-a-line"}, "env", "line 1 is not name=value"),
    ]
    for override, field, message in cases:
        r = web.post(f"/teams/{team_id}/workspaces", {**base, **override})
        assert r.status_code in (400, 409), (override, r.status_code)
        assert message in field_error(r.text, field), (override, field_error(r.text, field))
        assert 'aria-invalid="true"' in r.text
        for key, value in override.items():
            if key in ("name", "git_url", "env"):  # typed text is kept for correcting
                assert f">{value}<" in r.text or f'value="{value}"' in r.text
    created = web.post(f"/teams/{team_id}/workspaces", {**base, "name": "twin"})
    assert created.status_code == 303
    twin = web.post(f"/teams/{team_id}/workspaces", {**base, "name": "twin"})
    assert twin.status_code == 409 and "already has a workspace named" in field_error(
        twin.text, "name"
    )


def test_workspace_lifecycle_pages(
    platform: RunningPlatform, web_user: tuple[WebClient, str, str]
) -> None:
    web, _, _ = web_user
    team_id = create_team(web, "ops")
    web.get(f"/teams/{team_id}/workspaces/new")
    r = web.post(f"/teams/{team_id}/workspaces",
                 {"name": "app", "plan": "7", "dc": "1", "env": "A=1\n# note\n\nB=two words",
                  "restricted": "on"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].endswith("?done=workspace-created")
    wid = int(r.headers["location"].split("/")[2].split("?")[0])
    page = web.get(f"/workspaces/{wid}").text
    assert "Stopped" in page and 'id="ws-start"' in page and 'data-workspace="' in page
    assert "two words" in page
    token = web.http.cookies[SESSION_COOKIE]

    started = web.post(f"/workspaces/{wid}/start", {"back": f"/teams/{team_id}?state=running"})
    assert started.status_code == 303
    assert started.headers["location"] == f"/teams/{team_id}?state=running&done=workspace-starting"
    evil_back = web.post(f"/workspaces/{wid}/start", {"back": "//evil.example/"})
    assert evil_back.headers["location"].startswith(f"/workspaces/{wid}?")
    with platform.client(token) as c:
        wait_for(c, wid, lambda s: s.isRunning)
    rows = web.get(f"/teams/{team_id}/rows?state=running").text
    assert f'id="ws-{wid}" data-state="running"' in rows and f'id="stop-{wid}"' in rows
    assert 'hx-trigger="every 2s"' in rows
    assert "No workspace matches" in web.get(f"/teams/{team_id}/rows?state=stopped").text
    assert f'id="ws-{wid}"' in web.get(f"/teams/{team_id}/rows?dc=1").text
    assert "No workspace matches" in web.get(f"/teams/{team_id}/rows?dc=2").text
    summary = web.get(f"/workspaces/{wid}/summary").text
    assert 'data-state="running"' in summary and 'id="ws-stop"' in summary

    with platform.client(token) as c:
        c.execute(wid, "nohup python3 -m http.server 3000 >/dev/null 2>&1 &")
        deadline = time.monotonic() + 30
        while 3000 not in [p.port for p in c.ports(wid)]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    ports = web.get(f"/workspaces/{wid}/ports-list").text
    url = f"http://3000-app-{wid}.{platform.settings.preview_domain}/"
    assert f'href="{url}"' in ports and 'rel="noopener"' in ports

    saved = web.post(f"/workspaces/{wid}/env", {"name": "C", "value": "3"})
    assert saved.status_code == 303
    bad = web.post(f"/workspaces/{wid}/env", {"name": "9x", "value": "3"})
    assert bad.status_code == 400 and "must start with a letter" in field_error(
        bad.text, "env_name"
    )
    web.post(f"/workspaces/{wid}/env/delete", {"name": "A"})
    with platform.client(token) as c:
        assert {e.name: e.value for e in c.get_env(wid)} == {"B": "two words", "C": "3"}

    stopped = web.post(f"/workspaces/{wid}/stop")
    assert stopped.status_code == 303
    with platform.client(token) as c:
        wait_for(c, wid, lambda s: s.state == "stopped")
    confirm = web.get(f"/workspaces/{wid}/delete")
    assert confirm.status_code == 200 and "Delete workspace “app”?" in confirm.text
    deleted = web.post(f"/workspaces/{wid}/delete")
    assert deleted.headers["location"] == f"/teams/{team_id}?done=workspace-deleted"
    with platform.client(token) as c:
        wait_for_gone = time.monotonic() + 60
        while any(w.id == wid for w in c.list_workspaces(team_id)):
            assert time.monotonic() < wait_for_gone
            time.sleep(0.1)


def test_other_teams_workspaces_are_not_found(
    platform: RunningPlatform, web_user: tuple[WebClient, str, str]
) -> None:
    web, _, _ = web_user
    _, owner = platform.new_user("owner")
    with platform.client(owner) as c:
        team = c.create_team("private", dc=1)
        ws = c.create_workspace(new_ws(team.id, "secret", replicas=0))
    for path in (f"/workspaces/{ws.id}", f"/workspaces/{ws.id}/summary",
                 f"/workspaces/{ws.id}/ports-list", f"/workspaces/{ws.id}/delete",
                 f"/teams/{team.id}", f"/teams/{team.id}/rows"):  # fmt: skip
        assert web.get(path).status_code == 404, path
    web.get("/teams")
    for path in (f"/workspaces/{ws.id}/start", f"/workspaces/{ws.id}/delete",
                 f"/workspaces/{ws.id}/env"):  # fmt: skip
        assert web.post(path, {"name": "A", "value": "b"}).status_code == 404, path
    with platform.client(owner) as c:
        assert c.get_workspace(ws.id).state == "stopped" and c.get_env(ws.id) == []


def test_admin_pages(platform: RunningPlatform, web_admin: WebClient,
                     web_user: tuple[WebClient, str, str]) -> None:  # fmt: skip
    member, email, _ = web_user
    for path in ("/admin/users", "/admin/datacenters", "/admin/plans", "/admin/audit"):
        assert member.get(path).status_code == 404, path
        assert web_admin.get(path).status_code == 200, path
    assert 'href="/admin/users"' not in member.get("/teams").text
    dcs = web_admin.get("/admin/datacenters").text
    assert "local" in dcs and "Ready" in dcs and "s ago)" in dcs  # the dc role renews its lease
    plans = web_admin.get("/admin/plans").text
    assert all(name in plans for name in ("Small", "Medium", "Large"))

    web_admin.get("/admin/users")
    weak = web_admin.post("/admin/users", {"email": "new@example.com", "password": "short"})
    assert weak.status_code == 400 and "at least 8" in field_error(weak.text, "password")
    made = web_admin.post("/admin/users", {"email": "new@example.com", "name": "New",
                                           "password": "long-enough-2", "admin": "on"})  # fmt: skip
    assert made.status_code == 303
    with platform.client() as c:
        users = {u.email: u for u in c.list_users()}
    assert users["new@example.com"].isClusterAdmin
    target = users[email]
    assert web_admin.post(f"/admin/users/{target.id}", {"action": "make-admin"}).status_code == 303
    assert web_admin.post(f"/admin/users/{target.id}", {"action": "disable"}).status_code == 303
    with platform.client() as c:
        updated = next(u for u in c.list_users() if u.id == target.id)
    assert updated.isClusterAdmin and updated.disabled
    # The disabled user's session stops working at once.
    assert member.get("/teams").status_code == 303
    assert web_admin.post(f"/admin/users/{target.id}", {"action": "nonsense"}).status_code == 400
    audit = web_admin.get("/admin/audit").text
    assert "user.update" in audit and "user.create" in audit and "login" in audit
