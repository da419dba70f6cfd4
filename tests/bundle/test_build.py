"""Building, splitting, signing, inspecting and extracting bundles (through the CLI where an
operator would), and the pieces they are made of: references, SBOM, manifest rewriting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hemisphere.bundle import (
    FileKind,
    ImageReferenceError,
    extract_bundle,
    parse_size,
    read_head,
    verify_bundle,
)
from hemisphere.bundle.references import ImageReference
from hemisphere.bundle.rewrite import ImageMap, rewrite_document
from hemisphere.cli.main import app
from tests.bundle.conftest import RENDERED, KeyPair, make_bundle

runner = CliRunner()


def test_manifest_lists_every_file_image_and_component(signed_bundle: Path) -> None:
    manifest = read_head(signed_bundle).manifest
    kinds = {f.kind for f in manifest.files}
    assert kinds == {FileKind.IMAGE, FileKind.WHEEL, FileKind.RENDERED, FileKind.SBOM}
    assert [f.path for f in manifest.files][:2] == ["images/index.json", "images/oci-layout"]
    assert {i.ref for i in manifest.images} == {
        "example.com/hsp/app:1.0",
        "example.com/hsp/tools:1.0",
    }
    assert any(c.kind == "python-package" and c.name == "hemisphere" for c in manifest.components)
    assert manifest.wheels_for is not None


def test_sbom_names_wheels_and_images(
    signed_bundle: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    extract_bundle(signed_bundle, tmp_path / "x", [vendor_key.public])
    sbom = json.loads((tmp_path / "x" / "sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    purls = {c["purl"] for c in sbom["components"]}
    assert any(p.startswith("pkg:pypi/hemisphere@") for p in purls)
    digest = read_head(signed_bundle).manifest.images[0].digest.replace(":", "%3A")
    assert any(p.startswith("pkg:oci/") and digest in p for p in purls)


def test_split_bundle_verifies_from_any_part_name(
    tmp_path: Path, image_layout: Path, vendor_key: KeyPair
) -> None:
    base = make_bundle(tmp_path / "split.bundle", image_layout, vendor_key, max_part_size=2**20)
    parts = sorted(tmp_path.glob("split.bundle.part*"))
    assert len(parts) >= 3 and not base.exists()
    assert all(p.stat().st_size <= 2**20 for p in parts)
    assert verify_bundle(base, [vendor_key.public]).signer
    assert verify_bundle(parts[0], [vendor_key.public]).signer


def test_cli_keygen_build_sign_verify_inspect_extract(
    tmp_path: Path, image_layout: Path, signed_bundle: Path
) -> None:
    result = runner.invoke(app, ["bundle", "keygen", "--out", str(tmp_path / "ops")])
    assert result.exit_code == 0, result.output
    manifests = tmp_path / "rendered" / "muc"
    manifests.mkdir(parents=True)
    (manifests / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    bundle = tmp_path / "cli.bundle"
    result = runner.invoke(
        app,
        [
            "bundle", "build", "--version", "2.0.0", "--out", str(bundle), "--wheels", "none",
            "--image", f"example.com/hsp/app:2.0=oci:{image_layout}:app",
            "--manifests", str(tmp_path / "rendered"), "--max-part-size", "4M",
            "--min-upgrade-from", "1.9.0",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "unsigned" in result.output

    result = runner.invoke(
        app, ["bundle", "verify", str(bundle), "--key", str(tmp_path / "ops.pub")]
    )
    assert result.exit_code == 1
    assert "not signed" in result.output

    result = runner.invoke(app, ["bundle", "sign", str(bundle), "--key", str(tmp_path / "ops.pem")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["bundle", "verify", str(bundle), "--key", str(tmp_path / "ops.pub")]
    )
    assert result.exit_code == 0, result.output
    assert "OK" in result.output

    result = runner.invoke(
        app, ["bundle", "inspect", str(bundle), "--key", str(tmp_path / "ops.pub"), "--files"]
    )
    assert result.exit_code == 0, result.output
    for words in ("Hemisphere 2.0.0", "1.9.0", "verified", "example.com/hsp/app:2.0", "muc/"):
        assert words in result.output

    result = runner.invoke(
        app,
        ["bundle", "extract", str(bundle), str(tmp_path / "x"), "--key", str(tmp_path / "ops.pub")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "manifests" / "muc" / "001-namespace-x.yaml").is_file()

    # the vendor's bundle is not trusted by the operator's own key
    result = runner.invoke(
        app, ["bundle", "verify", str(signed_bundle), "--key", str(tmp_path / "ops.pub")]
    )
    assert result.exit_code == 1
    assert "none of which is trusted" in result.output


def test_build_refuses_manifests_that_need_images_it_lacks(tmp_path: Path) -> None:
    rendered = tmp_path / "rendered" / "muc"
    rendered.mkdir(parents=True)
    (rendered / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: c, image: 'ghcr.io/x/missing:1'}]}\n"
    )
    result = runner.invoke(
        app,
        ["bundle", "build", "--version", "1.0.0", "--out", str(tmp_path / "b.bundle"),
         "--wheels", "none", "--manifests", str(tmp_path / "rendered")],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "ghcr.io/x/missing:1" in result.output


def test_build_error_names_a_bad_image_argument(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bundle",
            "build",
            "--version",
            "1.0.0",
            "--out",
            str(tmp_path / "b"),
            "--image",
            "UPPER/case",
        ],
    )
    assert result.exit_code == 1
    assert "UPPER/case" in result.output


@pytest.mark.parametrize(
    ("text", "name", "repository"),
    [
        ("alpine", "docker.io/library/alpine:latest", "library/alpine"),
        ("alpine:3.19", "docker.io/library/alpine:3.19", "library/alpine"),
        ("localhost:5000/a/b:1", "localhost:5000/a/b:1", "a/b"),
        ("ghcr.io/org/img@sha256:" + "a" * 64, "ghcr.io/org/img", "org/img"),
    ],
)
def test_image_references_normalize(text: str, name: str, repository: str) -> None:
    ref = ImageReference.parse(text)
    assert ref.name == name
    assert ref.repository == repository


def test_bad_image_reference_is_explained() -> None:
    with pytest.raises(ImageReferenceError, match="digest must be"):
        ImageReference.parse("x/y@sha256:nothex")


def test_rewrite_covers_pods_templates_and_reports_unknown_images(signed_bundle: Path) -> None:
    images = ImageMap(list(read_head(signed_bundle).manifest.images), "mirror:5000/hsp")
    deployment: dict[str, Any] = RENDERED["muc"][1]
    cronjob = {
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "example.com/hsp/tools:1.0"},
            {"name": "b", "image": "quay.io/unknown/thing:2"},
        ]}}}}},
    }  # fmt: skip
    new, missing = rewrite_document(deployment, images, "d.yaml")
    assert all(
        c["image"].startswith("mirror:5000/hsp/hsp/")
        for c in new["spec"]["template"]["spec"]["containers"]
    )
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "example.com"
    )
    assert missing == []
    new, missing = rewrite_document(cronjob, images, "c.yaml")
    containers = new["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"].startswith("mirror:5000/hsp/hsp/tools:1.0@sha256:")
    assert [m.image for m in missing] == ["quay.io/unknown/thing:2"]
    assert "containers[1].image" in missing[0].field


def test_parse_size() -> None:
    assert parse_size("4G") == 4 * 2**30
    assert parse_size("650MiB") == 650 * 2**20
    assert parse_size("1024") == 1024
