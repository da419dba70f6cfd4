"""`hemisphere bundle inspect`: what a bundle holds, read from its manifest alone (fast).

With trusted keys the signature is checked too (not the file checksums: that is `verify`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hemisphere.bundle.errors import SignatureError
from hemisphere.bundle.model import FileKind
from hemisphere.bundle.signing import verify_envelope
from hemisphere.bundle.verify import BundleHead, read_head


@dataclass(frozen=True)
class BundleSummary:
    head: BundleHead
    archive_size: int
    parts: int
    sizes: dict[FileKind, int]
    counts: dict[FileKind, int]
    signers: list[str]
    signature: str  # "verified by <keyid>", "not checked", "unsigned", or the failure


def inspect_bundle(path: Path, trusted: list[Ed25519PublicKey] | None = None) -> BundleSummary:
    head = read_head(path)
    sizes: Counter[FileKind] = Counter()
    counts: Counter[FileKind] = Counter()
    for entry in head.manifest.files:
        sizes[entry.kind] += entry.size
        counts[entry.kind] += 1
    if head.envelope_bytes is None:
        signature = "unsigned"
    elif not trusted:
        signature = "not checked (pass --key to check it)"
    else:
        try:
            signature = "verified: signed by " + verify_envelope(
                head.envelope_bytes, head.manifest_bytes, trusted
            )
        except SignatureError as exc:
            signature = f"INVALID: {exc}"
    return BundleSummary(
        head=head,
        archive_size=head.parts.total_size,
        parts=len(head.parts.files),
        sizes=dict(sizes),
        counts=dict(counts),
        signers=head.claimed_signers,
        signature=signature,
    )
