"""The vault: generated once, age-encrypted at rest, shared vs per-DC, rotation keeps history."""

from __future__ import annotations

import datetime as dt
import stat

import pyrage
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from hemisphere.installer import VaultDecryptError, VaultExistsError, VaultMissingError
from hemisphere.installer.vault import (
    SHARED,
    VaultPaths,
    init_vault,
    mask,
    open_vault,
    required_secrets,
    rotate_secrets,
)
from hemisphere.topology import InstallSpec, parse_spec
from tests.installer.conftest import EXAMPLES, FIXED_TIME, example


def test_required_secrets_follow_the_spec() -> None:
    spec = example("federated-individual-db")
    by_name = {s.name: s for s in required_secrets(spec)}
    assert by_name["console/signing-key"].scope == SHARED
    assert by_name["database/console"].scope == SHARED
    assert by_name["database/dc-1"].scope == "dc-1"
    assert "database/dc-2" not in by_name  # zrh's database is external: the customer's Secret
    assert [by_name[f"agent/dc-{i}"].scope for i in (1, 2, 3)] == ["dc-1", "dc-2", "dc-3"]
    shared = {s.name for s in required_secrets(example("central-cp-shared-db"))}
    assert "database/shared" in shared and not any(n.startswith("database/dc") for n in shared)


def test_init_encrypts_with_a_private_age_key(vault_paths: VaultPaths) -> None:
    spec = example("federated-individual-db")
    vault, added = init_vault(spec, vault_paths, now=FIXED_TIME)
    assert added == [s.name for s in required_secrets(spec)]
    for path in (vault_paths.vault, vault_paths.key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = vault_paths.vault.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1")
    for name in vault.names():
        for value in vault.fields(name).values():
            assert value.encode() not in raw
    key_lines = vault_paths.key.read_text().splitlines()
    assert key_lines[1].startswith("# public key: age1")
    identity = pyrage.x25519.Identity.from_str(key_lines[2])
    assert b'"installation": "northwind"' in pyrage.decrypt(raw, [identity])


def test_generated_secrets_are_usable(vault_paths: VaultPaths) -> None:
    vault, _ = init_vault(example("air-gapped"), vault_paths, now=FIXED_TIME)
    signing = vault.fields("console/signing-key")
    key = serialization.load_pem_private_key(signing["private-key"].encode(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    public = serialization.load_pem_public_key(signing["public-key"].encode())
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(key.sign(b"token"), b"token")
    cert = x509.load_pem_x509_certificate(vault.fields("console/ca")["ca.crt"].encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert "northwind Hemisphere CA" in cert.subject.rfc4514_string()
    db = vault.fields("database/shared")
    assert db["username"] == "codesphere" and len(db["password"]) >= 24
    assert vault.fields("agent/dc-1")["token"].startswith("hsa_")


def test_init_again_generates_nothing_and_adds_only_new_secrets(
    vault_paths: VaultPaths,
) -> None:
    spec = example("federated-individual-db")
    first, _ = init_vault(spec, vault_paths, now=FIXED_TIME)
    again, added = init_vault(spec, vault_paths)
    assert added == []
    assert again.entries == first.entries
    text = (EXAMPLES / "federated-individual-db.yaml").read_text()
    grown = parse_spec(
        text + "  - id: 4\n    name: waw\n    city: Warsaw\n    country_code: PL\n"
        "    domain: dev.waw.northwind.example\n    kubernetes: {kubeconfig: waw.yaml}\n"
        "    network: {node_cidr: 10.4.0.0/18, pod_cidr: 10.4.64.0/18, "
        "service_cidr: 10.4.128.0/18}\n    database: {type: cloudnativepg}\n",
        "grown.yaml",
    )
    bigger, added = init_vault(grown, vault_paths)
    assert added == ["database/dc-4", "agent/dc-4"]
    for name, entry in first.entries.items():
        assert bigger.entries[name] == entry


def test_vault_of_another_installation_is_not_touched(vault_paths: VaultPaths) -> None:
    spec = example("air-gapped")
    init_vault(spec, vault_paths)
    other = InstallSpec.model_validate({**spec.model_dump(), "name": "other"})
    with pytest.raises(VaultExistsError, match="'northwind'"):
        init_vault(other, vault_paths)


def test_wrong_or_missing_key_is_a_clear_error(vault_paths: VaultPaths, tmp_path) -> None:  # type: ignore[no-untyped-def]
    init_vault(example("air-gapped"), vault_paths)
    other_key = VaultPaths.beside(tmp_path / "other.yaml")
    init_vault(example("air-gapped"), other_key)
    with pytest.raises(VaultDecryptError, match="cannot decrypt"):
        open_vault(VaultPaths(vault_paths.vault, other_key.key))
    with pytest.raises(VaultMissingError, match="does not exist"):
        open_vault(VaultPaths(vault_paths.vault, tmp_path / "nokey"))
    with pytest.raises(VaultMissingError, match="vault init"):
        open_vault(VaultPaths(tmp_path / "none.age", vault_paths.key))
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key\n")
    with pytest.raises(VaultDecryptError, match="not an age identity"):
        open_vault(VaultPaths(vault_paths.vault, garbage))


def test_rotate_keeps_the_previous_value(vault_paths: VaultPaths) -> None:
    spec = example("federated-individual-db")
    before, _ = init_vault(spec, vault_paths, now=FIXED_TIME)
    later = FIXED_TIME + dt.timedelta(days=30)
    after, rotated = rotate_secrets(spec, vault_paths, ["agent/dc-1"], now=later)
    assert rotated == ["agent/dc-1"]
    entry = after.entries["agent/dc-1"]
    assert entry.version == 2 and entry.previous == before.fields("agent/dc-1")
    assert entry.fields != before.fields("agent/dc-1")
    assert entry.created.startswith("2025-01-31")
    assert open_vault(vault_paths).entries == after.entries
    for name in before.names():
        if name != "agent/dc-1":
            assert after.entries[name] == before.entries[name]
    _, per_dc = rotate_secrets(spec, vault_paths, scope="dc-1")
    assert per_dc == ["agent/dc-1", "database/dc-1"]
    assert open_vault(vault_paths).fields("database/dc-1")["username"] == "codesphere"
    with pytest.raises(VaultMissingError, match="no secret named nope"):
        rotate_secrets(spec, vault_paths, ["nope"])


def test_mask_hides_values_but_tells_them_apart() -> None:
    assert "s3cret" not in mask("s3cret")
    assert mask("a") == mask("a") != mask("b")
