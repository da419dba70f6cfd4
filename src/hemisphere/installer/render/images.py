"""Every container image the rendered manifests reference, by full reference, in one place.

The bundle engineer pulls `image_refs(spec).values()` into an offline bundle and pushes them to a
site's mirror; `mirrored(ref, registry)` is the one rewrite rule from a public reference to the
mirror's (`quay.io/ceph/ceph:v18.2.4` → `registry.muc.internal:5000/ceph/ceph:v18.2.4`). The
renderer applies it for every site that names a `registry`.
"""

from __future__ import annotations

from hemisphere.topology import CloudNativePGDatabase, InstallSpec

__all__ = [
    "CEPH",
    "HEMISPHERE_REPOSITORY",
    "K0S_REPOSITORY",
    "POSTGRESQL",
    "image_refs",
    "k0s_version",
    "mirrored",
]

HEMISPHERE_REPOSITORY = "ghcr.io/hemisphere-dev/hemisphere"
"""One image for every role (console, dc, agent): the role is the command's argument."""

CEPH = "quay.io/ceph/ceph:v18.2.4"

POSTGRESQL: dict[int, str] = {
    14: "ghcr.io/cloudnative-pg/postgresql:14.13",
    15: "ghcr.io/cloudnative-pg/postgresql:15.8",
    16: "ghcr.io/cloudnative-pg/postgresql:16.4",
    17: "ghcr.io/cloudnative-pg/postgresql:17.0",
}

K0S_REPOSITORY = "quay.io/k0sproject/k0s"
"""k0smotron takes the repository and the version separately."""


def k0s_version(kubernetes_version: str) -> str:
    """`v1.31.2` → `v1.31.2-k0s.0`, the tag k0smotron deploys."""
    return f"{kubernetes_version}-k0s.0"


def image_refs(spec: InstallSpec) -> dict[str, str]:
    """Component → image reference for everything `spec` runs (before any mirror rewrite)."""
    hemisphere = f"{HEMISPHERE_REPOSITORY}:{spec.version}"
    refs = {"console": hemisphere, "dc": hemisphere, "agent": hemisphere, "ceph": CEPH}
    for db in spec.databases:
        if isinstance(db.config, CloudNativePGDatabase):
            version = db.config.postgres_version
            refs[f"postgresql-{version}"] = POSTGRESQL[version]
    planes = spec.central.control_planes if spec.central is not None else None
    if planes is not None and planes.provider == "k0smotron":
        refs["k0s"] = f"{K0S_REPOSITORY}:{k0s_version(planes.kubernetes_version)}"
    return dict(sorted(refs.items()))


def mirrored(ref: str, registry: str | None) -> str:
    """`ref` as pulled from `registry` (the path after the source registry is kept)."""
    if registry is None:
        return ref
    first, _, rest = ref.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else ref
    return f"{registry.rstrip('/')}/{path}"
