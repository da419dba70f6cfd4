"""The apply engine: rendered manifests -> live objects, site by site, phase by phase.

Per site: install the CRDs the manifests need (only kinds the cluster does not serve yet), then
for each phase (infra -> dependencies -> platform) server-side apply every object in a stable
order and wait until the phase's workloads are ready. Every step is idempotent (server-side
apply with one field manager, deterministic names), so a rerun after Ctrl-C or a crash
converges; an object whose apply changes nothing is reported `unchanged`.

Ownership: objects Hemisphere creates carry `app.kubernetes.io/managed-by=hemisphere` and
`hemisphere.dev/site`; an object that existed before is applied without them (adopted) so
`uninstall` never deletes it, and a CRD installed by its operator is left alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hemisphere.installer.live.client import KubeClient
from hemisphere.installer.live.crds import bundled_crd_for
from hemisphere.installer.live.errors import LiveError, ReadinessTimeout, UnknownKind
from hemisphere.installer.live.events import Action, Event, EventSink, Step, ignore_events
from hemisphere.installer.live.kubeconfig import ClusterAccess
from hemisphere.installer.live.manifests import (
    PHASES,
    apply_order,
    is_builtin,
    is_managed,
    owned_copy,
    phase_of,
    ref_of,
)
from hemisphere.installer.live.readiness import check, has_rule

__all__ = [
    "DEFAULT_READY_TIMEOUT_S",
    "READY_TIMEOUT_ANNOTATION",
    "SiteReport",
    "SiteTarget",
    "apply_site",
    "apply_sites",
    "run_sites",
    "split_phases",
]

Obj = dict[str, Any]
DEFAULT_READY_TIMEOUT_S = 300.0
READY_TIMEOUT_ANNOTATION = "hemisphere.dev/ready-timeout-seconds"
CRD_PHASE = "crds"


@dataclass(frozen=True)
class SiteTarget:
    """One site: how to reach its cluster and what should run there."""

    site: str
    access: ClusterAccess
    manifests: Sequence[Mapping[str, Any]]


@dataclass
class SiteReport:
    site: str
    actions: Counter[Action] = field(default_factory=Counter)
    error: str | None = None

    @property
    def changed(self) -> bool:
        return any(
            self.actions[a]
            for a in (Action.CREATED, Action.CONFIGURED, Action.ADOPTED, Action.DELETED)
        )

    def summary(self) -> str:
        if self.error:
            return f"failed: {self.error}"
        parts = [f"{n} {a.value}" for a, n in sorted(self.actions.items()) if n]
        return ", ".join(parts) if parts else "nothing to do"


def split_phases(manifests: Sequence[Mapping[str, Any]]) -> dict[str, list[Obj]]:
    """Manifests by phase, each in apply order. Raises ValueError on a bad phase annotation."""
    phases: dict[str, list[Obj]] = {p: [] for p in PHASES}
    for obj in manifests:
        phases[phase_of(obj)].append(dict(obj))
    return {p: apply_order(objs) for p, objs in phases.items()}


def _ready_timeout(obj: Mapping[str, Any], default: float) -> float:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        return float(annotations.get(READY_TIMEOUT_ANNOTATION, default))
    except ValueError:
        return default


class _SiteRun:
    def __init__(
        self, target: SiteTarget, client: KubeClient, sink: EventSink, timeout_s: float
    ) -> None:
        self.target, self.client, self.sink, self.timeout_s = target, client, sink, timeout_s
        self.report = SiteReport(target.site)

    def emit(self, step: Step, **kw: Any) -> None:
        self.sink(Event(self.target.site, step, **kw))

    async def run(self) -> SiteReport:
        phases = split_phases(self.target.manifests)
        self.emit(Step.SITE_STARTED, total=len(self.target.manifests))
        await self.install_crds()
        for phase in PHASES:
            objs = phases[phase]
            self.emit(Step.PHASE_STARTED, phase=phase, total=len(objs))
            for obj in objs:
                action = await self.apply_one(obj)
                self.report.actions[action] += 1
                self.emit(Step.OBJECT, phase=phase, obj=str(ref_of(obj)), action=action)
            await self.wait_ready(phase, [o for o in objs if has_rule(str(o.get("kind")))])
            self.emit(Step.PHASE_DONE, phase=phase)
        self.emit(Step.SITE_DONE, message=self.report.summary())
        return self.report

    async def install_crds(self) -> None:
        needed: dict[tuple[str, str], Obj] = {}
        for obj in self.target.manifests:
            api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
            if is_builtin(api_version) or (api_version, kind) in needed:
                continue
            crd = bundled_crd_for(api_version, kind)
            if crd is None:
                try:
                    await self.client.resource(api_version, kind)
                except UnknownKind:
                    raise UnknownKind(
                        f"site {self.target.site}: {kind} ({api_version}) is not served by "
                        f"{self.target.access.server} and Hemisphere has no CRD for it; "
                        "install its operator first"
                    ) from None
                continue
            needed[(api_version, kind)] = crd
        crds = list({c["metadata"]["name"]: c for c in needed.values()}.values())
        self.emit(Step.PHASE_STARTED, phase=CRD_PHASE, total=len(crds))
        applied: list[Obj] = []
        for crd in crds:
            live = await self.client.get_live(crd)
            if live is not None and not is_managed(live):
                action = Action.KEPT  # the operator's own CRD: never overwrite it
            else:
                action = await self.apply_one(crd)
                applied.append(crd)
            self.report.actions[action] += 1
            self.emit(Step.OBJECT, phase=CRD_PHASE, obj=str(ref_of(crd)), action=action)
        await self.wait_ready(CRD_PHASE, applied)
        self.emit(Step.PHASE_DONE, phase=CRD_PHASE)

    async def apply_one(self, obj: Mapping[str, Any]) -> Action:
        live = await self.client.get_live(obj)
        adopt = live is not None and not is_managed(live)
        body = owned_copy(obj, self.target.site, adopt=adopt)
        stored = await self.client.apply(body)
        if live is None:
            return Action.CREATED
        before = (live.get("metadata") or {}).get("resourceVersion")
        if (stored.get("metadata") or {}).get("resourceVersion") == before:
            return Action.UNCHANGED
        return Action.ADOPTED if adopt else Action.CONFIGURED

    async def wait_ready(self, phase: str, objs: Sequence[Mapping[str, Any]]) -> None:
        if not objs:
            return
        self.emit(Step.WAITING, phase=phase, total=len(objs))
        await asyncio.gather(*(self.wait_one(phase, o) for o in objs))

    async def wait_one(self, phase: str, obj: Mapping[str, Any]) -> None:
        timeout = _ready_timeout(obj, self.timeout_s)
        deadline = time.monotonic() + timeout
        delay = 0.2
        detail = "not found"
        while True:
            live = await self.client.get_live(obj)
            if live is not None:
                state = check(live)
                detail = state.detail
                if state.ready:
                    self.emit(Step.READY, phase=phase, obj=str(ref_of(obj)), message=detail)
                    return
                if state.failed:
                    break
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 2.0)
        why = await self._explain(live)
        raise ReadinessTimeout(
            f"site {self.target.site}: {ref_of(obj)} not ready after {timeout:.0f}s "
            f"(phase {phase}): {detail}{why}. Check it with `kubectl describe`, fix the cause "
            "and run apply again (it resumes)."
        )

    async def _explain(self, live: Mapping[str, Any] | None) -> str:
        """Why a workload is not ready: the first pod's scheduling or container problem."""
        if live is None or live.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
            return ""
        labels = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not labels:
            return ""
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        try:
            pods = await self.client.list(
                "v1", "Pod", live["metadata"].get("namespace"), label_selector=selector
            )
        except LiveError:
            return ""
        for pod in pods:
            status = pod.get("status") or {}
            for cond in status.get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                    return f"; pod {pod['metadata']['name']}: {cond.get('message')}"
            for cs in status.get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting")
                if waiting:
                    return (
                        f"; pod {pod['metadata']['name']}: {waiting.get('reason')} "
                        f"{waiting.get('message') or ''}".rstrip()
                    )
        return "; no pods found" if not pods else ""


async def apply_site(
    target: SiteTarget,
    *,
    on_event: EventSink = ignore_events,
    timeout_s: float = DEFAULT_READY_TIMEOUT_S,
) -> SiteReport:
    """Apply one site; errors end up in the report (and a SITE_FAILED event), not raised."""
    report = SiteReport(target.site)
    try:
        async with KubeClient(target.access) as client:
            run = _SiteRun(target, client, on_event, timeout_s)
            report = run.report
            return await run.run()
    except (LiveError, ValueError) as exc:
        report.error = str(exc)
        on_event(Event(target.site, Step.SITE_FAILED, message=str(exc)))
        return report


async def run_sites(
    targets: Sequence[SiteTarget],
    operation: Callable[..., Awaitable[SiteReport]],
    **kwargs: Any,
) -> dict[str, SiteReport]:
    """Run `operation(target, **kwargs)` for every site concurrently (sites are independent)."""
    reports = await asyncio.gather(*(operation(t, **kwargs) for t in targets))
    return {r.site: r for r in reports}


async def apply_sites(
    targets: Sequence[SiteTarget],
    *,
    on_event: EventSink = ignore_events,
    timeout_s: float = DEFAULT_READY_TIMEOUT_S,
) -> dict[str, SiteReport]:
    return await run_sites(targets, apply_site, on_event=on_event, timeout_s=timeout_s)
