"""The plan summary: placements, databases, WAN links and what breaks when each is cut."""

from __future__ import annotations

import pytest

from hemisphere.topology import SCENARIO_NAMES, load_spec
from hemisphere.topology.plan import summarize
from tests.topology.conftest import EXAMPLES


def _summary(name: str):  # type: ignore[no-untyped-def]
    return summarize(load_spec(EXAMPLES / f"{name}.yaml"))


def test_air_gapped_plan_has_no_wan_link() -> None:
    plan = _summary("air-gapped")
    assert plan.wan_links == ()
    assert [s.name for s in plan.sites] == ["muc"]
    console = next(c for c in plan.components if c.component == "management console")
    assert console.site == "muc"
    assert any(c.component == "image mirror of muc" for c in plan.components)
    offline = next(t for t in plan.trade_offs if t.point.id == "offline")
    assert "registry.muc.northwind.internal:5000/hemisphere" in offline.concrete


def test_shared_db_plan_names_the_cut_consequences() -> None:
    plan = _summary("central-cp-shared-db")
    by_source = {(link.source, link.target.split(" (")[0]): link for link in plan.wan_links}
    db = by_source[("ber DC services", "database shared")]
    assert "503 'metadata store unreachable'" in db.if_cut
    agent = by_source[("ber agent", "console on cloud")]
    assert "Unknown" in agent.if_cut
    cp = by_source[("ber workers", "hosted control plane on cloud")]
    assert "cannot start or stop" in cp.if_cut and "24h" in cp.if_cut
    dub_cp = by_source[("dub workers", "hosted control plane on cloud")]
    assert "12h" in dub_cp.if_cut
    assert {r.operator for r in plan.databases} == {"vendor"}
    concrete = {t.point.id: t.concrete for t in plan.trade_offs}
    assert "db.northwind.hemisphere-cloud.example" in concrete["shared-db-concerns"]
    assert "ber, mil and dub" in concrete["vendor-dependency"]


def test_individual_db_plan_keeps_dcs_working_when_cut_off() -> None:
    plan = _summary("federated-individual-db")
    agents = [link for link in plan.wan_links if link.source.endswith("agent")]
    assert len(agents) == 3
    assert all("keeps working" in a.if_cut and "change feed" in a.if_cut for a in agents)
    zrh_db = next(link for link in plan.links if link.source == "zrh DC services")
    assert not zrh_db.crosses_wan  # 10.2.10.5 is inside zrh's own network
    rows = {r.key: r for r in plan.databases}
    assert rows["dc-2"].location.startswith("external 10.2.10.5")
    assert rows["console"].used_by == ("hq",)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_plan_restates_all_pros_and_cons(name: str) -> None:
    plan = _summary(name)
    info = plan.scenario
    assert [t.point for t in plan.trade_offs] == [*info.pros, *info.cons]
    assert all(t.concrete and t.concrete != t.point.text for t in plan.trade_offs)
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    assert len(plan.sites) == len(spec.sites)
    for dc in spec.datacenters:
        if spec.central is not None:
            assert any(dc.name in link.source for link in plan.wan_links)
