"""Ed25519 keys and DSSE envelopes: how a bundle manifest is signed and how a signature is checked.

The signature is a DSSE envelope (https://github.com/secure-systems-lab/dsse, the envelope
in-toto and Sigstore use) stored as `signature.dsse.json` beside `manifest.json`:

    {"payloadType": "application/vnd.hemisphere.bundle.manifest.v1+json",
     "payload": base64(manifest.json bytes),
     "signatures": [{"keyid": hex(sha256(raw 32-byte public key)), "sig": base64(ed25519 sig)}]}

Each signature is Ed25519 over PAE(payloadType, payload) =
`"DSSEv1" SP len(type) SP type SP len(payload) SP payload`. Any DSSE verifier with the public
key can check it; the payload must equal the manifest.json bytes in the archive byte for byte.

Keys are PEM files: PKCS#8 for the private key (encrypted when a passphrase is given),
SubjectPublicKeyInfo for the public key; the same files `openssl pkey` reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from hemisphere.bundle.errors import KeyFileError, SignatureError, UntrustedKeyError
from hemisphere.bundle.model import SIGNATURE_NAME

PAYLOAD_TYPE = "application/vnd.hemisphere.bundle.manifest.v1+json"
PASSPHRASE_ENV = "HEMISPHERE_BUNDLE_KEY_PASSPHRASE"


class DsseSignature(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keyid: str = ""
    sig: str


class DsseEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payloadType: str
    payload: str
    signatures: list[DsseSignature]

    def to_bytes(self) -> bytes:
        return (json.dumps(self.model_dump(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> DsseEnvelope:
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise SignatureError(
                f"{SIGNATURE_NAME} is not a DSSE envelope: {exc.errors()[0]['msg']} "
                f"at {'.'.join(str(p) for p in exc.errors()[0]['loc'])}"
            ) from exc


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what the Ed25519 signature actually covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _passphrase(passphrase: bytes | None) -> bytes | None:
    if passphrase is not None:
        return passphrase
    env = os.environ.get(PASSPHRASE_ENV)
    return env.encode() if env else None


def generate_keypair(private_path: Path, public_path: Path, passphrase: bytes | None = None) -> str:
    """Write a new Ed25519 key pair (private key mode 0600) and return its key id."""
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    secret = _passphrase(passphrase)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key_id(key.public_key())


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=_passphrase(passphrase))
    except TypeError as exc:
        raise KeyFileError(f"{path} is encrypted: set {PASSPHRASE_ENV} to its passphrase") from exc
    except ValueError as exc:
        raise KeyFileError(
            f"{path} is not a PEM private key, or the passphrase is wrong ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}; bundles are signed with Ed25519")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(
            f"{path} is not a PEM public key (expected the .pub file from `hemisphere bundle "
            f"keygen`): {exc}"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}; bundles are signed with Ed25519")
    return key


def sign_manifest(
    manifest: bytes, key: Ed25519PrivateKey, existing: DsseEnvelope | None = None
) -> DsseEnvelope:
    """Sign `manifest`; signatures in `existing` over the same payload by other keys are kept."""
    kid = key_id(key.public_key())
    payload = base64.b64encode(manifest).decode()
    kept: list[DsseSignature] = []
    if existing is not None and existing.payload == payload:
        kept = [s for s in existing.signatures if s.keyid != kid]
    sig = base64.b64encode(key.sign(pae(PAYLOAD_TYPE, manifest))).decode()
    return DsseEnvelope(
        payloadType=PAYLOAD_TYPE,
        payload=payload,
        signatures=[*kept, DsseSignature(keyid=kid, sig=sig)],
    )


def signers(envelope: DsseEnvelope) -> list[str]:
    return [s.keyid for s in envelope.signatures]


def verify_envelope(envelope_bytes: bytes, manifest: bytes, trusted: list[Ed25519PublicKey]) -> str:
    """Check the envelope signs exactly `manifest` with a trusted key; return that key's id."""
    if not trusted:
        raise UntrustedKeyError(
            "no public key to check the signature with: pass the signer's key with --key PUB"
        )
    envelope = DsseEnvelope.from_bytes(envelope_bytes)
    if envelope.payloadType != PAYLOAD_TYPE:
        raise SignatureError(
            f"{SIGNATURE_NAME} has payloadType {envelope.payloadType!r}, expected {PAYLOAD_TYPE!r}"
        )
    try:
        payload = base64.b64decode(envelope.payload, validate=True)
    except binascii.Error as exc:
        raise SignatureError(f"{SIGNATURE_NAME}: payload is not base64 ({exc})") from exc
    if payload != manifest:
        raise SignatureError(
            f"{SIGNATURE_NAME} signs a different manifest (payload sha256 "
            f"{hashlib.sha256(payload).hexdigest()[:16]}…, manifest.json sha256 "
            f"{hashlib.sha256(manifest).hexdigest()[:16]}…): manifest.json was altered or the "
            "signature belongs to another bundle"
        )
    if not envelope.signatures:
        raise SignatureError(f"{SIGNATURE_NAME} holds no signatures; sign the bundle first")
    message = pae(PAYLOAD_TYPE, payload)
    trusted_ids = {key_id(k): k for k in trusted}
    for signature in envelope.signatures:
        try:
            raw = base64.b64decode(signature.sig, validate=True)
        except binascii.Error:
            continue
        for kid, key in trusted_ids.items():
            try:
                key.verify(raw, message)
            except InvalidSignature:
                continue
            return kid
    claimed = [s.keyid for s in envelope.signatures]
    if any(kid in trusted_ids for kid in claimed):
        raise SignatureError(
            f"the signature by key {next(k for k in claimed if k in trusted_ids)[:16]}… does not "
            "verify: the manifest or the signature was altered after signing"
        )
    raise UntrustedKeyError(
        f"signed by key(s) {', '.join(k[:16] + '…' for k in claimed)}, none of which is trusted "
        f"(trusted: {', '.join(k[:16] + '…' for k in trusted_ids)}); pass the signer's public "
        "key with --key, or get a bundle signed by your vendor's key"
    )
