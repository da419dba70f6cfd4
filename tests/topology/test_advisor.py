"""The advisor, table-tested against every row of the seed's pros and cons table."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest

from hemisphere.topology import SCENARIOS
from hemisphere.topology.advisor import (
    FACTORS,
    SINGLE_CLUSTER,
    Needs,
    advise,
    choices,
    rank,
)
from hemisphere.topology.scenarios import ScenarioName

# One row per scenario of the seed's table: a customer for whom that row's pros win.
# (metadata, workload, ops capacity, datacenters, connectivity, budget, balance)
TABLE: list[tuple[ScenarioName, Needs, ScenarioName, set[str]]] = [
    (
        "air-gapped",
        Needs("strict", "strict", "high", "single", "none", "medium", "control"),
        "federated-individual-db",
        {"max-security", "full-control", "offline"},
    ),
    (
        "federated-shared-db",
        Needs("standard", "high", "high", "multi-unified", "reliable-wan", "medium", "control"),
        "federated-individual-db",
        {"unified-management", "k8s-control", "ceph-locality", "central-view"},
    ),
    (
        "federated-individual-db",
        Needs("strict", "high", "high", "multi-isolated", "unreliable-wan", "high", "control"),
        "air-gapped",
        {"data-isolation", "k8s-db-control", "ceph-locality", "aggregated-view", "reduced-wan"},
    ),
    (
        "central-cp-shared-db",
        Needs("standard", "standard", "low", "multi-unified", "internet", "low", "ease"),
        "federated-shared-db",
        {"simplified-k8s", "unified-management", "fast-onboarding"},
    ),
    (
        "central-cp-individual-db",
        Needs("high", "standard", "medium", "multi-isolated", "internet", "medium", "balanced"),
        "federated-individual-db",
        {"simplified-k8s", "max-metadata-isolation", "worker-db-control", "aggregated-view"},
    ),
]


@pytest.mark.parametrize(
    ("expected", "needs", "runner_up", "pros"), TABLE, ids=[row[0] for row in TABLE]
)
def test_each_row_of_the_seed_table_is_recommended_for_its_customer(
    expected: ScenarioName, needs: Needs, runner_up: ScenarioName, pros: set[str]
) -> None:
    advice = advise(needs)
    assert advice.recommended.scenario == expected
    assert advice.runner_up.scenario == runner_up
    cited = {r.point.id for r in advice.recommended.reasons if r.point and r.pro}
    assert cited == pros
    for reason in advice.recommended.reasons:
        assert reason.point is None or reason.point in (
            *SCENARIOS[expected].pros,
            *SCENARIOS[expected].cons,
        )
    assert advice == advise(needs)  # deterministic


def test_every_pro_and_con_of_the_table_has_a_factor() -> None:
    covered = {(f.scenario, f.point) for f in FACTORS}
    for name, info in SCENARIOS.items():
        for point in (*info.pros, *info.cons):
            assert (name, point.id) in covered, (name, point.id)
    for factor in FACTORS:
        info = SCENARIOS[factor.scenario]
        if factor.point != SINGLE_CLUSTER:
            point = info.point(factor.point)  # exists
            assert factor.weight is None or (factor.weight > 0) == info.is_pro(point.id)
        assert set(factor.values) <= set(choices(factor.field))


def test_every_pro_and_con_decides_some_customer() -> None:
    """Across every combination of answers, each point is cited for the winner, the runner-up
    or a scenario the answers rule out (the advice shows all three)."""
    cited: set[tuple[str, str]] = set()
    winners: set[str] = set()
    for values in itertools.product(*(choices(f.name) for f in fields(Needs))):
        ranking = rank(Needs(*values))  # type: ignore[arg-type]
        winners.add(ranking[0].scenario)
        for r in [*ranking[:2], *(r for r in ranking if not r.feasible)]:
            cited |= {(r.scenario, x.point.id) for x in r.reasons if x.point}
    assert winners == set(SCENARIOS)
    missing = [
        (n, p.id)
        for n, i in SCENARIOS.items()
        for p in (*i.pros, *i.cons)
        if (n, p.id) not in cited
    ]
    assert missing == []


@pytest.mark.parametrize("connectivity", ["none", "unreliable-wan", "reliable-wan"])
def test_central_cp_scenarios_need_internet(connectivity: str) -> None:
    ranking = rank(Needs(connectivity=connectivity))  # type: ignore[arg-type]
    ruled_out = {r.scenario for r in ranking if not r.feasible}
    assert {"central-cp-shared-db", "central-cp-individual-db"} <= ruled_out
    assert all(not r.feasible for r in ranking[-len(ruled_out) :])
    reason = next(r for r in ranking if r.scenario == "central-cp-shared-db").reasons[0]
    assert reason.point is not None and reason.point.title == "Internet Connectivity"


def test_strict_metadata_rules_out_vendor_hosted_metadata() -> None:
    ranking = rank(Needs(metadata_sovereignty="strict", connectivity="internet"))
    shared = next(r for r in ranking if r.scenario == "central-cp-shared-db")
    assert not shared.feasible
    assert any(r.point and r.point.id == "metadata-transfer" for r in shared.reasons)


def test_what_would_change_the_answer() -> None:
    advice = advise(TABLE[3][1])  # central-cp-shared-db's customer
    changes = {(c.field, c.value): c.scenario for c in advice.changes}
    assert changes[("connectivity", "reliable-wan")] == "federated-shared-db"
    assert changes[("connectivity", "none")] == "air-gapped"
    assert ("budget", "high") not in changes  # does not change the answer
    for (field, value), scenario in changes.items():
        from dataclasses import replace

        assert advise(replace(advice.needs, **{field: value})).recommended.scenario == scenario
