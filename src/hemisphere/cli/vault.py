"""`hemisphere vault init|show|rotate SPEC`: the installation's secrets.

The vault sits beside the spec (`<spec>.vault.age`, key `<spec>.vault.key`) unless --vault and
--key say otherwise. `show` masks every value unless --reveal is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hemisphere.cli.apps import command_group
from hemisphere.cli.spec import SpecPath, load_spec_or_exit
from hemisphere.installer import VaultError
from hemisphere.installer.vault import (
    SHARED,
    VaultPaths,
    init_vault,
    mask,
    open_vault,
    rotate_secrets,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

vault_app = command_group(
    name="vault",
    help="Secrets generated once, encrypted at rest (age), shared or per data center.",
)

VaultOpt = Annotated[Path | None, typer.Option("--vault", help="Vault file.")]
KeyOpt = Annotated[Path | None, typer.Option("--key", help="Vault key file (age identity).")]


def _paths(spec_path: Path, vault: Path | None, key: Path | None) -> VaultPaths:
    default = VaultPaths.beside(spec_path)
    return VaultPaths(vault or default.vault, key or default.key)


def _fail(exc: VaultError) -> typer.Exit:
    err.print(f"[red]{escape(str(exc))}[/red]")
    return typer.Exit(1)


@vault_app.command("init")
def init(spec_path: SpecPath, vault: VaultOpt = None, key: KeyOpt = None) -> None:
    """Generate every secret the spec needs (only those not generated before)."""
    spec = load_spec_or_exit(spec_path)
    paths = _paths(spec_path, vault, key)
    new_key = not paths.key.exists()
    try:
        result, added = init_vault(spec, paths)
    except VaultError as exc:
        raise _fail(exc) from None
    if added:
        out.print(
            f"[green]✓[/green] generated {len(added)} secret(s) in {escape(str(paths.vault))}"
        )
        for name in added:
            out.print(f"  {name} ({result.entries[name].scope})")
    else:
        out.print(f"[green]✓[/green] {escape(str(paths.vault))} already holds every secret")
    if new_key:
        out.print(
            f"[yellow]key written to {escape(str(paths.key))}: store it apart from the "
            "vault and out of version control[/yellow]"
        )


@vault_app.command("show")
def show(
    spec_path: SpecPath,
    vault: VaultOpt = None,
    key: KeyOpt = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="Print the values in clear.")] = False,
    datacenter: Annotated[
        int | None, typer.Option("--datacenter", help="Only this DC's secrets.")
    ] = None,
) -> None:
    """List the secrets (values masked unless --reveal)."""
    load_spec_or_exit(spec_path)
    try:
        opened = open_vault(_paths(spec_path, vault, key))
    except VaultError as exc:
        raise _fail(exc) from None
    table = Table(title=f"Vault of {opened.installation}", title_justify="left")
    for column in ("secret", "scope", "version", "created", "field", "value"):
        table.add_column(column, overflow="fold")
    for name, entry in opened.entries.items():
        if datacenter is not None and entry.scope != f"dc-{datacenter}":
            continue
        for index, (field, value) in enumerate(sorted(entry.fields.items())):
            shown = value if reveal else mask(value)
            first = index == 0
            table.add_row(
                name if first else "",
                entry.scope if first else "",
                str(entry.version) if first else "",
                entry.created if first else "",
                field,
                escape(shown),
            )
    out.print(table)


@vault_app.command("rotate")
def rotate(
    spec_path: SpecPath,
    vault: VaultOpt = None,
    key: KeyOpt = None,
    secret: Annotated[
        list[str] | None, typer.Option("--secret", help="Secret to rotate (repeatable).")
    ] = None,
    datacenter: Annotated[
        int | None, typer.Option("--datacenter", help="Rotate every secret of this DC.")
    ] = None,
    shared: Annotated[bool, typer.Option("--shared", help="Rotate every shared secret.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Rotate every secret.")] = False,
) -> None:
    """Regenerate secrets; each keeps its previous value for a rolling switch-over."""
    spec = load_spec_or_exit(spec_path)
    chosen = [bool(secret), datacenter is not None, shared, all_]
    if sum(chosen) != 1:
        err.print(
            "[red]say what to rotate: --secret NAME, --datacenter ID, --shared or "
            "--all (exactly one)[/red]"
        )
        raise typer.Exit(2)
    scope = SHARED if shared else (f"dc-{datacenter}" if datacenter is not None else None)
    try:
        _, rotated = rotate_secrets(spec, _paths(spec_path, vault, key), secret or (), scope)
    except VaultError as exc:
        raise _fail(exc) from None
    if not rotated:
        err.print("[yellow]nothing matched; `hemisphere vault show` lists the secrets[/yellow]")
        raise typer.Exit(1)
    out.print(f"[green]✓[/green] rotated {len(rotated)} secret(s): {', '.join(rotated)}")
    out.print("  apply the spec again to roll them out (previous values stay valid until then)")


def register(app: typer.Typer) -> None:
    app.add_typer(vault_app)
