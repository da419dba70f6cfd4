"""Verification: the signature first, then every file's size, position and sha256, streaming.

`walk_bundle` is the only code that reads a bundle's files. It reads the archive once, front to
back: `manifest.json` (size-capped), `signature.dsse.json` (size-capped), checks the signature,
then compares each following entry with the next file the signed manifest lists: same name (so
added, removed and reordered files are caught), same size (checked from the header, before a
byte of the entry is read, so a size bomb is refused unread) and same sha256. A `sink` may
receive the bytes as they stream past; nothing it receives counts as verified until the walk
returns, so sinks write into a staging area that the caller promotes only on success.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hemisphere.bundle.archive import ArchiveEntry, ArchiveReader
from hemisphere.bundle.errors import (
    IntegrityError,
    SignatureError,
    TruncatedBundleError,
    UnsafeEntryError,
)
from hemisphere.bundle.model import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_SIGNATURE_BYTES,
    SIGNATURE_NAME,
    BundleManifest,
    FileEntry,
)
from hemisphere.bundle.parts import PartSet
from hemisphere.bundle.signing import DsseEnvelope, signers, verify_envelope
from hemisphere.bundle.units import human_size


class EntrySink(Protocol):
    """Receives a verified-in-progress file; `abort` is called if the walk fails."""

    def open(self, entry: FileEntry) -> Callable[[bytes], None]: ...

    def close(self, entry: FileEntry) -> None: ...


Progress = Callable[[FileEntry, int], None]


@dataclass(frozen=True)
class BundleHead:
    """The first two entries of a bundle: the manifest and (if signed) its DSSE envelope."""

    parts: PartSet
    manifest: BundleManifest
    manifest_bytes: bytes
    envelope_bytes: bytes | None

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256(self.manifest_bytes).hexdigest()

    @property
    def claimed_signers(self) -> list[str]:
        if self.envelope_bytes is None:
            return []
        return signers(DsseEnvelope.from_bytes(self.envelope_bytes))


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature (unless waived) and every checksum were checked."""

    head: BundleHead
    signer: str | None

    @property
    def manifest(self) -> BundleManifest:
        return self.head.manifest

    @property
    def parts(self) -> PartSet:
        return self.head.parts


def _read_capped(entry: ArchiveEntry, limit: int) -> bytes:
    if entry.size > limit:
        raise UnsafeEntryError(
            f"{entry.name} declares {human_size(entry.size)}, more than the "
            f"{human_size(limit)} limit; refusing to read it (a size bomb or not a bundle)"
        )
    return b"".join(entry.chunks())


def _read_head(
    reader: ArchiveReader, entries: Iterator[ArchiveEntry]
) -> tuple[bytes, bytes | None, ArchiveEntry | None]:
    first = next(entries, None)
    if first is None:
        reader.finish()
        raise TruncatedBundleError("the archive is empty: no manifest.json")
    if first.name != MANIFEST_NAME:
        raise IntegrityError(
            f"the first entry is {first.name!r}, expected {MANIFEST_NAME}: not a Hemisphere "
            "bundle, or its entries were reordered",
            first.name,
        )
    manifest_bytes = _read_capped(first, MAX_MANIFEST_BYTES)
    second = next(entries, None)
    if second is not None and second.name == SIGNATURE_NAME:
        return manifest_bytes, _read_capped(second, MAX_SIGNATURE_BYTES), next(entries, None)
    return manifest_bytes, None, second


def read_head(path: Path) -> BundleHead:
    """Read only the manifest and signature (fast); nothing here is verified yet."""
    parts = PartSet.discover(path)
    with ArchiveReader(parts) as reader:
        entries = iter(reader)
        manifest_bytes, envelope, _ = _read_head(reader, entries)
    return BundleHead(parts, BundleManifest.from_bytes(manifest_bytes), manifest_bytes, envelope)


def _unexpected(entry: ArchiveEntry, manifest: BundleManifest, position: int) -> IntegrityError:
    listed = {f.path: i for i, f in enumerate(manifest.files)}
    if entry.name in listed:
        return IntegrityError(
            f"{entry.name} is entry #{position + 1} of the files but the signed manifest lists it "
            f"as #{listed[entry.name] + 1}: the archive's entries were reordered",
            entry.name,
        )
    return IntegrityError(
        f"unexpected file {entry.name!r} ({human_size(entry.size)}) is not listed in the signed "
        "manifest: something was added to the bundle after it was built",
        entry.name,
    )


def _check_file(
    entry: ArchiveEntry,
    expected: FileEntry,
    sink: EntrySink | None,
    progress: Progress | None,
) -> None:
    if entry.size != expected.size:
        raise IntegrityError(
            f"{entry.name} declares {human_size(entry.size)} ({entry.size} bytes) in the archive "
            f"but the signed manifest says {expected.size} bytes; refusing to read it",
            entry.name,
        )
    digest = hashlib.sha256()
    write = sink.open(expected) if sink is not None else None
    for chunk in entry.chunks():
        digest.update(chunk)
        if write is not None:
            write(chunk)
        if progress is not None:
            progress(expected, len(chunk))
    if digest.hexdigest() != expected.sha256:
        raise IntegrityError(
            f"{entry.name}: sha256 {digest.hexdigest()} does not match the signed manifest's "
            f"{expected.sha256}: the file was altered or corrupted in transit",
            entry.name,
        )
    if sink is not None:
        sink.close(expected)


def walk_bundle(
    path: Path,
    trusted_keys: list[Ed25519PublicKey],
    *,
    require_signature: bool = True,
    sink: EntrySink | None = None,
    progress: Progress | None = None,
    on_head: Callable[[BundleHead], None] | None = None,
) -> VerifiedBundle:
    """Verify the bundle at `path`, streaming every file past `sink` (if any)."""
    parts = PartSet.discover(path)
    with ArchiveReader(parts) as reader:
        entries = iter(reader)
        manifest_bytes, envelope, pending = _read_head(reader, entries)
        signer: str | None = None
        if require_signature:
            if envelope is None:
                raise SignatureError(
                    f"{parts.base} is not signed (no {SIGNATURE_NAME}); sign it with "
                    "`hemisphere bundle sign` or ask its vendor for a signed bundle"
                )
            signer = verify_envelope(envelope, manifest_bytes, trusted_keys)
        manifest = BundleManifest.from_bytes(manifest_bytes)
        head = BundleHead(parts, manifest, manifest_bytes, envelope)
        if on_head is not None:
            on_head(head)
        for position, expected in enumerate(manifest.files):
            entry = pending if pending is not None else next(entries, None)
            pending = None
            if entry is None:
                reader.finish()
                raise TruncatedBundleError(
                    f"the archive ends before {expected.path} (file {position + 1} of "
                    f"{len(manifest.files)}): the bundle is truncated or files were removed"
                )
            if entry.name != expected.path:
                raise _unexpected(entry, manifest, position)
            _check_file(entry, expected, sink, progress)
        extra = pending if pending is not None else next(entries, None)
        if extra is not None:
            raise _unexpected(extra, manifest, len(manifest.files))
        reader.finish()
    return VerifiedBundle(head=head, signer=signer)


def verify_bundle(
    path: Path, trusted_keys: list[Ed25519PublicKey], *, progress: Progress | None = None
) -> VerifiedBundle:
    """Check the signature and every checksum; write nothing anywhere."""
    return walk_bundle(path, trusted_keys, progress=progress)
