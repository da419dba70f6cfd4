"""Copy an image from a registry into an OCI image layout (build input `--image REF`).

Everything the reference points at is copied: an index with all its platform manifests, their
configs and layers, so the digest the bundle records is the digest the vendor published.
Every blob is checked against its digest before it becomes visible in the layout.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from hemisphere.bundle.errors import BuildError
from hemisphere.bundle.ocilayout import INDEX_TYPES, MANIFEST_TYPES, Descriptor, ImageLayout
from hemisphere.bundle.references import ImageReference
from hemisphere.bundle.registry import RegistryClient


class _IterReader(io.RawIOBase):
    def __init__(self, chunks: object) -> None:
        self._chunks = iter(chunks)  # type: ignore[call-overload]
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._buffer:
            chunk = next(self._chunks, b"")
            if not chunk:
                return b""
            self._buffer = chunk
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def pull_image(
    client: RegistryClient,
    ref: ImageReference,
    layout: ImageLayout,
    on_blob: Callable[[Descriptor], None] | None = None,
) -> Descriptor:
    """Copy `ref` into `layout`; return the root descriptor (not yet added to index.json)."""
    repo = ref.repository
    root = _copy_manifest(client, repo, ref.reference, layout, on_blob)
    if ref.digest is not None and root.digest != ref.digest:
        raise BuildError(f"{ref}: the registry serves {root.digest}, not the pinned digest")
    return root


def _copy_manifest(
    client: RegistryClient,
    repo: str,
    reference: str,
    layout: ImageLayout,
    on_blob: Callable[[Descriptor], None] | None,
) -> Descriptor:
    manifest = client.get_manifest(repo, reference)
    raw = json.loads(manifest.data)
    media_type = manifest.media_type or raw.get("mediaType", "")
    if media_type not in INDEX_TYPES and media_type not in MANIFEST_TYPES:
        raise BuildError(f"{client.host}/{repo}:{reference}: unsupported media type {media_type!r}")
    desc = layout.write_blob(manifest.data, media_type)
    for child in layout.children(desc):
        if child.is_manifest:
            _copy_manifest(client, repo, child.digest, layout, on_blob)
            continue
        if not layout.has_blob(child):
            with client.blob_stream(repo, child.digest) as chunks:
                layout.write_blob_stream(child, _IterReader(chunks))  # type: ignore[arg-type]
        if on_blob is not None:
            on_blob(child)
    return desc
