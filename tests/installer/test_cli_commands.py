"""The spec, advise, plan/render and vault commands, driven through Typer's test runner.

The app is built from these command modules only, so the test does not depend on the other
command groups being importable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from hemisphere.cli import advise, plan, spec, vault
from hemisphere.topology import SCENARIO_NAMES, load_spec
from tests.installer.conftest import EXAMPLES


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    for module in (spec, advise, plan, vault):
        module.register(app)
    return app


@pytest.fixture
def run(app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
        return result.exit_code, result.output

    return invoke


@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_init_then_validate_then_plan(run, tmp_path: Path, scenario: str) -> None:  # type: ignore[no-untyped-def]
    code, output = run("spec", "init", "--scenario", scenario, "-o", "s.yaml")
    assert code == 0, output
    assert load_spec(tmp_path / "s.yaml").scenario == scenario
    code, output = run("spec", "validate", "s.yaml")
    assert code == 0 and "✓ s.yaml" in output
    code, output = run("plan", "s.yaml")
    assert code == 0 and "Trade-offs of" in output
    code, output = run("spec", "init", "--scenario", scenario, "-o", "s.yaml")
    assert code == 1 and "--force" in output


def test_validate_reports_every_problem_with_file_line_and_fix(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (EXAMPLES / "federated-shared-db.yaml").read_text()
    text = text.replace("country_code: FR", "country_code: XX").replace("replicas: 2", "replica: 2")
    (tmp_path / "bad.yaml").write_text(text)
    code, output = run("spec", "validate", "bad.yaml")
    assert code == 1
    assert "2 problems" in output
    assert "bad.yaml:" in output and "datacenters[1].country_code" in output
    assert "did you mean `replicas`" in output


def test_init_to_stdout_is_exact_yaml(app: typer.Typer) -> None:
    result = CliRunner().invoke(
        app, ["spec", "init", "-s", "air-gapped", "-o", "-"], env={"COLUMNS": "40"}
    )
    from hemisphere.topology.starters import starter_spec

    assert result.output == starter_spec("air-gapped")


def test_unknown_scenario_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    code, output = run("spec", "init", "--scenario", "moon-base")
    assert code != 0 and "air-gapped" in output


def test_schema_is_json(run) -> None:  # type: ignore[no-untyped-def]
    code, output = run("spec", "schema")
    assert code == 0
    assert json.loads(output)["title"] == "Hemisphere install spec"


def test_advise_with_flags_and_json(run) -> None:  # type: ignore[no-untyped-def]
    code, output = run(
        "advise", "--no-input", "--connectivity", "none", "--metadata-sovereignty", "strict"
    )
    assert code == 0, output
    assert "Recommended: 1. Air-Gapped Installation" in output
    assert "Ruled out:" in output and "Internet Connectivity" in output
    code, output = run(
        "advise",
        "--json",
        "--ops-capacity",
        "low",
        "--balance",
        "ease",
        "--connectivity",
        "internet",
        "--datacenters",
        "multi-unified",
    )
    advice = json.loads(output)
    assert advice["ranking"][0]["scenario"] == "central-cp-shared-db"
    code, output = run("advise", "--no-input", "--budget", "huge")
    assert code != 0 and "low, medium, high" in output


def test_advise_prompts_on_a_real_terminal() -> None:
    """`hemisphere advise` on a real pty (not a faked isatty) asks the seed's questions."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hemisphere.cli.main", "advise"],
        stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )  # fmt: skip
    os.close(slave)
    # The terminal's line discipline hands the program one answer per prompt.
    os.write(master, b"strict\nstrict\nhigh\nsingle\nnone\nmedium\ncontrol\n")
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the program exited and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, output.decode(errors="replace")
    text = output.decode(errors="replace")
    assert "How strict are sovereignty needs for METADATA" in text
    assert "Recommended: 1. Air-Gapped Installation" in text


def test_vault_and_render_keep_secrets_out_unless_asked(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(EXAMPLES / "federated-individual-db.yaml", tmp_path / "nw.yaml")
    code, output = run("vault", "init", "nw.yaml")
    assert code == 0 and "generated 9 secret(s)" in output
    assert (tmp_path / "nw.vault.age").exists() and (tmp_path / "nw.vault.key").exists()
    code, output = run("vault", "show", "nw.yaml")
    assert code == 0 and "sha256:" in output
    code, revealed = run("vault", "show", "nw.yaml", "--reveal", "--datacenter", "1")
    token = next(line for line in revealed.splitlines() if "hsa_" in line)
    assert "agent/dc-1" in token and "agent/dc-2" not in revealed
    value = token.split("hsa_")[1].split()[0].rstrip("│").strip()
    assert value not in output

    code, output = run("render", "nw.yaml", "-o", "plain")
    assert code == 0, output
    plain = "".join(p.read_text() for p in (tmp_path / "plain").rglob("*.yaml"))
    assert "kind: Secret" not in plain and value not in plain
    code, output = run("render", "nw.yaml", "-o", "full", "--include-secrets")
    assert code == 0 and "keep them out of version control" in output
    docs = list(yaml.safe_load_all((tmp_path / "full" / "fra" / "1-infra.yaml").read_text()))
    assert "Secret" in {d["kind"] for d in docs}

    code, output = run("vault", "rotate", "nw.yaml")
    assert code == 2 and "exactly one" in output
    code, output = run("vault", "rotate", "nw.yaml", "--datacenter", "1")
    assert code == 0 and "agent/dc-1, database/dc-1" in output
    code, output = run("vault", "show", "nw.yaml", "--key", "nw.yaml")
    assert code == 1 and "not an age identity" in output
