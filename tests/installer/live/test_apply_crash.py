"""Crash test: `hemisphere apply` is SIGKILLed at every phase boundary and in the middle of
every phase (and during a readiness wait); a rerun must converge to exactly the live state an
uninterrupted apply produces (objects compared field by field)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.installer.live.conftest import (
    SNAPSHOT_KINDS,
    dumps,
    hemisphere,
    managed_snapshot,
    point_spec_at,
)
from tests.services.kube import KubeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.k8s]

# (name, line that triggers the kill, how many such lines to see first)
KILL_POINTS = [
    ("before-crds", "phase crds started", 1),
    ("mid-crds", ": crds: created ", 2),
    ("boundary-infra", "phase infra started", 1),
    ("mid-infra", ": infra: created ", 3),
    ("boundary-dependencies", "phase dependencies started", 1),
    ("mid-dependencies", ": dependencies: created ", 2),
    ("boundary-platform", "phase platform started", 1),
    ("mid-platform", ": platform: created ", 6),
    ("platform-wait", "phase platform: waiting", 1),
    ("ctrl-c-mid-dependencies", ": dependencies: created ", 1),  # SIGINT, not SIGKILL
]


def _apply_until_killed(
    spec: Path, trigger: str, nth: int, sig: signal.Signals = signal.SIGKILL
) -> list[str]:
    """Run apply and signal it (SIGKILL: a crash) right after the nth line with `trigger`."""
    seen, lines = 0, []
    with subprocess.Popen(
        [sys.executable, "-m", "hemisphere.cli.main", "apply", str(spec), "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if trigger in line:
                seen += 1
                if seen == nth:
                    os.kill(proc.pid, sig)
                    break
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    expected = -signal.SIGKILL if sig == signal.SIGKILL else 130
    assert proc.returncode == expected, (
        f"apply ended {proc.returncode} at {trigger!r}:\n" + "\n".join(lines)
    )
    if sig == signal.SIGINT:
        assert "interrupted: run the same command again to resume" in rest
    return lines


@pytest.fixture(scope="module")
def reference(kube_harness, tmp_path_factory) -> tuple[Path, dict]:
    """The air-gapped spec (with its vault) and the live state of an uninterrupted apply."""
    tmp = tmp_path_factory.mktemp("crash")
    with kube_harness.scratch() as cluster:
        hs = point_spec_at("air-gapped", [cluster], tmp)
        hemisphere("apply", str(hs.path), "--plain")
        snap = managed_snapshot(cluster, SNAPSHOT_KINDS)
    assert len(snap) > 20
    return hs.path, snap


@pytest.mark.parametrize(("name", "trigger", "nth"), KILL_POINTS, ids=[k[0] for k in KILL_POINTS])
def test_rerun_after_kill_converges(kube_harness, reference, name, trigger, nth) -> None:
    spec_template, expected = reference
    with kube_harness.scratch() as cluster:
        spec = _retarget(spec_template, cluster, name)
        sig = signal.SIGINT if name.startswith("ctrl-c") else signal.SIGKILL
        before = _apply_until_killed(spec, trigger, nth, sig)
        partial = managed_snapshot(cluster, SNAPSHOT_KINDS)
        assert len(partial) < len(expected) or name == "platform-wait", before

        rerun = hemisphere("apply", str(spec), "--plain")
        assert "FAILED" not in rerun.stdout
        got = managed_snapshot(cluster, SNAPSHOT_KINDS)
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == expected[key], (
                f"{key} differs:\n{dumps(got[key])}\n{dumps(expected[key])}"
            )
        # A third run finds nothing to do: the crash left no half-state behind.
        assert "No changes" in hemisphere("apply", str(spec), "--plain").stdout


def _retarget(spec_template: Path, cluster: KubeCluster, name: str) -> Path:
    """The reference spec (same vault, same secrets) pointed at another cluster."""
    import yaml

    doc = yaml.safe_load(spec_template.read_text())
    doc["datacenters"][0]["kubernetes"] = {
        "kubeconfig": str(cluster.kubeconfig),
        "context": cluster.context,
    }
    out = spec_template.with_name(f"air-gapped-{name}.yaml")
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    for suffix in (".vault.age", ".vault.key"):
        src = spec_template.with_name("air-gapped" + suffix)
        out.with_name(f"air-gapped-{name}{suffix}").write_bytes(src.read_bytes())
    os.chmod(out.with_name(f"air-gapped-{name}.vault.key"), 0o600)
    return out
