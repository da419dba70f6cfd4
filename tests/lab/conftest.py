"""Print the fault matrix (scenario, fault, outcome) at the end of a session that ran the lab
suite, and keep it in test-artifacts/lab-fault-matrix.json."""

from __future__ import annotations

import pytest

from tests.lab.harness import MATRIX, write_matrix


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MATRIX:
        return
    path = write_matrix()
    terminalreporter.section("lab fault matrix")
    for row in MATRIX:
        extra = {k: v for k, v in row.items() if k not in ("scenario", "fault", "outcome")}
        terminalreporter.write_line(
            f"{row['scenario']:4} {row['fault']:28} {row['outcome']:34} {extra}"
        )
    terminalreporter.write_line(f"(also in {path})")
