"""`--help` of every command and subcommand of the real `hemisphere` app renders without a
traceback (help texts such as `HOST[:PORT][/PATH]` once crashed Rich's markup parser)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from hemisphere.cli.main import app


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    # Typer ships its own click; a group is whatever has sub-commands.
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*prefix, name))


COMMANDS = list(_paths(typer.main.get_command(app)))


def test_the_tree_is_walked() -> None:
    # The walk must reach the nested groups, or the parametrized test below proves little.
    assert ("bundle", "push") in COMMANDS
    assert ("ws", "create") in COMMANDS
    assert ("serve", "dc") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "hemisphere")
def test_help_renders(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="hemisphere")
    assert result.exception is None, result.output
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert "Traceback" not in result.output
