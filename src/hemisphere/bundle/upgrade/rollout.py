"""Applying a plan, one site at a time, with a health gate after each; and rolling back.

Collect-then-apply: the plan is computed first (pure), then each step deploys, waits for the
site's health gate, and records the result in the state file before the next site is touched.
A failed deploy or gate stops the rollout, records the site as `pending` at the version it was
moving to, and says what to do. `rollback` undoes the most recent upgrade run that is not yet
undone: its sites return to the versions they had, DCs first, each from its re-verified bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hemisphere.bundle.upgrade.deploy import ReleaseRef, SiteDeployer
from hemisphere.bundle.upgrade.errors import (
    DeployError,
    HealthGateError,
    NothingToRollBack,
    RolloutHalted,
    UpgradeStateError,
)
from hemisphere.bundle.upgrade.health import HealthGate
from hemisphere.bundle.upgrade.planner import Step, UpgradePlan, plan_rollback
from hemisphere.bundle.upgrade.sites import SiteTarget
from hemisphere.bundle.upgrade.state import (
    HistoryEntry,
    ReleaseRecord,
    SiteState,
    StateStore,
    UpgradeState,
    now,
)

Event = Callable[[str], None]
ReleaseLoader = Callable[[ReleaseRecord], ReleaseRef]


@dataclass
class RolloutEngine:
    store: StateStore
    deployer: SiteDeployer
    gate: HealthGate
    on_event: Event | None = None

    def _say(self, text: str) -> None:
        if self.on_event is not None:
            self.on_event(text)

    def _run_step(
        self,
        state: UpgradeState,
        run: str,
        action: Literal["upgrade", "rollback"],
        site: SiteTarget,
        step: Step,
        release: ReleaseRef,
        done: list[str],
    ) -> None:
        self._say(f"{action} {site.name}: {step.from_version or 'nothing'} -> {step.to_version}")
        state.sites[site.name] = SiteState(version=step.from_version, pending=step.to_version)
        self.store.save(state)
        try:
            self.deployer.deploy(site, release)
            self._say(f"waiting for {site.name} to be ready at {step.to_version}")
            self.gate.wait_ready(site, step.to_version)
        except (DeployError, HealthGateError) as exc:
            state.history.append(
                HistoryEntry(
                    at=now(),
                    run=run,
                    action=action,
                    site=site.name,
                    from_version=step.from_version,
                    to_version=step.to_version,
                    result="failed",
                    detail=str(exc),
                )
            )
            self.store.save(state)
            moved = ", ".join(done) or "none"
            raise RolloutHalted(
                f"{action} stopped at site {site.name}: {exc}. Sites already moved: {moved}; "
                f"sites after {site.name} were not touched. Fix the cause and re-run, or run "
                "`hemisphere upgrade rollback`"
            ) from exc
        state.sites[site.name] = SiteState(version=step.to_version)
        state.history.append(
            HistoryEntry(
                at=now(),
                run=run,
                action=action,
                site=site.name,
                from_version=step.from_version,
                to_version=step.to_version,
                result="ok",
            )
        )
        self.store.save(state)
        done.append(site.name)

    def apply(self, sites: list[SiteTarget], plan: UpgradePlan, release: ReleaseRef) -> str:
        """Run `plan`; return the run id recorded in the history."""
        state = self.store.load()
        state.releases[release.version] = ReleaseRecord(
            version=release.version,
            bundle=str(release.bundle.resolve()),
            manifest_sha256=release.manifest_sha256,
            signer=release.signer,
        )
        run = uuid.uuid4().hex[:12]
        by_name = {s.name: s for s in sites}
        done: list[str] = []
        for step in plan.steps:
            self._run_step(state, run, "upgrade", by_name[step.site], step, release, done)
        self.store.save(state)
        return run

    def rollback(self, sites: list[SiteTarget], load_release: ReleaseLoader) -> str:
        """Undo the latest upgrade run that is not undone yet; return its run id."""
        state = self.store.load()
        runs = [
            e.run
            for e in state.history
            if e.action == "upgrade" and e.run not in state.rolled_back_runs
        ]
        if not runs:
            raise NothingToRollBack(f"{self.store.path}: no upgrade in the history to roll back")
        run = runs[-1]
        targets: dict[str, str] = {}
        for entry in state.history:
            if entry.run == run and entry.site not in targets:
                if entry.from_version is None:
                    self._say(f"{entry.site} had nothing installed before; leaving it as it is")
                    continue
                targets[entry.site] = entry.from_version
        current = {s.name: state.version_of(s.name) for s in sites}
        for name, site_state in state.sites.items():
            if site_state.pending and name in targets:
                current[name] = site_state.pending  # a half-done step is rolled back too
        steps = plan_rollback(sites, current, targets)
        releases: dict[str, ReleaseRef] = {}
        for version in {s.to_version for s in steps}:
            record = state.releases.get(version)
            if record is None:
                raise UpgradeStateError(
                    f"{self.store.path} does not know the bundle of {version}; apply it once "
                    "with `hemisphere upgrade apply --bundle` to register it"
                )
            releases[version] = load_release(record)
        by_name = {s.name: s for s in sites}
        rollback_run = uuid.uuid4().hex[:12]
        done: list[str] = []
        for step in steps:
            self._run_step(
                state,
                rollback_run,
                "rollback",
                by_name[step.site],
                step,
                releases[step.to_version],
                done,
            )
        state.rolled_back_runs.append(run)
        self.store.save(state)
        return run
