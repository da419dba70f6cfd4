"""Identity written at the console reaches a replica DC through the signed change feed, and the
DC authenticates on its own: two real servers, two databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from hemisphere.federation.assertions import HEADER, issue_assertion
from hemisphere.federation.signing import key_id
from hemisphere.sdk import HemisphereClient
from hemisphere.sdk.errors import ApiError
from tests.federation.sites import DC_ID, Federation


def _user(fed: Federation, prefix: str = "u") -> tuple[int, str, str]:
    email = f"{prefix}-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    with fed.console_client() as c:
        user = c.create_user(email, password, prefix)
    return user.id, email, password


def _dc_login(fed: Federation, email: str, password: str) -> str:
    assert fed.dc is not None
    with HemisphereClient(fed.dc.url) as anon:
        return anon.login(email, password).token


def test_users_teams_members_and_tokens_reach_the_dc(fed: Federation) -> None:
    uid, email, password = _user(fed, "alice")
    with fed.console_client() as admin:
        team = admin.create_team(f"team-{secrets.token_hex(3)}", DC_ID)
        admin.add_member(team.id, email, role=1)
    assert fed.console is not None
    with HemisphereClient(fed.console.url) as anon:
        console_token = anon.login(email, password).token
    fed.wait_caught_up()

    # Login at the DC from the replicated argon2 hash: a DC-local token.
    local = _dc_login(fed, email, password)
    assert local.startswith("hsd_")
    with fed.dc_client(local) as c:
        assert c.me().id == uid
        assert [t.id for t in c.list_teams()] == [team.id]
        assert {m.userId for m in c.list_members(team.id)} >= {uid}
    # The token issued by the console works at the DC too.
    with fed.dc_client(console_token) as c:
        assert c.me().email == email
    # The DC-local token was never replicated back to the console.
    with fed.console_client(local) as c, pytest.raises(ApiError) as err:
        c.me()
    assert err.value.status == 401


def test_revoked_token_and_disabled_user_are_refused_at_the_dc(fed: Federation) -> None:
    uid, email, password = _user(fed, "bob")
    assert fed.console is not None
    base = fed.console.url
    with HemisphereClient(base) as anon:
        token = anon.login(email, password).token
    with HemisphereClient(base, token) as c:
        second = c.create_token("second")
    fed.wait_caught_up()
    with fed.dc_client(token) as c:
        assert c.me().id == uid
    with HemisphereClient(base, token) as c:
        c.request("DELETE", f"/tokens/{second.id}")
    fed.wait_caught_up()
    with fed.dc_client(second.token) as c, pytest.raises(ApiError) as err:
        c.me()
    assert err.value.status == 401
    local = _dc_login(fed, email, password)

    with fed.console_client() as admin:
        admin.update_user(uid, disabled=True)
    fed.wait_caught_up()
    for t in (token, local):
        with fed.dc_client(t) as c, pytest.raises(ApiError) as err:
            c.me()
        assert err.value.status == 401
    with pytest.raises(ApiError) as err:
        _dc_login(fed, email, password)
    assert err.value.status == 401


def test_console_signed_assertion_authenticates_at_the_dc(fed: Federation) -> None:
    uid, _, _ = _user(fed, "carol")
    fed.wait_caught_up()
    assert fed.dc is not None
    kid = key_id(fed.key.public_key())
    good = issue_assertion(fed.key, key_id=kid, user_id=uid, datacenter_id=DC_ID)
    r = httpx.get(fed.dc.url + "/api/me", headers={HEADER: good})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == uid
    other_dc = issue_assertion(fed.key, key_id=kid, user_id=uid, datacenter_id=DC_ID + 1)
    r = httpx.get(fed.dc.url + "/api/me", headers={HEADER: other_dc})
    assert r.status_code == 401
    assert "data center" in r.json()["detail"]
    unknown_user = issue_assertion(fed.key, key_id=kid, user_id=999_999, datacenter_id=DC_ID)
    assert httpx.get(fed.dc.url + "/api/me", headers={HEADER: unknown_user}).status_code == 401


def test_dc_login_is_throttled_like_the_console(fed: Federation) -> None:
    """A replica DC's login door shares the console's throttle rules: e-mail spellings are one
    account and a forged X-Forwarded-For from an untrusted peer is not a new client. (Last in
    the module: it uses up this client's failure budget at the DC.)"""
    _, email, _ = _user(fed, "carol")
    fed.wait_caught_up()
    assert fed.dc is not None
    statuses = []
    with httpx.Client(base_url=fed.dc.url, timeout=10) as http:
        for i in range(12):
            spelled = f"  {email.upper() if i % 2 else email}  "
            r = http.post(
                "/api/auth/login",
                json={"email": spelled, "password": "wrong", "tokenName": "t"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            statuses.append(r.status_code)
    assert set(statuses[:5]) == {401}
    assert 429 in statuses, statuses
    assert statuses[-1] == 429
