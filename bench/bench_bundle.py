"""Bundle verify and push throughput, each beside a baseline measured in the same run.

* verify: `verify_bundle` (signature, then zstd-decompress + sha256 of every file, streaming)
  over a signed bundle holding one OCI image, beside `sha256sum` over the same content bytes
  (the extracted files) and beside `zstd -dc bundle | sha256sum` (the same decompress + hash
  with the C tools, without any per-file bookkeeping);
* push: mirroring that image into a fresh `docker-registry` with our OCI distribution client,
  beside `skopeo copy oci:LAYOUT docker://...` of the same layout into another fresh registry.

Run: `python -m bench bundle` (or `make bench`). Size: HEMISPHERE_BENCH_BUNDLE_MB (default 192)
MiB of random layer data in 3 layers, so compression cannot hide work.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tests.services.registry import start_registry, stop_registry

from hemisphere.bundle import (
    BuildOptions,
    ImageSource,
    WheelSet,
    build_bundle,
    extract_bundle,
    generate_keypair,
    load_private_key,
    load_public_key,
    verify_bundle,
)
from hemisphere.bundle.ocilayout import OCI_MANIFEST, REF_NAME, Descriptor, ImageLayout
from hemisphere.bundle.push import ImagePusher, PushState
from hemisphere.bundle.registry import RegistryClient

LAYERS = 3
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"


def _layer(size: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("opt/payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buffer.getvalue()


def make_layout(root: Path, total_mib: int) -> Path:
    """An OCI layout with one image: `LAYERS` uncompressed tar layers of random data."""
    layout = ImageLayout.create(root)
    layers = [
        layout.write_blob(_layer(total_mib * 2**20 // LAYERS), TAR_LAYER) for _ in range(LAYERS)
    ]
    config = (
        b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":['
        + b",".join(f'"{d.digest}"'.encode() for d in layers)
        + b"]}}"
    )
    config_desc = layout.write_blob(config, "application/vnd.oci.image.config.v1+json")
    manifest = (
        '{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST + '","config":'
        f'{{"mediaType":"{config_desc.media_type}","digest":"{config_desc.digest}",'
        f'"size":{config_desc.size}}},"layers":['
        + ",".join(
            f'{{"mediaType":"{TAR_LAYER}","digest":"{d.digest}","size":{d.size}}}' for d in layers
        )
        + "]}"
    ).encode()
    root_desc = layout.write_blob(manifest, OCI_MANIFEST)
    layout.save_index(
        [Descriptor(OCI_MANIFEST, root_desc.digest, root_desc.size, annotations={REF_NAME: "app"})]
    )
    return root


def _timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def _rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / 2**20 / seconds:,.0f} MiB/s"


def main() -> None:
    console = Console()
    total_mib = int(os.environ.get("HEMISPHERE_BENCH_BUNDLE_MB", "192"))
    work = Path(tempfile.mkdtemp(prefix="hemisphere-bench-bundle-"))
    registries = []
    try:
        with console.status("preparing a signed bundle"):
            layout = make_layout(work / "layout", total_mib)
            generate_keypair(work / "k.pem", work / "k.pub")
            bundle = work / "bench.bundle"
            build_bundle(
                BuildOptions(
                    version="1.0.0", out=bundle, wheels=WheelSet.NONE,
                    images=[ImageSource.parse(f"example.com/bench/app:1=oci:{layout}:app")],
                    signing_key=load_private_key(work / "k.pem"),
                )
            )  # fmt: skip
            trusted = [load_public_key(work / "k.pub")]
            extracted = work / "extracted"
            verified = extract_bundle(bundle, extracted, trusted)
        content = verified.manifest.total_size
        files = [str(extracted / f.path) for f in verified.manifest.files]

        with console.status("verify"):
            ours = min(_timed(lambda: verify_bundle(bundle, trusted)) for _ in range(3))
            sums = min(
                _timed(
                    lambda: subprocess.run(["sha256sum", *files], check=True, capture_output=True)
                )
                for _ in range(3)
            )
            piped = min(
                _timed(
                    lambda: subprocess.run(
                        f"zstd -dc {bundle} | sha256sum",
                        shell=True,
                        check=True,
                        capture_output=True,
                    )
                )
                for _ in range(3)
            )

        with console.status("push"):
            mine = start_registry(_fresh(work / "reg-ours"))
            theirs = start_registry(_fresh(work / "reg-skopeo"))
            registries = [mine, theirs]
            images = list(verified.manifest.images)
            pushed_layout = ImageLayout.open(extracted / "images")
            blob_bytes = sum(
                d.size for d in pushed_layout.walk(pushed_layout.resolve(images[0].digest))
            )
            with RegistryClient(mine.host, insecure=True) as client:
                pusher = ImagePusher(pushed_layout, client, state=PushState(None))
                push_ours = _timed(lambda: pusher.push(images))
            push_skopeo = _timed(
                lambda: subprocess.run(
                    [
                        "skopeo",
                        "copy",
                        "--quiet",
                        "--dest-tls-verify=false",
                        f"oci:{layout}:app",
                        f"docker://{theirs.host}/bench/app:1",
                    ],
                    check=True,
                    capture_output=True,
                )
            )

        table = Table(title=f"bundle throughput ({content / 2**20:,.0f} MiB of content)")
        table.add_column("operation")
        table.add_column("tool")
        table.add_column("seconds", justify="right")
        table.add_column("throughput", justify="right")
        table.add_row("verify", "hemisphere bundle verify", f"{ours:.2f}", _rate(content, ours))
        table.add_row(
            "", "baseline: sha256sum (extracted files)", f"{sums:.2f}", _rate(content, sums)
        )
        table.add_row("", "baseline: zstd -dc | sha256sum", f"{piped:.2f}", _rate(content, piped))
        table.add_row(
            "push", "hemisphere bundle push", f"{push_ours:.2f}", _rate(blob_bytes, push_ours)
        )
        table.add_row(
            "", "baseline: skopeo copy (same layout)", f"{push_skopeo:.2f}",
            _rate(blob_bytes, push_skopeo),
        )  # fmt: skip
        console.print(table)
    finally:
        for registry in registries:
            stop_registry(registry)
        shutil.rmtree(work, ignore_errors=True)


def _fresh(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


if __name__ == "__main__":
    main()
