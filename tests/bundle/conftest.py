"""Fixtures for bundle tests: signing keys, real OCI images built with umoci (no Docker), and
small signed bundles built from them, each made once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hemisphere.bundle import (
    BuildOptions,
    ImageSource,
    WheelSet,
    build_bundle,
    generate_keypair,
    load_private_key,
    load_public_key,
)

RENDERED: dict[str, list[dict[str, Any]]] = {
    "muc": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "codesphere"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "console", "namespace": "codesphere"},
            "spec": {
                "template": {
                    "spec": {
                        "initContainers": [{"name": "migrate", "image": "example.com/hsp/app:1.0"}],
                        "containers": [
                            {"name": "console", "image": "example.com/hsp/app:1.0"},
                            {"name": "tools", "image": "example.com/hsp/tools:1.0"},
                        ],
                    }
                }
            },
        },
    ]
}


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_path: Path

    @property
    def private(self) -> Ed25519PrivateKey:
        return load_private_key(self.private_path)

    @property
    def public(self) -> Ed25519PublicKey:
        return load_public_key(self.public_path)


def _keypair(root: Path, name: str) -> KeyPair:
    pair = KeyPair(root / f"{name}.pem", root / f"{name}.pub")
    generate_keypair(pair.private_path, pair.public_path)
    return pair


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def vendor_key(keys_dir: Path) -> KeyPair:
    return _keypair(keys_dir, "vendor")


@pytest.fixture(scope="session")
def stranger_key(keys_dir: Path) -> KeyPair:
    return _keypair(keys_dir, "stranger")


def _umoci(*args: str) -> None:
    subprocess.run(["umoci", *args], check=True, capture_output=True)


def build_layout(root: Path, big_layer_bytes: int) -> Path:
    """An OCI layout with two images built by umoci from small root filesystems:
    `app` (a config file layer + a layer with `big_layer_bytes` of random data) and
    `tools` (which shares app's first layer)."""
    layout = root / "layout"
    _umoci("init", "--layout", str(layout))
    _umoci("new", "--image", f"{layout}:base")
    unpacked = root / "unpacked"
    _umoci("unpack", "--image", f"{layout}:base", str(unpacked))
    (unpacked / "rootfs" / "etc").mkdir(parents=True, exist_ok=True)
    (unpacked / "rootfs" / "etc" / "hemisphere.conf").write_text("role = console\n")
    _umoci("repack", "--image", f"{layout}:tools", str(unpacked))
    shutil.rmtree(unpacked)
    _umoci("unpack", "--image", f"{layout}:tools", str(unpacked))
    big = unpacked / "rootfs" / "opt" / "payload.bin"
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(big_layer_bytes))
    _umoci("repack", "--image", f"{layout}:app", str(unpacked))
    shutil.rmtree(unpacked)
    _umoci("rm", "--image", f"{layout}:base")
    _umoci("gc", "--layout", str(layout))
    return layout


@pytest.fixture(scope="session")
def image_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_layout(tmp_path_factory.mktemp("images"), 6 * 1024 * 1024)


def image_sources(layout: Path) -> list[ImageSource]:
    return [
        ImageSource.parse(f"example.com/hsp/app:1.0=oci:{layout}:app"),
        ImageSource.parse(f"example.com/hsp/tools:1.0=oci:{layout}:tools"),
    ]


def make_bundle(
    out: Path,
    layout: Path | None,
    key: KeyPair | None,
    *,
    version: str = "1.0.0",
    wheels: WheelSet = WheelSet.NONE,
    max_part_size: int | None = None,
    rendered: bool = True,
    min_upgrade_from: str | None = None,
) -> Path:
    build_bundle(
        BuildOptions(
            version=version,
            out=out,
            images=image_sources(layout) if layout is not None else [],
            wheels=wheels,
            rendered=RENDERED if rendered and layout is not None else None,
            signing_key=key.private if key else None,
            max_part_size=max_part_size,
            min_upgrade_from=min_upgrade_from,
        )
    )
    return out


@pytest.fixture(scope="session")
def signed_bundle(
    tmp_path_factory: pytest.TempPathFactory, image_layout: Path, vendor_key: KeyPair
) -> Path:
    """Images, the Hemisphere wheel, rendered manifests and an SBOM, signed by the vendor."""
    out = tmp_path_factory.mktemp("bundle") / "hemisphere-1.0.0.bundle"
    return make_bundle(out, image_layout, vendor_key, wheels=WheelSet.SELF)


@pytest.fixture
def bundle_copy(signed_bundle: Path, tmp_path: Path) -> Path:
    """A private copy a test may tamper with."""
    copy = tmp_path / signed_bundle.name
    shutil.copyfile(signed_bundle, copy)
    return copy
