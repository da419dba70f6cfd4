"""Uninstall: delete what Hemisphere created at a site, and nothing else.

Only objects labelled `app.kubernetes.io/managed-by=hemisphere` are deleted (apply puts that
label only on objects it created). Order is the reverse of apply (platform -> dependencies ->
infra -> CRDs); leftovers of earlier versions are found by the labels (`hemisphere.dev/site`)
among the rendered kinds. A bundled CRD is kept while custom resources not created by Hemisphere
still use it. Waits until the deleted objects are gone (namespaces finalize) so an apply right
after starts clean.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from hemisphere.installer.live.client import KubeClient
from hemisphere.installer.live.crds import bundled_crd_for
from hemisphere.installer.live.engine import (
    DEFAULT_READY_TIMEOUT_S,
    SiteReport,
    SiteTarget,
    split_phases,
)
from hemisphere.installer.live.errors import LiveError, ReadinessTimeout, UnknownKind
from hemisphere.installer.live.events import Action, Event, EventSink, Step, ignore_events
from hemisphere.installer.live.manifests import (
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    PHASES,
    SITE_LABEL,
    is_builtin,
    is_managed,
    ref_of,
)

__all__ = ["uninstall_site"]

Obj = dict[str, Any]


class _Uninstall:
    def __init__(self, target: SiteTarget, client: KubeClient, sink: EventSink) -> None:
        self.target, self.client, self.sink = target, client, sink
        self.report = SiteReport(target.site)
        self.deleted: list[Obj] = []

    def emit(self, step: Step, **kw: Any) -> None:
        self.sink(Event(self.target.site, step, **kw))

    async def run(self, timeout_s: float) -> SiteReport:
        phases = split_phases(self.target.manifests)
        self.emit(Step.SITE_STARTED, total=len(self.target.manifests))
        for phase in reversed(PHASES):
            objs = list(reversed(phases[phase]))
            self.emit(Step.PHASE_STARTED, phase=phase, total=len(objs))
            for obj in objs:
                await self.delete_one(phase, obj)
            self.emit(Step.PHASE_DONE, phase=phase)
        await self.sweep()
        await self.delete_crds()
        await self.wait_gone(timeout_s)
        self.emit(Step.SITE_DONE, message=self.report.summary())
        return self.report

    async def delete_one(self, phase: str, obj: Mapping[str, Any]) -> None:
        try:
            live = await self.client.get_live(obj)
        except UnknownKind:
            live = None
        if live is None:
            action = Action.ABSENT
        elif not is_managed(live):
            action = Action.NOT_OURS
        else:
            ref = ref_of(live)
            gone = not await self.client.delete(
                ref.api_version, ref.kind, ref.name, ref.namespace or None
            )
            action = Action.ABSENT if gone else Action.DELETED
            if not gone:
                self.deleted.append(dict(obj))
        self.report.actions[action] += 1
        self.emit(Step.OBJECT, phase=phase, obj=str(ref_of(obj)), action=action)

    async def sweep(self) -> None:
        """Objects this site's Hemisphere created that the current manifests no longer name."""
        rendered = {ref_of(o) for o in self.target.manifests}
        kinds = {(str(o["apiVersion"]), str(o["kind"])) for o in self.target.manifests}
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{SITE_LABEL}={self.target.site}"
        for api_version, kind in sorted(kinds):
            try:
                found = await self.client.list(api_version, kind, label_selector=selector)
            except UnknownKind:
                continue
            for live in found:
                ref = ref_of(live)
                if ref in rendered or (live.get("metadata") or {}).get("deletionTimestamp"):
                    continue
                if await self.client.delete(
                    ref.api_version, ref.kind, ref.name, ref.namespace or None
                ):
                    self.deleted.append(live)
                    self.report.actions[Action.DELETED] += 1
                    self.emit(Step.OBJECT, phase="leftovers", obj=str(ref), action=Action.DELETED)

    async def delete_crds(self) -> None:
        crds: dict[str, Obj] = {}
        for obj in self.target.manifests:
            api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
            if not is_builtin(api_version):
                crd = bundled_crd_for(api_version, kind)
                if crd is not None:
                    crds[crd["metadata"]["name"]] = crd
        self.emit(Step.PHASE_STARTED, phase="crds", total=len(crds))
        for crd in crds.values():
            live = await self.client.get_live(crd)
            ref = ref_of(crd)
            if live is None:
                action = Action.ABSENT
            elif not is_managed(live) or await self._foreign_resources(crd):
                action = Action.NOT_OURS
            else:
                await self.client.delete(ref.api_version, ref.kind, ref.name)
                self.deleted.append(crd)
                action = Action.DELETED
            self.report.actions[action] += 1
            self.emit(Step.OBJECT, phase="crds", obj=str(ref), action=action)
        self.emit(Step.PHASE_DONE, phase="crds")

    async def _foreign_resources(self, crd: Mapping[str, Any]) -> bool:
        spec = crd["spec"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            try:
                items = await self.client.list(api_version, spec["names"]["kind"])
            except (UnknownKind, LiveError):
                return False
            if any(not is_managed(i) for i in items):
                return True
        return False

    async def wait_gone(self, timeout_s: float) -> None:
        if not self.deleted:
            return
        self.emit(Step.WAITING, phase="deletion", total=len(self.deleted))
        deadline = time.monotonic() + timeout_s
        pending: list[Obj] = list(self.deleted)
        while pending:
            still: list[Obj] = []
            for obj in pending:
                try:
                    if await self.client.get_live(obj) is not None:
                        still.append(obj)
                except UnknownKind:
                    pass  # its CRD is gone, so is it
            pending = still
            if not pending:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(str(ref_of(o)) for o in pending[:5])
                raise ReadinessTimeout(
                    f"site {self.target.site}: still deleting after {timeout_s:.0f}s: {names}; "
                    "check their finalizers with `kubectl get -o yaml` and run uninstall again"
                )
            await asyncio.sleep(0.5)


async def uninstall_site(
    target: SiteTarget,
    *,
    on_event: EventSink = ignore_events,
    timeout_s: float = DEFAULT_READY_TIMEOUT_S,
) -> SiteReport:
    report = SiteReport(target.site)
    try:
        async with KubeClient(target.access) as client:
            run = _Uninstall(target, client, on_event)
            report = run.report
            return await run.run(timeout_s)
    except (LiveError, ValueError) as exc:
        report.error = str(exc)
        on_event(Event(target.site, Step.SITE_FAILED, message=str(exc)))
        return report
