"""The bundle's SBOM: a CycloneDX 1.5 JSON document listing every wheel and every image.

Packages are identified by package URL (`pkg:pypi/name@version`, `pkg:oci/name@digest`) with
their sha256, so a scanner on the air-gapped side can match them against advisories offline.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from urllib.parse import quote

from hemisphere.bundle.model import ImageEntry
from hemisphere.bundle.references import ImageReference
from hemisphere.bundle.wheels import WheelInfo


def _sha256(path_bytes: bytes) -> str:
    return hashlib.sha256(path_bytes).hexdigest()


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def wheel_component(wheel: WheelInfo) -> dict[str, Any]:
    purl = f"pkg:pypi/{_normalize(wheel.name)}@{wheel.version}"
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": purl,
        "name": wheel.name,
        "version": wheel.version,
        "purl": purl,
        "hashes": [{"alg": "SHA-256", "content": _sha256(wheel.path.read_bytes())}],
        "properties": [{"name": "hemisphere:file", "value": f"wheels/{wheel.path.name}"}],
    }
    if wheel.license:
        component["licenses"] = [{"expression": wheel.license}]
    return component


def image_component(image: ImageEntry) -> dict[str, Any]:
    name = image.repository.rsplit("/", 1)[-1]
    ref = ImageReference.parse(image.ref)
    qualifiers = f"repository_url={quote(f'{ref.registry}/{ref.repository}', safe='/')}"
    if image.tag:
        qualifiers += f"&tag={quote(image.tag)}"
    purl = f"pkg:oci/{name}@{quote(image.digest)}?{qualifiers}"
    return {
        "type": "container",
        "bom-ref": purl,
        "name": image.repository,
        "version": image.digest,
        "purl": purl,
        "hashes": [{"alg": "SHA-256", "content": image.digest.split(":", 1)[1]}],
        "properties": [{"name": "hemisphere:reference", "value": image.ref}],
    }


def build_sbom(
    version: str, created: str, wheels: list[WheelInfo], images: list[ImageEntry]
) -> bytes:
    components = [wheel_component(w) for w in wheels] + [image_component(i) for i in images]
    seed = json.dumps([c["bom-ref"] for c in components] + [version], sort_keys=True)
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}",
        "version": 1,
        "metadata": {
            "timestamp": created,
            "component": {
                "type": "application",
                "bom-ref": f"pkg:generic/hemisphere@{version}",
                "name": "hemisphere",
                "version": version,
            },
            "tools": {"components": [{"type": "application", "name": "hemisphere bundle build"}]},
        },
        "components": components,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
