"""One way to make a Typer command group, so every group renders help the same way.

Help texts are plain text: they contain syntax such as `HOST[:PORT][/PATH]` that Rich would read
as markup (and crash on), so no group may turn Rich markup on.
"""

from __future__ import annotations

from typing import Any

import typer


def command_group(**options: Any) -> typer.Typer:
    """A Typer app with Hemisphere's defaults; `options` are passed to `typer.Typer`."""
    options.setdefault("no_args_is_help", True)
    options.setdefault("add_completion", False)
    return typer.Typer(rich_markup_mode=None, **options)
