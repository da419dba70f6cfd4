"""How a release is put onto one site: the `SiteDeployer` interface and its implementations.

`CommandDeployer` runs an operator-given command per site (kubectl, the installer, a GitOps
commit, ...) with the site, version and extracted bundle in its environment;
`RecordOnlyDeployer` deploys nothing, for sites upgraded by other means, so the rollout only
gates on health and records the result.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hemisphere.bundle.model import RENDERED_DIR
from hemisphere.bundle.upgrade.errors import DeployError
from hemisphere.bundle.upgrade.sites import SiteTarget


@dataclass(frozen=True)
class ReleaseRef:
    """A verified, extracted bundle ready to deploy."""

    version: str
    bundle: Path
    manifest_sha256: str
    signer: str | None
    root: Path  # the extracted bundle


class SiteDeployer(Protocol):
    def deploy(self, site: SiteTarget, release: ReleaseRef) -> None:
        """Put `release` onto `site`; raise `DeployError` if that failed."""


class RecordOnlyDeployer:
    def deploy(self, site: SiteTarget, release: ReleaseRef) -> None:
        return None


class CommandDeployer:
    """Runs `command` (a shell-style string) once per site.

    Environment: HEMISPHERE_SITE, HEMISPHERE_SITE_ROLE, HEMISPHERE_VERSION, HEMISPHERE_BUNDLE
    (the bundle file), HEMISPHERE_BUNDLE_DIR (its verified extraction), HEMISPHERE_MANIFESTS
    (that site's rendered manifests, when the bundle has them).
    """

    def __init__(self, command: str, timeout: float = 3600.0) -> None:
        self.argv = shlex.split(command)
        if not self.argv:
            raise DeployError("--deploy-command is empty")
        self.timeout = timeout

    def deploy(self, site: SiteTarget, release: ReleaseRef) -> None:
        env = dict(os.environ)
        env.update(
            HEMISPHERE_SITE=site.name,
            HEMISPHERE_SITE_ROLE=str(site.role),
            HEMISPHERE_VERSION=release.version,
            HEMISPHERE_BUNDLE=str(release.bundle),
            HEMISPHERE_BUNDLE_DIR=str(release.root),
        )
        manifests = release.root / RENDERED_DIR / site.name
        if manifests.is_dir():
            env["HEMISPHERE_MANIFESTS"] = str(manifests)
        try:
            result = subprocess.run(
                self.argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeployError(f"deploy command for site {site.name} did not run: {exc}") from exc
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip()[-500:]
            raise DeployError(
                f"deploy command for site {site.name} exited {result.returncode}: {tail}"
            )
