"""Identity over the real HTTP API: tokens, teams, members, roles, errors, audit."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, text

from hemisphere.db import to_sync_url
from hemisphere.sdk import BadRequest, Conflict, NotFound, Unauthorized
from tests.services.platform import RunningPlatform


def _raw(
    p: RunningPlatform, method: str, path: str, token: str | None = None, json: object = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, p.base_url + path, headers=headers, timeout=10, json=json)


def _is_envelope(body: dict[str, object], status: int) -> None:
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["traceId"], str) and body["traceId"]


def test_missing_and_bad_tokens_get_401_in_the_error_envelope(platform: RunningPlatform) -> None:
    r = _raw(platform, "GET", "/api/teams")
    assert r.status_code == 401
    _is_envelope(r.json(), 401)
    assert "Bearer" in r.json()["detail"]
    r = _raw(platform, "GET", "/api/teams", token="hsp_not-a-real-token")
    assert r.status_code == 401
    _is_envelope(r.json(), 401)


def test_team_lifecycle_on_both_databases(platform_any_db: RunningPlatform) -> None:
    p = platform_any_db
    _, token = p.new_user("owner")
    with p.client(token) as c:
        team = c.create_team("platform-team", dc=1)
        assert team.defaultDataCenterId == 1
        listed = c.list_teams()
        assert [(t.id, t.role) for t in listed] == [(team.id, 0)]
        with pytest.raises(Conflict) as dup:
            c.create_team("platform-team", dc=1)
        assert "name" in (dup.value.detail or "")
        with pytest.raises(BadRequest) as bad_dc:
            c.create_team("other", dc=999)
        assert "dc" in (bad_dc.value.detail or "")
        c.delete_team(team.id)
        assert c.list_teams() == []


def test_other_teams_are_invisible(platform: RunningPlatform) -> None:
    _, alice = platform.new_user("alice")
    _, bob = platform.new_user("bob")
    with platform.client(alice) as a:
        team = a.create_team("alice-team", dc=1)
    with platform.client(bob) as b:
        for call in (
            lambda: b.get_team(team.id),
            lambda: b.list_members(team.id),
            lambda: b.delete_team(team.id),
            lambda: b.list_workspaces(team.id),
        ):
            with pytest.raises(NotFound):
                call()
        with pytest.raises(NotFound):
            b.get_team(team.id + 1000)  # missing looks the same as forbidden


def test_members_and_roles(platform: RunningPlatform) -> None:
    _, alice = platform.new_user("alice")
    bob_user, bob = platform.new_user("bob")
    with platform.client(alice) as a:
        team = a.create_team("roles", dc=1)
        a.add_member(team.id, bob_user.email, role=1)
        with pytest.raises(Conflict):
            a.add_member(team.id, bob_user.email, role=1)
        # No account with that e-mail: answered like a success (issue 10, no enumeration).
        a.add_member(team.id, "nobody@example.com", role=1)
        members = {mb.email: mb.role for mb in a.list_members(team.id)}
        assert members[bob_user.email] == 1
    with platform.client(bob) as b:
        # A member sees the team but cannot manage it.
        assert b.get_team(team.id).name == "roles"
        with pytest.raises(Exception) as denied:
            b.set_member_role(team.id, bob_user.id, 0)
        assert getattr(denied.value, "status", None) == 403
    with platform.client(alice) as a:
        a.set_member_role(team.id, bob_user.id, 0)
        me = a.me()
        a.set_member_role(team.id, me.id, 1)  # allowed: bob is admin now
        with platform.client(bob) as b:
            with pytest.raises(Conflict):
                b.set_member_role(team.id, bob_user.id, 1)  # would leave no admin
            b.remove_member(team.id, me.id)
        with pytest.raises(NotFound):
            a.get_team(team.id)


def test_bad_input_is_a_400_naming_the_field(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    r = httpx.post(
        platform.base_url + "/api/teams",
        content=b"{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    _is_envelope(r.json(), 400)
    assert "JSON" in r.json()["detail"]
    r = _raw(platform, "POST", "/api/teams", token, json={"name": "x"})
    assert r.status_code == 400 and "dc: is required" in r.json()["detail"]
    r = _raw(platform, "POST", "/api/teams", token, json={"name": "x", "dc": "one"})
    assert r.status_code == 400 and r.json()["detail"].startswith("dc:")
    r = _raw(platform, "POST", "/api/teams", token, json={"name": "x", "dc": 1, "colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["detail"]
    with platform.client(token) as c:
        assert c.list_teams() == []  # nothing half-created


def test_oversized_bodies_are_refused(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    big = b'{"name": "' + b"x" * (2 << 20) + b'", "dc": 1}'
    r = httpx.post(
        platform.base_url + "/api/teams",
        content=big,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    _is_envelope(r.json(), 413)


def test_secrets_are_stored_hashed(platform: RunningPlatform) -> None:
    user, token = platform.new_user()
    engine = create_engine(to_sync_url(platform.settings.database_url))
    with engine.connect() as conn:
        pw = conn.execute(text("SELECT password_hash FROM users WHERE id = :i"), {"i": user.id})
        assert pw.scalar_one().startswith("$argon2id$")
        hashes = [r[0] for r in conn.execute(text("SELECT token_hash FROM api_tokens"))]
    engine.dispose()
    assert token not in hashes and all(len(h) == 64 for h in hashes)
    raw = (platform.settings.data_dir / "hemisphere.db").read_bytes()
    assert token.encode() not in raw


def test_login_failures_are_throttled(platform: RunningPlatform) -> None:
    user, _ = platform.new_user("victim")
    for _ in range(5):
        r = httpx.post(
            platform.base_url + "/api/auth/login",
            json={"email": user.email, "password": "wrong-password"},
        )
        assert r.status_code == 401
        assert r.json()["detail"] == "wrong e-mail or password"
    r = httpx.post(
        platform.base_url + "/api/auth/login", json={"email": user.email, "password": "wrong"}
    )
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_audit_log_records_who_did_what(platform: RunningPlatform) -> None:
    member_user, member = platform.new_user("member")
    with platform.client(member) as c:
        team = c.create_team("audited", dc=1)
    with platform.client() as admin:
        events = admin.audit()
        actions = [(e.action, e.actorEmail) for e in events]
        assert ("team.create", member_user.email) in actions
        assert ("login", member_user.email) in actions
        assert ("user.create", "admin@hemisphere.local") in actions
    _, outsider = platform.new_user("outsider")
    with platform.client(outsider) as o:
        with pytest.raises(NotFound):
            o.audit(team_id=team.id)
        with pytest.raises(NotFound):
            o.audit()
    with platform.client(member) as c:
        assert {e.action for e in c.audit(team_id=team.id)} == {"team.create"}


def test_disabled_users_lose_access(platform: RunningPlatform) -> None:
    user, token = platform.new_user()
    with platform.client() as admin:
        admin.update_user(user.id, disabled=True)
    with platform.client(token) as c, pytest.raises(Unauthorized):
        c.list_teams()


def test_metadata_matches_the_codesphere_shapes(platform: RunningPlatform) -> None:
    _, token = platform.new_user()
    r = _raw(platform, "GET", "/api/metadata/workspace-plans", token)
    plans = r.json()
    assert len(plans) >= 3
    assert {"id", "priceUsd", "title", "deprecated", "maxReplicas", "characteristics"} <= set(
        plans[0]
    )
    assert {"CPU", "GPU", "RAM", "SSD", "TempStorage", "onDemand", "id"} == set(
        plans[0]["characteristics"]
    )
    assert 8 in {p["id"] for p in plans}  # the Codesphere CLI's default plan id
    dcs = _raw(platform, "GET", "/api/metadata/datacenters", token).json()
    assert dcs == [{"id": 1, "name": "local", "city": "Localhost", "countryCode": "DE"}]
    images = _raw(platform, "GET", "/api/metadata/workspace-base-images", token).json()
    assert {"id", "name", "supportedUntil"} == set(images[0])


def test_health_metrics_and_docs_are_served(platform: RunningPlatform) -> None:
    assert _raw(platform, "GET", "/healthz").json() == {"status": "ok"}
    assert _raw(platform, "GET", "/readyz").json() == {"status": "ready"}
    _raw(platform, "GET", "/api/teams")  # one request to count
    metrics = _raw(platform, "GET", "/metrics").text
    assert 'hemisphere_http_requests_total{method="GET",route="/api/teams",status="401"}' in metrics
    assert "hemisphere_workspaces" in metrics
    spec = _raw(platform, "GET", "/api/openapi.json").json()
    assert "/api/workspaces/{workspace_id}/execute" in spec["paths"]
    docs = _raw(platform, "GET", "/api/docs")
    assert docs.status_code == 200
    # Served from our own files: an air-gapped browser has no CDN to load Swagger UI from.
    assert "cdn" not in docs.text.lower()
    assert _raw(platform, "GET", "/api/docs/static/swagger-ui-bundle.js").status_code == 200
