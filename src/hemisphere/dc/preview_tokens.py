"""Signed, single-workspace credentials for the browser side of the preview hand-off.

Cookies of the console host are never sent to preview hosts (they are host-only), and the
session token must not be: the proxied application would receive it. So the console host hands a
browser a *grant* (valid for a minute, usable once, for one workspace) in a redirect to the
preview host, which swaps it for a *preview cookie* (valid for `cookie_ttl_s`, for that workspace
only, HttpOnly, host-only). Neither is an API token: stolen, each opens one workspace's previews,
which its holder could already open, and nothing else.

Both are `base64url(json payload) "." base64url(HMAC-SHA256)`, keyed with a key derived from the
installation's secret key (HKDF), so only this data center's processes can mint them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hemisphere.db.sealing import Sealer
from hemisphere.dc.errors import InvalidPreviewToken

GRANT_TTL_S = 60.0
COOKIE_TTL_S = 3600.0
_GRANT, _COOKIE = "g", "c"


@dataclass(frozen=True)
class PreviewPass:
    """Who may open which workspace's previews, until when."""

    user_id: int
    workspace_id: int
    cluster_admin: bool
    expires_at: float


def signing_key(secret_key_file: Path) -> bytes:
    """The preview signing key, derived from the secret key (created on first use)."""
    Sealer.from_key_file(secret_key_file)  # creates the key file if it does not exist yet
    raw = os.environ.get("HEMISPHERE_SECRET_KEY") or secret_key_file.read_text().strip()
    material = base64.b64decode(raw)
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"hemisphere preview tokens"
    ).derive(material)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PreviewSigner:
    def __init__(
        self,
        key: bytes,
        *,
        cookie_ttl_s: float = COOKIE_TTL_S,
        grant_ttl_s: float = GRANT_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.cookie_ttl_s = cookie_ttl_s
        self.grant_ttl_s = grant_ttl_s
        self._clock = clock
        self._used_grants: dict[str, float] = {}

    # ---- minting ------------------------------------------------------------------------

    def grant(self, user_id: int, workspace_id: int, cluster_admin: bool) -> str:
        return self._sign(_GRANT, user_id, workspace_id, cluster_admin, self.grant_ttl_s)

    def cookie(self, p: PreviewPass) -> str:
        return self._sign(_COOKIE, p.user_id, p.workspace_id, p.cluster_admin, self.cookie_ttl_s)

    def _sign(self, kind: str, uid: int, wid: int, admin: bool, ttl: float) -> str:
        payload = {
            "k": kind,
            "u": uid,
            "w": wid,
            "a": admin,
            "x": round(self._clock() + ttl, 3),
            "n": secrets.token_urlsafe(9),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    # ---- checking -----------------------------------------------------------------------

    def redeem_grant(self, token: str, workspace_id: int) -> PreviewPass:
        """The pass a grant carries; each grant works once."""
        p, nonce = self._open(token, _GRANT, workspace_id)
        now = self._clock()
        self._used_grants = {n: x for n, x in self._used_grants.items() if x > now}
        if nonce in self._used_grants:
            raise InvalidPreviewToken("this preview link was already used; open the preview again")
        self._used_grants[nonce] = p.expires_at
        return p

    def check_cookie(self, token: str, workspace_id: int) -> PreviewPass:
        return self._open(token, _COOKIE, workspace_id)[0]

    def _open(self, token: str, kind: str, workspace_id: int) -> tuple[PreviewPass, str]:
        body, _, mac = token.partition(".")
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidPreviewToken("the preview credential is not valid")
        try:
            raw = json.loads(_unb64(body))
            p = PreviewPass(
                user_id=int(raw["u"]),
                workspace_id=int(raw["w"]),
                cluster_admin=bool(raw["a"]),
                expires_at=float(raw["x"]),
            )
            got_kind, nonce = str(raw["k"]), str(raw["n"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise InvalidPreviewToken("the preview credential is malformed") from exc
        if got_kind != kind or p.workspace_id != workspace_id:
            raise InvalidPreviewToken("the preview credential is for something else")
        if p.expires_at <= self._clock():
            raise InvalidPreviewToken("the preview credential has expired")
        return p, nonce
