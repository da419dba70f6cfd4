"""Upgrades across the sites of a real spec: the skew policy (pure), and apply/rollback through
the CLI against sites whose readiness is served by a real local HTTP server, deployed by a real
command."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hemisphere.bundle.upgrade import (
    Role,
    SiteTarget,
    SkewPolicyError,
    StateStore,
    UpgradePathError,
    Version,
    plan_upgrade,
    skew_problem,
)
from hemisphere.cli.main import app
from tests.bundle.conftest import KeyPair, make_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = EXAMPLES / "federated-individual-db.yaml"
SITES = ["hq", "fra", "zrh", "osl"]
runner = CliRunner()


def _sites() -> list[SiteTarget]:
    return [SiteTarget("hq", Role.CONSOLE, "x")] + [
        SiteTarget(n, Role.DC, "x") for n in ("fra", "zrh")
    ]


@pytest.mark.parametrize(
    ("console", "dc", "allowed"),
    [
        ("1.68.0", "1.68.3", True),
        ("1.68.0", "1.67.9", True),
        ("1.68.0", "1.66.0", False),
        ("1.68.0", "1.69.0", False),
        ("2.0.0", "1.41.2", True),
        ("2.1.0", "1.41.2", False),
    ],
)
def test_skew_policy(console: str, dc: str, allowed: bool) -> None:
    assert (skew_problem(Version.parse(console), Version.parse(dc)) is None) is allowed


def test_plan_moves_console_first_then_each_dc() -> None:
    plan = plan_upgrade(_sites(), {"hq": "1.67.0", "fra": "1.67.0", "zrh": "1.68.0"}, "1.68.0")
    assert [s.site for s in plan.steps] == ["hq", "fra"]
    assert plan.unchanged == ("zrh",)


def test_plan_refuses_a_skew_reached_midway() -> None:
    with pytest.raises(SkewPolicyError) as info:
        plan_upgrade(_sites(), {"hq": "1.66.0", "fra": "1.66.0", "zrh": "1.66.0"}, "1.68.0")
    message = str(info.value)
    assert "after upgrading hq to 1.68.0" in message
    assert "'fra'" in message and "more than one release behind" in message


def test_plan_refuses_versions_below_the_bundles_minimum() -> None:
    with pytest.raises(UpgradePathError, match=r"upgrades only from 1\.67\.0"):
        plan_upgrade(
            _sites(), {"hq": "1.67.0", "fra": "1.66.5", "zrh": "1.67.0"}, "1.68.0", "1.67.0"
        )


def test_plan_refuses_a_downgrade() -> None:
    with pytest.raises(UpgradePathError, match="rollback"):
        plan_upgrade(_sites(), {"hq": "1.69.0"}, "1.68.0")


@dataclass
class FakeSites:
    """Real HTTP server standing in for the sites' ingress: /<site>/readyz reports the version a
    site runs (the file the deploy command writes), or 503 for sites marked broken."""

    versions: Path
    broken: set[str] = field(default_factory=set)
    port: int = 0

    def url(self, site: str) -> str:
        return f"http://127.0.0.1:{self.port}/{site}/readyz"

    def version(self, site: str) -> str | None:
        path = self.versions / site
        return path.read_text() if path.exists() else None


@pytest.fixture
def fake_sites(tmp_path: Path) -> Iterator[FakeSites]:
    sites = FakeSites(versions=tmp_path / "running")
    sites.versions.mkdir()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site = self.path.strip("/").split("/")[0]
            version = sites.version(site)
            if site in sites.broken or version is None:
                body, status = b'{"status": "unavailable"}', 503
            else:
                body, status = json.dumps({"status": "ready", "version": version}).encode(), 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sites.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sites
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory, vendor_key: KeyPair) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("releases")
    return {
        version: make_bundle(root / f"hemisphere-{version}.bundle", None, vendor_key,
                             version=version, min_upgrade_from=minimum)
        for version, minimum in (("1.67.0", None), ("1.68.0", "1.67.0"), ("1.70.0", "1.69.0"))
    }  # fmt: skip


def _deploy_command(tmp_path: Path, sites: FakeSites) -> str:
    script = tmp_path / "deploy.py"
    script.write_text(
        "import os, pathlib\n"
        "assert pathlib.Path(os.environ['HEMISPHERE_BUNDLE_DIR'], 'manifest.json').is_file()\n"
        f"pathlib.Path({str(sites.versions)!r}, os.environ['HEMISPHERE_SITE'])"
        ".write_text(os.environ['HEMISPHERE_VERSION'])\n"
        f"with open({str(tmp_path / 'deploys.log')!r}, 'a') as log:\n"
        "    log.write(os.environ['HEMISPHERE_SITE'] + ' ' + os.environ['HEMISPHERE_VERSION'] + '\\n')\n"
    )
    return f"{sys.executable} {script}"


def _common(tmp_path: Path, sites: FakeSites, key: KeyPair) -> list[str]:
    args = ["--spec", str(SPEC), "--key", str(key.public_path), "--state", str(tmp_path / "state")]
    args += ["--deploy-command", _deploy_command(tmp_path, sites)]
    args += ["--health-timeout", "2", "--health-interval", "0.05"]
    for site in SITES:
        args += ["--health-url", f"{site}={sites.url(site)}"]
    return args


def _text(output: str) -> str:
    """CLI output with Rich's line wrapping undone."""
    return " ".join(output.split())


def _deploys(tmp_path: Path) -> list[str]:
    return (tmp_path / "deploys.log").read_text().splitlines()


def test_apply_upgrade_halt_and_rollback(
    tmp_path: Path, fake_sites: FakeSites, releases: dict[str, Path], vendor_key: KeyPair
) -> None:
    common = _common(tmp_path, fake_sites, vendor_key)

    result = runner.invoke(app, ["upgrade", "apply", "--bundle", str(releases["1.67.0"]), *common])
    assert result.exit_code == 0, result.output
    assert _deploys(tmp_path) == [f"{s} 1.67.0" for s in SITES]

    plan = [
        "--spec",
        str(SPEC),
        "--key",
        str(vendor_key.public_path),
        "--state",
        str(tmp_path / "state"),
    ]
    result = runner.invoke(app, ["upgrade", "plan", "--bundle", str(releases["1.70.0"]), *plan])
    assert result.exit_code == 1
    assert "upgrades only from 1.69.0" in _text(result.output)

    result = runner.invoke(app, ["upgrade", "plan", "--bundle", str(releases["1.68.0"]), *plan])
    assert result.exit_code == 0, result.output
    assert "hq" in _text(result.output) and "1.67.0" in _text(result.output)

    fake_sites.broken.add("zrh")
    result = runner.invoke(app, ["upgrade", "apply", "--bundle", str(releases["1.68.0"]), *common])
    assert result.exit_code == 1
    assert "stopped at site zrh" in _text(result.output)
    assert "Sites already moved: hq, fra" in _text(result.output)
    assert _deploys(tmp_path)[4:] == ["hq 1.68.0", "fra 1.68.0", "zrh 1.68.0"]  # osl untouched
    state = StateStore(tmp_path / "state" / "upgrade-state.json").load()
    assert {s: state.version_of(s) for s in SITES} == {
        "hq": "1.68.0", "fra": "1.68.0", "zrh": "1.67.0", "osl": "1.67.0",
    }  # fmt: skip
    assert state.sites["zrh"].pending == "1.68.0"
    assert state.history[-1].result == "failed" and "zrh" in state.history[-1].detail

    fake_sites.broken.clear()
    result = runner.invoke(app, ["upgrade", "rollback", *common])
    assert result.exit_code == 0, result.output
    assert _deploys(tmp_path)[7:] == ["fra 1.67.0", "zrh 1.67.0", "hq 1.67.0"]  # DCs first
    assert {s: fake_sites.version(s) for s in SITES} == dict.fromkeys(SITES, "1.67.0")
    state = StateStore(tmp_path / "state" / "upgrade-state.json").load()
    assert all(state.sites[s].version == "1.67.0" and not state.sites[s].pending for s in SITES)
    assert [e.action for e in state.history].count("rollback") == 3

    result = runner.invoke(
        app, ["upgrade", "history", "--spec", str(SPEC), "--state", str(tmp_path / "state")]
    )
    assert result.exit_code == 0
    assert "rollback" in _text(result.output)


def test_health_gate_requires_the_new_version(
    tmp_path: Path, fake_sites: FakeSites, releases: dict[str, Path], vendor_key: KeyPair
) -> None:
    for site in SITES:
        (fake_sites.versions / site).write_text("1.66.0")  # sites that never moved
    args = _common(tmp_path, fake_sites, vendor_key)
    at = args.index("--deploy-command")
    args[at : at + 2] = ["--record-only"]
    result = runner.invoke(app, ["upgrade", "apply", "--bundle", str(releases["1.67.0"]), *args])
    assert result.exit_code == 1
    assert "reports version 1.66.0, not 1.67.0" in _text(result.output)


def test_rollback_without_history_says_so(tmp_path: Path, vendor_key: KeyPair) -> None:
    result = runner.invoke(
        app,
        ["upgrade", "rollback", "--spec", str(SPEC), "--key", str(vendor_key.public_path),
         "--state", str(tmp_path), "--record-only"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no upgrade in the history" in _text(result.output)
