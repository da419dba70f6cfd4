"""Logging in and out of the console: messages, throttling, cookies, CSRF, safe redirects."""

from __future__ import annotations

import httpx

from hemisphere.webapi.auth import SESSION_COOKIE
from tests.console.web.conftest import WebClient
from tests.services.platform import RunningPlatform


def test_wrong_password_then_throttled(platform: RunningPlatform) -> None:
    email = "victim@example.com"
    with platform.client() as admin:
        admin.create_user(email, "the-right-password", "Victim")
    web = WebClient(platform)
    for _ in range(5):
        r = web.login(email, "wrong-password")
        assert r.status_code == 401
        assert "Wrong e-mail or password." in r.text
        assert 'role="alert"' in r.text
        assert f'value="{email}"' in r.text  # the e-mail stays filled in
    throttled = web.login(email, "wrong-password")
    assert throttled.status_code == 429
    assert "Too many failed logins. Try again in" in throttled.text
    # The API's login counts the same failures.
    api = httpx.post(
        f"{platform.base_url}/api/auth/login", json={"email": email, "password": "x" * 9}
    )
    assert api.status_code == 429
    web.close()


def test_session_cookies_and_logout(platform: RunningPlatform) -> None:
    assert platform.admin is not None
    web = WebClient(platform)
    login = web.login(platform.admin.email, platform.admin.password, next_="/admin/plans")
    assert login.status_code == 303 and login.headers["location"] == "/admin/plans"
    cookies = {c.split("=", 1)[0]: c.lower() for c in login.headers.get_list("set-cookie")}
    session = cookies[SESSION_COOKIE]
    assert "httponly" in session and "samesite=lax" in session and "max-age=43200" in session
    # __Host-: Secure, Path=/, no Domain (browsers treat http://localhost as a secure context)
    assert "secure" in session and "path=/" in session and "domain" not in session
    assert (
        "httponly" in cookies["hemisphere_csrf"] and "samesite=strict" in cookies["hemisphere_csrf"]
    )
    token = web.http.cookies[SESSION_COOKIE]
    assert web.get("/teams").status_code == 200
    # Session tokens are not listed as the user's API tokens.
    with platform.client() as c:
        assert all(t.name != "browser session" for t in c.list_tokens())

    out = web.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login?out=1"
    assert "You are logged out." in web.get("/login?out=1").text
    # The old session token is dead everywhere.
    api = httpx.get(f"{platform.base_url}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    web.http.cookies.set(SESSION_COOKIE, token)
    again = web.get("/teams")
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")
    web.close()


def test_login_form_needs_its_csrf_token_and_a_safe_next(platform: RunningPlatform) -> None:
    assert platform.admin is not None
    web = WebClient(platform)
    web.get("/login")
    forged = web.post(
        "/login",
        {"email": platform.admin.email, "password": platform.admin.password, "csrf_token": "x"},
    )
    assert forged.status_code == 400 and "expired" in forged.text
    assert SESSION_COOKIE not in forged.headers.get("set-cookie", "")
    cross_site = web.post(
        "/login",
        {"email": platform.admin.email, "password": platform.admin.password},
        headers={"Origin": "http://evil.example"},
    )
    assert cross_site.status_code == 400
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = web.login(platform.admin.email, platform.admin.password, next_=evil)
        assert r.status_code == 303 and r.headers["location"] == "/teams", evil
        web.get("/teams")
        assert web.post("/logout").status_code == 303
    web.close()


def test_state_changes_need_the_session_csrf_token(
    web_user: tuple[WebClient, str, str],
) -> None:
    web, _, _ = web_user
    web.get("/teams")
    missing = web.post("/teams", {"name": "t1", "dc": "1"}, csrf=False)
    assert missing.status_code == 403 and "Please try again" in missing.text
    wrong = web.post("/teams", {"name": "t1", "dc": "1", "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    # The token is derived from the session (a subdomain could plant a cookie, not compute it).
    assert web.http.cookies["hemisphere_csrf"] == web.csrf
    other_site = web.post(
        "/teams", {"name": "t1", "dc": "1"}, headers={"Origin": "http://evil.example"}
    )
    assert other_site.status_code == 403
    ok = web.post(
        "/teams", {"name": "t1", "dc": "1"}, headers={"Origin": web.p.settings.public_url}
    )
    assert ok.status_code == 303
    # The API accepts the browser session for the pages' own fetch calls, with the header only.
    api = web.http.post("/api/teams", json={"name": "t2", "dc": 1})
    assert api.status_code == 403
    api = web.http.post(
        "/api/teams", json={"name": "t2", "dc": 1}, headers={"X-CSRF-Token": web.csrf}
    )
    assert api.status_code == 200


def test_pages_need_a_login(platform: RunningPlatform) -> None:
    web = WebClient(platform)
    page = web.get("/teams/1?dc=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fteams%2F1%3Fdc%3D1"
    poll = web.get("/teams/1/rows", headers={"HX-Request": "true"})
    assert poll.status_code == 401 and poll.headers["HX-Redirect"].startswith("/login?next=")
    assert web.get("/").headers["location"] == "/login"
    web.close()
