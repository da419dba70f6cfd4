"""`hemisphere lab up|status|down|cut|heal|delay|kill|restart|db`: a federation on one machine.

The work is in `hemisphere.lab`; this module parses flags, shows progress and prints results.
`--name` picks the lab; without it, the only lab under the lab directory is meant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hemisphere import lab
from hemisphere.cli.apps import command_group
from hemisphere.cli.spec import SpecPath
from hemisphere.topology import SpecError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

lab_app = command_group(
    name="lab",
    help="Every site of a spec as processes in network namespaces joined by a WAN proxy; "
    "fault injection.",
)
db_app = command_group(name="db", help="Stop or start the databases of a site.")
lab_app.add_typer(db_app)

NameOpt = Annotated[
    str | None,
    typer.Option("--name", help="The lab (default: the only one under HEMISPHERE_LAB_DIR)."),
]
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code)


def _guard(action: Callable[[], T]) -> T:
    try:
        return action()
    except lab.LabError as exc:
        raise _fail(str(exc)) from None


def _name(name: str | None) -> str:
    if name:
        return name
    root = lab.lab_root()
    labs = sorted(p.parent.name for p in root.glob("*/lab.json")) if root.is_dir() else []
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise _fail(f"no lab under {root}; start one with `hemisphere lab up SPEC`")
    raise _fail(f"several labs under {root}: {', '.join(labs)}; pick one with --name")


def _state(name: str | None) -> lab.LabState:
    return _guard(lambda: lab.open_lab(_name(name)))


def _print_summary(report: dict[str, Any]) -> None:
    table = Table("site", "url", "processes", "databases", show_edge=False)
    for site in report["sites"]:
        procs = ", ".join(
            f"{p['role']} {p['pid']}" + ("" if p["alive"] else " [red](dead)[/red]")
            for p in site["processes"]
        )
        dbs = ", ".join(f"{d['key']} :{d['port']} {d['state']}" for d in site["databases"])
        table.add_row(site["name"], site["url"], procs, dbs or "-")
    out.print(table)
    links = Table("link", "listen", "state", "latency", show_edge=False)
    for link in report["links"]:
        delay = f"{link['latency_ms']}±{link['jitter_ms']} ms" if link["latency_ms"] else "-"
        if link["bandwidth_kbps"]:
            delay += f", {link['bandwidth_kbps']} KB/s"
        state = link["state"] if link["state"] == "up" else f"[red]{link['state']}[/red]"
        links.add_row(link["name"], link["listen"], state, delay)
    out.print(links)
    admin = report["admin"]
    out.print(f"Console: {report['console_url']}")
    if admin:
        out.print(f"Admin e-mail: {admin['email']}\nAdmin password: {admin['password']}\n"
                  f"API token: {admin['token']}", markup=False)  # fmt: skip


@lab_app.command("up")
def up(spec_path: SpecPath, name: NameOpt = None) -> None:
    """Start every site of SPEC (a central site and 2+ data centers) on this machine."""
    try:
        with err.status("starting the lab …") as status:

            def progress(message: str) -> None:
                status.update(escape(message))
                err.print(f"  {escape(message)}")

            state = lab.up(spec_path, name, progress=progress)
    except SpecError as exc:
        raise _fail(str(exc), 2) from None
    except lab.LabError as exc:
        raise _fail(f"{exc}\n(`hemisphere lab down` removes what was created)") from None
    out.print(f"[bold green]Lab {state.name} is up[/] ({state.dir})")
    _print_summary(lab.status(state))


@lab_app.command("status")
def status(
    name: NameOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Sites, URLs, processes, databases, links and the first admin's credentials."""
    report = _guard(lambda: lab.status(_state(name)))
    if as_json:
        out.print_json(json.dumps(report))
    else:
        _print_summary(report)


@lab_app.command("down")
def down(
    name: NameOpt = None,
    keep_data: Annotated[
        bool, typer.Option("--keep-data", help="Keep databases and data directories.")
    ] = False,
) -> None:
    """Stop and remove everything the lab created (idempotent)."""
    lab_name = _name(name)
    _guard(lambda: lab.down(lab_name, keep_data=keep_data,
                            progress=lambda m: err.print(f"  {escape(m)}")))  # fmt: skip
    out.print(f"Lab {lab_name} is down.")


Target = Annotated[str, typer.Argument(help="SITE or SITE-SITE (the links between two sites).")]
ProcTarget = Annotated[str, typer.Argument(help="SITE or SITE:ROLE (console, dc, agent).")]


def _done(verb: str, names: list[str]) -> None:
    out.print(f"{verb}: {', '.join(names)}")


@lab_app.command("cut")
def cut(target: Target, name: NameOpt = None) -> None:
    """Cut WAN links: connections are refused and open ones closed."""
    _done("cut", _guard(lambda: lab.cut(_state(name), target)))


@lab_app.command("heal")
def heal(target: Target, name: NameOpt = None) -> None:
    """Restore cut WAN links."""
    _done("healed", _guard(lambda: lab.heal(_state(name), target)))


@lab_app.command("delay")
def delay(
    target: Target,
    latency: Annotated[int, typer.Option("--latency", help="One-way latency, ms.", min=0)],
    jitter: Annotated[int, typer.Option("--jitter", help="± jitter, ms.", min=0)] = 0,
    bandwidth: Annotated[
        int | None, typer.Option("--bandwidth", help="KB/s per direction.", min=1)
    ] = None,
    name: NameOpt = None,
) -> None:
    """Add latency ± jitter (and a bandwidth limit) to WAN links; --latency 0 removes it."""
    d = lab.Delay(latency, jitter, bandwidth)
    _done("delayed", _guard(lambda: lab.delay(_state(name), target, d)))


@lab_app.command("kill")
def kill(target: ProcTarget, name: NameOpt = None) -> None:
    """SIGKILL a site's processes (or one role)."""
    _done("killed", _guard(lambda: lab.kill(_state(name), target)))


@lab_app.command("restart")
def restart(target: ProcTarget, name: NameOpt = None) -> None:
    """Stop (gracefully) and start a site's processes (or one role); waits until ready."""
    _done("restarted", _guard(lambda: lab.restart(_state(name), target)))


SiteArg = Annotated[str, typer.Argument(help="The site whose databases to act on.")]


@db_app.command("stop")
def db_stop(site: SiteArg, name: NameOpt = None) -> None:
    """Stop the PostgreSQL server(s) running in SITE."""
    _done("stopped", _guard(lambda: lab.db_stop(_state(name), site)))


@db_app.command("start")
def db_start(site: SiteArg, name: NameOpt = None) -> None:
    """Start the PostgreSQL server(s) of SITE again."""
    _done("started", _guard(lambda: lab.db_start(_state(name), site)))


def register(app: typer.Typer) -> None:
    app.add_typer(lab_app)
