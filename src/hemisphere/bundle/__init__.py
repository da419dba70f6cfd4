"""Signed offline bundles (ARCHITECTURE.md §6): build, sign, verify, inspect, extract, mirror.

A bundle is one zstd-compressed tar archive (optionally split into parts) whose first entry is
a manifest listing every file by sha256 and size and every image by digest, and whose second
entry is a DSSE/Ed25519 signature over that manifest. Nothing in a bundle is used before the
signature and every checksum have been checked. Upgrades across sites live in `bundle.upgrade`.
"""

from hemisphere.bundle.build import BuildOptions, BuildResult, ImageSource, build_bundle
from hemisphere.bundle.errors import (
    BuildError,
    BundleError,
    BundleFormatError,
    ImageLayoutError,
    ImageReferenceError,
    IntegrityError,
    KeyFileError,
    RegistryError,
    RegistryUnreachable,
    SignatureError,
    TruncatedBundleError,
    UnsafeEntryError,
    UntrustedKeyError,
)
from hemisphere.bundle.extract import extract_bundle
from hemisphere.bundle.inspect import BundleSummary, inspect_bundle
from hemisphere.bundle.mirror import MirrorOptions, MirrorResult, MirrorTarget, mirror_bundle
from hemisphere.bundle.model import BundleManifest, FileEntry, FileKind, ImageEntry
from hemisphere.bundle.push import PushProgress, PushReport
from hemisphere.bundle.sign import sign_bundle
from hemisphere.bundle.signing import generate_keypair, key_id, load_private_key, load_public_key
from hemisphere.bundle.units import human_size, parse_size
from hemisphere.bundle.verify import BundleHead, VerifiedBundle, read_head, verify_bundle
from hemisphere.bundle.wheels import WheelSet

__all__ = [
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "BundleError",
    "BundleFormatError",
    "BundleHead",
    "BundleManifest",
    "BundleSummary",
    "FileEntry",
    "FileKind",
    "ImageEntry",
    "ImageLayoutError",
    "ImageReferenceError",
    "ImageSource",
    "IntegrityError",
    "KeyFileError",
    "MirrorOptions",
    "MirrorResult",
    "MirrorTarget",
    "PushProgress",
    "PushReport",
    "RegistryError",
    "RegistryUnreachable",
    "SignatureError",
    "TruncatedBundleError",
    "UnsafeEntryError",
    "UntrustedKeyError",
    "VerifiedBundle",
    "WheelSet",
    "build_bundle",
    "extract_bundle",
    "generate_keypair",
    "human_size",
    "inspect_bundle",
    "key_id",
    "load_private_key",
    "load_public_key",
    "mirror_bundle",
    "parse_size",
    "read_head",
    "sign_bundle",
    "verify_bundle",
]
