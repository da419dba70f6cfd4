"""The pure parts of the live layer: kubeconfig parsing, phases and order, ownership labels,
readiness rules, exec status frames, bundled CRDs. No cluster needed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from hemisphere.installer.live import KubeconfigError, load_kubeconfig
from hemisphere.installer.live.crds import bundled_crd_for, bundled_crds
from hemisphere.installer.live.engine import split_phases
from hemisphere.installer.live.errors import StreamError
from hemisphere.installer.live.manifests import is_managed, owned_copy, phase_of
from hemisphere.installer.live.readiness import check
from hemisphere.installer.live.streams import exit_code_of
from hemisphere.installer.render import CUSTOM_KINDS


def _kubeconfig(tmp_path: Path, **user: str) -> Path:
    doc = {
        "clusters": [{"name": "c", "cluster": {"server": "https://10.9.9.9:6443",
                                               "certificate-authority": "ca.pem"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }  # fmt: skip
    (tmp_path / "ca.pem").write_bytes(b"CA")
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_kubeconfig_reads_relative_files_and_inline_data(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    access = load_kubeconfig(
        _kubeconfig(
            tmp_path, tokenFile="token", **{"client-key-data": base64.b64encode(b"K").decode()}
        )
    )
    assert access.server == "https://10.9.9.9:6443"
    assert access.ca_pem == b"CA" and access.token == "s3cret" and access.client_key_pem == b"K"
    assert access.headers() == {"Authorization": "Bearer s3cret"}


@pytest.mark.parametrize(
    ("context", "user", "message"),
    [
        ("nope", {}, "no context named 'nope' (known: ctx)"),
        (None, {"exec": "aws"}, "credential plugins (exec/auth-provider) are not supported"),
        (None, {"client-certificate": "missing.pem"}, "cannot read client-certificate file"),
        (
            None,
            {"token-data": "x", "client-key-data": "%%%"},
            "client-key-data is not valid base64",
        ),
    ],
)
def test_kubeconfig_errors_say_what_and_where(
    tmp_path: Path, context: str | None, user: dict[str, str], message: str
) -> None:
    path = _kubeconfig(tmp_path, **user)
    with pytest.raises(KubeconfigError, match="kubeconfig") as exc:
        load_kubeconfig(path, context)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_missing_kubeconfig_points_at_the_spec_field(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match=r"kubernetes\.kubeconfig in the spec"):
        load_kubeconfig(tmp_path / "absent.yaml")


def test_phases_default_by_kind_and_follow_the_annotation() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    db = {"apiVersion": "v1", "kind": "Service", "metadata": {
        "name": "db", "annotations": {"hemisphere.dev/phase": "dependencies"}}}  # fmt: skip
    assert (phase_of(ns), phase_of(dep), phase_of(db)) == ("infra", "platform", "dependencies")
    phases = split_phases([dep, db, ns])
    assert [o["metadata"]["name"] for o in phases["infra"]] == ["a"]


def test_owned_copy_labels_what_we_create_and_not_what_we_adopt() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {
        "app.kubernetes.io/managed-by": "hemisphere"}}, "data": {"a": "1"}, "list": []}  # fmt: skip
    mine = owned_copy(obj, "fra", adopt=False)
    assert is_managed(mine) and mine["metadata"]["labels"]["hemisphere.dev/site"] == "fra"
    assert "list" not in mine  # empty lists are not applied (see owned_copy)
    adopted = owned_copy(obj, "fra", adopt=True)
    assert not is_managed(adopted) and "labels" not in adopted["metadata"]
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "hemisphere"}


def test_readiness_rules() -> None:
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "availableReplicas": 1, "updatedReplicas": 2}}  # fmt: skip
    assert check(dep).detail == "1/2 replicas available (2 updated)" and not check(dep).ready
    dep["status"]["availableReplicas"] = 2
    assert check(dep).ready
    dep["status"]["observedGeneration"] = 1
    assert not check(dep).ready
    job = {"kind": "Job", "status": {"conditions": [
        {"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}}  # fmt: skip
    assert check(job).failed
    cr = {"kind": "Cluster", "status": {"conditions": [{"type": "Ready", "status": "False",
                                                        "message": "waiting for instances"}]}}  # fmt: skip
    assert check(cr).detail == "waiting for instances" and not check(cr).ready
    assert check({"kind": "ConfigMap"}).ready


def test_exit_codes_from_status_frames() -> None:
    assert exit_code_of({"status": "Success"}) == 0
    assert exit_code_of({"status": "Failure", "reason": "NonZeroExitCode", "details": {
        "causes": [{"reason": "ExitCode", "message": "42"}]}}) == 42  # fmt: skip
    assert (
        exit_code_of({"status": "Failure", "message": "error executing command: exit status 3"})
        == 3
    )
    assert exit_code_of({"status": "Failure", "message": "cmd wait: signal: killed"}) == 137
    with pytest.raises(StreamError, match="container not found"):
        exit_code_of({"status": "Failure", "message": "container not found"})


def test_bundled_crds_cover_every_custom_kind_the_renderer_emits() -> None:
    for kind in CUSTOM_KINDS:
        crd = bundled_crd_for(kind.api_version, kind.kind)
        assert crd is not None, kind
        assert crd["spec"]["names"]["plural"] == kind.plural
        # every field the operator requires is declared in the minimal schema
        for path in kind.required:
            node = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
            for part in path.split("."):
                node = node["properties"][part]
    names = [c["metadata"]["name"] for c in bundled_crds()]
    assert len(names) == len(set(names))
