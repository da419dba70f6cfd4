"""Errors of the installer package.

    InstallerError                  (base of every error this package raises)
    ├── RenderError                 (the spec cannot be turned into manifests)
    └── VaultError                  (the secrets vault cannot be used)
        ├── VaultExistsError        (init would overwrite a vault generated earlier)
        ├── VaultMissingError       (no vault or key file where one is expected)
        └── VaultDecryptError       (wrong key, or the vault file is damaged)

Each message says what was wrong, where (file), and what to do.
"""

from __future__ import annotations

__all__ = [
    "InstallerError",
    "RenderError",
    "VaultDecryptError",
    "VaultError",
    "VaultExistsError",
    "VaultMissingError",
]


class InstallerError(Exception):
    """Base of every error the installer raises."""


class RenderError(InstallerError):
    """The spec cannot be rendered into manifests."""


class VaultError(InstallerError):
    """The secrets vault cannot be used."""


class VaultExistsError(VaultError):
    """A vault exists already; generating it again would replace live secrets."""


class VaultMissingError(VaultError):
    """The vault file or its key file is not where it was expected."""


class VaultDecryptError(VaultError):
    """The vault could not be decrypted with the given key, or is damaged."""
