"""Upgrades across the sites of a spec: plan (pure), apply DC by DC with a health gate, roll back.

Policy (`versions.py`): the console runs release N, every DC N or N-1, no DC ahead. The state
(versions per site, known releases and their bundles, history) is a JSON file (`state.py`).
How a release lands on a site (`deploy.py`) and how readiness is judged (`health.py`) are
small Protocols with real implementations.
"""

from hemisphere.bundle.upgrade.deploy import (
    CommandDeployer,
    RecordOnlyDeployer,
    ReleaseRef,
    SiteDeployer,
)
from hemisphere.bundle.upgrade.errors import (
    DeployError,
    HealthGateError,
    NothingToRollBack,
    RolloutHalted,
    SkewPolicyError,
    UpgradeError,
    UpgradePathError,
    UpgradeStateError,
    VersionError,
)
from hemisphere.bundle.upgrade.health import HealthGate, HttpHealthGate
from hemisphere.bundle.upgrade.planner import Step, UpgradePlan, plan_rollback, plan_upgrade
from hemisphere.bundle.upgrade.rollout import RolloutEngine
from hemisphere.bundle.upgrade.sites import Role, SiteTarget, load_sites, sites_from_spec
from hemisphere.bundle.upgrade.state import (
    HistoryEntry,
    ReleaseRecord,
    StateStore,
    UpgradeState,
    default_state_path,
)
from hemisphere.bundle.upgrade.versions import Version, skew_problem

__all__ = [
    "CommandDeployer",
    "DeployError",
    "HealthGate",
    "HealthGateError",
    "HistoryEntry",
    "HttpHealthGate",
    "NothingToRollBack",
    "RecordOnlyDeployer",
    "ReleaseRecord",
    "ReleaseRef",
    "Role",
    "RolloutEngine",
    "RolloutHalted",
    "SiteDeployer",
    "SiteTarget",
    "SkewPolicyError",
    "StateStore",
    "Step",
    "UpgradeError",
    "UpgradePathError",
    "UpgradePlan",
    "UpgradeState",
    "UpgradeStateError",
    "Version",
    "VersionError",
    "default_state_path",
    "load_sites",
    "plan_rollback",
    "plan_upgrade",
    "sites_from_spec",
    "skew_problem",
]
