"""Manifests as YAML: one byte-identical text for the same input, and a directory per site.

`write_manifests` lays out `DIR/<site>/<n>-<phase>.yaml`, one multi-document file per phase, so
`kubectl apply -f DIR/<site>/1-infra.yaml` follows the same order `hemisphere apply` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from hemisphere.installer.render.meta import PHASE_ANNOTATION, PHASES, Manifest

__all__ = ["phase_of", "to_yaml", "write_manifests"]


_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: ~10x faster


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Block style everywhere; never emit anchors for repeated dicts."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def phase_of(manifest: Manifest) -> str:
    return str(manifest["metadata"]["annotations"][PHASE_ANNOTATION])


def to_yaml(manifests: Sequence[Manifest]) -> str:
    """Multi-document YAML of `manifests`, in their order."""
    return "".join(
        "---\n"
        + yaml.dump(
            m,
            Dumper=_Dumper,
            sort_keys=False,
            default_flow_style=False,
            width=100,
            allow_unicode=True,
        )
        for m in manifests
    )


def write_manifests(rendered: Mapping[str, Sequence[Manifest]], out_dir: Path) -> list[Path]:
    """Write each site's manifests to `out_dir/<site>/<n>-<phase>.yaml`; return the files."""
    written = []
    for site, manifests in rendered.items():
        site_dir = out_dir / site
        site_dir.mkdir(parents=True, exist_ok=True)
        for index, phase in enumerate(PHASES, start=1):
            target = site_dir / f"{index}-{phase}.yaml"
            docs = [m for m in manifests if phase_of(m) == phase]
            if docs:
                target.write_text(to_yaml(docs))
                written.append(target)
            else:
                target.unlink(missing_ok=True)
    return written
