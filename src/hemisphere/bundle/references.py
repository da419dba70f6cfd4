"""Image references (`host[:port]/path[:tag][@sha256:...]`), parsed and normalized one way.

Normalization follows the Docker/containerd rules so the same image written two ways matches:
no host means `docker.io`, a single-component Docker Hub path gets `library/`, and no tag and
no digest means `:latest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hemisphere.bundle.errors import ImageReferenceError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageReference:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        original = text
        text = text.strip()
        if text.startswith("docker://"):
            text = text[len("docker://") :]
        digest: str | None = None
        if "@" in text:
            text, digest = text.split("@", 1)
            if not _DIGEST.match(digest):
                raise ImageReferenceError(f"image {original!r}: digest must be sha256:<64 hex>")
        tag: str | None = None
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not _TAG.match(tag):
                raise ImageReferenceError(f"image {original!r}: {tag!r} is not a valid tag")
        first, _, rest = text.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = DOCKER_HUB, text
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        if not path or not all(_COMPONENT.match(c) for c in path.split("/")):
            raise ImageReferenceError(
                f"image {original!r}: {path!r} is not a valid repository path (lowercase letters, "
                "digits and . _ - separated by /)"
            )
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        """`host/path:tag` without the digest: the key images are matched by."""
        base = f"{self.registry}/{self.repository}"
        return f"{base}:{self.tag}" if self.tag else base

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_registry(self, registry: str) -> ImageReference:
        return replace(self, registry=registry)

    def with_digest(self, digest: str) -> ImageReference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.digest else self.name
