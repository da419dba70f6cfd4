"""`hemisphere spec init|validate|schema`: write, check and describe install specs.

`validate` prints every problem at once (file:line, field path, what is wrong, how to fix it)
and exits 1 when there is any; `load_spec_or_exit` is the same report for the other commands
that take a SPEC argument.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from hemisphere.cli.apps import command_group
from hemisphere.topology import (
    SCENARIO_NAMES,
    InstallSpec,
    ScenarioName,
    SpecError,
    json_schema,
    load_spec,
)
from hemisphere.topology.starters import starter_spec

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

spec_app = command_group(
    name="spec",
    help="Install specs: write a starter, validate one, print the JSON Schema.",
)

SpecPath = Annotated[Path, typer.Argument(help="Install spec (YAML).", show_default=False)]


def print_problems(exc: SpecError) -> None:
    count = len(exc.problems)
    err.print(f"[red]✗ {count} problem{'s' if count != 1 else ''}[/red]")
    for p in exc.problems:
        where = f"{p.file}:{p.line}"
        field = f" [cyan]{escape(p.path)}[/cyan]:" if p.path else ""
        err.print(f"[bold]{escape(where)}[/bold]:{field} {escape(p.message)}")
        err.print(f"    [green]fix:[/green] {escape(p.fix)}")


def load_spec_or_exit(path: Path) -> InstallSpec:
    """Load `path` or print every problem and exit with status 1."""
    try:
        return load_spec(path)
    except SpecError as exc:
        print_problems(exc)
        raise typer.Exit(1) from None


def _scenario(value: str) -> ScenarioName:
    if value not in SCENARIO_NAMES:
        raise typer.BadParameter(f"choose one of: {', '.join(SCENARIO_NAMES)}")
    return value


@spec_app.command("init")
def init(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario", "-s", help=f"One of: {', '.join(SCENARIO_NAMES)}.", show_default=False
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write ('-' for stdout).")
    ] = Path("hemisphere.yaml"),
    datacenters: Annotated[
        int | None,
        typer.Option("--datacenters", "-n", min=1, max=254, help="Number of data centers."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter spec for a scenario (valid as written; edit the names)."""
    text = starter_spec(_scenario(scenario), datacenters)
    if str(output) == "-":
        typer.echo(text, nl=False)  # raw: a Rich console would wrap long lines
        return
    if output.exists() and not force:
        err.print(f"[red]{escape(str(output))} exists; pass --force to overwrite it[/red]")
        raise typer.Exit(1)
    output.write_text(text)
    out.print(f"[green]✓[/green] wrote {escape(str(output))} (scenario {scenario})")
    out.print(f"  next: edit it, then `hemisphere spec validate {escape(str(output))}`")


@spec_app.command("validate")
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Install specs to check.")],
) -> None:
    """Check specs: every problem at once, with file:line, field, what is wrong and the fix."""
    failed = False
    for path in specs:
        try:
            spec = load_spec(path)
        except SpecError as exc:
            print_problems(exc)
            failed = True
            continue
        out.print(
            f"[green]✓[/green] {escape(str(path))}: {spec.scenario} "
            f"({spec.scenario_info.number}), {len(spec.datacenters)} data center"
            f"{'s' if len(spec.datacenters) != 1 else ''}, version {spec.version}"
        )
    if failed:
        raise typer.Exit(1)


@spec_app.command("schema")
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of install specs (for editor completion)."""
    text = json.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        out.print(f"[green]✓[/green] wrote {escape(str(output))}")


def register(app: typer.Typer) -> None:
    app.add_typer(spec_app)
