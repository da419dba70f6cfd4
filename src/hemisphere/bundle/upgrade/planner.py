"""Planning an upgrade is a pure function: sites + current versions + the bundle -> steps.

The plan moves the console's site first, then each DC, and checks the skew policy in every
state the rollout will pass through (not just the end state), so an upgrade that would leave
a DC two releases behind even for a minute is refused before anything is touched.
"""

from __future__ import annotations

from dataclasses import dataclass

from hemisphere.bundle.upgrade.errors import SkewPolicyError, UpgradePathError
from hemisphere.bundle.upgrade.sites import Role, SiteTarget
from hemisphere.bundle.upgrade.versions import Version, skew_problem


@dataclass(frozen=True)
class Step:
    site: str
    role: Role
    from_version: str | None
    to_version: str


@dataclass(frozen=True)
class UpgradePlan:
    target: str
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...]

    @property
    def is_noop(self) -> bool:
        return not self.steps


def check_skew(sites: list[SiteTarget], versions: dict[str, str | None], when: str) -> None:
    consoles = [s for s in sites if s.runs_console and versions.get(s.name)]
    if not consoles:
        return
    console_version = Version.parse(str(versions[consoles[0].name]))
    for site in sites:
        if not site.runs_dc or site.runs_console or not versions.get(site.name):
            continue
        problem = skew_problem(console_version, Version.parse(str(versions[site.name])))
        if problem:
            hint = ""
            if "behind" in problem:
                hint = (
                    ". Upgrade one release at a time (each with its bundle) so that no DC falls "
                    "more than one release behind"
                )
            raise SkewPolicyError(f"{when}, DC {site.name!r} {problem}{hint}")


def plan_upgrade(
    sites: list[SiteTarget],
    current: dict[str, str | None],
    target: str,
    min_upgrade_from: str | None = None,
) -> UpgradePlan:
    """Steps that take every site to `target`, or the reason the policy forbids it."""
    target_version = Version.parse(target)
    minimum = Version.parse(min_upgrade_from) if min_upgrade_from else None
    steps: list[Step] = []
    unchanged: list[str] = []
    for site in sites:
        now = current.get(site.name)
        if now is None:
            steps.append(Step(site.name, site.role, None, target))
            continue
        version = Version.parse(now)
        if version == target_version:
            unchanged.append(site.name)
            continue
        if version > target_version:
            raise UpgradePathError(
                f"site {site.name!r} runs {version}, newer than this bundle's {target}; to go "
                "back use `hemisphere upgrade rollback`"
            )
        if minimum is not None and version < minimum:
            raise UpgradePathError(
                f"site {site.name!r} runs {version}, but this bundle upgrades only from "
                f"{minimum} or later; upgrade to {minimum} first with its bundle"
            )
        steps.append(Step(site.name, site.role, now, target))
    versions = dict(current)
    for step in steps:
        versions[step.site] = step.to_version
        check_skew(sites, versions, f"after upgrading {step.site} to {target}")
    return UpgradePlan(target=target, steps=tuple(steps), unchanged=tuple(unchanged))


def plan_rollback(
    sites: list[SiteTarget], current: dict[str, str | None], targets: dict[str, str]
) -> tuple[Step, ...]:
    """Steps that return the given sites to their earlier versions: DCs first, console last."""
    order = [s for s in sites if not s.runs_console] + [s for s in sites if s.runs_console]
    steps = [
        Step(s.name, s.role, current.get(s.name), targets[s.name])
        for s in order
        if s.name in targets and current.get(s.name) != targets[s.name]
    ]
    versions = dict(current)
    for step in steps:
        versions[step.site] = step.to_version
        check_skew(sites, versions, f"after rolling {step.site} back to {step.to_version}")
    return tuple(steps)
