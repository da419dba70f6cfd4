"""`hemisphere up` (the embedded default) and `hemisphere serve console|dc` (roles apart)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from hemisphere.cli.apps import command_group
from hemisphere.config import ConfigError, Settings
from hemisphere.console.bootstrap import format_first_admin
from hemisphere.db.engine import Database
from hemisphere.dc.app import storage_summary
from hemisphere.federation.heartbeat import Agent
from hemisphere.federation.snapshots import take_snapshot
from hemisphere.observability.logs import configure as configure_logs
from hemisphere.server import Roles, build_app
from hemisphere.server.app import Started

out = Console(stderr=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the database, secret key and workspaces live.",
                 envvar="HEMISPHERE_DATA_DIR"),
]  # fmt: skip
Port = Annotated[int | None, typer.Option("--port", help="HTTP port.", envvar="HEMISPHERE_PORT")]
Host = Annotated[
    str | None, typer.Option("--host", help="Listen address.", envvar="HEMISPHERE_HOST")
]
DbUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="sqlite:///path or postgresql://user:pw@host/db",
                 envvar="HEMISPHERE_DATABASE_URL"),
]  # fmt: skip


def _settings(**changes: object) -> Settings:
    """Settings from flags and HEMISPHERE_* variables, or a clear error naming the variable."""
    try:
        return Settings().with_(**changes)
    except ConfigError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None


def _serve(settings: Settings, roles: Roles, *, banner: bool) -> None:
    configure_logs(settings.log_level)
    started = Started()
    app = build_app(settings, roles, started=started)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        proxy_headers=False,  # forwarded headers are believed per HEMISPHERE_TRUSTED_PROXIES
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and banner:
            _print_banner(settings, started)
        await task

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    if not server.started:
        raise typer.Exit(1)


def _print_banner(settings: Settings, started: Started) -> None:
    out.print(f"\n[bold green]Hemisphere is running[/] on {settings.public_url}")
    if started.first_admin is not None:
        out.print(f"Open {settings.public_url} in a browser and log in with:")
        out.print(format_first_admin(started.first_admin), markup=False)
        out.print(
            f"(also in {settings.first_admin_file}; delete that file once you have stored them)"
        )
    else:
        out.print(
            f"First admin credentials file {settings.first_admin_file} was removed; "
            "log in with the password you stored."
        )
    out.print(f"Data lives in {settings.data_dir} (database: {settings.database_url})")
    out.print(storage_summary(settings), markup=False)
    out.print(f"API docs: {settings.public_url}/api/docs — press Ctrl-C to stop.\n")


def register(app: typer.Typer) -> None:
    @app.command()
    def up(data_dir: DataDir = None, port: Port = None, host: Host = None) -> None:
        """Run the whole platform on this machine (console + one data center, SQLite, local
        sandboxes) and print the first admin's credentials."""
        settings = _settings(data_dir=data_dir, port=port, host=host)
        if port is not None:
            settings = settings.with_(
                public_url=f"http://localhost:{port}", preview_domain=f"localhost:{port}"
            )
        _serve(settings, Roles(console=True, dc=True), banner=True)

    serve = command_group(help="Run one role of a multi-process installation.")
    app.add_typer(serve, name="serve")

    @serve.command("agent")
    def serve_agent(
        datacenter: Annotated[int, typer.Option("--datacenter", help="This data center's id.")],
        console_url: Annotated[
            str | None, typer.Option(envvar="HEMISPHERE_CONSOLE_URL", help="The console's URL.")
        ] = None,
    ) -> None:
        """The DC's link to the console: dials out only, renews the DC's lease."""
        settings = _settings(datacenter_id=datacenter, console_url=console_url)
        configure_logs(settings.log_level)
        if not settings.console_url or not settings.agent_token:
            err.print(
                "error: the agent needs HEMISPHERE_CONSOLE_URL (or --console-url) and "
                "HEMISPHERE_AGENT_TOKEN (this DC's token from `hemisphere vault show`)"
            )
            raise typer.Exit(2)
        # Beside a dc with the DC's database (HEMISPHERE_DATABASE_URL): status snapshots too.
        db = Database(settings.database_url) if os.environ.get("HEMISPHERE_DATABASE_URL") else None
        agent = Agent(
            datacenter_id=datacenter,
            console_url=settings.console_url,
            token=settings.agent_token,
            dc_url=settings.dc_url,
            interval_s=settings.heartbeat_interval_s,
            snapshot=(lambda: take_snapshot(db, datacenter)) if db is not None else None,
            snapshot_interval_s=settings.snapshot_interval_s,
        )

        async def run() -> None:
            try:
                await agent.run()
            finally:
                await agent.close()
                if db is not None:
                    await db.dispose()

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())

    @serve.command("console")
    def serve_console(
        data_dir: DataDir = None, port: Port = None, host: Host = None, database_url: DbUrl = None
    ) -> None:
        """The Management Console: identity, data-center registry, audit."""
        settings = _settings(data_dir=data_dir, port=port, host=host, database_url=database_url)
        _serve(settings, Roles(console=True, dc=False), banner=True)

    @serve.command("dc")
    def serve_dc(
        datacenter: Annotated[int, typer.Option("--datacenter", help="This data center's id.")],
        data_dir: DataDir = None,
        port: Port = None,
        host: Host = None,
        database_url: DbUrl = None,
        keep_sandboxes: Annotated[
            bool, typer.Option(help="Leave workspaces running when this process exits.")
        ] = False,
    ) -> None:
        """The data-center services: workspace API, reconciler and runtime."""
        settings = _settings(
            data_dir=data_dir,
            port=port,
            host=host,
            database_url=database_url,
            datacenter_id=datacenter,
        )
        _serve(
            settings,
            # Pods outlive a restart of the dc service (a rolling update must not stop every
            # workspace); local sandboxes are stopped unless asked otherwise.
            Roles(
                console=False,
                dc=True,
                stop_sandboxes_on_exit=settings.runtime == "local" and not keep_sandboxes,
            ),
            banner=False,
        )
