"""Console-signed assertions: how the console vouches for a user when it routes a call to a DC.

The console authenticates the caller (session, API token) and forwards the call to the owning DC
with `X-Hemisphere-Assertion: <token>`. The DC verifies the token offline against the console's
trusted public keys (the same list that verifies the change feed), so it never has to ask the
console who is calling, and the user's own token never needs to be known at the DC.

Wire form: ``hsa1.<key id>.<payload>.<signature>``; payload and signature are unpadded
base64url, the payload is JSON ``{"sub": user, "dc": datacenter, "iat": .., "exp": ..,
"jti": ..}`` and the signature is Ed25519 over ``hsa1.<key id>.<payload>``. An assertion names
the one DC it is for, so one captured at DC 1 is useless at DC 2. Sites' clocks may disagree by
minutes: `leeway_s` widens both ends of the validity window.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hemisphere.federation.signing import (
    key_id as key_id_of,
)
from hemisphere.federation.signing import (
    load_private_key,
    load_public_keys,
    verify_signature,
)

__all__ = [
    "HEADER",
    "AssertionRejected",
    "issue_assertion",
    "key_id_of",
    "load_private_key",
    "load_public_keys",
    "verify_assertion",
]

HEADER = "X-Hemisphere-Assertion"
_VERSION = "hsa1"
# No assertion may claim to be valid for longer than this, whatever its signer asked for: a
# leaked one must expire soon.
MAX_TTL_S = 3600.0


class AssertionRejected(Exception):
    """The assertion is not acceptable; `reason` says why (safe to show to the caller)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def issue_assertion(
    private_key: Ed25519PrivateKey,
    *,
    key_id: str,
    user_id: int,
    datacenter_id: int,
    ttl_s: float = 60.0,
    now: float | None = None,
) -> str:
    issued = time.time() if now is None else now
    claims = {
        "sub": user_id,
        "dc": datacenter_id,
        "iat": int(issued),
        "exp": int(issued + min(ttl_s, MAX_TTL_S)) + 1,
        "jti": secrets.token_urlsafe(9),
    }
    payload = _b64e(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{_VERSION}.{key_id}.{payload}"
    return f"{signed}.{_b64e(private_key.sign(signed.encode()))}"


def verify_assertion(
    public_keys: Mapping[str, Ed25519PublicKey],
    token: str,
    *,
    datacenter_id: int,
    now: float | None = None,
    leeway_s: float = 300.0,
) -> int:
    """The user id the console vouches for; raises `AssertionRejected(reason)`."""
    parts = token.strip().split(".")
    if len(parts) != 4 or parts[0] != _VERSION:
        raise AssertionRejected(f"not a Hemisphere assertion (expected {_VERSION}.KEY.DATA.SIG)")
    version, kid, payload, signature = parts
    key = public_keys.get(kid)
    if key is None:
        raise AssertionRejected(f"signed by key {kid!r}, which this data center does not trust")
    try:
        sig = _b64d(signature)
        claims = json.loads(_b64d(payload))
    except (ValueError, binascii.Error):
        raise AssertionRejected("the assertion is not valid base64url/JSON") from None
    if not verify_signature(key, sig, f"{version}.{kid}.{payload}".encode()):
        raise AssertionRejected("the assertion's signature does not verify")
    if not isinstance(claims, dict):
        raise AssertionRejected("the assertion's payload is not an object")
    sub, dc, iat, exp = (claims.get(k) for k in ("sub", "dc", "iat", "exp"))
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sub, dc, iat, exp)):
        raise AssertionRejected("the assertion lacks integer sub, dc, iat and exp claims")
    assert isinstance(sub, int) and isinstance(iat, int) and isinstance(exp, int)
    if dc != datacenter_id:
        raise AssertionRejected(f"the assertion is for data center {dc}, not {datacenter_id}")
    if exp - iat > MAX_TTL_S + 1:
        raise AssertionRejected(f"the assertion is valid for longer than {MAX_TTL_S:.0f} s")
    current = time.time() if now is None else now
    if current > exp + leeway_s:
        raise AssertionRejected("the assertion has expired")
    if current < iat - leeway_s:
        raise AssertionRejected("the assertion was issued in the future (check the clocks)")
    return sub


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
