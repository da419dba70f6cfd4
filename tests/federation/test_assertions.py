"""Console-signed assertions: offline verification at a DC, clock skew, rotation, tampering."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hemisphere.federation.assertions import (
    AssertionRejected,
    issue_assertion,
    key_id_of,
    load_private_key,
    load_public_keys,
    verify_assertion,
)
from hemisphere.federation.signing import public_pem

NOW = 1_800_000_000.0


def _key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    return key, key_id_of(key.public_key())


def test_round_trip_returns_the_user() -> None:
    key, kid = _key()
    token = issue_assertion(key, key_id=kid, user_id=7, datacenter_id=2, now=NOW)
    trusted = {kid: key.public_key()}
    assert verify_assertion(trusted, token, datacenter_id=2, now=NOW) == 7


@pytest.mark.parametrize("skew", [-300.0, -120.0, 0.0, 120.0, 300.0])
def test_five_minutes_of_clock_skew_change_nothing(skew: float) -> None:
    key, kid = _key()
    # Issued by a console whose clock is `skew` seconds off the DC's.
    token = issue_assertion(key, key_id=kid, user_id=3, datacenter_id=1, now=NOW + skew)
    assert verify_assertion({kid: key.public_key()}, token, datacenter_id=1, now=NOW) == 3


def test_expired_and_future_assertions_are_refused() -> None:
    key, kid = _key()
    trusted = {kid: key.public_key()}
    token = issue_assertion(key, key_id=kid, user_id=3, datacenter_id=1, ttl_s=60, now=NOW)
    with pytest.raises(AssertionRejected, match="expired"):
        verify_assertion(trusted, token, datacenter_id=1, now=NOW + 60 + 301 + 1)
    with pytest.raises(AssertionRejected, match="future"):
        verify_assertion(trusted, token, datacenter_id=1, now=NOW - 302)


def test_an_assertion_for_another_dc_is_refused() -> None:
    key, kid = _key()
    token = issue_assertion(key, key_id=kid, user_id=3, datacenter_id=1, now=NOW)
    with pytest.raises(AssertionRejected, match="data center 1, not 2"):
        verify_assertion({kid: key.public_key()}, token, datacenter_id=2, now=NOW)


def test_untrusted_key_and_tampered_payload_are_refused() -> None:
    key, kid = _key()
    other, other_kid = _key()
    token = issue_assertion(other, key_id=other_kid, user_id=3, datacenter_id=1, now=NOW)
    with pytest.raises(AssertionRejected, match="does not trust"):
        verify_assertion({kid: key.public_key()}, token, datacenter_id=1, now=NOW)
    good = issue_assertion(key, key_id=kid, user_id=3, datacenter_id=1, now=NOW)
    version, k, _payload, sig = good.split(".")
    forged = issue_assertion(key, key_id=kid, user_id=1, datacenter_id=1, now=NOW).split(".")[2]
    with pytest.raises(AssertionRejected, match="signature"):
        verify_assertion({kid: key.public_key()}, f"{version}.{k}.{forged}.{sig}", datacenter_id=1)
    with pytest.raises(AssertionRejected, match="not a Hemisphere assertion"):
        verify_assertion({kid: key.public_key()}, "Bearer abc", datacenter_id=1)


def test_rotation_trusts_a_list_of_public_keys_in_the_vault_format() -> None:
    old, old_kid = _key()
    new, new_kid = _key()
    text = ",".join(public_pem(k.public_key()) for k in (old, new))
    trusted = load_public_keys(text)
    assert set(trusted) == {old_kid, new_kid}
    for key, kid in ((old, old_kid), (new, new_kid)):
        token = issue_assertion(key, key_id=kid, user_id=5, datacenter_id=1, now=NOW)
        assert verify_assertion(trusted, token, datacenter_id=1, now=NOW) == 5


def test_vault_generated_key_loads(tmp_path: object) -> None:
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    loaded = load_private_key(pem)
    assert key_id_of(loaded.public_key()) == key_id_of(key.public_key())
