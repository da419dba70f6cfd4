"""The console's Ed25519 signing keys: loading them in the vault's format and naming them.

The vault writes PEM (PKCS#8 private key, SubjectPublicKeyInfo public key); the embedded default
generates one key into the data dir. A key id is derived from the public key itself, so a DC that
trusts a list of public keys can tell which one signed a message without any other configuration,
and rotating keys never needs an id to be chosen by hand.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "SigningKeyError",
    "generate_key_file",
    "key_id",
    "load_private_key",
    "load_public_keys",
    "public_pem",
    "verify_signature",
]


class SigningKeyError(ValueError):
    """A key in configuration could not be read; the message names the variable's format."""


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519-" + hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A PEM PKCS#8 Ed25519 private key (what `hemisphere vault init` writes), or its 32 raw
    bytes in base64."""
    text = text.strip()
    if not text:
        raise SigningKeyError(
            "the signing private key is empty: set HEMISPHERE_SIGNING_PRIVATE_KEY"
        )
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(_b64(text))
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(
            f"the signing private key is not a PEM Ed25519 private key: {exc}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError("the signing private key must be an Ed25519 key (vault kind ed25519)")
    return key


def load_public_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """Trusted public keys by key id, from a comma-separated list of PEM public keys (or raw
    32-byte keys in base64). A list, so keys can be rotated without downtime."""
    out: dict[str, Ed25519PublicKey] = {}
    for n, part in enumerate(p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            if part.startswith("-----BEGIN"):
                key = serialization.load_pem_public_key(part.encode())
            else:
                key = Ed25519PublicKey.from_public_bytes(_b64(part))
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(
                f"trusted signing key #{n + 1} is not a PEM Ed25519 public key: {exc}"
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningKeyError(f"trusted signing key #{n + 1} must be an Ed25519 public key")
        out[key_id(key)] = key
    return out


def verify_signature(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """The embedded default: one key generated into the data dir (mode 0600), reused after."""
    if path.exists():
        return load_private_key(path.read_text())
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    tmp.replace(path)
    return key


def _b64(text: str) -> bytes:
    text = text.replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
