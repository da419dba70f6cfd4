"""One process, one or more roles (ARCHITECTURE §2): `up` runs console + dc together on SQLite;
`serve console` and `serve dc` run them apart against a shared database."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy import text

from hemisphere.config import Settings
from hemisphere.console.app import mount_console
from hemisphere.console.bootstrap import (
    FirstAdmin,
    ensure_catalog,
    ensure_first_admin,
    register_datacenters,
)
from hemisphere.console.federation_routing import mount_federation
from hemisphere.console.web.app import mount_web
from hemisphere.db.engine import Database
from hemisphere.db.migrate import upgrade_to_head
from hemisphere.db.models import Datacenter
from hemisphere.dc.app import DcRole, make_runtime
from hemisphere.dc.browser import close_browser_access, mount_browser_access
from hemisphere.federation.feed import snapshot_if_empty
from hemisphere.identity.reader import DatabaseIdentity
from hemisphere.identity.replica import ReplicaIdentity
from hemisphere.observability.disk import DataDirDisk
from hemisphere.server.identity import IdentityWiring
from hemisphere.webapi.app import create_app
from hemisphere.webapi.auth import session_cookie_name
from hemisphere.webapi.clients import parse_networks
from hemisphere.workspaces.runtime.base import WorkspaceRuntime

log = logging.getLogger("hemisphere.server")


@dataclass(frozen=True)
class Roles:
    console: bool = True
    dc: bool = True
    stop_sandboxes_on_exit: bool = True


@dataclass
class Started:
    """What start-up produced, for the CLI to print."""

    first_admin: FirstAdmin | None = None


def build_app(
    settings: Settings,
    roles: Roles = Roles(),
    *,
    runtime: WorkspaceRuntime | None = None,
    started: Started | None = None,
) -> FastAPI:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Enter, never list (issue 10): 0711, not 0700, because bubblewrap resolves a workspace's
    # home by path as the workspace uid (runtime/sandbox.py); every file here has its own mode.
    os.chmod(settings.data_dir, 0o711)  # noqa: S103
    db = Database(settings.database_url)
    started = started if started is not None else Started()
    dc_role: DcRole | None = None
    # Who this process trusts and signs as, and (replica DC) the feed puller.
    wiring = IdentityWiring.of(settings, db, console=roles.console, dc=roles.dc)

    disk = DataDirDisk(settings.data_dir, settings.disk_reserve_mib * 1024 * 1024)

    async def db_ready() -> str | None:
        try:
            async with db.session() as s:
                await s.execute(text("SELECT 1"))
        except Exception as exc:
            return f"metadata store unreachable ({type(exc).__name__})"
        return None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade_to_head, settings.database_url)
        async with db.transaction() as s:
            if roles.console:
                await register_datacenters(s, settings)
                await ensure_catalog(s)
                started.first_admin = await ensure_first_admin(
                    s, settings.first_admin_file, password=settings.admin_password or None
                )
                await snapshot_if_empty(s)
            elif await s.get(Datacenter, settings.datacenter_id) is None:
                await register_datacenters(s, settings, only=settings.datacenter_id)
            if wiring.replica:
                # A DC with its own database needs the plan and image catalog the console seeds.
                await ensure_catalog(s)
        if dc_role is not None:
            await dc_role.start()
        await wiring.start()
        try:
            yield
        finally:
            await wiring.stop()
            await close_browser_access(_app)
            if roles.console:
                await _app.state.federation.aclose()
            if dc_role is not None:
                await dc_role.stop(stop_sandboxes=roles.stop_sandboxes_on_exit)
            await db.dispose()

    app = create_app(
        title="Hemisphere API",
        max_body_bytes=settings.max_body_bytes,
        ready_checks=[db_ready, disk.ready_problem],
        metrics_token=settings.metrics_token,
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.identity = ReplicaIdentity(db) if wiring.replica else DatabaseIdentity(db)
    wiring.install(app)
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.session_cookie = session_cookie_name(settings.public_url)
    if roles.console:
        assert wiring.signer is not None
        mount_console(
            app, db, agent_tokens_dir=settings.agent_tokens_dir, feed_signer=wiring.signer
        )
        mount_web(app, settings)
        # Workspace calls for other DCs go to them; the list covers every DC (issue 9).
        mount_federation(
            app,
            urls={dc.id: dc.url for dc in settings.datacenters if dc.url},
            local_datacenter=settings.datacenter_id if roles.dc else None,
            list_deadline_s=settings.federation_list_deadline_s,
            route_timeout_s=settings.federation_route_timeout_s,
        )
    if roles.dc:
        dc_role = DcRole(settings, db, app.state.identity, runtime or make_runtime(settings))
        dc_role.mount(app)
        mount_browser_access(app, settings, dc_role.context, db, app.state.identity)
    app.state.started = started
    return app
