"""The per-data-center workspace reconciler: level-triggered, collect-then-apply, crash-safe.

Each pass observes the runtime, reads this DC's rows, asks the pure planner (`states.plan`) what
to do, and hands each workspace's actions to a task of its own. Nothing about desired or observed
state is remembered between passes, so a restart after a crash at any point is just another pass.
When the database cannot be read, the pass does nothing at all: running workspaces keep running
and no data is touched.

One tenant must not be able to stall the others (issue 10): a pass never waits for actions, so a
`git clone` from a server that never answers delays only its own workspace. What is remembered is
only which workspaces have an action in flight; later passes skip those until it finishes, so
nothing runs twice for one workspace. Semaphores bound how many actions run at once; provisions
have slots of their own, of which one team holds at most `provisions_per_team`. Every action has
a deadline: provisioning (which clones) and starting past theirs mark the workspace failed with
the reason and clean up what was half made; stopping and removing past theirs are retried,
because those are what the user asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
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
from hemisphere.workspaces import git_urls
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


_TAKE_DOWN = frozenset(
    {ActionKind.STOP, ActionKind.STOP_ORPHAN, ActionKind.REMOVE, ActionKind.FORGET}
)


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
        provision_deadline_s: float = 120.0,
        action_deadline_s: float = 60.0,
        provisions_per_team: int = 2,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"reconcile concurrency must be at least 1, not {concurrency}")
        self.db = db
        self.runtime = runtime
        self.service = service
        self.datacenter_id = service.datacenter_id
        self.interval_s = interval_s
        self.usage_interval_s = usage_interval_s
        self.provision_deadline_s = provision_deadline_s
        self.action_deadline_s = action_deadline_s
        self._wake = asyncio.Event()
        self._limit = asyncio.Semaphore(concurrency)
        # Provisioning waits on the network (git clone): it gets slots of its own, so hung
        # clones can never hold the slots that starts, stops and deletes need.
        self._provision_limit = asyncio.Semaphore(max(1, concurrency // 2))
        # ... and one team can hold only some of those, so a team cloning from servers that
        # never answer cannot keep every other team's new workspaces waiting for its deadlines.
        self.provisions_per_team = provisions_per_team
        self._provisioning: Counter[int] = Counter()  # team id → provisions in flight
        self._provision_team: dict[int, int] = {}  # workspace id → its team, while in flight
        self._stopping = False
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._bringing_up: set[int] = set()  # in flight with a provision or start
        # Completion counter, and per workspace the count when its last task ended: a pass that
        # observed before that moment must not act on the workspace (its view is stale).
        self._finished = 0
        self._finished_at: dict[int, int] = {}

    def poke(self) -> None:
        """Ask for a pass now (after the API changed desired state)."""
        self._wake.set()

    async def run(self) -> None:
        """Pass after pass until cancelled. A finished action or a poke starts the next pass at
        once; otherwise passes come every `interval_s`. Cancelling cancels the actions in
        flight too (each is idempotent, so the next process simply plans them again)."""
        usage_due = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self.reconcile_once()
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
                except Exception:
                    log.exception("reconcile pass failed", extra={"datacenter": self.datacenter_id})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
        finally:
            await self.cancel_inflight()

    def busy(self) -> set[int]:
        """Workspaces with an action in flight."""
        return set(self._inflight)

    async def cancel_inflight(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reconcile_once(self) -> list[Action]:
        """Plan one pass and start the actions of every workspace that has none in flight;
        returns the actions started (without waiting for them)."""
        mark = self._finished
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
                            Workspace.team_id,
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
        team_of = {r[0]: r[5] for r in rows}
        self._export_metrics(desired)
        actions = plan(desired, observed)
        by_ws: dict[int, list[Action]] = defaultdict(list)
        for a in actions:
            by_ws[a.workspace_id].append(a)
        started: list[Action] = []
        for wid, acts in by_ws.items():
            if wid in self._inflight:
                task = self._inflight[wid]
                if (
                    wid in self._bringing_up
                    and any(a.kind in _TAKE_DOWN for a in acts)
                    and not task.cancelling()  # once: a second cancel would cut its cleanup
                ):
                    # The user no longer wants it up: a slow start or clone must not make the
                    # stop or delete wait for its deadline.
                    log.info("cancelling a start no longer wanted", extra={"workspace": wid})
                    task.cancel()
                continue
            if self._finished_at.get(wid, -1) > mark:
                continue
            team = team_of.get(wid)
            if team is not None and any(a.kind is ActionKind.PROVISION for a in acts):
                if self._provisioning[team] >= self.provisions_per_team:
                    continue  # its turn comes when one of the team's provisions ends
                self._provisioning[team] += 1
                self._provision_team[wid] = team
            task = asyncio.create_task(self._apply_all(wid, acts), name=f"reconcile-ws-{wid}")
            self._inflight[wid] = task
            if any(a.kind in (ActionKind.PROVISION, ActionKind.START) for a in acts):
                self._bringing_up.add(wid)
            task.add_done_callback(functools.partial(self._done, wid))
            started.extend(acts)
        known = {d.workspace_id for d in desired} | set(observed)
        for wid in set(self._finished_at) - known - set(self._inflight):
            del self._finished_at[wid]
        return started

    def _done(self, workspace_id: int, task: asyncio.Task[None]) -> None:
        self._inflight.pop(workspace_id, None)
        self._bringing_up.discard(workspace_id)
        team = self._provision_team.pop(workspace_id, None)
        if team is not None:
            self._provisioning[team] -= 1
            if self._provisioning[team] <= 0:
                del self._provisioning[team]
        self._finished += 1
        self._finished_at[workspace_id] = self._finished
        self._wake.set()  # its next step (or the pass it skipped) should not wait an interval
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(
                "reconcile action crashed",
                extra={"workspace": workspace_id, "error": repr(exc)},
                exc_info=exc,
            )

    def _deadline(self, kind: ActionKind) -> float:
        return self.provision_deadline_s if kind is ActionKind.PROVISION else self.action_deadline_s

    async def _apply_all(self, workspace_id: int, actions: Sequence[Action]) -> None:
        for action in actions:
            slots = self._provision_limit if action.kind is ActionKind.PROVISION else self._limit
            async with slots:
                try:
                    deadline = self._deadline(action.kind)
                    async with asyncio.timeout(deadline) as budget:
                        await self._apply(action)
                except TimeoutError as exc:
                    if budget.expired():
                        await self._past_deadline(workspace_id, action.kind, deadline)
                    else:  # a timeout of the runtime's own, not our deadline
                        self._retry_later(workspace_id, action, exc)
                    return
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
                    self._retry_later(workspace_id, action, exc)
                    return

    def _retry_later(self, workspace_id: int, action: Action, exc: Exception) -> None:
        RECONCILE_ERRORS.labels(action.kind.value).inc()
        log.warning(
            "action will be retried",
            extra={"workspace": workspace_id, "action": action.kind.value, "error": str(exc)},
        )

    async def _past_deadline(self, wid: int, kind: ActionKind, deadline: float) -> None:
        """The action was cancelled at its deadline. Provisioning and starting give up (the
        workspace is failed until the user asks again); anything else is retried."""
        RECONCILE_ERRORS.labels(kind.value).inc()
        if kind not in (ActionKind.PROVISION, ActionKind.START):
            log.warning(
                "action past its deadline, will be retried",
                extra={"workspace": wid, "action": kind.value, "deadline_s": deadline},
            )
            return
        what = (
            "preparing the workspace's storage (cloning its git repository)"
            if kind is ActionKind.PROVISION
            else "starting the workspace"
        )
        reason = (
            f"{what} did not finish within {deadline:g} s and was stopped; check that the "
            "git URL answers (or remove it), then start the workspace again"
            if kind is ActionKind.PROVISION
            else f"{what} did not finish within {deadline:g} s and was stopped; start it again"
        )
        log.warning(
            "workspace failed: action past its deadline",
            extra={"workspace": wid, "action": kind.value, "deadline_s": deadline},
        )
        try:
            # Clean what the cancelled action left: processes, cgroups, a half-made home.
            async with asyncio.timeout(self.action_deadline_s):
                await self.runtime.stop(wid)
        except (RuntimePermanentError, RuntimeTemporaryError, OSError, TimeoutError) as exc:
            log.warning(
                "cleanup after a deadline failed; the next stop retries it",
                extra={"workspace": wid, "error": str(exc)},
            )
        await self._record(wid, State.FAILED, reason)

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
            # A reason is shown to every team member: never the credentials of a git URL.
            ws.state, ws.state_reason = state.value, git_urls.scrub(reason) if reason else None

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
        await self.cancel_inflight()
        observed = await self.runtime.observe()
        running = [w for w, o in observed.items() if o.phase != ObservedPhase.STOPPED]
        await asyncio.gather(*(self.runtime.stop(w) for w in running), return_exceptions=True)

    def _export_metrics(self, desired: Sequence[Desired]) -> None:
        counts = Counter(d.state.value for d in desired)
        for st in State:
            WORKSPACES.labels(str(self.datacenter_id), st.value).set(counts.get(st.value, 0))
