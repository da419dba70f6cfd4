"""The README's quick start, run word for word against a real `hemisphere up`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.services.platform import Up

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def _quick_start() -> str:
    text = README.read_text()
    section = text.split("## Your first workspace", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the quick start has no sh block"
    return match.group(1)


def test_readme_mentions_the_two_commands() -> None:
    text = README.read_text()
    assert "make up" in text and "make test" in text


def test_quick_start_works_as_written(up: Up) -> None:
    up.start()
    admin = (up.data_dir / "first-admin.txt").read_text()
    token = re.search(r"API token: (\S+)", admin)
    assert token
    script = _quick_start().replace("hsp_...", token.group(1))
    script = script.replace("http://localhost:8080", up.url)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"output":"hi from' in result.stdout
    assert '"exitCode":0' in result.stdout
