"""The `hemisphere` command: one Typer app, each command group in its own module.

Each module in `_COMMAND_MODULES` exposes `register(app)`, which adds its commands or sub-apps.
"""

from __future__ import annotations

import importlib

import typer

_COMMAND_MODULES = (
    "hemisphere.cli.serve",
    "hemisphere.cli.apply",
    "hemisphere.cli.client",
    "hemisphere.cli.bundle",
    "hemisphere.cli.upgrade",
    "hemisphere.cli.spec",
    "hemisphere.cli.advise",
    "hemisphere.cli.plan",
    "hemisphere.cli.vault",
)

app = typer.Typer(
    name="hemisphere",
    help="Hemisphere: self-hosted cloud development environments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in _COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
