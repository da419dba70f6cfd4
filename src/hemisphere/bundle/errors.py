"""Every error the bundle package raises, so callers (the CLI, the upgrade engine) catch one tree.

BundleError                     (base: a message that says what, where and what to do)
├── BundleFormatError           (not a well-formed bundle: bad zstd/tar stream, bad manifest)
│   ├── TruncatedBundleError    (the stream ends early: cut download, missing part)
│   └── UnsafeEntryError        (a tar entry that could escape or abuse the target directory:
│                                `..`, absolute path, link, device, duplicate, size bomb)
├── IntegrityError              (a file's checksum, size, position or presence differs from
│                                the signed manifest; names the file)
├── SignatureError              (no signature, a bad one, or one over another manifest)
│   └── UntrustedKeyError       (a valid signature by a key nobody said to trust)
├── KeyFileError                (a key file that cannot be read or is not Ed25519)
├── ImageLayoutError            (an OCI image layout on disk is missing or inconsistent)
├── ImageReferenceError         (an image reference that cannot be parsed)
├── BuildError                  (build inputs are wrong: image not found, pip failed)
└── RegistryError               (the registry answered unexpectedly; carries status and body)
    └── RegistryUnreachable     (no answer: refused, TLS failure, timeout)
"""

from __future__ import annotations


class BundleError(Exception):
    """Base of every bundle error; `str(error)` is the message shown to the operator."""


class BundleFormatError(BundleError):
    """The file is not a well-formed Hemisphere bundle."""


class TruncatedBundleError(BundleFormatError):
    """The archive stream ends before everything the manifest lists was read."""


class UnsafeEntryError(BundleFormatError):
    """A tar entry that a careless extractor would let write outside its target directory."""


class IntegrityError(BundleError):
    """A file differs from what the signed manifest says (checksum, size, order, presence)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class SignatureError(BundleError):
    """The manifest signature is missing, malformed, or does not verify."""


class UntrustedKeyError(SignatureError):
    """The signature verifies with none of the keys the operator trusts."""


class KeyFileError(BundleError):
    """A key file cannot be read or holds something other than an Ed25519 key."""


class ImageLayoutError(BundleError):
    """An OCI image layout is missing a file or references a blob it does not hold."""


class ImageReferenceError(BundleError):
    """An image reference (`host/repo:tag@digest`) cannot be parsed."""


class BuildError(BundleError):
    """A bundle cannot be built from the given inputs."""


class RegistryError(BundleError):
    """The registry answered with an unexpected status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryUnreachable(RegistryError):
    """The registry did not answer (connection refused, TLS failure, timeout)."""
