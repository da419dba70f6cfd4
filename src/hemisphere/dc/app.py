"""The dc role for one data center: workspace API, reconciler and runtime.

It reaches identity only through an `IdentityReader` handed in by whoever composes the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path

from fastapi import FastAPI

from hemisphere.config import ConfigError, Settings
from hemisphere.db.engine import Database
from hemisphere.db.sealing import Sealer
from hemisphere.db.workspace_ids import reserve_workspace_ids
from hemisphere.dc import api, api_domains, api_landscape, api_pipeline
from hemisphere.federation.heartbeat import Agent, beat_forever_in_database
from hemisphere.federation.snapshots import take_snapshot
from hemisphere.identity.principal import IdentityReader
from hemisphere.workspaces.egress import GitEgressPolicy
from hemisphere.workspaces.reconciler import WorkspaceReconciler
from hemisphere.workspaces.runtime.base import WorkspaceRuntime
from hemisphere.workspaces.service import WorkspaceService
from hemisphere.workspaces.storage.base import StorageCapacity, WorkspaceStorage

log = logging.getLogger("hemisphere.dc")


def make_runtime(settings: Settings) -> WorkspaceRuntime:
    """Pick the runtime backend by configuration (HEMISPHERE_RUNTIME)."""
    if settings.runtime == "kubernetes":
        from hemisphere.installer.live import in_cluster_access, load_kubeconfig
        from hemisphere.workspaces.runtime.kubernetes import (
            KubernetesRuntime,
            KubernetesRuntimeConfig,
        )

        access = (
            load_kubeconfig(Path(settings.kubeconfig), settings.kube_context or None)
            if settings.kubeconfig
            else in_cluster_access()
        )
        return KubernetesRuntime(
            KubernetesRuntimeConfig(
                access=access,
                storage_class=settings.storage_class,
                namespace=settings.workspace_namespace,
                images=settings.workspace_images,
            )
        )
    from hemisphere.workspaces.runtime.local import LocalRuntime

    # One cgroup subtree per data directory, so two installations (or test runs) on one
    # host never share limits or kill each other's sandboxes.
    tag = hashlib.sha256(str(settings.workspaces_dir.resolve()).encode()).hexdigest()[:10]
    return LocalRuntime(
        settings.workspaces_dir,
        cgroup_parent=f"hemisphere-{tag}",
        uid_base=settings.uid_base,
        max_output_bytes=settings.exec_max_output_bytes,
        storage=make_storage(settings),
        egress=git_egress(settings),
    )


def git_egress(settings: Settings) -> GitEgressPolicy:
    """Where workspace git clones may connect (HEMISPHERE_GIT_ALLOW_PRIVATE/_NETWORKS)."""
    try:
        return GitEgressPolicy.of(
            allow_private=settings.git_allow_private, allow_networks=settings.git_allow_networks
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def make_storage(settings: Settings) -> WorkspaceStorage:
    """The local runtime's homes (HEMISPHERE_STORAGE): enforced images wherever loop mounts
    work, plain directories where asked for (or, with `auto`, where they do not)."""
    from hemisphere.workspaces.storage.image import ImageStorage, loop_mounts_work
    from hemisphere.workspaces.storage.local import LocalDirectoryStorage

    homes = settings.workspaces_dir / "homes"
    why_not = loop_mounts_work(homes) if settings.storage != "directory" else None
    if settings.storage == "image" and why_not:
        raise ConfigError(f"HEMISPHERE_STORAGE=image, but this host cannot: {why_not}")
    if settings.storage == "directory" or why_not:
        if why_not:
            log.warning("workspace storage limits are NOT enforced", extra={"reason": why_not})
        return LocalDirectoryStorage(homes)
    return ImageStorage(homes, reserve_bytes=settings.disk_reserve_mib * 1024 * 1024)


def storage_summary(settings: Settings) -> str:
    """One line for the start banner: which workspace storage is active, and why."""
    from hemisphere.workspaces.storage.image import loop_mounts_work

    if settings.runtime != "local":
        return f"Workspace storage: {settings.storage_class} volumes ({settings.runtime} runtime)"
    homes = settings.workspaces_dir / "homes"
    why_not = loop_mounts_work(homes) if settings.storage != "directory" else None
    if settings.storage == "directory" or why_not:
        because = f" ({why_not})" if why_not else " (HEMISPHERE_STORAGE=directory)"
        return f"Workspace storage: directories, size limits NOT enforced{because}"
    return (
        "Workspace storage: ext4 images, size limits enforced; "
        f"{settings.disk_reserve_mib} MiB kept free for the platform"
    )


class DcRole:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        identity: IdentityReader,
        runtime: WorkspaceRuntime,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        # A host runtime's storage promises disk space; the service refuses what it cannot.
        storage = getattr(runtime, "storage", None)
        service = WorkspaceService(
            identity,
            Sealer.from_key_file(settings.secret_key_file),
            settings.datacenter_id,
            storage=storage if isinstance(storage, StorageCapacity) else None,
        )
        self.reconciler = WorkspaceReconciler(
            db,
            runtime,
            service,
            interval_s=settings.reconcile_interval_s,
            usage_interval_s=settings.usage_interval_s,
            concurrency=settings.reconcile_concurrency,
            provision_deadline_s=settings.provision_deadline_s,
            provisions_per_team=settings.provisions_per_team,
        )
        self.context = api.DcContext(
            service=service,
            runtime=runtime,
            reconciler=self.reconciler,
            preview_domain=settings.preview_domain,
            exec_timeout_s=settings.exec_timeout_s,
            public_scheme=settings.public_url.split("://", 1)[0],
            exec_concurrency=settings.exec_concurrency,
        )
        self._db = db
        self._tasks: list[asyncio.Task[None]] = []

    def mount(self, app: FastAPI) -> None:
        app.state.dc = self.context
        app.state.dns_servers = self.settings.dns_servers  # domain verification (api_domains)
        app.include_router(api.router)
        app.include_router(api_pipeline.router)
        app.include_router(api_domains.router)
        app.include_router(api_landscape.router)

    async def start(self) -> None:
        if self.settings.identity_mode == "replica":
            # Its own database: workspace ids from this DC's range (db/workspace_ids.py).
            async with self._db.transaction() as s:
                await reserve_workspace_ids(s, self.settings.datacenter_id)
        async with self._db.transaction() as s:
            await self.context.service.seal_git_credentials(s)  # rows from before migration 0006
        self._tasks = [
            asyncio.create_task(self.reconciler.run(), name="workspace-reconciler"),
            asyncio.create_task(self._link_to_console(), name="heartbeat"),
        ]

    async def _link_to_console(self) -> None:
        """The lease and the status snapshot: over HTTP by the agent when this DC knows the
        console's URL and its agent token (it dials out only), else right in the database it
        shares with the console."""
        st = self.settings
        if not (st.console_url and st.agent_token):
            await beat_forever_in_database(
                self._db, st.datacenter_id, st.heartbeat_interval_s, st.snapshot_interval_s
            )
            return
        ca = st.ca_file
        agent = Agent(
            datacenter_id=st.datacenter_id,
            console_url=st.console_url,
            token=st.agent_token,
            interval_s=st.heartbeat_interval_s,
            snapshot=lambda: take_snapshot(self._db, st.datacenter_id),
            snapshot_interval_s=st.snapshot_interval_s,
            verify=str(ca) if ca else True,
        )
        try:
            await agent.run()
        finally:
            await agent.close()

    async def stop(self, *, stop_sandboxes: bool) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if stop_sandboxes:
            log.info("stopping running workspaces (they restart with the platform)")
            await self.reconciler.stop_all_sandboxes()
        await self.runtime.aclose()
