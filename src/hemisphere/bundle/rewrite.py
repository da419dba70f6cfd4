"""Point the rendered manifests at the mirror: rewrite every container `image:` field.

Any `containers`, `initContainers` or `ephemeralContainers` list anywhere in a document is
rewritten, which covers Pods, every workload's pod template (Deployment, StatefulSet,
DaemonSet, Job, CronJob) and custom resources that embed one. An image is matched to a bundle
image by its normalized name (`docker.io/library/x:1` == `x:1`), by its digest, or by the name
the installer rendered for a mirror, and replaced by `mirror/path:tag@digest`. Images the bundle
does not carry are reported, not guessed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hemisphere.bundle.errors import ImageReferenceError
from hemisphere.bundle.model import ImageEntry
from hemisphere.bundle.references import DOCKER_HUB, ImageReference

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


@dataclass(frozen=True)
class UnresolvedImage:
    document: str
    field: str
    image: str


def mirror_path(image: ImageEntry) -> str:
    """The image's repository in a mirror, below the mirror's own path: the path after the
    source registry (Docker Hub's implicit `library/` dropped), the installer's
    `render.images.mirrored` rule."""
    ref = ImageReference.parse(image.ref)
    if ref.registry == DOCKER_HUB and ref.repository.startswith("library/"):
        return ref.repository.removeprefix("library/")
    return ref.repository


class ImageMap:
    """Bundle images by normalized name and by digest, mapped to their mirror references.

    A name that is not a bundle image's source name may still be one rendered for a mirror
    (`<mirror>[/<path>]/<repository>:<tag>`, as the installer renders sites with a
    `registry`): it matches the one bundle image whose mirror path ends it, with the same tag.
    """

    def __init__(self, images: list[ImageEntry], registry: str) -> None:
        self._by_name: dict[str, str] = {}
        self._by_digest: dict[str, str] = {}
        self._by_path: list[tuple[str, str | None, str]] = []
        prefix = registry.strip("/")
        for image in images:
            source = ImageReference.parse(image.ref)
            path = mirror_path(image)
            repository = f"{prefix.partition('/')[2]}/{path}".strip("/")
            target = ImageReference(prefix.partition("/")[0], repository, image.tag, image.digest)
            self._by_name[source.name] = str(target)
            self._by_digest[image.digest] = str(target)
            self._by_path.append((path, image.tag, str(target)))

    def lookup(self, image: str) -> str | None:
        try:
            ref = ImageReference.parse(image)
        except ImageReferenceError:
            return None
        if ref.digest is not None:
            return self._by_digest.get(ref.digest)
        exact = self._by_name.get(ref.name)
        if exact is not None:
            return exact
        written = f"{ref.registry}/{ref.repository}"
        if ref.registry == DOCKER_HUB:
            written = ref.repository.removeprefix("library/")
        hits = [
            target
            for path, tag, target in self._by_path
            if tag == ref.tag and (written == path or written.endswith(f"/{path}"))
        ]
        return hits[0] if len(hits) == 1 else None


def rewrite_document(
    document: dict[str, Any], images: ImageMap, name: str
) -> tuple[dict[str, Any], list[UnresolvedImage]]:
    """A copy of `document` with its images replaced; plus the images that were not found."""
    result = copy.deepcopy(document)
    missing: list[UnresolvedImage] = []

    def visit(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                if key in CONTAINER_LISTS and isinstance(value, list):
                    for index, container in enumerate(value):
                        if isinstance(container, dict) and isinstance(container.get("image"), str):
                            field = f"{child}[{index}].image"
                            target = images.lookup(container["image"])
                            if target is None:
                                missing.append(UnresolvedImage(name, field, container["image"]))
                            else:
                                container["image"] = target
                visit(value, child)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                visit(item, f"{path}[{index}]")

    visit(result, "")
    return result, missing


def referenced_images(document: dict[str, Any]) -> list[str]:
    """Every container image a document names (for the build-time completeness check)."""
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CONTAINER_LISTS and isinstance(value, list):
                    found.extend(
                        c["image"]
                        for c in value
                        if isinstance(c, dict) and isinstance(c.get("image"), str)
                    )
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document)
    return found
