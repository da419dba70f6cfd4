"""The bundle manifest: the one schema that says what a bundle holds (Zarf-style, one format).

The manifest is the signed statement. It lists every file in archive order with its sha256 and
size, every image by digest, the components and the oldest version this bundle may upgrade
from. A verifier trusts nothing in the archive that the manifest does not name.

Archive layout (one tar stream, zstd-compressed; optionally split into parts)::

    manifest.json                 this model, as canonical JSON
    signature.dsse.json           DSSE envelope over manifest.json (absent until signed)
    images/oci-layout             the images as an OCI image layout
    images/index.json
    images/blobs/sha256/<hex>
    wheels/<dist>-<ver>-....whl   Hemisphere and its dependencies, installable offline
    manifests/<site>/<nn>-<kind>-<name>.yaml   the rendered default manifests
    sbom.cdx.json                 CycloneDX SBOM of the packages and images
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hemisphere.bundle.errors import BundleFormatError, UnsafeEntryError
from hemisphere.bundle.paths import check_member_name

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "signature.dsse.json"
IMAGES_DIR = "images"
WHEELS_DIR = "wheels"
RENDERED_DIR = "manifests"
SBOM_NAME = "sbom.cdx.json"
# Reading a manifest or signature is the only read that happens before the signature is checked:
# cap them so a forged header cannot make the verifier buffer gigabytes.
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
MAX_SIGNATURE_BYTES = 1024 * 1024

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class FileKind(StrEnum):
    """What a file in the bundle is for; `inspect` groups by it."""

    IMAGE = "image"
    WHEEL = "wheel"
    RENDERED = "rendered-manifest"
    SBOM = "sbom"


def kind_for_path(path: str) -> FileKind:
    """The kind of a bundle file, decided by its top-level directory."""
    top = path.split("/", 1)[0]
    if top == IMAGES_DIR:
        return FileKind.IMAGE
    if top == WHEELS_DIR:
        return FileKind.WHEEL
    if top == RENDERED_DIR:
        return FileKind.RENDERED
    if path == SBOM_NAME:
        return FileKind.SBOM
    raise BundleFormatError(f"{path!r} is not a place a bundle file may live")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(_Frozen):
    """One file of the archive, in archive order."""

    path: str
    sha256: str
    size: int = Field(ge=0)
    kind: FileKind

    @field_validator("path")
    @classmethod
    def _safe_path(cls, value: str) -> str:
        try:
            return check_member_name(value)
        except UnsafeEntryError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _SHA256_HEX.match(value):
            raise ValueError("must be 64 lowercase hex characters")
        return value


class ImageEntry(_Frozen):
    """One image the bundle carries, pinned by the digest of its manifest or index."""

    ref: str = Field(description="normalized reference given at build time, e.g. docker.io/x/y:1")
    repository: str = Field(description="path without the registry host, e.g. x/y")
    tag: str | None
    digest: str
    media_type: str
    size: int = Field(ge=0)

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _DIGEST.match(value):
            raise ValueError("must look like sha256:<64 hex>")
        return value


class Component(_Frozen):
    """A named, versioned part of the product (a Python distribution, an image, manifests)."""

    name: str
    version: str
    kind: Literal["python-package", "image", "rendered-manifests"]


class BundleManifest(_Frozen):
    """The signed table of contents of one bundle."""

    format_version: Literal[1] = 1
    product: Literal["hemisphere"] = "hemisphere"
    version: str = Field(min_length=1)
    min_upgrade_from: str | None = None
    created: str
    wheels_for: str | None = Field(
        default=None, description="interpreter and platform the wheels were resolved for"
    )
    components: list[Component] = []
    images: list[ImageEntry] = []
    files: list[FileEntry] = []

    @model_validator(mode="after")
    def _unique_paths(self) -> BundleManifest:
        seen: set[str] = set()
        for entry in self.files:
            if entry.path in seen:
                raise ValueError(f"file {entry.path!r} is listed twice")
            if entry.path in (MANIFEST_NAME, SIGNATURE_NAME):
                raise ValueError(f"file {entry.path!r} is a reserved name")
            seen.add(entry.path)
        return self

    @property
    def total_size(self) -> int:
        return sum(entry.size for entry in self.files)

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, two-space indent, trailing newline)."""
        data = self.model_dump(mode="json")
        return (json.dumps(data, sort_keys=True, indent=2) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = MANIFEST_NAME) -> BundleManifest:
        """Parse and validate; errors name the field that is wrong."""
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleFormatError(f"{where} is not valid JSON: {exc}") from exc
        if isinstance(raw, dict) and raw.get("format_version") not in (None, FORMAT_VERSION):
            raise BundleFormatError(
                f"{where}: format_version {raw.get('format_version')!r} is not supported by this "
                f"Hemisphere (it reads format {FORMAT_VERSION}); read it with a newer `hemisphere`"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()
            )
            raise BundleFormatError(f"{where} is not a valid bundle manifest: {problems}") from exc
