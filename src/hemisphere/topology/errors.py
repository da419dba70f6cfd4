"""Errors of the topology package, and the `Problem` a spec check reports.

    TopologyError                   (base of every error this package raises)
    ├── SpecError                   (a spec failed to load: carries every Problem found at once)
    └── UnknownSiteError            (a query named a data center or site the spec does not have)

A `Problem` says where (file, line, field path), what is wrong and how to fix it, so the CLI can
print all of them at once and tests can assert on each part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Problem", "SpecError", "TopologyError", "UnknownSiteError"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a spec, located in its file."""

    file: str
    line: int
    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}\n    fix: {self.fix}"


class TopologyError(Exception):
    """Base of every error the topology package raises."""


class SpecError(TopologyError):
    """The install spec could not be loaded; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"install spec has {count} {noun}:"]
        lines.extend(str(p) for p in self.problems)
        super().__init__("\n".join(lines))


class UnknownSiteError(TopologyError, LookupError):
    """A query named a data center id or site name the spec does not define."""
