"""The issue's scenario in real headless Chromium against a real server and real sandboxes:
log in → create team → create workspace → start → echo in the terminal → serve port 3000 →
open the preview → stop and start → the file is still there → another team's user gets 404."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Browser, Page, expect

from hemisphere.sdk import HemisphereClient
from tests.dc.test_api_workspaces import new_ws
from tests.e2e.conftest import ARTIFACTS, Session
from tests.services.platform import RunningPlatform

pytestmark = pytest.mark.e2e


def type_in_terminal(page: Page, text: str) -> None:
    page.locator("#terminal .xterm-helper-textarea").focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def terminal_text(page: Page) -> str:
    return page.locator("#terminal .xterm-rows").inner_text()


def test_developer_journey(
    platform: RunningPlatform, browser: Browser, sessions: list[Session]
) -> None:
    password = secrets.token_urlsafe(12)
    email = f"dev-{secrets.token_hex(3)}@example.com"
    with platform.client() as admin:
        admin.create_user(email, password, "Dev")
    base = platform.settings.public_url  # http://localhost:PORT, as a person would type it

    dev = Session(browser, base, "dev")
    sessions.append(dev)
    page = dev.page
    dev.goto("/")
    expect(page.get_by_role("heading", name="Log in to Hemisphere")).to_be_visible()
    dev.shot("01-login")
    dev.shot("01-login-phone", phone=True)

    # A wrong password is told plainly.
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong e-mail or password")
    dev.login(email, password)

    # Create a team.
    page.get_by_label("Team name").fill("web-team")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="web-team")).to_be_visible()
    team_url = page.url.split("?")[0]

    # Create a workspace: a bad name first (the API's message appears next to the field).
    page.get_by_role("link", name="New workspace").click()
    page.get_by_label("Name", exact=True).fill("Demo_1")
    page.get_by_label("Plan").select_option("7")
    page.get_by_label("Environment variables (optional)").fill("GREETING=hi")
    page.get_by_label("Start it now").uncheck()
    page.get_by_role("button", name="Create workspace").click()
    name_field = page.get_by_label("Name", exact=True)
    expect(name_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-name-error")).to_contain_text("lower-case letters")
    dev.shot("02-new-workspace-invalid")
    name_field.fill("demo")
    page.get_by_role("button", name="Create workspace").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+"))
    workspace_id = int(re.findall(r"/workspaces/(\d+)", page.url)[0])
    workspace_url = page.url.split("?")[0]
    expect(page.locator("#ws-state")).to_contain_text("Stopped")

    # Start it from the team's list; the state changes there without a reload.
    page.goto(team_url)
    page.locator(f"#start-{workspace_id}").click()
    expect(page.locator(f"#ws-{workspace_id}")).to_have_attribute(
        "data-state", "running", timeout=60_000
    )
    dev.shot("03-team-workspaces")
    dev.shot("03-team-workspaces-phone", phone=True)

    # The terminal.
    page.goto(workspace_url)
    expect(page.locator("#terminal")).to_have_attribute("data-connected", "true")
    type_in_terminal(page, "echo hello-$RANDOM")
    expect(page.locator("#terminal .xterm-rows")).to_contain_text(re.compile(r"hello-\d+"))
    type_in_terminal(page, "echo kept-$((20+3)) > note.txt; echo greeting=$GREETING")
    expect(page.locator("#terminal .xterm-rows")).to_contain_text("greeting=hi")
    type_in_terminal(page, "python3 -m http.server 3000")
    preview_link = page.locator("#port-3000")
    expect(preview_link).to_be_visible(timeout=30_000)
    dev.shot("04-workspace-terminal")
    dev.shot("04-workspace-terminal-phone", phone=True)
    preview_url = preview_link.get_attribute("href")
    assert preview_url == f"http://3000-demo-{workspace_id}.{platform.settings.preview_domain}/"

    # The preview, in a new tab, through the console's hand-off.
    preview = dev.context.new_page()
    response = preview.goto(preview_url)
    assert response is not None and response.status == 200
    expect(preview.get_by_role("heading")).to_contain_text("Directory listing")
    expect(preview.get_by_role("link", name="note.txt")).to_be_visible()
    assert preview.url.startswith(preview_url)  # back on the preview host after the hand-off
    ARTIFACTS.mkdir(exist_ok=True)
    preview.screenshot(path=str(ARTIFACTS / "05-preview.png"), full_page=True)
    preview.close()

    # Ctrl-C stops the server; the shell is back.
    page.locator("#terminal .xterm-helper-textarea").focus()
    page.keyboard.press("Control+C")
    type_in_terminal(page, "echo after-$((1+1))")
    expect(page.locator("#terminal .xterm-rows")).to_contain_text("after-2")

    # Stop and start: the file written before is still there.
    page.locator("#ws-stop").click()
    expect(page.locator("#ws-summary")).to_have_attribute("data-state", "stopped", timeout=60_000)
    expect(page.locator("#term-status")).to_contain_text("Start the workspace")
    page.locator("#ws-start").click()
    expect(page.locator("#ws-summary")).to_have_attribute("data-state", "running", timeout=60_000)
    expect(page.locator("#terminal")).to_have_attribute("data-connected", "true")
    type_in_terminal(page, "cat note.txt")
    expect(page.locator("#terminal .xterm-rows")).to_contain_text("kept-23")

    # Members page (the developer is the team's admin).
    page.goto(team_url + "/members")
    expect(page.get_by_role("heading", name="Add a member")).to_be_visible()
    dev.shot("06-members")
    assert dev.problems == [], dev.problems

    # Someone in another team: the same 404 for the workspace page and for its preview.
    outsider_password = secrets.token_urlsafe(12)
    outsider_email = f"outsider-{secrets.token_hex(3)}@example.com"
    with platform.client() as admin:
        admin.create_user(outsider_email, outsider_password, "Outsider")
    other = Session(browser, base, "outsider")
    sessions.append(other)
    other.login(outsider_email, outsider_password)
    with platform.client(_token(platform, outsider_email, outsider_password)) as c:
        team = c.create_team("elsewhere", dc=1)
        c.create_workspace(new_ws(team.id, "theirs", replicas=0))
    assert other.goto(f"/workspaces/{workspace_id}") == 404
    expect(other.page.get_by_role("heading", name="Not found")).to_be_visible()
    response = other.page.goto(preview_url)
    assert response is not None and response.status == 404
    other.shot("07-outsider-preview-404")


def _token(platform: RunningPlatform, email: str, password: str) -> str:
    with HemisphereClient(platform.base_url) as anon:
        return anon.login(email, password).token
