"""`hemisphere bundle sign`: add a signature to a built bundle (e.g. on an offline signing host).

The archive is rewritten with the DSSE envelope as its second entry. Every file is checked
against the manifest while it is copied, so a bundle that was corrupted before signing is
refused rather than blessed. Signatures by other keys over the same manifest are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hemisphere.bundle.archive import ArchiveWriter, EntryWriter
from hemisphere.bundle.errors import BundleError, SignatureError
from hemisphere.bundle.model import MANIFEST_NAME, SIGNATURE_NAME, FileEntry
from hemisphere.bundle.parts import PartSet
from hemisphere.bundle.signing import DsseEnvelope, sign_manifest
from hemisphere.bundle.verify import BundleHead, Progress, walk_bundle


class _CopySink:
    """Copies each file being verified into the new archive (made once the head is read)."""

    def __init__(self) -> None:
        self.writer: ArchiveWriter | None = None
        self._entry: EntryWriter | None = None

    def open(self, entry: FileEntry) -> Callable[[bytes], None]:
        assert self.writer is not None
        self._entry = self.writer.begin(entry.path, entry.size)
        return self._entry.write

    def close(self, entry: FileEntry) -> None:
        assert self._entry is not None
        self._entry.close()
        self._entry = None


def sign_bundle(
    path: Path, key: Ed25519PrivateKey, *, progress: Progress | None = None
) -> DsseEnvelope:
    """Sign the bundle at `path` in place; return the new envelope."""
    parts = PartSet.discover(path)
    max_part = parts.files[0].stat().st_size if parts.is_split else None
    sink = _CopySink()
    signed: list[DsseEnvelope] = []

    def on_head(head: BundleHead) -> None:
        existing = None
        if head.envelope_bytes is not None:
            try:
                existing = DsseEnvelope.from_bytes(head.envelope_bytes)
            except SignatureError:
                existing = None
        envelope = sign_manifest(head.manifest_bytes, key, existing)
        signed.append(envelope)
        created = datetime.fromisoformat(head.manifest.created.replace("Z", "+00:00"))
        sink.writer = ArchiveWriter(
            parts.base, max_part_size=max_part, mtime=int(created.timestamp())
        )
        sink.writer.add_bytes(MANIFEST_NAME, head.manifest_bytes)
        sink.writer.add_bytes(SIGNATURE_NAME, envelope.to_bytes())

    try:
        walk_bundle(
            path, [], require_signature=False, sink=sink, on_head=on_head, progress=progress
        )
    except BaseException:
        if sink.writer is not None:
            sink.writer.abort()
        raise
    if sink.writer is None or not signed:
        raise BundleError(f"{path}: nothing was signed")
    sink.writer.commit()
    return signed[0]
