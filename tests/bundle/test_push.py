"""Mirroring into a REAL registry (docker-registry), checked with an independent client (skopeo):
digests match, present blobs are skipped, an interrupted push resumes, manifests are rewritten."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hemisphere.bundle import MirrorOptions, MirrorTarget, mirror_bundle, read_head
from hemisphere.bundle.ocilayout import ImageLayout
from hemisphere.bundle.push import ImagePusher, PushState
from hemisphere.bundle.registry import RegistryClient
from hemisphere.bundle.rewrite import referenced_images
from tests.bundle.conftest import KeyPair, build_layout, make_bundle
from tests.services.registry import OciRegistry

pytestmark = pytest.mark.e2e


def skopeo_digest(reference: str) -> str:
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reference}"],
        check=True,
        capture_output=True,
    )
    import hashlib

    return "sha256:" + hashlib.sha256(result.stdout).hexdigest()


def skopeo_pull(reference: str, dest: Path) -> ImageLayout:
    subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{reference}", f"oci:{dest}:pulled"],
        check=True,
        capture_output=True,
    )
    return ImageLayout.open(dest)


def test_push_mirrors_every_image_with_identical_digests(
    signed_bundle: Path, vendor_key: KeyPair, oci_registry: OciRegistry, tmp_path: Path
) -> None:
    target = MirrorTarget.parse(f"{oci_registry.host}/first")
    options = MirrorOptions(
        target=target, insecure=True, manifests_out=tmp_path / "out", state_dir=tmp_path / "st"
    )
    result = mirror_bundle(signed_bundle, [vendor_key.public], options)
    manifest = read_head(signed_bundle).manifest
    assert {i.digest for i in result.report.images} == {i.digest for i in manifest.images}
    assert result.report.uploaded >= 4
    assert result.report.mounted >= 1  # tools shares app's first layer: mounted, not re-sent
    for image in manifest.images:
        reference = f"{oci_registry.host}/first/{image.repository}:{image.tag}"
        assert skopeo_digest(reference) == image.digest
        pulled = skopeo_pull(reference, tmp_path / f"pulled-{image.repository.replace('/', '-')}")
        root = pulled.resolve("pulled")
        assert root.digest == image.digest
        assert [d.digest for d in pulled.walk(root)]  # every blob came back and hashes right

    # the rewritten manifests point at the mirror, pinned by digest
    deployment = yaml.safe_load(
        (tmp_path / "out" / "muc" / "002-deployment-console.yaml").read_text()
    )
    pod = deployment["spec"]["template"]["spec"]
    app = next(i for i in manifest.images if i.repository == "hsp/app")
    expected = f"{oci_registry.host}/first/hsp/app:1.0@{app.digest}"
    assert pod["containers"][0]["image"] == expected
    assert pod["initContainers"][0]["image"] == expected
    assert pod["containers"][1]["image"].startswith(f"{oci_registry.host}/first/hsp/tools:1.0@")
    assert result.unresolved == []

    again = mirror_bundle(signed_bundle, [vendor_key.public], options)
    assert again.report.uploaded == 0
    assert again.report.bytes_uploaded == 0
    assert again.report.skipped >= 4


class _StopAfter:
    """Progress sink that interrupts the push once `limit` bytes went out (a crash between
    chunks, made deterministic)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent = 0

    def start(self, total_bytes: int, total_blobs: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        self.sent += nbytes
        if self.sent >= self.limit:
            raise KeyboardInterrupt

    def blob_done(self, digest: str, how: str) -> None:
        pass


def test_push_interrupted_between_chunks_resumes_the_same_upload(
    image_layout: Path, oci_registry: OciRegistry, tmp_path: Path
) -> None:
    from tests.bundle.conftest import image_sources

    layout = ImageLayout.open(image_layout)
    images = []
    from hemisphere.bundle.build import BuildOptions, _add_images

    staging = tmp_path / "staging"
    staging.mkdir()
    images = _add_images(
        BuildOptions(version="1.0.0", out=tmp_path / "x", images=image_sources(image_layout)),
        staging,
        lambda _t: None,
    )
    layout = ImageLayout.open(staging / "images")
    state = PushState(tmp_path / "state.json")
    with RegistryClient(oci_registry.host, insecure=True) as client:
        first = ImagePusher(
            layout, client, state=state, chunk_size=1024 * 1024, progress=_StopAfter(3 * 2**20),
            prefix="chunked",
        )  # fmt: skip
        with pytest.raises(KeyboardInterrupt):
            first.push(images)
        saved = json.loads((tmp_path / "state.json").read_text())["uploads"]
        assert len(saved) == 1 and next(iter(saved.values()))["offset"] > 0
        second = ImagePusher(
            layout, client, state=PushState(tmp_path / "state.json"), chunk_size=1024 * 1024,
            prefix="chunked",
        )  # fmt: skip
        report = second.push(images)
    assert report.resumed == 1
    total = sum(d.size for i in images for d in layout.walk(layout.resolve(i.digest)))
    assert report.bytes_uploaded < total - 2 * 2**20
    assert not (tmp_path / "state.json").exists()
    for image in images:
        assert skopeo_digest(f"{oci_registry.host}/chunked/{image.repository}:{image.tag}") == (
            image.digest
        )


def test_push_killed_midway_resumes_and_finishes(
    tmp_path_factory: pytest.TempPathFactory, vendor_key: KeyPair, oci_registry: OciRegistry
) -> None:
    root = tmp_path_factory.mktemp("killed")
    layout = build_layout(root, 24 * 1024 * 1024)
    bundle = make_bundle(root / "big.bundle", layout, vendor_key)
    state_dir = root / "state"
    command = [
        sys.executable, "-m", "hemisphere.cli.main", "bundle", "push", str(bundle),
        "--key", str(vendor_key.public_path), "--registry", f"{oci_registry.host}/killed",
        "--insecure", "--state-dir", str(state_dir), "--chunk-size", "1M",
        "--manifests-out", str(root / "manifests"),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    # throttled so the kill most likely lands between chunks (the rerun is not throttled)
    throttled = [*command, "--limit-rate", "4M"]
    process = subprocess.Popen(throttled, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        states = list(state_dir.glob("*.json"))
        uploads = json.loads(states[0].read_text())["uploads"] if states else {}
        if any(u.get("offset", 0) >= 3 * 2**20 for u in uploads.values()):
            break
        time.sleep(0.01)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.communicate()

    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    summary = finished.stdout
    present = re.search(r"(\d+) already present", summary)
    assert present is not None and int(present.group(1)) >= 1, summary
    # the cut-off upload either continued (killed between chunks) or, if the kill landed inside
    # a PATCH, distribution dropped the session and the blob was sent again from the start
    assert "1 resumed" in summary or "1 restarted" in summary, summary
    for image in read_head(bundle).manifest.images:
        reference = f"{oci_registry.host}/killed/{image.repository}:{image.tag}"
        assert skopeo_digest(reference) == image.digest
    assert not list(state_dir.glob("*.json"))


def test_build_pulls_images_from_a_registry(
    image_layout: Path, oci_registry: OciRegistry, vendor_key: KeyPair, tmp_path: Path
) -> None:
    """`--image REF` copies the image from its registry (pushed there by skopeo) unchanged."""
    from hemisphere.bundle import BuildOptions, ImageSource, WheelSet, build_bundle

    source = f"{oci_registry.host}/upstream/app:2.0"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--dest-tls-verify=false",
            f"oci:{image_layout}:app",
            f"docker://{source}",
        ],
        check=True,
        capture_output=True,
    )
    result = build_bundle(
        BuildOptions(
            version="2.0.0",
            out=tmp_path / "pulled.bundle",
            images=[ImageSource.parse(source)],
            wheels=WheelSet.NONE,
            insecure_registries=True,
            signing_key=vendor_key.private,
        )
    )
    (image,) = result.manifest.images
    assert image.digest == skopeo_digest(source)
    assert image.ref == source and image.repository == "upstream/app"
    layout = ImageLayout.open(image_layout)
    assert image.digest == layout.resolve("app").digest
    verify_bundle_ok = mirror_bundle(
        tmp_path / "pulled.bundle",
        [vendor_key.public],
        MirrorOptions(target=MirrorTarget.parse(f"{oci_registry.host}/again"), insecure=True,
                      state_dir=tmp_path / "st"),
    )  # fmt: skip
    assert verify_bundle_ok.report.images[0].digest == image.digest


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_air_gapped_spec_renders_into_the_bundle_and_points_at_the_mirror(
    image_layout: Path, oci_registry: OciRegistry, vendor_key: KeyPair, tmp_path: Path
) -> None:
    """examples/air-gapped.yaml: the installer's manifests go into the bundle; after the push
    every image in them is a digest-pinned reference that the mirror actually serves."""
    from typer.testing import CliRunner

    from hemisphere.cli.main import app

    spec = EXAMPLES / "air-gapped.yaml"
    bundle = tmp_path / "airgap.bundle"
    base = ["bundle", "build", "--version", "1.67.0", "--out", str(bundle), "--wheels", "none",
            "--spec", str(spec), "--key", str(vendor_key.private_path)]  # fmt: skip
    refused = CliRunner().invoke(app, base)
    assert refused.exit_code == 1
    assert "hemisphere-dev/hemisphere:1.67.0" in refused.output
    image = f"ghcr.io/hemisphere-dev/hemisphere:1.67.0=oci:{image_layout}:app"
    built = CliRunner().invoke(app, [*base, "--image", image])
    assert built.exit_code == 0, built.output
    manifest = read_head(bundle).manifest
    assert any(f.path.startswith("manifests/muc/") for f in manifest.files)
    assert any(c.kind == "rendered-manifests" for c in manifest.components)

    mirror = f"{oci_registry.host}/hemisphere"
    result = mirror_bundle(
        bundle,
        [vendor_key.public],
        MirrorOptions(target=MirrorTarget.parse(mirror), insecure=True,
                      manifests_out=tmp_path / "out", state_dir=tmp_path / "st"),
    )  # fmt: skip
    assert result.unresolved == []
    digest = manifest.images[0].digest
    images = set()
    for path in (tmp_path / "out").rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            images |= set(referenced_images(document))
    assert images == {f"{mirror}/hemisphere-dev/hemisphere:1.67.0@{digest}"}
    # skopeo takes no tag beside a digest; containerd (what Kubernetes pulls with) does
    assert skopeo_digest(f"{mirror}/hemisphere-dev/hemisphere@{digest}") == digest


def test_plain_http_registry_without_insecure_is_explained(oci_registry: OciRegistry) -> None:
    from hemisphere.bundle import RegistryUnreachable

    with RegistryClient(oci_registry.host) as client, pytest.raises(RegistryUnreachable) as info:
        client.ping()
    assert "--insecure" in str(info.value)
