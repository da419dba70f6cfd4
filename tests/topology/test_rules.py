"""Each of the seed's rules, violated on purpose: rejected, with the rule's id and a fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hemisphere.topology.rules import RULES
from tests.topology.conftest import parse_data, problems_of

Example = Callable[[str], dict[str, Any]]


def _only(problems: list[str], rule: str) -> list[str]:
    hits = [p for p in problems if p.endswith(f"[{rule}]")]
    assert hits, problems
    return hits


def test_every_rule_is_listed_once() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)) == 10


# --- scenario-sites --------------------------------------------------------------------------


def test_air_gapped_has_no_central_site(example: Example) -> None:
    data = example("air-gapped")
    data["central"] = example("federated-individual-db")["central"]
    (hit,) = _only(problems_of(data), "scenario-sites")
    assert hit.startswith("central:") and "one cluster" in hit


def test_air_gapped_is_one_cluster(example: Example) -> None:
    data = example("air-gapped")
    second = dict(data["datacenters"][0], id=2, name="ber", domain="dev.ber.northwind.internal")
    second["network"] = {
        "node_cidr": "172.21.0.0/20",
        "pod_cidr": "172.21.64.0/18",
        "service_cidr": "172.21.128.0/20",
    }
    second["storage"] = {"ceph": {}}
    data["datacenters"].append(second)
    (hit,) = _only(problems_of(data), "scenario-sites")
    assert hit.startswith("datacenters[1]:") and "single Kubernetes cluster" in hit


@pytest.mark.parametrize(
    "name",
    [
        "federated-shared-db",
        "federated-individual-db",
        "central-cp-shared-db",
        "central-cp-individual-db",
    ],
)
def test_multi_site_scenarios_need_a_central_site(example: Example, name: str) -> None:
    data = example(name)
    del data["central"]
    hits = _only(problems_of(data), "scenario-sites")
    assert any(h.startswith("central:") and "management console" in h for h in hits)


# --- air-gapped-closed -----------------------------------------------------------------------


def test_air_gapped_needs_a_registry_inside(example: Example) -> None:
    data = example("air-gapped")
    del data["datacenters"][0]["registry"]
    (hit,) = _only(problems_of(data), "air-gapped-closed")
    assert hit.startswith("datacenters[0].registry:")


@pytest.mark.parametrize(
    "registry",
    [
        "docker.io",
        "ghcr.io/acme",
        "quay.io",
        "8.8.8.8:5000",
        "123.dkr.ecr.eu-central-1.amazonaws.com",
    ],
)
def test_air_gapped_refuses_internet_registries(example: Example, registry: str) -> None:
    data = example("air-gapped")
    data["datacenters"][0]["registry"] = registry
    (hit,) = _only(problems_of(data), "air-gapped-closed")
    assert "on the internet" in hit


def test_air_gapped_refuses_internet_dependencies(example: Example) -> None:
    data = example("air-gapped")
    dc = data["datacenters"][0]
    dc["ingress"]["tls"] = {"mode": "acme", "cluster_issuer": "letsencrypt"}
    dc["database"] = {
        "type": "external",
        "url": "postgresql://cs@8.8.4.4/cs",
        "password_secret": {"name": "db"},
    }
    hits = _only(problems_of(data), "air-gapped-closed")
    assert len(hits) == 2
    assert {h.split(":")[0] for h in hits} == {
        "datacenters[0].ingress.tls.mode",
        "datacenters[0].database.url",
    }


def test_private_registry_mirror_is_fine(example: Example) -> None:
    data = example("air-gapped")
    data["datacenters"][0]["registry"] = "10.0.0.5:5000"
    assert parse_data(data).datacenters[0].registry == "10.0.0.5:5000"


# --- shared-database -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["federated-shared-db", "central-cp-shared-db"])
def test_shared_db_scenarios_have_exactly_one_database(example: Example, name: str) -> None:
    data = example(name)
    data["datacenters"][1]["database"] = {"type": "cloudnativepg"}
    (hit,) = _only(problems_of(data), "shared-database")
    assert hit.startswith("datacenters[1].database:") and "exactly one shared" in hit


def test_shared_in_cluster_db_must_be_reachable_from_every_dc(example: Example) -> None:
    data = example("central-cp-shared-db")
    del data["central"]["database"]["expose"]
    (hit,) = _only(problems_of(data), "shared-database")
    assert hit.startswith("central.database.expose:") and "ber, mil, dub" in hit


@pytest.mark.parametrize(
    "host", ["localhost", "pg.db.svc", "pg.db.svc.cluster.local", "127.0.0.1", "postgres"]
)
def test_shared_external_db_must_be_reachable_from_every_dc(example: Example, host: str) -> None:
    data = example("federated-shared-db")
    data["central"]["database"]["url"] = f"postgresql://cs@{host}:5432/cs"
    (hit,) = _only(problems_of(data), "shared-database")
    assert hit.startswith("central.database.url:")


def test_air_gapped_declares_its_one_database(example: Example) -> None:
    data = example("air-gapped")
    del data["datacenters"][0]["database"]
    (hit,) = _only(problems_of(data), "shared-database")
    assert hit.startswith("datacenters[0].database:")


# --- individual-databases --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["federated-individual-db", "central-cp-individual-db"])
def test_individual_db_scenarios_need_one_per_dc(example: Example, name: str) -> None:
    data = example(name)
    del data["datacenters"][2]["database"]
    (hit,) = _only(problems_of(data), "individual-databases")
    assert hit.startswith("datacenters[2].database:")


def test_two_dcs_may_not_share_one_external_database(example: Example) -> None:
    data = example("federated-individual-db")
    data["datacenters"][0]["database"] = dict(data["datacenters"][1]["database"])
    hits = _only(problems_of(data), "individual-databases")
    assert any("same database" in h and h.startswith("datacenters[1].database.url") for h in hits)


def test_dc_database_inside_another_dc_is_refused(example: Example) -> None:
    data = example("federated-individual-db")
    data["datacenters"][1]["database"]["url"] = "postgresql://cs@10.3.0.9:5432/zrh"
    (hit,) = _only(problems_of(data), "individual-databases")
    assert "'osl'" in hit


def test_dc_database_may_not_be_the_console_database(example: Example) -> None:
    data = example("federated-individual-db")
    data["central"]["database"] = dict(data["datacenters"][1]["database"])
    (hit,) = _only(problems_of(data), "individual-databases")
    assert "console's database" in hit


# --- console-reaches-dcs ---------------------------------------------------------------------


def test_console_must_reach_every_dc(example: Example) -> None:
    data = example("central-cp-individual-db")
    data["datacenters"][1]["domain"] = "dev.lis.svc.cluster.local"
    (hit,) = _only(problems_of(data), "console-reaches-dcs")
    assert hit.startswith("datacenters[1].domain:")


# --- hosted-control-planes -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["central-cp-shared-db", "central-cp-individual-db"])
def test_central_cp_needs_control_planes_and_worker_pools(example: Example, name: str) -> None:
    data = example(name)
    del data["central"]["control_planes"]
    del data["datacenters"][0]["workers"]
    hits = _only(problems_of(data), "hosted-control-planes")
    assert sorted(h.split(":")[0] for h in hits) == [
        "central.control_planes",
        "datacenters[0].workers",
    ]


def test_federated_dcs_own_their_control_planes(example: Example) -> None:
    data = example("federated-shared-db")
    data["central"]["control_planes"] = {"provider": "kamaji"}
    data["datacenters"][0]["workers"] = {"pool": "w", "nodes": 3}
    hits = _only(problems_of(data), "hosted-control-planes")
    assert len(hits) == 2


# --- ceph-per-dc -----------------------------------------------------------------------------


def test_ceph_node_in_two_dcs_is_refused(example: Example) -> None:
    data = example("federated-individual-db")
    nodes = [{"name": "stor-1"}, {"name": "stor-2"}, {"name": "stor-3"}]
    data["datacenters"][0]["storage"]["ceph"]["nodes"] = nodes
    data["datacenters"][2]["storage"]["ceph"]["nodes"] = [
        {"name": "stor-9"},
        {"name": "stor-2"},
        {"name": "stor-8"},
    ]
    (hit,) = _only(problems_of(data), "ceph-per-dc")
    assert hit.startswith("datacenters[2].storage.ceph.nodes[1].name:") and "never shared" in hit


def test_ceph_network_stays_inside_the_dc(example: Example) -> None:
    data = example("air-gapped")
    data["datacenters"][0]["storage"]["ceph"]["public_network"] = "192.168.0.0/24"
    (hit,) = _only(problems_of(data), "ceph-per-dc")
    assert "stay inside the data center" in hit


def test_ceph_replicas_and_mons_fit_the_nodes(example: Example) -> None:
    data = example("air-gapped")
    data["datacenters"][0]["storage"]["ceph"]["nodes"] = [{"name": "a"}, {"name": "b"}]
    hits = _only(problems_of(data), "ceph-per-dc")
    assert sorted(h.split(":")[0] for h in hits) == [
        "datacenters[0].storage.ceph.mon_count",
        "datacenters[0].storage.ceph.replicas",
    ]


# --- unique-names / unique-domains / disjoint-cidrs ------------------------------------------


def test_dc_ids_and_site_names_are_unique(example: Example) -> None:
    data = example("federated-individual-db")
    data["datacenters"][2]["id"] = 1
    data["datacenters"][1]["name"] = "hq"
    hits = _only(problems_of(data), "unique-names")
    assert sorted(h.split(":")[0] for h in hits) == ["datacenters[1].name", "datacenters[2].id"]


def test_domains_are_unique_and_not_under_a_dc_wildcard(example: Example) -> None:
    data = example("federated-shared-db")
    data["datacenters"][1]["domain"] = data["datacenters"][0]["domain"]
    data["central"]["domain"] = "console.dev.vie.northwind.example"
    hits = _only(problems_of(data), "unique-domains")
    assert sorted(h.split(":")[0] for h in hits) == ["central.domain", "datacenters[1].domain"]


def test_cidrs_do_not_overlap_across_or_within_sites(example: Example) -> None:
    data = example("federated-shared-db")
    data["datacenters"][2]["network"]["pod_cidr"] = "10.1.0.0/16"
    data["central"]["network"]["service_cidr"] = "10.0.0.0/24"
    hits = _only(problems_of(data), "disjoint-cidrs")
    assert sorted(h.split(":")[0] for h in hits) == [
        "central.network.service_cidr",
        "datacenters[2].network.pod_cidr",
    ]
