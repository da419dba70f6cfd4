"""`hemisphere apply|diff|status|uninstall` on the real example specs, against real API servers.

Every rendered object must be accepted by kube-apiserver (with the minimal CRDs installed
first), a second apply must change nothing and say so, diff/status must read the live state,
and uninstall must remove exactly what Hemisphere created.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hemisphere.installer.render import render
from hemisphere.topology import load_spec
from tests.installer.live.conftest import (
    SNAPSHOT_KINDS,
    hemisphere,
    managed_snapshot,
    plain_lines,
)
from tests.services.kube import kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.k8s]


def _rendered_count(spec_path: Path) -> dict[str, int]:
    from hemisphere.installer.vault import VaultPaths, open_vault

    vault = open_vault(VaultPaths.beside(spec_path))
    return {site: len(objs) for site, objs in render(load_spec(spec_path), vault).items()}


def test_air_gapped_apply_is_accepted_idempotent_and_uninstalls_cleanly(spec_on) -> None:
    hs = spec_on("air-gapped", 1)
    cluster = hs.sites["muc"]
    # Things Hemisphere did not create, which uninstall must leave alone.
    kubectl(cluster, "create", "namespace", "customer-tools")
    kubectl(cluster, "-n", "default", "create", "configmap", "customer-notes", "--from-literal=a=b")

    first = hemisphere("apply", str(hs.path), "--plain", "--timeout", "120")
    lines = plain_lines(first.stdout)
    counts = _rendered_count(hs.path)
    # Phases run in order: crds, infra, dependencies, platform.
    order = [ln.split("phase ")[1].split()[0] for ln in lines if " started " in ln]
    assert order == ["crds", "infra", "dependencies", "platform"]
    created = [
        ln for ln in lines if ": created " in ln and not ln.split(": ")[1].startswith("crds")
    ]
    assert len(created) == counts["muc"], first.stdout
    assert "No changes" not in first.stdout
    # The secrets came from the vault generated beside the spec.
    assert (hs.path.parent / "air-gapped.vault.age").exists()

    second = hemisphere("apply", str(hs.path), "--plain")
    assert "No changes: every site is already up to date." in second.stdout, [
        ln for ln in plain_lines(second.stdout) if "configured" in ln
    ]
    assert all(
        ": created " not in ln and ": configured " not in ln for ln in plain_lines(second.stdout)
    )

    diff = hemisphere("diff", str(hs.path))
    assert "No differences" in diff.stdout

    status = hemisphere("status", str(hs.path), "--verbose")
    row = next(ln for ln in status.stdout.splitlines() if ln.startswith("│ muc"))
    total = counts["muc"]
    assert f"{total}/{total}" in row, status.stdout  # all applied and up to date

    # An independent client (Debian's kubectl) sees the objects Hemisphere created.
    got = json.loads(kubectl(cluster, "get", "deployments", "-n", "codesphere", "-o", "json"))
    names = {d["metadata"]["name"] for d in got["items"]}
    assert names and all(
        d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hemisphere"
        for d in got["items"]
    )
    assert all(d["status"].get("availableReplicas") == d["spec"]["replicas"] for d in got["items"])
    cephs = kubectl(cluster, "get", "cephclusters.ceph.rook.io", "-A", "-o", "name")
    assert cephs.strip()

    # Drift: someone scales a Deployment by hand -> diff shows it, apply puts it back.
    name = sorted(names)[0]
    kubectl(cluster, "-n", "codesphere", "scale", f"deployment/{name}", "--replicas=5")
    drift = hemisphere("diff", str(hs.path), check=False)
    assert drift.returncode == 1
    assert f"update Deployment codesphere/{name}" in drift.stdout
    assert "-  replicas: 5" in drift.stdout
    fixed = hemisphere("apply", str(hs.path), "--plain")
    assert f"configured Deployment codesphere/{name}" in fixed.stdout

    gone = hemisphere("uninstall", str(hs.path), "--yes", "--plain")
    assert "FAILED" not in gone.stdout
    assert managed_snapshot(cluster, SNAPSHOT_KINDS) == {}
    namespaces = kubectl(cluster, "get", "namespaces", "-o", "name")
    assert "namespace/customer-tools" in namespaces
    assert "namespace/codesphere" not in namespaces
    assert "customer-notes" in kubectl(cluster, "-n", "default", "get", "configmaps", "-o", "name")


def test_federated_individual_db_applies_to_every_site(spec_on) -> None:
    hs = spec_on("federated-individual-db", 4)
    assert set(hs.sites) == {"hq", "fra", "zrh", "osl"}
    out = hemisphere("apply", str(hs.path), "--plain", "--timeout", "120")
    counts = _rendered_count(hs.path)
    for site in hs.sites:
        assert f"site {site}: done: " in out.stdout, out.stdout
    status = hemisphere("status", str(hs.path))
    for site, n in counts.items():
        row = next(ln for ln in status.stdout.splitlines() if ln.startswith(f"│ {site}"))
        assert f"{n}/{n}" in row, status.stdout
    # Each DC keeps its own database: a CloudNativePG Cluster in every DC that declares one,
    # and the console's in hq; nothing of one site lands in another's cluster.
    for site, cluster in hs.sites.items():
        snap = managed_snapshot(cluster, SNAPSHOT_KINDS)
        assert snap, site
        assert {v["metadata"]["labels"]["hemisphere.dev/site"] for v in snap.values()} == {site}
    assert "No changes" in hemisphere("apply", str(hs.path), "--plain").stdout

    # One site at a time works too, and leaves the other sites alone.
    hemisphere("uninstall", str(hs.path), "--site", "osl", "--yes", "--plain")
    assert managed_snapshot(hs.sites["osl"], SNAPSHOT_KINDS) == {}
    assert managed_snapshot(hs.sites["fra"], SNAPSHOT_KINDS)
    hemisphere("uninstall", str(hs.path), "--yes", "--plain")
    for cluster in hs.sites.values():
        assert managed_snapshot(cluster, SNAPSHOT_KINDS) == {}


def test_apply_reports_an_unreachable_site_and_still_applies_the_others(spec_on) -> None:
    hs = spec_on("federated-individual-db", 4)
    text = hs.path.read_text()
    dead = hs.sites["zrh"].kubeconfig
    broken = hs.path.parent / "dead.kubeconfig"
    broken.write_text(dead.read_text().replace(hs.sites["zrh"].server, "https://127.0.0.1:1"))
    hs.path.write_text(text.replace(str(dead), str(broken)))
    result = hemisphere("apply", str(hs.path), "--plain", "--timeout", "60", check=False)
    assert result.returncode == 1
    assert "site zrh: FAILED: https://127.0.0.1:1" in result.stdout
    assert "is the API server up and reachable?" in result.stdout
    assert "site fra: done: " in result.stdout
