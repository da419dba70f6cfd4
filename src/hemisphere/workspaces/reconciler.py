"""The per-data-center workspace reconciler: level-triggered, collect-then-apply, crash-safe.

Each pass observes the runtime, reads this DC's rows, asks the pure planner (`states.plan`) what
to do, and applies those actions. Nothing is remembered between passes, so a restart after a crash
at any point is just another pass. When the database cannot be read, the pass does nothing at all:
running workspaces keep running and no data is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from hemisphere.db.engine import Database
from hemisphere.db.models import Plan, Workspace
from hemisphere.observability.metrics import RECONCILE_ERRORS, WORKSPACES
from hemisphere.workspaces.runtime.base import (
    ObservedPhase,
    RuntimePermanentError,
    RuntimeTemporaryError,
    SandboxSpec,
    WorkspaceRuntime,
)
from hemisphere.workspaces.service import WorkspaceService
from hemisphere.workspaces.states import Action, ActionKind, Desired, State, plan

log = logging.getLogger("hemisphere.reconciler")

# Crash-test hook: HEMISPHERE_CRASH_AT="start:before,remove:after" makes the process SIGKILL
# itself at those points, so tests can prove that every crash point converges after a restart.
_CRASH_AT = frozenset(filter(None, os.environ.get("HEMISPHERE_CRASH_AT", "").split(",")))


def _crash_point(name: str) -> None:
    if name in _CRASH_AT:
        log.warning("crash point reached: killing the process", extra={"point": name})
        os.kill(os.getpid(), signal.SIGKILL)


class WorkspaceReconciler:
    def __init__(
        self,
        db: Database,
        runtime: WorkspaceRuntime,
        service: WorkspaceService,
        *,
        interval_s: float = 5.0,
        usage_interval_s: float = 60.0,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.runtime = runtime
        self.service = service
        self.datacenter_id = service.datacenter_id
        self.interval_s = interval_s
        self.usage_interval_s = usage_interval_s
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        self._stopping = False

    def poke(self) -> None:
        """Ask for a pass now (after the API changed desired state)."""
        self._wake.set()

    async def run(self) -> None:
        """Pass after pass until cancelled; passes that acted are followed immediately."""
        usage_due = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._wake.clear()
            try:
                acted = await self.reconcile_once()
                if loop.time() >= usage_due:
                    await self.refresh_usage()
                    usage_due = loop.time() + self.usage_interval_s
            except asyncio.CancelledError:
                raise
            except (SQLAlchemyError, OSError) as exc:
                log.warning(
                    "metadata store unreachable: taking no action this pass",
                    extra={"error": type(exc).__name__},
                )
                acted = []
            except Exception:
                log.exception("reconcile pass failed", extra={"datacenter": self.datacenter_id})
                acted = []
            if acted:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)

    async def reconcile_once(self) -> list[Action]:
        try:
            observed = await self.runtime.observe()
        except RuntimeTemporaryError as exc:
            log.warning("runtime unavailable, skipping pass", extra={"error": str(exc)})
            return []
        try:
            async with self.db.session() as s:
                rows = (
                    await s.execute(
                        select(
                            Workspace.id,
                            Workspace.replicas,
                            Workspace.state,
                            Workspace.provisioned,
                            Workspace.state_reason,
                        ).where(Workspace.datacenter_id == self.datacenter_id)
                    )
                ).all()
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "metadata store unreachable: taking no action this pass",
                extra={"error": type(exc).__name__},
            )
            return []
        desired = [Desired(r[0], r[1], State(r[2]), r[3], r[4]) for r in rows]
        self._export_metrics(desired)
        actions = plan(desired, observed)
        by_ws: dict[int, list[Action]] = defaultdict(list)
        for a in actions:
            by_ws[a.workspace_id].append(a)
        await asyncio.gather(*(self._apply_all(wid, acts) for wid, acts in by_ws.items()))
        return actions

    async def _apply_all(self, workspace_id: int, actions: Sequence[Action]) -> None:
        async with self._limit:
            for action in actions:
                try:
                    await self._apply(action)
                except RuntimePermanentError as exc:
                    RECONCILE_ERRORS.labels(action.kind.value).inc()
                    log.warning(
                        "workspace failed",
                        extra={
                            "workspace": workspace_id,
                            "action": action.kind.value,
                            "reason": str(exc),
                        },
                    )
                    await self._record(workspace_id, State.FAILED, str(exc))
                    return
                except (RuntimeTemporaryError, SQLAlchemyError, OSError) as exc:
                    RECONCILE_ERRORS.labels(action.kind.value).inc()
                    log.warning(
                        "action will be retried",
                        extra={
                            "workspace": workspace_id,
                            "action": action.kind.value,
                            "error": str(exc),
                        },
                    )
                    return

    async def _apply(self, a: Action) -> None:
        _crash_point(f"{a.kind.value}:before")
        await self._apply_action(a)
        _crash_point(f"{a.kind.value}:after")

    async def _apply_action(self, a: Action) -> None:
        wid = a.workspace_id
        match a.kind:
            case ActionKind.RECORD:
                assert a.state is not None
                await self._record(wid, a.state, a.reason)
            case ActionKind.PROVISION:
                spec = await self._spec(wid)
                if spec is None:
                    return
                await self.runtime.provision(spec)
                async with self.db.transaction() as s:
                    ws = await s.get(Workspace, wid)
                    if ws is not None:
                        ws.provisioned = True
            case ActionKind.START:
                spec = await self._spec(wid)
                if spec is not None:
                    await self.runtime.start(spec)
            case ActionKind.STOP | ActionKind.STOP_ORPHAN:
                if a.kind is ActionKind.STOP_ORPHAN:
                    log.warning(
                        "stopping a sandbox no database row explains; its storage is kept",
                        extra={"workspace": wid},
                    )
                await self.runtime.stop(wid)
            case ActionKind.REMOVE:
                await self.runtime.remove(wid)
            case ActionKind.FORGET:
                async with self.db.transaction() as s:
                    await s.execute(
                        delete(Workspace).where(
                            Workspace.id == wid, Workspace.state == State.DELETING
                        )
                    )

    async def _spec(self, wid: int) -> SandboxSpec | None:
        async with self.db.session() as s:
            ws = await s.get(Workspace, wid)
            if ws is None:
                return None
            return await self.service.sandbox_spec(s, ws)

    async def _record(self, wid: int, state: State, reason: str | None) -> None:
        async with self.db.transaction() as s:
            ws = await s.get(Workspace, wid)
            # Never overwrite a newer user intent: deleting wins over everything.
            if ws is None or (ws.state == State.DELETING and state != State.DELETING):
                return
            ws.state, ws.state_reason = state.value, reason

    async def refresh_usage(self) -> None:
        """Record storage use and flag workspaces over their plan's quota."""
        observed = await self.runtime.observe()
        async with self.db.session() as s:
            rows = (
                await s.execute(
                    select(Workspace, Plan)
                    .join(Plan, Plan.id == Workspace.plan_id)
                    .where(Workspace.datacenter_id == self.datacenter_id)
                )
            ).all()
        for ws, pl in rows:
            if ws.id not in observed:
                continue
            used = await self.runtime.storage_usage_mib(ws.id)
            quota = ws.storage_mib or pl.storage_mib
            async with self.db.transaction() as s:
                row = await s.get(Workspace, ws.id)
                if row is None:
                    continue
                row.storage_used_mib = used
                over = f"over storage quota: {used} MiB used of {quota} MiB"
                if used > quota and row.state == State.RUNNING:
                    row.state_reason = over
                elif row.state_reason and row.state_reason.startswith("over storage quota"):
                    row.state_reason = None

    async def stop_all_sandboxes(self) -> None:
        """Shutdown: stop every sandbox but leave desired state alone, so the next start
        brings back exactly the workspaces that were running."""
        self._stopping = True
        observed = await self.runtime.observe()
        running = [w for w, o in observed.items() if o.phase != ObservedPhase.STOPPED]
        await asyncio.gather(*(self.runtime.stop(w) for w in running), return_exceptions=True)

    def _export_metrics(self, desired: Sequence[Desired]) -> None:
        counts = Counter(d.state.value for d in desired)
        for st in State:
            WORKSPACES.labels(str(self.datacenter_id), st.value).set(counts.get(st.value, 0))
