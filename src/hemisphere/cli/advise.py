"""`hemisphere advise`: recommend an installation scenario from the seed's key considerations.

Each consideration is a flag; a missing one is asked interactively (or takes its default with
`--no-input`, or when stdin is not a terminal). The answer names the seed's pros and cons that
drove it, the runner-up, what the answers ruled out, and which single answer would change it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, fields
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.prompt import Prompt
from rich.table import Table

from hemisphere.topology import SCENARIOS
from hemisphere.topology.advisor import (
    QUESTIONS,
    Advice,
    Needs,
    Ranking,
    advise,
    choices,
    needs_from,
)

out = Console(highlight=False)


def _option(field: str) -> Any:
    flag = "--" + field.replace("_", "-")
    return typer.Option(
        flag, help=f"{QUESTIONS[field]} ({' | '.join(choices(field))})", show_default=False
    )


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _ask(field: str, given: str | None, interactive: bool) -> str:
    allowed = choices(field)
    default = getattr(Needs(), field)
    if given is not None:
        if given not in allowed:
            raise typer.BadParameter(
                f"choose one of: {', '.join(allowed)}", param_hint="--" + field.replace("_", "-")
            )
        return given
    if not interactive:
        return str(default)
    return Prompt.ask(QUESTIONS[field], choices=list(allowed), default=str(default), console=out)


def _reasons(ranking: Ranking) -> Table:
    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("", width=2)
    table.add_column("seed's point")
    table.add_column("because")
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in ranking.reasons:
        mark = (
            "[red]✗[/red]"
            if r.weight is None
            else ("[green]+[/green]" if r.pro else "[yellow]-[/yellow]")
        )
        grouped.setdefault((mark, r.title), []).append(r.why)
    for (mark, title), whys in grouped.items():
        table.add_row(mark, title, "; ".join(whys))
    return table


def _show(advice: Advice) -> None:
    best, second = advice.recommended, advice.runner_up
    info = SCENARIOS[best.scenario]
    out.print(
        f"[bold green]Recommended:[/bold green] [bold]{info.number}. {info.title}[/bold] "
        f"({best.scenario}, score {best.score})"
    )
    out.print(f"  {info.summary}")
    out.print(_reasons(best))
    info2 = SCENARIOS[second.scenario]
    score = "ruled out" if second.score is None else f"score {second.score}"
    out.print(
        f"\n[bold]Runner-up:[/bold] {info2.number}. {info2.title} ({second.scenario}, {score})"
    )
    out.print(_reasons(second))
    ruled_out = [r for r in advice.ranking if not r.feasible]
    if ruled_out:
        out.print("\n[bold]Ruled out:[/bold]")
        for r in ruled_out:
            why = "; ".join(f"{x.title}: {x.why}" for x in r.reasons if x.weight is None)
            out.print(f"  {SCENARIOS[r.scenario].number}. {r.scenario} — {why}")
    out.print("\n[bold]What would change the answer:[/bold]")
    if not advice.changes:
        out.print("  no single different answer changes it")
    for c in advice.changes:
        out.print(f"  --{c.field.replace('_', '-')} {c.value} → {c.scenario}")
    out.print(f"\nNext: hemisphere spec init --scenario {best.scenario}")


def register(app: typer.Typer) -> None:
    @app.command("advise")
    def advise_command(
        metadata_sovereignty: Annotated[str | None, _option("metadata_sovereignty")] = None,
        workload_sovereignty: Annotated[str | None, _option("workload_sovereignty")] = None,
        ops_capacity: Annotated[str | None, _option("ops_capacity")] = None,
        datacenters: Annotated[str | None, _option("datacenters")] = None,
        connectivity: Annotated[str | None, _option("connectivity")] = None,
        budget: Annotated[str | None, _option("budget")] = None,
        balance: Annotated[str | None, _option("balance")] = None,
        no_input: Annotated[
            bool, typer.Option("--no-input", help="Never prompt; unanswered ones take defaults.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
    ) -> None:
        """Recommend one of the five installation scenarios, with the trade-offs behind it."""
        given = {
            "metadata_sovereignty": metadata_sovereignty,
            "workload_sovereignty": workload_sovereignty,
            "ops_capacity": ops_capacity,
            "datacenters": datacenters,
            "connectivity": connectivity,
            "budget": budget,
            "balance": balance,
        }
        interactive = not no_input and not as_json and _stdin_is_terminal()
        answers = {f.name: _ask(f.name, given[f.name], interactive) for f in fields(Needs)}
        advice = advise(needs_from(answers))
        if as_json:
            typer.echo(json.dumps(asdict(advice), indent=2))
            return
        _show(advice)
