"""The rendered default manifests a bundle carries, and their copy rewritten for the mirror.

At build time the install spec is rendered by the installer (`installer.render.render(spec)`,
one list of Kubernetes objects per site) and each object is stored as
`manifests/<site>/<nnn>-<kind>-<name>.yaml`, numbered in apply order. After a push the same
files are written to an output directory with every image pointed at the mirror.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hemisphere.bundle.errors import BuildError
from hemisphere.bundle.model import RENDERED_DIR
from hemisphere.bundle.paths import check_member_name
from hemisphere.bundle.rewrite import ImageMap, UnresolvedImage, referenced_images, rewrite_document
from hemisphere.installer.render import render
from hemisphere.topology import load_spec

_UNSAFE = re.compile(r"[^a-z0-9.-]+")


def _slug(text: str) -> str:
    return _UNSAFE.sub("-", text.lower()).strip("-.") or "unnamed"


def render_spec(spec_path: Path) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """Render `spec_path` with the installer; return (spec version, manifests per site).

    Rendered without a vault: the manifests reference Secrets by name and hold no secret value.
    """
    spec = load_spec(spec_path)
    return str(spec.version), render(spec)


def write_rendered(rendered: dict[str, list[dict[str, Any]]], root: Path) -> list[str]:
    """Write one YAML file per object below `root/manifests/`; return the images they name."""
    images: list[str] = []
    for site, documents in sorted(rendered.items()):
        site_dir = root / RENDERED_DIR / _slug(site)
        site_dir.mkdir(parents=True, exist_ok=True)
        width = max(3, len(str(len(documents))))
        for index, document in enumerate(documents, start=1):
            kind = str(document.get("kind", "object"))
            name = str((document.get("metadata") or {}).get("name", "unnamed"))
            filename = f"{index:0{width}d}-{_slug(kind)}-{_slug(name)}.yaml"
            check_member_name(f"{RENDERED_DIR}/{site_dir.name}/{filename}")
            (site_dir / filename).write_text(yaml.safe_dump(document, sort_keys=False))
            images.extend(referenced_images(document))
    return images


def load_rendered_dir(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Read pre-rendered manifests: `DIR/<site>/*.yaml`, files in name order."""
    if not directory.is_dir():
        raise BuildError(f"--manifests {directory} is not a directory")
    rendered: dict[str, list[dict[str, Any]]] = {}
    for site_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        documents: list[dict[str, Any]] = []
        for path in sorted(site_dir.glob("*.y*ml")):
            try:
                loaded = list(yaml.safe_load_all(path.read_text()))
            except yaml.YAMLError as exc:
                raise BuildError(f"{path}: not valid YAML: {exc}") from exc
            documents += [d for d in loaded if isinstance(d, dict)]
        rendered[site_dir.name] = documents
    if not rendered:
        raise BuildError(f"--manifests {directory} has no <site>/ directories with YAML files")
    return rendered


@dataclass
class RewriteResult:
    files: list[Path]
    unresolved: list[UnresolvedImage]


def rewrite_rendered(bundle_root: Path, out_dir: Path, images: ImageMap) -> RewriteResult:
    """Copy `bundle_root/manifests/**` to `out_dir/**` with images pointed at the mirror."""
    source_root = bundle_root / RENDERED_DIR
    result = RewriteResult(files=[], unresolved=[])
    if not source_root.is_dir():
        return result
    for source in sorted(source_root.rglob("*.yaml")):
        relative = source.relative_to(source_root)
        documents = [d for d in yaml.safe_load_all(source.read_text()) if isinstance(d, dict)]
        rewritten: list[dict[str, Any]] = []
        for document in documents:
            new, missing = rewrite_document(document, images, str(relative))
            rewritten.append(new)
            result.unresolved.extend(missing)
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump_all(rewritten, sort_keys=False))
        result.files.append(target)
    return result
