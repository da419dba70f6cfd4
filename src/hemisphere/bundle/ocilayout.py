"""OCI image layouts on disk (https://github.com/opencontainers/image-spec/blob/main/image-layout.md).

A layout is `oci-layout`, `index.json` and content-addressed `blobs/sha256/<hex>`. This module
reads one (`umoci`, `skopeo copy ... oci:DIR` and bundles all write them), walks everything an
image references (index -> manifests -> config and layers) in push order, and writes one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hemisphere.bundle.errors import ImageLayoutError

LAYOUT_VERSION = "1.0.0"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
REF_NAME = "org.opencontainers.image.ref.name"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_MAX_MANIFEST = 4 * 1024 * 1024


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    platform: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Descriptor:
        if not isinstance(raw, dict):
            raise ImageLayoutError(f"{where}: a descriptor must be an object")
        try:
            media_type, digest, size = raw["mediaType"], raw["digest"], raw["size"]
        except KeyError as exc:
            raise ImageLayoutError(f"{where}: descriptor has no {exc.args[0]!r}") from exc
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise ImageLayoutError(f"{where}: digest {digest!r} is not sha256:<64 hex>")
        if not isinstance(size, int) or size < 0:
            raise ImageLayoutError(f"{where}: size {size!r} is not a non-negative integer")
        return cls(
            media_type=str(media_type),
            digest=digest,
            size=size,
            annotations=dict(raw.get("annotations") or {}),
            platform=raw.get("platform"),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.platform:
            out["platform"] = self.platform
        if self.annotations:
            out["annotations"] = self.annotations
        return out

    @property
    def is_manifest(self) -> bool:
        return self.media_type in INDEX_TYPES or self.media_type in MANIFEST_TYPES


def digest_hex(digest: str) -> str:
    match = _DIGEST.match(digest)
    if not match:
        raise ImageLayoutError(f"{digest!r} is not a sha256 digest")
    return match.group(1)


class ImageLayout:
    """An OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def create(cls, root: Path) -> ImageLayout:
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": LAYOUT_VERSION}))
        layout = cls(root)
        if not (root / "index.json").exists():
            layout.save_index([])
        return layout

    @classmethod
    def open(cls, root: Path) -> ImageLayout:
        marker = root / "oci-layout"
        if not marker.is_file():
            raise ImageLayoutError(f"{root} is not an OCI image layout (no oci-layout file)")
        try:
            version = json.loads(marker.read_text()).get("imageLayoutVersion")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ImageLayoutError(f"{marker} is not valid JSON") from exc
        if version != LAYOUT_VERSION:
            raise ImageLayoutError(f"{marker}: imageLayoutVersion {version!r} is not 1.0.0")
        return cls(root)

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / digest_hex(digest)

    def has_blob(self, desc: Descriptor) -> bool:
        path = self.blob_path(desc.digest)
        return path.is_file() and path.stat().st_size == desc.size

    def read_blob(self, desc: Descriptor) -> bytes:
        """Read a small blob (a manifest or config), checking its size and digest."""
        if desc.size > _MAX_MANIFEST:
            raise ImageLayoutError(f"{desc.digest}: {desc.size} bytes is too large for a manifest")
        path = self.blob_path(desc.digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ImageLayoutError(f"{self.root}: blob {desc.digest} is missing") from exc
        if len(data) != desc.size or "sha256:" + hashlib.sha256(data).hexdigest() != desc.digest:
            raise ImageLayoutError(f"{path} does not match its descriptor {desc.digest}")
        return data

    def index(self) -> list[Descriptor]:
        path = self.root / "index.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ImageLayoutError(f"{self.root} has no index.json") from exc
        except json.JSONDecodeError as exc:
            raise ImageLayoutError(f"{path} is not valid JSON: {exc}") from exc
        return [
            Descriptor.from_json(item, f"{path} manifests[{i}]")
            for i, item in enumerate(raw.get("manifests") or [])
        ]

    def save_index(self, manifests: list[Descriptor]) -> None:
        data = {"schemaVersion": 2, "mediaType": OCI_INDEX}
        body = {**data, "manifests": [m.to_json() for m in manifests]}
        temp = self.root / "index.json.tmp"
        temp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        temp.replace(self.root / "index.json")

    def resolve(self, name: str | None) -> Descriptor:
        """The index entry whose ref-name annotation is `name` (or the only entry if None)."""
        entries = self.index()
        if name is None:
            if len(entries) != 1:
                names = [e.annotations.get(REF_NAME, e.digest) for e in entries]
                raise ImageLayoutError(
                    f"{self.root} holds {len(entries)} images ({', '.join(names) or 'none'}); "
                    "name one as oci:DIR:NAME"
                )
            return entries[0]
        for entry in entries:
            if entry.annotations.get(REF_NAME) == name or entry.digest == name:
                return entry
        names = [e.annotations.get(REF_NAME, "") for e in entries]
        raise ImageLayoutError(
            f"{self.root} has no image named {name!r} (it has: {', '.join(n for n in names if n)})"
        )

    def children(self, desc: Descriptor) -> list[Descriptor]:
        """What a manifest or index refers to directly (config first, then layers)."""
        raw = json.loads(self.read_blob(desc))
        where = f"{self.root}: {desc.digest}"
        if desc.media_type in INDEX_TYPES:
            return [
                Descriptor.from_json(m, f"{where} manifests[{i}]")
                for i, m in enumerate(raw.get("manifests") or [])
            ]
        if desc.media_type in MANIFEST_TYPES:
            config = Descriptor.from_json(raw.get("config"), f"{where} config")
            layers = [
                Descriptor.from_json(m, f"{where} layers[{i}]")
                for i, m in enumerate(raw.get("layers") or [])
            ]
            return [config, *layers]
        return []

    def walk(self, root: Descriptor) -> Iterator[Descriptor]:
        """Every descriptor reachable from `root`, children before parents, each once."""
        seen: set[str] = set()

        def visit(desc: Descriptor) -> Iterator[Descriptor]:
            if desc.digest in seen:
                return
            seen.add(desc.digest)
            if desc.is_manifest:
                for child in self.children(desc):
                    yield from visit(child)
            elif not self.has_blob(desc):
                raise ImageLayoutError(
                    f"{self.root}: blob {desc.digest} ({desc.size} bytes) is missing or has the "
                    "wrong size"
                )
            yield desc

        yield from visit(root)

    def write_blob(self, data: bytes, media_type: str) -> Descriptor:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        path = self.blob_path(digest)
        if not path.exists():
            temp = path.with_name(f".{path.name}.tmp")
            temp.write_bytes(data)
            temp.replace(path)
        return Descriptor(media_type=media_type, digest=digest, size=len(data))

    def write_blob_stream(self, desc: Descriptor, source: BinaryIO) -> None:
        """Store a blob from a stream, checking its size and digest before it becomes visible."""
        path = self.blob_path(desc.digest)
        if self.has_blob(desc):
            return
        temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        digest = hashlib.sha256()
        size = 0
        with temp.open("wb") as out:
            while chunk := source.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != desc.size or "sha256:" + digest.hexdigest() != desc.digest:
            temp.unlink()
            raise ImageLayoutError(
                f"blob {desc.digest}: received {size} bytes hashing to sha256:{digest.hexdigest()}"
            )
        temp.replace(path)

    def link_or_copy_from(self, other: ImageLayout, desc: Descriptor) -> None:
        """Like `copy_blob_from`, but verifies the source and hard-links when possible."""
        if self.has_blob(desc):
            return
        source = other.blob_path(desc.digest)
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        if "sha256:" + digest.hexdigest() != desc.digest:
            raise ImageLayoutError(f"{source} does not hash to {desc.digest}")
        try:
            os.link(source, self.blob_path(desc.digest))
        except OSError:
            shutil.copyfile(source, self.blob_path(desc.digest))
