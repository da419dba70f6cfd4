"""The rest of the console in the browser: admin pages (and their screenshots at both sizes),
escaping of hostile names, visible keyboard focus, and the terminal surviving a network blip."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.e2e.conftest import CuttableLink, Session
from tests.services.platform import RunningPlatform

pytestmark = pytest.mark.e2e

HOSTILE = "<script>alert(1)</script>"


def test_admin_pages_escaping_and_focus(
    platform: RunningPlatform, browser: Browser, sessions: list[Session]
) -> None:
    assert platform.admin is not None
    admin = Session(browser, platform.settings.public_url, "admin")
    sessions.append(admin)
    admin.login(platform.admin.email, platform.admin.password)
    page = admin.page

    # Keyboard: the first Tab lands on the skip link, and focus is visible.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"

    # A hostile team name is shown as text everywhere, never run.
    page.get_by_label("Team name").fill(HOSTILE)
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE)
    admin.goto("/teams")
    expect(page.get_by_role("link", name=HOSTILE, exact=True)).to_be_visible()
    admin.shot("10-teams")

    # Users: create, make admin, disable.
    admin.goto("/admin/users")
    page.get_by_label("E-mail address").fill("carol@example.com")
    page.get_by_label("Name", exact=True).fill(HOSTILE)
    page.get_by_label("Initial password").fill("short")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#f-password-error")).to_contain_text("at least 8")
    page.get_by_label("Initial password").fill("long-enough-password")
    page.get_by_role("button", name="Create user").click()
    row = page.locator("tr", has_text="carol@example.com")
    expect(row).to_contain_text(HOSTILE)
    row.get_by_role("button", name="Make admin").click()
    expect(page.locator("tr", has_text="carol@example.com")).to_contain_text("Admin")
    page.locator("tr", has_text="carol@example.com").get_by_role("button", name="Disable").click()
    expect(page.locator("tr", has_text="carol@example.com")).to_contain_text("Disabled")
    admin.shot("11-admin-users")
    admin.shot("11-admin-users-phone", phone=True)

    admin.goto("/admin/datacenters")
    expect(page.locator("tr", has_text="local")).to_contain_text("Ready")
    admin.shot("12-admin-datacenters")
    admin.shot("12-admin-datacenters-phone", phone=True)
    admin.goto("/admin/plans")
    expect(page.get_by_role("cell", name="Medium")).to_be_visible()
    admin.shot("13-admin-plans")
    admin.goto("/admin/audit")
    expect(page.get_by_role("cell", name="user.update").first).to_be_visible()
    expect(page.get_by_role("cell", name="team.create")).to_be_visible()
    admin.shot("14-admin-audit")
    admin.shot("14-admin-audit-phone", phone=True)

    # Logging out ends the session.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_contain_text("logged out")
    assert admin.goto("/admin/users") == 200 and page.url.split("?")[0].endswith("/login")
    assert admin.problems == [], admin.problems


def test_terminal_survives_a_network_blip(
    platform: RunningPlatform, browser: Browser, sessions: list[Session]
) -> None:
    assert platform.admin is not None
    with platform.client() as c:
        team = c.create_team("blip", dc=1)
        ws = c.create_workspace(new_ws(team.id, "steady"))
        wait_for(c, ws.id, lambda s: s.isRunning)
    link = CuttableLink(platform.settings.port)
    me = Session(browser, f"http://localhost:{link.port}", "blip")
    sessions.append(me)
    me.login(platform.admin.email, platform.admin.password)
    page = me.page
    me.goto(f"/workspaces/{ws.id}")
    terminal = page.locator("#terminal")
    expect(terminal).to_have_attribute("data-connected", "true")
    session_id = terminal.get_attribute("data-session")
    page.locator("#terminal .xterm-helper-textarea").focus()
    page.keyboard.type("export MARK=still-$((40+2)); echo pid=$$\n")
    rows = page.locator("#terminal .xterm-rows")
    expect(rows).to_contain_text(re.compile(r"pid=\d+"))
    pid = re.findall(r"pid=(\d+)", rows.inner_text())[-1]

    link.cut()
    expect(page.locator("#term-status")).to_contain_text("Reconnected to your shell")
    assert terminal.get_attribute("data-session") == session_id
    page.locator("#terminal .xterm-helper-textarea").focus()
    page.keyboard.type("echo $MARK-$$\n")
    expect(rows).to_contain_text(f"still-42-{pid}")

    # A reload reattaches too (the page remembers the session for this tab).
    page.reload()
    expect(page.locator("#term-status")).to_contain_text("Reconnected to your shell")
    expect(rows).to_contain_text(f"still-42-{pid}")  # replayed scrollback
    link.close()
    assert me.problems == [], me.problems
