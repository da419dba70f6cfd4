"""The read side of the identity change feed at the console, and what makes an entry trustworthy.

Entries are written by `db/changefeed.py` in the identity write's own transaction. Here they are
read by cursor for `GET /api/federation/changes` (long-poll: at once when entries exist, else
until a commit in this process appends some, polling the database every `POLL_S` as well, so
several console processes behind one database work too) and signed with the console's Ed25519
key as they are served. Signing at read time keeps writers free of key handling and means a key
rotation re-signs the whole history with the new key; a DC verifies every entry against its list
of trusted public keys before applying it (federation/replica.py).

The feed is not compacted: a new DC replays it from seq 0. Replaying is idempotent upserts, and
a feed of a few hundred thousand identity changes is cheap to store and to replay.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.changefeed import (
    KINDS,
    append_entries,
    entry_key,
    row_payload,
    wait_for_commit,
)
from hemisphere.db.engine import Database
from hemisphere.db.models import IdentityChange
from hemisphere.federation.signing import key_id, verify_signature

__all__ = [
    "MAX_LIMIT",
    "POLL_S",
    "FeedPage",
    "FeedRejected",
    "FeedSigner",
    "canonical",
    "read_changes",
    "snapshot_if_empty",
    "verify_entry",
]

POLL_S = 0.5
MAX_LIMIT = 5000
MAX_WAIT_S = 60.0


@dataclass(frozen=True)
class FeedSigner:
    private_key: Ed25519PrivateKey
    key_id: str

    @classmethod
    def of(cls, private_key: Ed25519PrivateKey) -> FeedSigner:
        return cls(private_key, key_id(private_key.public_key()))

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        sig = self.private_key.sign(canonical(entry))
        return {**entry, "keyId": self.key_id, "sig": _b64e(sig)}


class FeedRejected(Exception):
    """An entry that must not be applied; `reason` is for logs and metrics."""

    def __init__(self, reason: str, *, kind: str = "signature") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind  # signature | gap | malformed


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The signed bytes: the entry's content fields as sorted, compact JSON."""
    body = {k: entry.get(k) for k in ("seq", "kind", "key", "op", "payload")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_entry(trusted: Mapping[str, Ed25519PublicKey], entry: Mapping[str, Any]) -> None:
    kid = entry.get("keyId")
    key = trusted.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise FeedRejected(f"entry {entry.get('seq')} is signed by untrusted key {kid!r}")
    try:
        sig = _b64d(str(entry.get("sig", "")))
    except ValueError:
        raise FeedRejected(f"entry {entry.get('seq')} has a malformed signature") from None
    if not verify_signature(key, sig, canonical(entry)):
        raise FeedRejected(f"entry {entry.get('seq')}'s signature does not verify")
    if entry.get("kind") not in KINDS or entry.get("op") not in ("upsert", "delete"):
        raise FeedRejected(f"entry {entry.get('seq')} has an unknown kind or op", kind="malformed")


@dataclass(frozen=True)
class FeedPage:
    entries: list[dict[str, Any]]
    head: int


async def _page(db: Database, after: int, limit: int) -> tuple[list[IdentityChange], int]:
    async with db.session() as s:
        rows = list(
            (
                await s.scalars(
                    select(IdentityChange)
                    .where(IdentityChange.seq > after)
                    .order_by(IdentityChange.seq)
                    .limit(limit)
                )
            ).all()
        )
        head = int(await s.scalar(select(func.coalesce(func.max(IdentityChange.seq), 0))) or 0)
    return rows, head


async def read_changes(
    db: Database, signer: FeedSigner, *, after: int, limit: int, wait_s: float
) -> FeedPage:
    limit = max(1, min(limit, MAX_LIMIT))
    deadline = time.monotonic() + max(0.0, min(wait_s, MAX_WAIT_S))
    while True:
        rows, head = await _page(db, after, limit)
        remaining = deadline - time.monotonic()
        if rows or remaining <= 0:
            break
        await wait_for_commit(min(POLL_S, remaining))
    entries = [
        signer.sign({"seq": r.seq, "kind": r.kind, "key": r.key, "op": r.op, "payload": r.payload})
        for r in rows
    ]
    # Signing 5,000 entries takes a moment; let other requests in between pages.
    await asyncio.sleep(0)
    return FeedPage(entries, head)


async def snapshot_if_empty(s: AsyncSession) -> int:
    """A database that had identity rows before the feed existed (or was restored from a
    backup without it): start the feed with one upsert per row, so a DC replaying from 0 gets
    everything. Returns the number of entries written."""
    if await s.scalar(select(func.count()).select_from(IdentityChange)):
        return 0
    changes = []
    for kind, model in KINDS.items():
        for row in (await s.scalars(select(model))).all():
            changes.append((kind, entry_key(model, row), "upsert", row_payload(kind, row)))
    if changes:
        await s.run_sync(lambda sync: append_entries(sync, changes))
    return len(changes)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
