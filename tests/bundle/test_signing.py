"""The signature is a standard DSSE envelope over the manifest, checkable without Hemisphere:
OpenSSL verifies the Ed25519 signature over the DSSE pre-authentication encoding."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

import hemisphere.bundle as bundle_api
from hemisphere.bundle import KeyFileError, extract_bundle, key_id
from hemisphere.bundle.signing import PAYLOAD_TYPE, generate_keypair, load_private_key, pae
from tests.bundle.conftest import KeyPair


def test_envelope_verifies_with_openssl(
    signed_bundle: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    root = tmp_path / "x"
    extract_bundle(signed_bundle, root, [vendor_key.public])
    envelope = json.loads((root / "signature.dsse.json").read_text())
    assert envelope["payloadType"] == PAYLOAD_TYPE
    payload = base64.b64decode(envelope["payload"])
    assert payload == (root / "manifest.json").read_bytes()
    (signature,) = envelope["signatures"]
    assert signature["keyid"] == key_id(vendor_key.public)
    (tmp_path / "pae").write_bytes(pae(envelope["payloadType"], payload))
    (tmp_path / "sig").write_bytes(base64.b64decode(signature["sig"]))
    checked = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(vendor_key.public_path),
         "-rawin", "-in", str(tmp_path / "pae"), "-sigfile", str(tmp_path / "sig")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Signature Verified Successfully" in checked.stdout


def test_pae_matches_the_dsse_specification() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_encrypted_private_key_needs_its_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub", passphrase=b"correct horse")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyFileError, match="HEMISPHERE_BUNDLE_KEY_PASSPHRASE"):
        load_private_key(tmp_path / "k.pem")
    monkeypatch.setenv("HEMISPHERE_BUNDLE_KEY_PASSPHRASE", "correct horse")
    assert load_private_key(tmp_path / "k.pem")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        generate_keypair(tmp_path / "k.pem", tmp_path / "other.pub")


def test_public_api_is_locked() -> None:
    assert sorted(bundle_api.__all__) == bundle_api.__all__
    assert {"build_bundle", "verify_bundle", "extract_bundle", "sign_bundle", "mirror_bundle",
            "inspect_bundle", "read_head"} <= set(bundle_api.__all__)  # fmt: skip
    for name in bundle_api.__all__:
        assert hasattr(bundle_api, name), name
