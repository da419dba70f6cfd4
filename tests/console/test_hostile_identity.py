"""Issue 10 as a hostile tenant would try it against a real server: login throttle bypass
(finding 8), session fixation by cookie tossing (finding 6) and cross-tenant enumeration
(finding 10). Cookies are sent as raw `Cookie` headers, exactly as a browser holding a tossed
cookie would send them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.identity.throttle import LoginThrottle
from hemisphere.webapi.auth import PLAIN_SESSION_COOKIE, SESSION_COOKIE, session_cookie_name
from tests.console.web.conftest import WebClient
from tests.services.platform import RunningPlatform, platform_settings

# ---- finding 8: login throttle ----------------------------------------------------------------


def _login(
    p: RunningPlatform, email: str, password: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.post(
        p.base_url + "/api/auth/login",
        json={"email": email, "password": password},
        headers=headers,
        timeout=30,
    )


def _spellings(email: str) -> Iterator[str]:
    """The same account as authentication sees it, spelled 40 different ways (case, spaces,
    no-break spaces, full-width letters)."""
    local, _, domain = email.partition("@")
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in local)
    cases = [email, email.upper(), f"{local.upper()}@{domain}", f"{fullwidth}@{domain}"]
    for i in range(40):
        pad = " " * (i % 5), "\u00a0" * ((i // 5) % 2)
        yield f"{pad[0]}{cases[(i // 10) % len(cases)]}{pad[1]}"


@pytest.fixture
def behind_proxy(data_dir: Path) -> Iterator[RunningPlatform]:
    """The platform behind a reverse proxy on loopback whose X-Forwarded-For is trusted."""
    p = RunningPlatform(platform_settings(data_dir, trusted_proxies=("127.0.0.1/32",))).start()
    try:
        yield p
    finally:
        p.stop()


def test_spellings_and_forged_forwarded_for_do_not_refill_the_budget(
    platform: RunningPlatform,
) -> None:
    victim, _ = platform.new_user("victim")
    statuses = []
    for i, spelling in enumerate(_spellings(victim.email)):
        r = _login(platform, spelling, f"wrong-guess-{i}", forwarded_for=f"198.51.100.{i + 1}")
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) > 0
            break
    assert 429 in statuses, f"40 guesses and never throttled: {statuses}"
    assert statuses.count(401) <= 10, statuses  # the per-client budget, whatever the spelling


def test_an_attacker_cannot_lock_the_victim_out(behind_proxy: RunningPlatform) -> None:
    p = behind_proxy
    email, password = f"victim-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(12)
    with p.client() as admin:
        admin.create_user(email, password, "victim")
    attacker = [_login(p, email, f"guess-{i}", "203.0.113.66").status_code for i in range(40)]
    assert attacker.count(401) <= 5 and attacker[-1] == 429, attacker
    # The victim, at their own machine, still gets in while the attacker is refused.
    assert _login(p, email, password, "192.0.2.10").status_code == 200
    assert _login(p, email, "guess-again", "203.0.113.66").status_code == 429


def test_forwarded_for_is_only_believed_from_a_trusted_proxy(behind_proxy: RunningPlatform) -> None:
    p = behind_proxy
    victim, _ = p.new_user("spoofed")
    # A client that forges the header still appends through the proxy: the right-most
    # untrusted hop (what the proxy saw) is the client, so the forged left part changes nothing.
    for i in range(10):
        _login(p, f"nobody-{i}@example.com", "wrong-password", f"10.9.9.{i}, 203.0.113.5")
    assert _login(p, victim.email, "wrong-password", "10.0.0.1, 203.0.113.5").status_code == 429


def test_own_logins_do_not_refill_the_client_budget() -> None:
    """Interleaving logins to one's own account between guesses used to clear the client key."""
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for i in range(30):
        if throttle.retry_after("victim@example.com", "10.0.0.1") > 0:
            break
        throttle.failed("victim@example.com", "10.0.0.1")
        throttle.succeeded("attacker@example.com", "10.0.0.1")
        now[0] += 1
    assert i <= throttle.client_budget


def test_a_distributed_attack_locks_only_the_attacking_clients() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for bot in range(throttle.account_budget):
        throttle.failed("Victim@Example.com ", f"bot-{bot}")
    assert throttle.retry_after("victim@example.com", "bot-1") > 0  # failed here before
    assert throttle.retry_after("victim@example.com", "victims-laptop") == 0
    now[0] += throttle.window_s + 1
    assert throttle.retry_after("victim@example.com", "bot-1") == 0  # the window forgets


# ---- finding 6: session fixation by cookie tossing ----------------------------------------------


def _browser_session(p: RunningPlatform, email: str, password: str) -> tuple[str, list[str]]:
    """Log in through the login form; the session token and the Set-Cookie headers."""
    web = WebClient(p)
    try:
        r = web.login(email, password)
        assert r.status_code == 303, r.text
        return web.http.cookies[SESSION_COOKIE], r.headers.get_list("set-cookie")
    finally:
        web.close()


def _me(p: RunningPlatform, cookie_header: str) -> httpx.Response:
    return httpx.get(p.base_url + "/api/me", headers={"Cookie": cookie_header}, timeout=10)


def test_the_session_cookie_is_host_only_and_secure(platform: RunningPlatform) -> None:
    assert platform.admin is not None
    _, set_cookies = _browser_session(platform, platform.admin.email, platform.admin.password)
    session = next(c for c in set_cookies if c.startswith(f"{SESSION_COOKIE}="))
    attrs = [a.strip().lower() for a in session.split(";")[1:]]
    assert SESSION_COOKIE == "__Host-hemisphere_session"
    assert "secure" in attrs and "path=/" in attrs and "httponly" in attrs
    assert not any(a.startswith("domain") for a in attrs)
    # Plain http under a real name cannot keep a Secure cookie: the documented fallback.
    assert session_cookie_name("https://console.example.com") == SESSION_COOKIE
    assert session_cookie_name("http://localhost:8080") == SESSION_COOKIE
    assert session_cookie_name("http://console.example.com") == PLAIN_SESSION_COOKIE


def test_a_tossed_cookie_cannot_replace_the_session(platform: RunningPlatform) -> None:
    victim_email, victim_pw = (
        f"victim-{secrets.token_hex(3)}@example.com",
        secrets.token_urlsafe(12),
    )
    evil_email, evil_pw = f"evil-{secrets.token_hex(3)}@example.com", secrets.token_urlsafe(12)
    with platform.client() as admin:
        admin.create_user(victim_email, victim_pw, "victim")
        admin.create_user(evil_email, evil_pw, "evil")
    victim, _ = _browser_session(platform, victim_email, victim_pw)
    attacker, _ = _browser_session(platform, evil_email, evil_pw)
    assert _me(platform, f"{SESSION_COOKIE}={victim}").json()["email"] == victim_email
    # What the browser sends after a preview set `hemisphere_session=<attacker>; Domain=parent`:
    # the plain name is not the session cookie, so the victim stays the victim.
    tossed = _me(platform, f"{PLAIN_SESSION_COOKIE}={attacker}; {SESSION_COOKIE}={victim}")
    assert tossed.json()["email"] == victim_email
    # Two cookies of the session's own name: nobody is logged in, whichever comes first.
    for header in (f"{SESSION_COOKIE}={attacker}; {SESSION_COOKIE}={victim}",
                   f"{SESSION_COOKIE}={victim}; {SESSION_COOKIE}={attacker}"):  # fmt: skip
        assert _me(platform, header).status_code == 401
        page = httpx.get(
            platform.settings.public_url + "/teams", headers={"Cookie": header}, timeout=10
        )
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        cleared = [c.lower() for c in page.headers.get_list("set-cookie")]
        assert any(c.startswith(SESSION_COOKIE.lower() + "=") and "max-age=0" in c
                   for c in cleared), cleared  # fmt: skip


def test_an_api_token_is_not_a_session_cookie(platform: RunningPlatform) -> None:
    _, api_token = platform.new_user("token-in-cookie")
    assert _me(platform, f"{SESSION_COOKIE}={api_token}").status_code == 401
    page = httpx.get(
        platform.settings.public_url + "/teams",
        headers={"Cookie": f"{SESSION_COOKIE}={api_token}"},
        timeout=10,
    )
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    # As a bearer token it still works, of course.
    r = httpx.get(
        platform.base_url + "/api/me", headers={"Authorization": f"Bearer {api_token}"}, timeout=10
    )
    assert r.status_code == 200


# ---- finding 10: cross-tenant enumeration -------------------------------------------------------


def _add(p: RunningPlatform, token: str, team_id: int, email: str) -> httpx.Response:
    return httpx.post(
        f"{p.base_url}/api/teams/{team_id}/members",
        json={"userEmail": email, "role": 1},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_adding_a_member_does_not_tell_who_has_an_account(platform: RunningPlatform) -> None:
    _, owner = platform.new_user("owner")
    existing, _ = platform.new_user("existing")
    with platform.client(owner) as c:
        team = c.create_team("probe", dc=1)
    known = _add(platform, owner, team.id, existing.email)
    unknown = _add(platform, owner, team.id, f"nobody-{secrets.token_hex(3)}@example.com")
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert known.status_code == 200
    # Cluster admins still get the helpful error.
    assert platform.admin is not None
    assert _add(platform, platform.admin.token, team.id, "nobody@example.com").status_code == 400


def test_a_plain_user_sees_no_other_tenants(platform: RunningPlatform) -> None:
    _, alice = platform.new_user("alice")
    _, bob = platform.new_user("bob")
    with platform.client(alice) as a:
        a.create_team("alice-secret-team", dc=1)
    assert platform.admin is not None
    listed = httpx.get(
        f"{platform.base_url}/api/organizations",
        headers={"Authorization": f"Bearer {platform.admin.token}"},
        timeout=10,
    ).json()
    default_id = next(o["id"] for o in listed if o["name"] == "default")
    for token in (alice, bob):
        headers = {"Authorization": f"Bearer {token}"}
        orgs = httpx.get(f"{platform.base_url}/api/organizations", headers=headers, timeout=10)
        assert orgs.status_code == 200 and orgs.json() == []
        for path in (f"/api/organizations/{default_id}/teams",
                     f"/api/organizations/{default_id}/members"):  # fmt: skip
            r = httpx.get(platform.base_url + path, headers=headers, timeout=10)
            assert r.status_code == 404, (path, r.text)
    with platform.client(bob) as b:
        assert b.list_teams() == []
