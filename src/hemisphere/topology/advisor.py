"""The scenario advisor: the seed's key considerations in, a recommended scenario out.

Pure and deterministic. Each consideration a customer answers switches on *factors*; a factor
ties an answer to one pro or con of one scenario in the seed's table (or to a scenario's key
characteristic) with a weight, or rules the scenario out. A scenario's score is the sum of its
factors; the explanation is exactly the factors that counted, so every recommendation cites the
seed's own pros and cons. "What would change the answer" re-runs the advisor with each answer
changed to each other value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Literal, get_args

from hemisphere.topology.scenarios import SCENARIO_NAMES, SCENARIOS, Point, ScenarioName

__all__ = [
    "FACTORS",
    "QUESTIONS",
    "Advice",
    "Change",
    "Factor",
    "Needs",
    "Ranking",
    "Reason",
    "advise",
    "choices",
    "needs_from",
    "rank",
]

Level = Literal["standard", "high", "strict"]
Capacity = Literal["low", "medium", "high"]
Datacenters = Literal["single", "multi-unified", "multi-isolated"]
Connectivity = Literal["none", "unreliable-wan", "reliable-wan", "internet"]
Budget = Literal["low", "medium", "high"]
Balance = Literal["ease", "balanced", "control"]


@dataclass(frozen=True)
class Needs:
    """The customer's answers to the seed's key considerations."""

    metadata_sovereignty: Level = "standard"
    """How strict isolation and control must be for metadata (users, teams, workspace data)."""
    workload_sovereignty: Level = "standard"
    """How strict it must be for workload data (files, running code)."""
    ops_capacity: Capacity = "medium"
    """How much Kubernetes, database and console operation the team can take on."""
    datacenters: Datacenters = "single"
    """One DC, or several with a unified or an isolated user base and metadata."""
    connectivity: Connectivity = "reliable-wan"
    """What links exist: none, an unreliable WAN, a reliable WAN, or robust internet access."""
    budget: Budget = "medium"
    balance: Balance = "balanced"
    """Ease of use (let the vendor run it) versus control (run it yourself)."""


QUESTIONS: dict[str, str] = {
    "metadata_sovereignty": "How strict are sovereignty needs for METADATA (users, teams, "
    "workspace records)?",
    "workload_sovereignty": "How strict are they for WORKLOAD data (files, running code)?",
    "ops_capacity": "How much platform operation (Kubernetes, databases, console) can your "
    "team handle?",
    "datacenters": "One data center, or several with a unified or isolated user base?",
    "connectivity": "What connectivity do the sites have?",
    "budget": "What is the budget for infrastructure and operations?",
    "balance": "Ease of use or control?",
}


_CHOICES: dict[str, tuple[str, ...]] = {
    "metadata_sovereignty": get_args(Level),
    "workload_sovereignty": get_args(Level),
    "ops_capacity": get_args(Capacity),
    "datacenters": get_args(Datacenters),
    "connectivity": get_args(Connectivity),
    "budget": get_args(Budget),
    "balance": get_args(Balance),
}


def choices(field: str) -> tuple[str, ...]:
    """The allowed answers of a `Needs` field, in order."""
    return _CHOICES[field]


def needs_from(answers: Mapping[str, str]) -> Needs:
    """`Needs` from answers given as text, each checked against its allowed choices."""
    for field, value in answers.items():
        if field not in _CHOICES:
            raise ValueError(f"unknown consideration {field!r}")
        if value not in _CHOICES[field]:
            raise ValueError(f"{field} must be one of {', '.join(_CHOICES[field])}")
    return Needs(**answers)  # type: ignore[arg-type]  # each value checked just above


@dataclass(frozen=True)
class Factor:
    """When `field` is one of `values`, `scenario` gains `weight` (None: ruled out)."""

    scenario: ScenarioName
    point: str
    field: str
    values: tuple[str, ...]
    weight: int | None
    why: str


def _f(
    scenario: ScenarioName, point: str, field: str, values: str, weight: int | None, why: str
) -> Factor:
    return Factor(scenario, point, field, tuple(values.split()), weight, why)


_AG: ScenarioName = "air-gapped"
_FS: ScenarioName = "federated-shared-db"
_FI: ScenarioName = "federated-individual-db"
_CS: ScenarioName = "central-cp-shared-db"
_CI: ScenarioName = "central-cp-individual-db"
SINGLE_CLUSTER = "single-cluster"
"""Not a pro or con but a key characteristic: scenario 1 is one Kubernetes cluster."""

FACTORS: tuple[Factor, ...] = (
    # 1. Air-gapped
    _f(_AG, "max-security", "metadata_sovereignty", "strict", 3, "metadata must stay isolated"),
    _f(_AG, "max-security", "metadata_sovereignty", "high", 1, "metadata sovereignty matters"),
    _f(
        _AG, "max-security", "workload_sovereignty", "strict", 3, "workload data must stay isolated"
    ),
    _f(_AG, "max-security", "workload_sovereignty", "high", 1, "workload sovereignty matters"),
    _f(_AG, "full-control", "balance", "control", 2, "you want control"),
    _f(_AG, "offline", "connectivity", "none", 4, "there is no connectivity"),
    _f(_AG, "offline", "connectivity", "unreliable-wan", 1, "the WAN is unreliable"),
    _f(_AG, "ops-overhead", "ops_capacity", "low", -4, "your team's capacity is low"),
    _f(_AG, "ops-overhead", "ops_capacity", "medium", -1, "your team's capacity is medium"),
    _f(_AG, "ops-overhead", "budget", "low", -1, "the budget is low"),
    _f(_AG, "manual-updates", "balance", "ease", -2, "you want ease of use"),
    _f(
        _AG,
        "manual-updates",
        "connectivity",
        "internet",
        -1,
        "internet access would make updates automatic elsewhere",
    ),
    _f(
        _AG,
        SINGLE_CLUSTER,
        "datacenters",
        "multi-unified",
        -4,
        "one cluster cannot unify several DCs",
    ),
    _f(
        _AG,
        SINGLE_CLUSTER,
        "datacenters",
        "multi-isolated",
        -1,
        "several DCs mean one separate installation each",
    ),
    # 2A. Federated, shared DB
    _f(
        _FS,
        "unified-management",
        "datacenters",
        "multi-unified",
        3,
        "you want one user base across DCs",
    ),
    _f(
        _FS, "central-view", "datacenters", "multi-unified multi-isolated", 1, "you run several DCs"
    ),
    _f(_FS, "k8s-control", "balance", "control", 2, "you want control"),
    _f(_FS, "k8s-control", "balance", "balanced", 1, "you want some control"),
    _f(
        _FS,
        "ceph-locality",
        "workload_sovereignty",
        "high strict",
        1,
        "workload data must stay in its DC",
    ),
    _f(_FS, "shared-db-complexity", "ops_capacity", "low", -2, "your team's capacity is low"),
    _f(_FS, "shared-db-complexity", "budget", "low", -1, "HA/DR for the shared DB costs"),
    _f(
        _FS,
        "data-aggregation",
        "metadata_sovereignty",
        "strict",
        -4,
        "metadata must not be aggregated",
    ),
    _f(_FS, "data-aggregation", "metadata_sovereignty", "high", -1, "metadata sovereignty matters"),
    _f(_FS, "wan-dependency", "connectivity", "unreliable-wan", -3, "the WAN is unreliable"),
    _f(_FS, "wan-dependency", "connectivity", "none", None, "there is no connectivity"),
    # 2B. Federated, individual DBs
    _f(
        _FI,
        "data-isolation",
        "datacenters",
        "multi-isolated",
        3,
        "you want isolated user bases per DC",
    ),
    _f(_FI, "data-isolation", "metadata_sovereignty", "high", 1, "metadata sovereignty matters"),
    _f(_FI, "data-isolation", "metadata_sovereignty", "strict", 2, "metadata must stay isolated"),
    _f(_FI, "k8s-db-control", "balance", "control", 2, "you want control"),
    _f(_FI, "k8s-db-control", "balance", "balanced", 1, "you want some control"),
    _f(
        _FI,
        "ceph-locality",
        "workload_sovereignty",
        "high strict",
        1,
        "workload data must stay in its DC",
    ),
    _f(_FI, "aggregated-view", "datacenters", "multi-isolated", 1, "an overview still helps"),
    _f(_FI, "reduced-wan", "connectivity", "unreliable-wan", 2, "the WAN is unreliable"),
    _f(_FI, "more-databases", "ops_capacity", "low", -3, "your team's capacity is low"),
    _f(_FI, "more-databases", "ops_capacity", "medium", -1, "your team's capacity is medium"),
    _f(_FI, "more-databases", "budget", "low", -2, "the budget is low"),
    _f(
        _FI,
        "more-databases",
        "datacenters",
        "single",
        -2,
        "one DC gains nothing from per-DC databases",
    ),
    _f(_FI, "siloed-users", "datacenters", "multi-unified", -2, "you want one user base"),
    _f(_FI, "wan-console", "connectivity", "none", -5, "there is no connectivity"),
    # 3A. Central control plane, shared DB
    _f(_CS, "simplified-k8s", "ops_capacity", "low", 3, "your team's capacity is low"),
    _f(_CS, "simplified-k8s", "ops_capacity", "medium", 1, "your team's capacity is medium"),
    _f(_CS, "simplified-k8s", "balance", "ease", 2, "you want ease of use"),
    _f(
        _CS,
        "unified-management",
        "datacenters",
        "multi-unified",
        3,
        "you want one user base across DCs",
    ),
    _f(
        _CS,
        "worker-control",
        "workload_sovereignty",
        "high",
        1,
        "workload data stays on your workers",
    ),
    _f(_CS, "fast-onboarding", "budget", "low", 2, "the budget is low"),
    _f(_CS, "fast-onboarding", "ops_capacity", "low", 1, "your team's capacity is low"),
    _f(_CS, "vendor-dependency", "balance", "control", -3, "you want control"),
    _f(_CS, "vendor-dependency", "balance", "balanced", -1, "you want some control"),
    _f(
        _CS,
        "vendor-dependency",
        "workload_sovereignty",
        "strict",
        -4,
        "the vendor would control the workloads' control plane",
    ),
    _f(
        _CS,
        "shared-db-concerns",
        "datacenters",
        "multi-isolated",
        -2,
        "you want isolated user bases",
    ),
    _f(
        _CS,
        "internet",
        "connectivity",
        "none unreliable-wan reliable-wan",
        None,
        "there is no robust internet connection",
    ),
    _f(
        _CS,
        "metadata-transfer",
        "metadata_sovereignty",
        "strict",
        None,
        "metadata may not leave your infrastructure",
    ),
    _f(
        _CS, "metadata-transfer", "metadata_sovereignty", "high", -3, "metadata sovereignty matters"
    ),
    # 3B. Central control plane, individual DBs
    _f(_CI, "simplified-k8s", "ops_capacity", "low", 2, "your team's capacity is low"),
    _f(_CI, "simplified-k8s", "ops_capacity", "medium", 1, "your team's capacity is medium"),
    _f(_CI, "simplified-k8s", "balance", "ease", 2, "you want ease of use"),
    _f(
        _CI,
        "max-metadata-isolation",
        "metadata_sovereignty",
        "high",
        2,
        "metadata sovereignty matters",
    ),
    _f(
        _CI,
        "max-metadata-isolation",
        "metadata_sovereignty",
        "strict",
        1,
        "metadata must stay isolated",
    ),
    _f(
        _CI,
        "max-metadata-isolation",
        "datacenters",
        "multi-isolated",
        1,
        "you want isolated user bases",
    ),
    _f(_CI, "worker-db-control", "balance", "balanced", 1, "you want some control"),
    _f(_CI, "aggregated-view", "datacenters", "multi-isolated", 2, "an overview still helps"),
    _f(_CI, "vendor-cp-dependency", "balance", "control", -3, "you want control"),
    _f(_CI, "vendor-cp-dependency", "balance", "balanced", -1, "you want some control"),
    _f(
        _CI,
        "vendor-cp-dependency",
        "workload_sovereignty",
        "strict",
        -4,
        "the vendor would control the workloads' control plane",
    ),
    _f(_CI, "db-responsibility", "ops_capacity", "low", -2, "your team's capacity is low"),
    _f(_CI, "db-responsibility", "budget", "low", -1, "the budget is low"),
    _f(
        _CI,
        "internet",
        "connectivity",
        "none unreliable-wan reliable-wan",
        None,
        "there is no robust internet connection",
    ),
    _f(
        _CI,
        "console-data-transfer",
        "metadata_sovereignty",
        "strict",
        -3,
        "metadata must stay isolated",
    ),
)


@dataclass(frozen=True)
class Reason:
    """One factor that counted: the seed's point it stands for, and why it applied."""

    scenario: ScenarioName
    point: Point | None
    weight: int | None
    why: str

    @property
    def title(self) -> str:
        return self.point.title if self.point else "Single Kubernetes cluster"

    @property
    def pro(self) -> bool:
        return self.weight is not None and self.weight > 0


@dataclass(frozen=True)
class Ranking:
    scenario: ScenarioName
    score: int | None
    reasons: tuple[Reason, ...]

    @property
    def feasible(self) -> bool:
        return self.score is not None


@dataclass(frozen=True)
class Change:
    field: str
    value: str
    scenario: ScenarioName


@dataclass(frozen=True)
class Advice:
    needs: Needs
    ranking: tuple[Ranking, ...]
    changes: tuple[Change, ...]

    @property
    def recommended(self) -> Ranking:
        return self.ranking[0]

    @property
    def runner_up(self) -> Ranking:
        return self.ranking[1]


def _rank(needs: Needs, scenario: ScenarioName) -> Ranking:
    info = SCENARIOS[scenario]
    reasons = []
    score: int | None = 0
    for factor in FACTORS:
        if factor.scenario != scenario or getattr(needs, factor.field) not in factor.values:
            continue
        point = None if factor.point == SINGLE_CLUSTER else info.point(factor.point)
        reasons.append(Reason(scenario, point, factor.weight, factor.why))
        if factor.weight is None:
            score = None
        elif score is not None:
            score += factor.weight
    reasons.sort(key=lambda r: -(abs(r.weight) if r.weight is not None else 100))
    return Ranking(scenario, score, tuple(reasons))


def rank(needs: Needs) -> tuple[Ranking, ...]:
    """The five scenarios for `needs`, best first (ruled-out ones last)."""
    ranks = [_rank(needs, name) for name in SCENARIO_NAMES]
    order = {name: i for i, name in enumerate(SCENARIO_NAMES)}
    ranks.sort(key=lambda r: (r.score is None, -(r.score or 0), order[r.scenario]))
    return tuple(ranks)


def advise(needs: Needs) -> Advice:
    """Rank the five scenarios for `needs`, best first, with what would change the answer."""
    ranking = rank(needs)
    best = ranking[0].scenario
    changes = []
    for field in fields(Needs):
        for value in choices(field.name):
            if value == getattr(needs, field.name):
                continue
            other = rank(needs_from({**asdict(needs), field.name: value}))[0].scenario
            if other != best:
                changes.append(Change(field.name, value, other))
    return Advice(needs, ranking, tuple(changes))
