"""The installer: from an install spec to what each site's cluster should hold.

`render` (pure: spec → manifests per cluster) and `vault` (secrets generated once, encrypted at
rest) live here; applying manifests to live clusters builds on them.
"""

from hemisphere.installer.errors import (
    InstallerError,
    RenderError,
    VaultDecryptError,
    VaultError,
    VaultExistsError,
    VaultMissingError,
)

__all__ = [
    "InstallerError",
    "RenderError",
    "VaultDecryptError",
    "VaultError",
    "VaultExistsError",
    "VaultMissingError",
]
