"""`hemisphere bundle build`: images, wheels, rendered manifests and an SBOM into one archive.

Everything is first assembled in a staging directory next to the output and hashed; then the
manifest (listing every file with sha256 and size, in archive order) is written first, the
signature (when a key is given) second, and the files after them. The writer re-hashes each
file as it streams it and refuses one that changed since it was listed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hemisphere.bundle.archive import ArchiveWriter
from hemisphere.bundle.errors import BuildError, ImageReferenceError
from hemisphere.bundle.hashing import sha256_file
from hemisphere.bundle.model import (
    IMAGES_DIR,
    MANIFEST_NAME,
    RENDERED_DIR,
    SBOM_NAME,
    SIGNATURE_NAME,
    WHEELS_DIR,
    BundleManifest,
    Component,
    FileEntry,
    ImageEntry,
    kind_for_path,
)
from hemisphere.bundle.ocilayout import REF_NAME, Descriptor, ImageLayout
from hemisphere.bundle.pull import pull_image
from hemisphere.bundle.references import ImageReference
from hemisphere.bundle.registry import RegistryClient
from hemisphere.bundle.rendered import render_spec, write_rendered
from hemisphere.bundle.rewrite import ImageMap
from hemisphere.bundle.sbom import build_sbom
from hemisphere.bundle.signing import sign_manifest
from hemisphere.bundle.wheels import WheelSet, collect_wheels, wheels_for


@dataclass(frozen=True)
class ImageSource:
    """An image to bundle: its reference, and an OCI layout to take it from (else the registry)."""

    ref: ImageReference
    layout: Path | None = None
    layout_name: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageSource:
        """`REF` (pulled from its registry) or `REF=oci:DIR[:NAME]` (from a layout on disk)."""
        ref_text, sep, source = text.partition("=")
        try:
            ref = ImageReference.parse(ref_text)
        except ImageReferenceError as exc:
            raise BuildError(f"--image {text!r}: {exc}") from exc
        if not sep:
            return cls(ref=ref)
        if not source.startswith("oci:"):
            raise BuildError(f"--image {text!r}: after '=' expected oci:DIR[:NAME]")
        location = source[len("oci:") :]
        directory, colon, name = location.partition(":")
        return cls(ref=ref, layout=Path(directory), layout_name=name if colon else None)


@dataclass
class BuildOptions:
    version: str
    out: Path
    images: list[ImageSource] = field(default_factory=list)
    min_upgrade_from: str | None = None
    wheels: WheelSet = WheelSet.ALL
    wheel_dirs: list[Path] = field(default_factory=list)
    project_dir: Path | None = None
    spec: Path | None = None
    rendered: dict[str, list[dict[str, Any]]] | None = None  # pre-rendered, instead of spec
    allow_missing_images: bool = False
    max_part_size: int | None = None
    signing_key: Ed25519PrivateKey | None = None
    insecure_registries: bool = False
    compression_level: int = 3
    created: datetime | None = None


@dataclass
class BuildResult:
    manifest: BundleManifest
    files: list[Path]
    signer: str | None
    warnings: list[str]


Step = Callable[[str], None]


def _created(options: BuildOptions) -> datetime:
    if options.created is not None:
        return options.created
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC).replace(microsecond=0)


def _add_images(options: BuildOptions, staging: Path, step: Step) -> list[ImageEntry]:
    layout = ImageLayout.create(staging / IMAGES_DIR)
    entries: list[ImageEntry] = []
    index: list[Descriptor] = []
    clients: dict[str, RegistryClient] = {}
    try:
        for source in options.images:
            step(f"image {source.ref}")
            if source.layout is not None:
                origin = ImageLayout.open(source.layout)
                root = origin.resolve(source.layout_name)
                for desc in origin.walk(root):
                    if desc.is_manifest:
                        layout.write_blob(origin.read_blob(desc), desc.media_type)
                    else:
                        layout.link_or_copy_from(origin, desc)
            else:
                host = source.ref.api_host
                if host not in clients:
                    clients[host] = RegistryClient(host, insecure=options.insecure_registries)
                root = pull_image(clients[host], source.ref, layout)
            if source.ref.digest is not None and source.ref.digest != root.digest:
                raise BuildError(f"{source.ref}: the source holds {root.digest} instead")
            name = source.ref.name
            if any(e.ref == name for e in entries):
                raise BuildError(f"--image {name} is given twice")
            index.append(
                Descriptor(root.media_type, root.digest, root.size, annotations={REF_NAME: name})
            )
            entries.append(
                ImageEntry(
                    ref=name,
                    repository=source.ref.repository,
                    tag=source.ref.tag,
                    digest=root.digest,
                    media_type=root.media_type,
                    size=root.size,
                )
            )
    finally:
        for client in clients.values():
            client.close()
    layout.save_index(index)
    return entries


def _file_order(staging: Path) -> list[str]:
    """Archive order: layout metadata, blobs, wheels, rendered manifests, SBOM last."""
    found = sorted(
        p.relative_to(staging).as_posix()
        for p in staging.rglob("*")
        if p.is_file() and not p.is_symlink()
    )

    def rank(path: str) -> tuple[int, str]:
        if path.startswith(f"{IMAGES_DIR}/blobs/"):
            return (1, path)
        order = {IMAGES_DIR: 0, WHEELS_DIR: 2, RENDERED_DIR: 3}
        return (order.get(path.split("/", 1)[0], 4), path)

    return sorted(found, key=rank)


def build_bundle(options: BuildOptions, step: Step | None = None) -> BuildResult:
    say: Step = step or (lambda _text: None)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    created = _created(options)
    staging = Path(tempfile.mkdtemp(prefix=".hemisphere-build-", dir=options.out.parent))
    warnings: list[str] = []
    try:
        images = _add_images(options, staging, say)
        components = [Component(name=i.ref, version=i.digest, kind="image") for i in images]
        say("wheels")
        wheels = collect_wheels(
            staging / WHEELS_DIR, options.wheels, options.project_dir, options.wheel_dirs
        )
        if not wheels:
            shutil.rmtree(staging / WHEELS_DIR)
        components += [
            Component(name=w.name, version=w.version, kind="python-package") for w in wheels
        ]
        if options.spec is not None and options.rendered is not None:
            raise BuildError("give either --spec or --manifests, not both")
        rendered = options.rendered
        source_name, spec_version = "manifests", options.version
        if options.spec is not None:
            say(f"rendering {options.spec}")
            spec_version, rendered = render_spec(options.spec)
            source_name = options.spec.name
            if spec_version != options.version:
                warnings.append(
                    f"{options.spec} is for version {spec_version}, the bundle is {options.version}"
                )
        if rendered is not None:
            named = write_rendered(rendered, staging)
            carried = ImageMap(images, "")
            missing = sorted({n for n in named if carried.lookup(n) is None})
            if missing and not options.allow_missing_images:
                raise BuildError(
                    "the rendered manifests use images the bundle would not carry: "
                    + ", ".join(missing)
                    + "; add them with --image, or pass --allow-missing-images"
                )
            warnings += [
                f"image {m} is used by the manifests but not in the bundle" for m in missing
            ]
            components.append(
                Component(name=source_name, version=spec_version, kind="rendered-manifests")
            )
        say("SBOM")
        created_text = created.isoformat().replace("+00:00", "Z")
        (staging / SBOM_NAME).write_bytes(build_sbom(options.version, created_text, wheels, images))
        say("hashing")
        files = []
        for path in _file_order(staging):
            digest, size = sha256_file(staging / path)
            files.append(FileEntry(path=path, sha256=digest, size=size, kind=kind_for_path(path)))
        manifest = BundleManifest(
            version=options.version,
            min_upgrade_from=options.min_upgrade_from,
            created=created_text,
            wheels_for=wheels_for() if wheels else None,
            components=components,
            images=images,
            files=files,
        )
        say("writing archive")
        written, signer = write_archive(manifest, staging, options, created)
        return BuildResult(manifest=manifest, files=written, signer=signer, warnings=warnings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_archive(
    manifest: BundleManifest, root: Path, options: BuildOptions, created: datetime
) -> tuple[list[Path], str | None]:
    manifest_bytes = manifest.to_bytes()
    writer = ArchiveWriter(
        options.out,
        max_part_size=options.max_part_size,
        level=options.compression_level,
        mtime=int(created.timestamp()),
    )
    signer: str | None = None
    try:
        writer.add_bytes(MANIFEST_NAME, manifest_bytes)
        if options.signing_key is not None:
            envelope = sign_manifest(manifest_bytes, options.signing_key)
            signer = envelope.signatures[-1].keyid
            writer.add_bytes(SIGNATURE_NAME, envelope.to_bytes())
        for entry in manifest.files:
            with (root / entry.path).open("rb") as source:
                digest = writer.add_stream(entry.path, entry.size, source)
            if digest != entry.sha256:
                raise BuildError(f"{entry.path} changed while the bundle was being written")
        return writer.commit(), signer
    except BaseException:
        writer.abort()
        raise
