"""`hemisphere plan SPEC` and `hemisphere render SPEC -o DIR`.

`plan` prints what runs where, which database each DC uses, every link that leaves a site and
what breaks if it is cut, and the scenario's pros and cons in the installation's own names.
`render` writes the Kubernetes manifests per site; Secrets are included only when asked
(`--include-secrets`, which needs the vault key).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hemisphere.cli.spec import SpecPath, load_spec_or_exit
from hemisphere.installer import VaultError
from hemisphere.installer.render import render, write_manifests
from hemisphere.installer.vault import VaultPaths, open_vault
from hemisphere.topology.picture import picture_from_spec, render_svg
from hemisphere.topology.plan import PlanSummary, summarize

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_plan(plan: PlanSummary) -> None:
    info = plan.scenario
    out.print(
        f"[bold]{escape(plan.installation)}[/bold] {plan.version} — scenario "
        f"{info.number}: {info.title} ({info.name})"
    )
    sites = _table("Sites", "site", "role", "location", "operated by", "Kubernetes", "domain")
    for s in plan.sites:
        sites.add_row(s.name, s.role, s.location, s.operator, s.kubernetes, s.domain)
    out.print(sites)
    components = _table("Where each component runs", "component", "site", "detail")
    for c in plan.components:
        components.add_row(c.component, c.site, escape(c.detail))
    out.print(components)
    dbs = _table("Databases", "database", "where", "used by", "operated by")
    for d in plan.databases:
        dbs.add_row(d.key, escape(d.location), ", ".join(d.used_by), d.operator)
    out.print(dbs)
    if plan.links:
        out.print("[bold]Links that leave a site, and what breaks if one is cut[/bold]")
        for link in plan.links:
            wan = "[yellow]WAN[/yellow]" if link.crosses_wan else "local network"
            out.print(f"  {escape(link.source)} → {escape(link.target)}  ({wan})")
            out.print(f"      carries: {escape(link.purpose)}")
            out.print(f"      if cut:  {escape(link.if_cut)}")
    else:
        out.print("[bold]Links:[/bold] none leave the cluster.")
    trade = _table(f"Trade-offs of {info.number} in this installation", "", "seed", "here")
    for t in plan.trade_offs:
        trade.add_row(
            "[green]+[/green]" if t.pro else "[yellow]-[/yellow]", t.point.title, escape(t.concrete)
        )
    out.print(trade)


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_command(
        spec_path: SpecPath,
        svg: Annotated[
            Path | None,
            typer.Option(
                "--svg",
                help="Also write the picture (sites, databases, WAN links and what they carry) "
                "as an SVG file.",
            ),
        ] = None,
    ) -> None:
        """Summarise a spec: sites, placements, databases, WAN links and their trade-offs."""
        spec = load_spec_or_exit(spec_path)
        print_plan(summarize(spec))
        if svg is not None:
            svg.write_text(render_svg(picture_from_spec(spec)))
            out.print(f"picture written to {escape(str(svg))}")

    @app.command("render")
    def render_command(
        spec_path: SpecPath,
        output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write.")],
        include_secrets: Annotated[
            bool,
            typer.Option(
                "--include-secrets", help="Also write Secret objects with values from the vault."
            ),
        ] = False,
        vault: Annotated[Path | None, typer.Option("--vault", help="Vault file.")] = None,
        key: Annotated[Path | None, typer.Option("--key", help="Vault key file.")] = None,
    ) -> None:
        """Write Kubernetes manifests to DIR/<site>/<n>-<phase>.yaml."""
        spec = load_spec_or_exit(spec_path)
        secrets = None
        if include_secrets:
            default = VaultPaths.beside(spec_path)
            paths = VaultPaths(vault or default.vault, key or default.key)
            try:
                secrets = open_vault(paths)
            except VaultError as exc:
                err.print(f"[red]{escape(str(exc))}[/red]")
                raise typer.Exit(1) from None
        rendered = render(spec, secrets)
        files = write_manifests(rendered, output)
        table = _table(f"Rendered {spec.name} into {output}", "site", "objects", "files")
        for site, manifests in rendered.items():
            mine = [f.name for f in files if f.parent.name == site]
            table.add_row(site, str(len(manifests)), ", ".join(mine))
        out.print(table)
        if secrets is not None:
            err.print(
                "[yellow]the files include secret values: keep them out of version control[/yellow]"
            )
