"""The `hemisphere` command: one Typer app, each command group in its own module.

Each module in `_COMMAND_MODULES` exposes `register(app)`, which adds its commands or sub-apps.
"""

from __future__ import annotations

import importlib

from hemisphere.cli.apps import command_group

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
    "hemisphere.cli.lab",
)

app = command_group(
    name="hemisphere",
    help="Hemisphere: self-hosted cloud development environments.",
    pretty_exceptions_enable=False,
)

for _module in _COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
