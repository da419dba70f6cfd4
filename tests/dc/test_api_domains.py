"""Custom domains over the real HTTP API, with real DNS lookups through the system resolver.

The machine has no internet: a public name cannot resolve here, so verification of one must
fail and say why. The positive path runs against a real DNS server (dnsmasq on loopback,
HEMISPHERE_DNS_SERVERS pointing at it) publishing the A and TXT records.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.sdk import ApiError, BadRequest, Conflict, HemisphereClient, NotFound
from hemisphere.sdk import models as m
from hemisphere.workspaces.domains import (
    CERT_REQUESTED,
    CERT_WAITS_FOR_VERIFICATION,
    CHALLENGE_LABEL,
)
from tests.services.platform import RunningPlatform, free_port, platform_settings

REQUIRED = {
    "teamId", "dataCenterId", "name", "workspaces", "certificateRequestStatus", "dnsEntries",
    "domainVerificationStatus",
}  # fmt: skip


def _stopped_ws(c: HemisphereClient, team_id: int, name: str) -> m.Workspace:
    spec = m.WorkspaceCreate(teamId=team_id, name=name, planId=7, isPrivateRepo=False, replicas=0)
    return c.create_workspace(spec)


def _wait_gone(c: HemisphereClient, wid: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            c.get_workspace(wid)
        except NotFound:
            return
        assert time.monotonic() < deadline, f"workspace {wid} was not deleted"
        time.sleep(0.1)


def test_domain_round_trip_on_both_databases(platform_any_db: RunningPlatform) -> None:
    p = platform_any_db
    _, token = p.new_user("web")
    with p.client(token) as c:
        team = c.create_team("web", dc=1)
        ws = _stopped_ws(c, team.id, "site")
        d = c.create_domain(team.id, "shop.example.org")
        assert (d.teamId, d.dataCenterId, d.name, d.workspaces) == (
            team.id,
            1,
            "shop.example.org",
            {},
        )
        assert d.dnsEntries.cname == "localhost"  # the data center's host, without the port
        assert d.dnsEntries.a == "127.0.0.1"
        assert d.dnsEntries.txt.startswith("hemisphere-verification=")
        assert len(d.dnsEntries.txt) > len("hemisphere-verification=") + 20
        assert not d.domainVerificationStatus.verified
        assert d.certificateRequestStatus == m.CertificateRequestStatus(
            issued=False, reason=CERT_WAITS_FOR_VERIFICATION
        )
        assert (d.customConfigRevision, d.restricted) == (0, True)

        d = c.update_domain(
            team.id,
            d.name,
            m.DomainUpdate(maxBodySizeMb=10, maxConnectionTimeoutS=2.5, restricted=False),
        )
        assert d.customConfig == m.DomainCustomConfig(maxBodySizeMb=10, maxConnectionTimeoutS=2.5)
        assert (d.customConfigRevision, d.restricted) == (1, False)
        d = c.update_domain(team.id, d.name, m.DomainUpdate(restricted=False))  # no change
        assert d.customConfigRevision == 1

        d = c.set_domain_workspaces(team.id, d.name, {"/": [ws.id], "/api": [ws.id], "/old": []})
        assert d.workspaces == {"/": [ws.id], "/api": [ws.id]}
        assert c.get_domain(team.id, d.name) == d
        assert c.list_domains(team.id) == [d]

        result = c.verify_domain(team.id, d.name)  # no internet here: it cannot resolve
        assert not result.verified
        assert result.reason and "_hemisphere-challenge.shop.example.org" in result.reason
        assert c.get_domain(team.id, d.name).domainVerificationStatus == result

        raw = httpx.get(
            f"{p.base_url}/api/domains/team/{team.id}/domain/{d.name}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert set(raw) >= REQUIRED
        assert raw["customConfig"]["maxBodySizeMb"] == 10 and isinstance(
            raw["customConfig"]["maxBodySizeMb"], int
        )
        assert set(raw["dnsEntries"]) == {"a", "cname", "txt"}
        assert set(raw["domainVerificationStatus"]) == {"verified", "reason"}
        assert set(raw["certificateRequestStatus"]) == {"issued", "reason"}

        c.delete_workspace(ws.id)  # its connections go with it
        _wait_gone(c, ws.id)
        assert c.get_domain(team.id, d.name).workspaces == {}

        c.delete_domain(team.id, d.name)
        with pytest.raises(NotFound):
            c.get_domain(team.id, d.name)
        assert c.list_domains(team.id) == []

        c.create_domain(team.id, "gone-with-team.example.org")
        c.delete_team(team.id)  # domains go with their team, so the name is free again
        other = c.create_team("web2", dc=1)
        assert c.create_domain(other.id, "gone-with-team.example.org").teamId == other.id

    with p.client() as root:
        actions = {e.action for e in root.audit(limit=100) if e.targetType == "domain"}
    assert {
        "domain.create",
        "domain.update",
        "domain.connect",
        "domain.verify",
        "domain.delete",
    } <= actions


@pytest.fixture
def dns_platform(data_dir: Path) -> Iterator[tuple[RunningPlatform, Callable[[list[str]], None]]]:
    """The platform resolving customer domains through a real dnsmasq on loopback; the callable
    (re)starts dnsmasq with the given records (dnsmasq options such as --txt-record=...)."""
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def serve(records: list[str]) -> None:
        for old in procs:
            old.terminate()
            old.wait(10)
        procs.clear()
        procs.append(subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--user=root", "--pid-file=",
             *records],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        deadline = time.monotonic() + 10
        while True:  # wait until it answers on UDP
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.settimeout(0.2)
                query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01"
                probe.sendto(query, ("127.0.0.1", port))
                try:
                    probe.recv(512)
                    return
                except OSError:
                    assert time.monotonic() < deadline, "dnsmasq did not start"

    settings = platform_settings(data_dir, dns_servers=(f"127.0.0.1:{port}",))
    p = RunningPlatform(settings).start()
    try:
        yield p, serve
    finally:
        p.stop()
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def test_verification_needs_the_txt_token(
    dns_platform: tuple[RunningPlatform, Callable[[list[str]], None]],
) -> None:
    p, serve = dns_platform
    name = "app.example.test"
    _, token = p.new_user("dns")
    with p.client(token) as c:
        team = c.create_team("dns", dc=1)
        txt = c.create_domain(team.id, name).dnsEntries.txt
        # Pointing the name at the data center is not enough: the TXT token must match.
        serve([f"--address=/{name}/127.0.0.1",
               f"--txt-record={CHALLENGE_LABEL}.{name},hemisphere-verification=someone-elses"])  # fmt: skip
        result = c.verify_domain(team.id, name)
        assert not result.verified
        assert result.reason and f"{CHALLENGE_LABEL}.{name}" in result.reason
        assert not c.get_domain(team.id, name).domainVerificationStatus.verified
        serve([f"--address=/{name}/127.0.0.1"])  # no TXT record at all
        assert not c.verify_domain(team.id, name).verified
        serve([f"--address=/{name}/127.0.0.1", f"--txt-record={CHALLENGE_LABEL}.{name},{txt}"])
        assert c.verify_domain(team.id, name) == m.DomainVerificationStatus(
            verified=True, reason=None
        )
        d = c.get_domain(team.id, name)
        assert d.domainVerificationStatus.verified
        assert d.certificateRequestStatus == m.CertificateRequestStatus(
            issued=False, reason=CERT_REQUESTED
        )
        # The right token on a name that points elsewhere is not enough either.
        serve([f"--address=/{name}/192.0.2.1", f"--txt-record={CHALLENGE_LABEL}.{name},{txt}"])
        assert not c.verify_domain(team.id, name).verified


def test_domain_authorization(platform: RunningPlatform) -> None:
    _, alice_token = platform.new_user("alice")
    bob, bob_token = platform.new_user("bob")
    _, eve_token = platform.new_user("eve")
    with platform.client(alice_token) as a:
        team = a.create_team("owners", dc=1)
        a.add_member(team.id, bob.email, role=1)
        a.create_domain(team.id, "owned.example.org")
        ws = _stopped_ws(a, team.id, "app")

    name = "owned.example.org"
    with platform.client(eve_token) as e:  # outside the team: nothing exists
        calls: list[Callable[[], object]] = [
            lambda: e.list_domains(team.id),
            lambda: e.create_domain(team.id, "eve.example.org"),
            lambda: e.get_domain(team.id, name),
            lambda: e.update_domain(team.id, name, m.DomainUpdate(restricted=False)),
            lambda: e.delete_domain(team.id, name),
            lambda: e.verify_domain(team.id, name),
            lambda: e.set_domain_workspaces(team.id, name, {"/": [ws.id]}),
        ]
        for call in calls:
            with pytest.raises(NotFound):
                call()

    with platform.client(bob_token) as b:  # members read and verify; admins change
        assert [d.name for d in b.list_domains(team.id)] == [name]
        assert b.get_domain(team.id, name).name == name
        assert not b.verify_domain(team.id, name).verified
        for call in (
            lambda: b.create_domain(team.id, "bob.example.org"),
            lambda: b.update_domain(team.id, name, m.DomainUpdate(restricted=False)),
            lambda: b.delete_domain(team.id, name),
            lambda: b.set_domain_workspaces(team.id, name, {"/": [ws.id]}),
        ):
            with pytest.raises(ApiError) as denied:
                call()
            assert denied.value.status == 403
        with pytest.raises(NotFound):
            b.get_domain(team.id, "missing.example.org")

    with platform.client() as root:  # cluster admins manage every team's domains
        root.set_domain_workspaces(team.id, name, {"/": [ws.id]})


def test_domain_bad_input_and_duplicates(platform: RunningPlatform) -> None:
    _, alice_token = platform.new_user("alice")
    _, bob_token = platform.new_user("bob")
    with platform.client(bob_token) as b:
        other_team = b.create_team("other", dc=1)
        foreign = _stopped_ws(b, other_team.id, "foreign")
    with platform.client(alice_token) as a:
        team = a.create_team("names", dc=1)
        ws = _stopped_ws(a, team.id, "app")
        for bad in (
            "Shop.example.org", "-shop.example.org", "shop..example.org", "*.example.org",
            "1.2.3.4", "a" * 64 + ".example.org", ".".join(["abcdefghi"] * 26), "shop_x.example.org",
            "3000-app.localhost",  # under the data center's own (preview) domain
        ):  # fmt: skip
            with pytest.raises(BadRequest) as rejected:
                a.create_domain(team.id, bad)
            assert (rejected.value.detail or "").startswith("domainName:"), bad

        d = a.create_domain(team.id, "api.example.net")
        with pytest.raises(Conflict) as dup:
            a.create_domain(team.id, "api.example.net")
        assert "domainName" in (dup.value.detail or "")
        with platform.client(bob_token) as b, pytest.raises(Conflict):
            b.create_domain(other_team.id, "api.example.net")  # unique across teams

        with pytest.raises(BadRequest) as not_ours:
            a.set_domain_workspaces(team.id, d.name, {"/": [ws.id, foreign.id]})
        assert f"workspace {foreign.id} " in (not_ours.value.detail or "")
        with pytest.raises(BadRequest) as missing:
            a.set_domain_workspaces(team.id, d.name, {"/": [999999]})
        assert "workspace 999999 " in (missing.value.detail or "")
        with pytest.raises(BadRequest):
            a.set_domain_workspaces(team.id, d.name, {"/": [ws.id, ws.id]})
        with pytest.raises(BadRequest) as no_slash:
            a.set_domain_workspaces(team.id, d.name, {"api": [ws.id]})
        assert "'api'" in (no_slash.value.detail or "")
        assert a.get_domain(team.id, d.name).workspaces == {}  # nothing half-applied

        a.update_domain(team.id, d.name, m.DomainUpdate(useRegex=True))
        with pytest.raises(BadRequest) as bad_regex:
            a.set_domain_workspaces(team.id, d.name, {"/(api": [ws.id]})
        assert "regular expression" in (bad_regex.value.detail or "")
        d = a.set_domain_workspaces(team.id, d.name, {"^/v[0-9]+/": [ws.id]})
        with pytest.raises(BadRequest):  # the regex path is not a prefix path
            a.update_domain(team.id, d.name, m.DomainUpdate(useRegex=False))

    def raw(method: str, path: str, body: object) -> httpx.Response:
        return httpx.request(
            method, f"{platform.base_url}/api/domains/team/{team.id}/domain/{d.name}{path}",
            headers={"Authorization": f"Bearer {alice_token}"}, json=body, timeout=10,
        )  # fmt: skip

    for body, field in (
        ({"maxBodySizeMb": -1}, "maxBodySizeMb"),
        ({"maxBodySize": 5}, "maxBodySize"),
        ({"useRegex": "sometimes"}, "useRegex"),
    ):
        r = raw("PATCH", "", body)
        assert r.status_code == 400 and field in r.json()["detail"], r.text
        assert r.json()["status"] == 400 and r.json()["traceId"]
    for routes in ([1, 2], {"/": "7"}, {"/": [1.5]}):
        r = raw("PUT", "/workspace-connections", routes)
        assert r.status_code == 400, r.text
