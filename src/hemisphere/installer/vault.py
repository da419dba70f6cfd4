"""The installation's secrets: generated once, encrypted at rest, shared or per data center.

Which secrets exist follows from the spec (`required_secrets`): the console's token-signing key,
an internal CA, the first admin's password and the password of every in-cluster database are
*shared* (installation-wide); each data center's agent credential and its own database password
are *per DC*. A DC's cluster only ever receives its own per-DC secrets.

The vault is one age-encrypted JSON file (`<spec>.vault.age`); the key is an age X25519 identity
in a separate file (`<spec>.vault.key`, mode 0600) in the format `age-keygen` writes, so
`age -d -i KEY VAULT` reads it without Hemisphere. `init` only ever adds what is missing;
`rotate` regenerates chosen secrets and keeps each one's previous value for a rolling switch-over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyrage
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pydantic import BaseModel, ConfigDict, ValidationError

from hemisphere.installer.errors import (
    VaultDecryptError,
    VaultExistsError,
    VaultMissingError,
)
from hemisphere.topology import InstallSpec

__all__ = [
    "SHARED",
    "SecretKind",
    "SecretSpec",
    "Vault",
    "VaultEntry",
    "VaultPaths",
    "init_vault",
    "mask",
    "open_vault",
    "required_secrets",
    "rotate_secrets",
]

SHARED = "shared"
"""Scope of installation-wide secrets; per-DC secrets have scope `dc-<id>`."""

SecretKind = Literal["password", "token", "ed25519", "ca", "basic-auth"]

SIGNING_KEY = "console/signing-key"
CA = "console/ca"
ADMIN = "console/admin"


def dc_scope(dc_id: int) -> str:
    return f"dc-{dc_id}"


def agent_secret(dc_id: int) -> str:
    return f"agent/{dc_scope(dc_id)}"


def database_secret(key: str) -> str:
    return f"database/{key}"


@dataclass(frozen=True)
class SecretSpec:
    """A secret the installation needs: its name, scope and how to generate it."""

    name: str
    scope: str
    kind: SecretKind
    username: str = ""


def required_secrets(spec: InstallSpec) -> tuple[SecretSpec, ...]:
    """Every secret `spec` needs, shared ones first, in a stable order."""
    out = [
        SecretSpec(SIGNING_KEY, SHARED, "ed25519"),
        SecretSpec(CA, SHARED, "ca"),
        SecretSpec(ADMIN, SHARED, "password"),
    ]
    for db in spec.databases:
        if not db.in_cluster:
            continue  # external databases: the customer's Secret, named in the spec
        scope = SHARED if db.key in ("shared", "console") else db.key
        out.append(SecretSpec(database_secret(db.key), scope, "basic-auth", db.user))
    out.extend(SecretSpec(agent_secret(dc.id), dc_scope(dc.id), "token") for dc in spec.datacenters)
    return tuple(out)


class VaultEntry(BaseModel):
    """One secret: its fields (what a Kubernetes Secret's data would hold) and its history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str
    kind: SecretKind
    version: int
    created: str
    fields: dict[str, str]
    previous: dict[str, str] | None = None


class _VaultFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1
    installation: str
    entries: dict[str, VaultEntry]


class Vault:
    """The decrypted secrets of one installation (held in memory only)."""

    def __init__(self, installation: str, entries: dict[str, VaultEntry]) -> None:
        self.installation = installation
        self.entries = dict(sorted(entries.items()))

    def fields(self, name: str) -> dict[str, str]:
        entry = self.entries.get(name)
        if entry is None:
            raise VaultMissingError(
                f"the vault has no secret {name!r}; run `hemisphere vault init SPEC` to add it"
            )
        return dict(entry.fields)

    def names(self, scope: str | None = None) -> list[str]:
        return [n for n, e in self.entries.items() if scope is None or e.scope == scope]

    def _serialize(self) -> bytes:
        body = _VaultFile(installation=self.installation, entries=self.entries)
        return json.dumps(body.model_dump(mode="json"), indent=1, sort_keys=True).encode()


@dataclass(frozen=True)
class VaultPaths:
    """Where a spec's vault and its key live."""

    vault: Path
    key: Path

    @classmethod
    def beside(cls, spec_path: Path) -> VaultPaths:
        """`northwind.yaml` → `northwind.vault.age` and `northwind.vault.key` next to it."""
        stem = spec_path.with_suffix("")
        return cls(
            stem.with_name(stem.name + ".vault.age"), stem.with_name(stem.name + ".vault.key")
        )


# --- generation ------------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _generate(spec: SecretSpec, installation: str, now: dt.datetime) -> dict[str, str]:
    if spec.kind == "password":
        return {"password": secrets.token_urlsafe(24)}
    if spec.kind == "basic-auth":
        return {"username": spec.username, "password": secrets.token_urlsafe(24)}
    if spec.kind == "token":
        return {"token": "hsa_" + secrets.token_urlsafe(32)}
    if spec.kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"private-key": private.decode(), "public-key": public.decode()}
    return _generate_ca(installation, now)


def _generate_ca(installation: str, now: dt.datetime) -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{installation} Hemisphere CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "ca.crt": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "ca.key": key_pem.decode(),
    }


def _entry(spec: SecretSpec, installation: str, now: dt.datetime) -> VaultEntry:
    return VaultEntry(
        scope=spec.scope,
        kind=spec.kind,
        version=1,
        created=now.isoformat(timespec="seconds"),
        fields=_generate(spec, installation, now),
    )


# --- files -----------------------------------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_identity(path: Path) -> pyrage.x25519.Identity:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise VaultMissingError(
            f"{path}: the vault key file does not exist; pass --key with the key that "
            "`hemisphere vault init` wrote"
        ) from None
    except OSError as exc:
        raise VaultMissingError(f"{path}: cannot read the key file ({exc.strerror})") from None
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    try:
        return pyrage.x25519.Identity.from_str(lines[0])
    except (IndexError, pyrage.IdentityError, ValueError):
        raise VaultDecryptError(
            f"{path}: not an age identity (expected a line AGE-SECRET-KEY-1...)"
        ) from None


def _create_identity(path: Path, now: dt.datetime) -> pyrage.x25519.Identity:
    identity = pyrage.x25519.Identity.generate()
    text = (
        f"# created: {now.isoformat(timespec='seconds')}\n"
        f"# public key: {identity.to_public()}\n"
        f"{identity}\n"
    )
    _write_private(path, text.encode())
    return identity


def _load(paths: VaultPaths, identity: pyrage.x25519.Identity) -> Vault:
    try:
        ciphertext = paths.vault.read_bytes()
    except FileNotFoundError:
        raise VaultMissingError(
            f"{paths.vault}: no vault here; create it with `hemisphere vault init SPEC`"
        ) from None
    try:
        plaintext = pyrage.decrypt(ciphertext, [identity])
    except pyrage.DecryptError:
        raise VaultDecryptError(
            f"{paths.vault}: cannot decrypt with the key in {paths.key} (wrong key, or the "
            "file is damaged)"
        ) from None
    try:
        body = _VaultFile.model_validate_json(plaintext)
    except ValidationError as exc:
        raise VaultDecryptError(
            f"{paths.vault}: decrypted, but not a Hemisphere vault ({exc})"
        ) from None
    return Vault(body.installation, dict(body.entries))


def _save(vault: Vault, paths: VaultPaths, identity: pyrage.x25519.Identity) -> None:
    _write_private(paths.vault, pyrage.encrypt(vault._serialize(), [identity.to_public()]))


# --- operations ------------------------------------------------------------------------------


def open_vault(paths: VaultPaths) -> Vault:
    """Decrypt the vault at `paths`."""
    return _load(paths, _read_identity(paths.key))


def init_vault(
    spec: InstallSpec, paths: VaultPaths, now: dt.datetime | None = None
) -> tuple[Vault, list[str]]:
    """Create the vault (and key) or add the secrets the spec gained; never regenerate one.

    Returns the vault and the names of the secrets generated by this call.
    """
    moment = _now(now)
    if paths.vault.exists():
        identity = _read_identity(paths.key)
        vault = _load(paths, identity)
        if vault.installation != spec.name:
            raise VaultExistsError(
                f"{paths.vault} holds the secrets of installation {vault.installation!r}, not "
                f"{spec.name!r}; use another --vault path"
            )
    else:
        identity = (
            _read_identity(paths.key) if paths.key.exists() else _create_identity(paths.key, moment)
        )
        vault = Vault(spec.name, {})
    added = [s for s in required_secrets(spec) if s.name not in vault.entries]
    if added or not paths.vault.exists():
        entries = dict(vault.entries)
        entries.update({s.name: _entry(s, spec.name, moment) for s in added})
        vault = Vault(spec.name, entries)
        _save(vault, paths, identity)
    return vault, [s.name for s in added]


def rotate_secrets(
    spec: InstallSpec,
    paths: VaultPaths,
    names: Sequence[str] = (),
    scope: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[Vault, list[str]]:
    """Regenerate the named secrets (or all of `scope`, or all when neither is given).

    The previous value of each is kept in `previous` so services can accept both while the new
    one rolls out. Returns the vault and the names rotated.
    """
    moment = _now(now)
    identity = _read_identity(paths.key)
    vault = _load(paths, identity)
    wanted = {s.name: s for s in required_secrets(spec)}
    unknown = [n for n in names if n not in vault.entries]
    if unknown:
        raise VaultMissingError(
            f"no secret named {', '.join(unknown)} in {paths.vault}; `hemisphere vault show` "
            "lists them"
        )
    chosen = list(names) or [n for n in vault.names(scope)]
    entries = dict(vault.entries)
    for name in chosen:
        old = entries[name]
        generator = wanted.get(
            name, SecretSpec(name, old.scope, old.kind, old.fields.get("username", ""))
        )
        fresh = _generate(generator, spec.name, moment)
        entries[name] = VaultEntry(
            scope=old.scope,
            kind=old.kind,
            version=old.version + 1,
            created=moment.isoformat(timespec="seconds"),
            fields=fresh,
            previous=dict(old.fields),
        )
    vault = Vault(vault.installation, entries)
    _save(vault, paths, identity)
    return vault, chosen


def mask(value: str) -> str:
    """A value shown without revealing it: stars and a short fingerprint to compare by."""
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"******** (sha256:{digest})"


def names_in(vault: Vault, scopes: Iterable[str]) -> list[str]:
    wanted = set(scopes)
    return [n for n, e in vault.entries.items() if e.scope in wanted]
