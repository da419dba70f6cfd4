"""Encryption at rest for secret values stored in the database (workspace env vars).

AES-256-GCM with a random 96-bit nonce per value; the key lives outside the database (a 0600 key
file in the data directory, or HEMISPHERE_SECRET_KEY), so a copied database alone reveals nothing.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


class SealError(Exception):
    """A sealed value could not be opened (wrong key or corrupted data)."""


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret key must be 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_key_file(cls, path: Path) -> Sealer:
        """Load the key, creating it (mode 0600) on first use."""
        env = os.environ.get("HEMISPHERE_SECRET_KEY")
        if env:
            return cls(base64.b64decode(env))
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64encode(secrets.token_bytes(32)))
        return cls(base64.b64decode(path.read_bytes().strip()))

    def seal(self, plaintext: str, *, context: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, *, context: str) -> str:
        if not sealed or sealed[:1] != _VERSION:
            raise SealError("unknown sealed-value format")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], context.encode()).decode()
        except Exception as exc:
            raise SealError("cannot decrypt a stored secret: wrong HEMISPHERE secret key?") from exc
