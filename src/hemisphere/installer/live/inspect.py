"""Read-only views of a site against its live cluster: `diff` and `status`.

diff: for each rendered object, a server-side dry-run apply shows exactly what the API server
would store; it is compared with the live object (server-populated fields left out). status:
per object whether it is present, up to date (the dry-run changes nothing) and healthy.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from hemisphere.installer.live.client import KubeClient
from hemisphere.installer.live.crds import bundled_crd_for
from hemisphere.installer.live.engine import SiteTarget, split_phases
from hemisphere.installer.live.errors import LiveError, NotFound, UnknownKind
from hemisphere.installer.live.manifests import (
    PHASES,
    ObjRef,
    is_builtin,
    is_managed,
    owned_copy,
    ref_of,
)
from hemisphere.installer.live.readiness import check, has_rule

__all__ = ["ObjectDiff", "ObjectStatus", "SiteDiff", "SiteStatus", "diff_site", "status_site"]

Obj = dict[str, Any]
_VOLATILE_META = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")


def _comparable(obj: Mapping[str, Any]) -> Obj:
    out = {k: v for k, v in obj.items() if k != "status"}
    if obj.get("kind") == "Secret":  # never print secret values: compare digests
        for key in ("data", "stringData"):
            if isinstance(out.get(key), Mapping):
                out[key] = {
                    k: "sha256:" + hashlib.sha256(str(v).encode()).hexdigest()[:12]
                    for k, v in out[key].items()
                }
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _VOLATILE_META}
    out["metadata"] = meta
    return out


def _yaml(obj: Mapping[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)


@dataclass(frozen=True)
class ObjectDiff:
    ref: ObjRef
    change: Literal["create", "update", "unchanged"]
    text: str = ""  # unified diff (update) or the object (create)


@dataclass
class SiteDiff:
    site: str
    objects: list[ObjectDiff] = field(default_factory=list)
    error: str | None = None

    @property
    def changes(self) -> list[ObjectDiff]:
        return [o for o in self.objects if o.change != "unchanged"]


async def _dry_run(
    client: KubeClient, obj: Mapping[str, Any], site: str
) -> tuple[Obj | None, Obj | None]:
    """(live, what apply would store); (None, None) when the object or its kind is absent."""
    try:
        live = await client.get_live(obj)
    except UnknownKind:
        return None, None
    if live is None:
        return None, None
    body = owned_copy(obj, site, adopt=not is_managed(live))
    return live, await client.apply(body, dry_run=True)


async def diff_site(target: SiteTarget) -> SiteDiff:
    result = SiteDiff(target.site)
    try:
        phases = split_phases(target.manifests)
        async with KubeClient(target.access) as client:
            for phase in PHASES:
                for obj in phases[phase]:
                    ref = ref_of(obj)
                    live, would = await _dry_run(client, obj, target.site)
                    if live is None or would is None:
                        text = _yaml(_comparable(owned_copy(obj, target.site, adopt=False)))
                        result.objects.append(ObjectDiff(ref, "create", text))
                        continue
                    before, after = _yaml(_comparable(live)), _yaml(_comparable(would))
                    if before == after:
                        result.objects.append(ObjectDiff(ref, "unchanged"))
                        continue
                    text = "".join(
                        difflib.unified_diff(
                            before.splitlines(keepends=True),
                            after.splitlines(keepends=True),
                            fromfile=f"live/{ref}",
                            tofile=f"desired/{ref}",
                        )
                    )
                    result.objects.append(ObjectDiff(ref, "update", text))
    except (LiveError, ValueError) as exc:
        result.error = str(exc)
    return result


@dataclass(frozen=True)
class ObjectStatus:
    ref: ObjRef
    phase: str
    present: bool
    up_to_date: bool
    healthy: bool | None  # None: nothing reports health (a custom resource without status)
    detail: str


@dataclass
class SiteStatus:
    site: str
    objects: list[ObjectStatus] = field(default_factory=list)
    error: str | None = None

    @property
    def applied(self) -> int:
        return sum(1 for o in self.objects if o.present and o.up_to_date)

    @property
    def healthy(self) -> int:
        return sum(1 for o in self.objects if o.healthy)

    @property
    def unhealthy(self) -> list[ObjectStatus]:
        return [o for o in self.objects if o.healthy is False or not o.present]


async def status_site(target: SiteTarget) -> SiteStatus:
    result = SiteStatus(target.site)
    try:
        phases = split_phases(target.manifests)
        async with KubeClient(target.access) as client:
            for phase in PHASES:
                for obj in phases[phase]:
                    result.objects.append(await _object_status(client, obj, phase, target.site))
    except (LiveError, ValueError) as exc:
        result.error = str(exc)
    return result


async def _object_status(
    client: KubeClient, obj: Mapping[str, Any], phase: str, site: str
) -> ObjectStatus:
    ref = ref_of(obj)
    try:
        live, would = await _dry_run(client, obj, site)
    except NotFound as exc:  # e.g. its namespace is gone
        return ObjectStatus(ref, phase, False, False, False, str(exc))
    if live is None or would is None:
        detail = "not applied"
        if bundled_crd_for(ref.api_version, ref.kind) is not None:
            detail = "not applied (its CRD may be missing)"
        return ObjectStatus(ref, phase, False, False, False, detail)
    up_to_date = _yaml(_comparable(live)) == _yaml(_comparable(would))
    state = check(live)
    healthy: bool | None = state.ready
    detail = state.detail
    if not has_rule(ref.kind) and not (live.get("status") or {}).get("conditions"):
        if is_builtin(ref.api_version):
            healthy, detail = True, "present"
        else:
            healthy, detail = None, "accepted (no status reported; is its operator running?)"
    return ObjectStatus(ref, phase, True, up_to_date, healthy, detail)
