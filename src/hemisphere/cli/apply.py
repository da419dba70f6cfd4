"""`hemisphere apply|diff|status|uninstall SPEC`: the install spec against the live clusters.

The spec is rendered (`hemisphere.installer.render`) into manifests per site; the live layer
(`hemisphere.installer.live`) applies, compares, reports or removes them. Progress is a Rich
display per site on a terminal, and one line per event otherwise (logs, CI, tests).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from hemisphere.installer.live import (
    DEFAULT_READY_TIMEOUT_S,
    Event,
    LiveError,
    SiteReport,
    SiteTarget,
    Step,
    apply_sites,
    diff_site,
    status_site,
    uninstall_site,
)
from hemisphere.installer.live.targets import site_targets

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

Spec = Annotated[Path, typer.Argument(help="Install spec (YAML).", show_default=False)]
Sites = Annotated[list[str] | None, typer.Option("--site", help="Only this site (repeatable).")]
Timeout = Annotated[
    float,
    typer.Option("--timeout", help="Seconds to wait for each object to become ready."),
]
Plain = Annotated[
    bool, typer.Option("--plain", help="One line per event instead of a live display.")
]


VaultFile = Annotated[
    Path | None, typer.Option("--vault", help="Vault file (default: beside the spec).")
]
VaultKey = Annotated[
    Path | None, typer.Option("--key", help="Vault key file (default: beside the spec).")
]


def _targets(
    spec_path: Path,
    sites: Sequence[str] | None,
    vault: Path | None,
    key: Path | None,
    *,
    create_vault: bool,
) -> list[SiteTarget]:
    """Load the spec, open (apply: create if absent) its vault, render, resolve kubeconfigs."""
    from hemisphere.cli.spec import load_spec_or_exit
    from hemisphere.installer import VaultError
    from hemisphere.installer.render import render
    from hemisphere.installer.vault import Vault, VaultPaths, init_vault, open_vault

    spec = load_spec_or_exit(spec_path)
    default = VaultPaths.beside(spec_path)
    paths = VaultPaths(vault or default.vault, key or default.key)
    secrets: Vault | None = None
    try:
        if create_vault:
            secrets, added = init_vault(spec, paths)
            if added:
                err.print(f"generated {len(added)} secrets into {paths.vault}")
        else:
            secrets = open_vault(paths) if paths.vault.exists() else None
    except VaultError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    rendered = render(spec, secrets)
    try:
        return site_targets(spec, rendered, tuple(sites or ()))
    except KeyError as exc:
        err.print(f"[red]{spec_path}: {escape(str(exc.args[0]))}[/red]")
        raise typer.Exit(2) from None
    except LiveError as exc:
        err.print(f"[red]{spec_path}: {escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


class _LineSink:
    """One flushed line per event (non-interactive output)."""

    def __call__(self, e: Event) -> None:
        text = {
            Step.SITE_STARTED: f"{e.total} objects",
            Step.PHASE_STARTED: f"phase {e.phase} started ({e.total} objects)",
            Step.OBJECT: f"{e.phase}: {e.action.value if e.action else ''} {e.obj}",
            Step.WAITING: f"phase {e.phase}: waiting for {e.total} objects",
            Step.READY: f"{e.phase}: ready {e.obj} ({e.message})",
            Step.PHASE_DONE: f"phase {e.phase} done",
            Step.SITE_DONE: f"done: {e.message}",
            Step.SITE_FAILED: f"FAILED: {e.message}",
        }[e.step]
        print(f"site {e.site}: {text}", flush=True)


class _RichSink:
    """A progress bar per site: objects handled out of the total, current phase and object."""

    def __init__(self, progress: Progress, targets: Sequence[SiteTarget]) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {
            t.site: progress.add_task(t.site, total=max(len(t.manifests), 1), detail="")
            for t in targets
        }

    def __call__(self, e: Event) -> None:
        task = self.tasks[e.site]
        if e.step == Step.OBJECT and e.phase != "crds":
            self.progress.advance(task)
        detail = {
            Step.PHASE_STARTED: f"{e.phase}…",
            Step.OBJECT: f"{e.phase}: {e.action.value if e.action else ''} {e.obj}",
            Step.WAITING: f"{e.phase}: waiting for {e.total} to be ready",
            Step.READY: f"{e.phase}: ready {e.obj}",
            Step.SITE_DONE: f"[green]{e.message}[/green]",
            Step.SITE_FAILED: "[red]failed[/red]",
        }.get(e.step)
        if detail is not None:
            self.progress.update(task, detail=detail)
        if e.step == Step.SITE_DONE:
            self.progress.update(task, completed=self.progress.tasks[task].total)


def _with_progress(
    targets: Sequence[SiteTarget],
    plain: bool,
    run: Callable[[Callable[[Event], None]], dict[str, SiteReport]],
) -> dict[str, SiteReport]:
    try:
        if plain or not sys.stdout.isatty():
            return run(_LineSink())
        progress = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=out,
        )
        with progress:
            return run(_RichSink(progress, targets))
    except KeyboardInterrupt:
        err.print("[yellow]interrupted: run the same command again to resume[/yellow]")
        raise typer.Exit(130) from None


def _report(reports: dict[str, SiteReport], verb: str) -> None:
    table = Table(title=f"hemisphere {verb}")
    table.add_column("site")
    table.add_column("result")
    for site, r in reports.items():
        table.add_row(site, f"[red]{r.error}[/red]" if r.error else r.summary())
    out.print(table)
    failed = [r for r in reports.values() if r.error]
    if failed:
        raise typer.Exit(1)
    if not any(r.changed for r in reports.values()):
        out.print(
            "Nothing to remove: no site holds objects Hemisphere created."
            if verb == "uninstall"
            else "No changes: every site is already up to date."
        )


def apply_cmd(
    spec: Spec,
    site: Sites = None,
    timeout: Timeout = DEFAULT_READY_TIMEOUT_S,
    plain: Plain = False,
    vault: VaultFile = None,
    key: VaultKey = None,
) -> None:
    """Apply the rendered spec to every site's cluster (idempotent; rerun to resume)."""
    targets = _targets(spec, site, vault, key, create_vault=True)
    reports = _with_progress(
        targets,
        plain,
        lambda sink: asyncio.run(apply_sites(targets, on_event=sink, timeout_s=timeout)),
    )
    _report(reports, "apply")


def uninstall_cmd(
    spec: Spec,
    site: Sites = None,
    timeout: Timeout = DEFAULT_READY_TIMEOUT_S,
    plain: Plain = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    vault: VaultFile = None,
    key: VaultKey = None,
) -> None:
    """Remove what Hemisphere created at each site (objects it labelled), nothing else."""
    targets = _targets(spec, site, vault, key, create_vault=False)
    if not yes:
        names = ", ".join(t.site for t in targets)
        if not sys.stdin.isatty():
            err.print("[red]uninstall needs --yes when not run from a terminal[/red]")
            raise typer.Exit(2)
        typer.confirm(f"Delete Hemisphere from {names}?", abort=True)

    async def run_all(sink: Callable[[Event], None]) -> dict[str, SiteReport]:
        reports = await asyncio.gather(
            *(uninstall_site(t, on_event=sink, timeout_s=timeout) for t in targets)
        )
        return {r.site: r for r in reports}

    reports = _with_progress(targets, plain, lambda sink: asyncio.run(run_all(sink)))
    _report(reports, "uninstall")


def diff_cmd(spec: Spec, site: Sites = None, vault: VaultFile = None, key: VaultKey = None) -> None:
    """Show what apply would change against the live clusters (exit 1 when something would)."""
    targets = _targets(spec, site, vault, key, create_vault=False)

    async def run_all() -> list[Any]:
        return list(await asyncio.gather(*(diff_site(t) for t in targets)))

    results = asyncio.run(run_all())
    pending = False
    for d in results:
        if d.error:
            err.print(f"[red]site {d.site}: {d.error}[/red]")
            raise typer.Exit(2)
        changes = d.changes
        out.print(f"[bold]site {d.site}[/bold]: {len(changes)} of {len(d.objects)} objects differ")
        for o in changes:
            pending = True
            out.print(f"  [yellow]{o.change}[/yellow] {o.ref}")
            out.print(o.text, markup=False, highlight=False)
    if pending:
        raise typer.Exit(1)
    out.print("No differences: the live clusters match the spec.")


def status_cmd(
    spec: Spec,
    site: Sites = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every object.")] = False,
    vault: VaultFile = None,
    key: VaultKey = None,
) -> None:
    """Per site: how many objects are applied and up to date, and how many are healthy."""
    targets = _targets(spec, site, vault, key, create_vault=False)

    async def run_all() -> list[Any]:
        return list(await asyncio.gather(*(status_site(t) for t in targets)))

    results = asyncio.run(run_all())
    table = Table(title="hemisphere status")
    for col in ("site", "applied", "healthy", "no status yet", "problems"):
        table.add_column(col)
    bad = False
    for s in results:
        if s.error:
            table.add_row(s.site, "-", "-", "-", f"[red]{escape(s.error)}[/red]")
            bad = True
            continue
        problems = "; ".join(f"{o.ref}: {o.detail}" for o in s.unhealthy[:5])
        bad = bad or bool(s.unhealthy)
        total = len(s.objects)
        unknown = [o for o in s.objects if o.healthy is None]
        waiting = f"{len(unknown)} (operator not reporting)" if unknown else "0"
        table.add_row(
            s.site, f"{s.applied}/{total}", f"{s.healthy}/{total}", waiting, problems or "none"
        )
    out.print(table)
    if verbose:
        for s in results:
            for o in s.objects:
                health = {True: "healthy", False: "unhealthy", None: "unknown"}[o.healthy]
                state = "up to date" if o.up_to_date else ("drifted" if o.present else "missing")
                out.print(f"{s.site}\t{o.phase}\t{o.ref}\t{state}\t{health}\t{o.detail}")
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("apply")(apply_cmd)
    app.command("diff")(diff_cmd)
    app.command("status")(status_cmd)
    app.command("uninstall")(uninstall_cmd)
