"""The lab's plan of a spec: addresses, namespaces, databases and WAN links, computed purely."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from hemisphere.lab import LabSpecError, plan_lab
from hemisphere.topology import load_spec

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_2a_one_shared_database_in_the_central_site_reached_over_the_wan() -> None:
    plan = plan_lab(load_spec(EXAMPLES / "federated-shared-db.yaml"), "demo", 3)
    assert [s.name for s in plan.sites] == ["hq", "fra", "par", "vie"]
    assert [(d.key, d.site) for d in plan.databases] == [("shared", "hq")]
    names = {link.name for link in plan.links}
    for dc in ("fra", "par", "vie"):
        assert {f"{dc}-to-hq-console", f"hq-to-{dc}-dc", f"{dc}-to-hq-db-shared"} <= names
    assert len(names) == 9


def test_2b_a_database_per_site_and_no_database_link() -> None:
    plan = plan_lab(load_spec(EXAMPLES / "federated-individual-db.yaml"), "demo", 0)
    assert [(d.key, d.site) for d in plan.databases] == [
        ("console", "hq"), ("dc-1", "fra"), ("dc-2", "zrh"), ("dc-3", "osl"),
    ]  # fmt: skip
    assert not [link for link in plan.links if link.service.startswith("db-")]


def test_every_site_has_its_own_slash30_and_short_interface_names() -> None:
    plan = plan_lab(load_spec(EXAMPLES / "federated-individual-db.yaml"), "a-long-lab-name", 255)
    nets = [ipaddress.ip_interface(f"{s.address}/30").network for s in plan.sites]
    assert len(set(nets)) == len(nets)
    for site, net in zip(plan.sites, nets, strict=True):
        assert ipaddress.ip_address(site.hub_address) in net
        assert len(site.veth) <= 15
    # Every link listens on the client's hub end and goes to the server's own address.
    for link in plan.links:
        assert link.listen_host == plan.site(link.client).hub_address
        assert link.upstream_host == plan.site(link.server).address


def test_a_spec_without_central_site_is_refused_naming_the_examples() -> None:
    with pytest.raises(LabSpecError, match=r"central.*federated-shared-db\.yaml"):
        plan_lab(load_spec(EXAMPLES / "air-gapped.yaml"), "demo", 0)
