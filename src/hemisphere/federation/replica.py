"""A replica DC's identity: pull the console's change feed by cursor and apply it locally.

Runs inside the dc process when HEMISPHERE_IDENTITY_MODE=replica (it has the database and the
trusted public keys; the agent token authenticates it at the console). Each page is long-polled
from the cursor; every entry is checked before anything is applied: its signature against the
trusted keys, and its seq against cursor+1 (a gap means something was lost on the way). The valid
prefix of a page is applied as idempotent upserts/deletes in ONE transaction that also advances
the cursor — with a compare-and-set on the old cursor, so two pullers on one database cannot both
apply a page: each entry has its effect exactly once, and a replayed entry (seq <= cursor) is
skipped. A refused entry is logged, counted (`hemisphere_feed_entries_rejected_total`) and never
applied; the puller backs off and fetches again from its cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.changefeed import KINDS, REPLICATING, row_values
from hemisphere.db.engine import Database
from hemisphere.db.models import ReplicaCursor
from hemisphere.federation.feed import FeedRejected, verify_entry
from hemisphere.observability.metrics import FEED_APPLIED, FEED_CURSOR, FEED_LAG, FEED_REJECTED

__all__ = ["FeedPuller", "PullResult", "apply_entries", "read_cursor"]

log = logging.getLogger("hemisphere.federation.replica")

_CURSOR_ID = 1
MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class PullResult:
    applied: int
    cursor: int
    head: int
    fetched: int = 0


async def read_cursor(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(ReplicaCursor.seq).where(ReplicaCursor.id == 1)) or 0)


def _check(
    trusted: Mapping[str, Ed25519PublicKey], entries: Sequence[Mapping[str, Any]], cursor: int
) -> tuple[list[Mapping[str, Any]], FeedRejected | None]:
    """The entries to apply (in order, contiguous after `cursor`) and why the rest were not."""
    good: list[Mapping[str, Any]] = []
    expected = cursor + 1
    for entry in entries:
        seq = entry.get("seq")
        if not isinstance(seq, int):
            return good, FeedRejected("an entry without an integer seq", kind="malformed")
        if seq < expected:
            continue  # replayed: already applied
        if seq != expected:
            return good, FeedRejected(f"gap: expected seq {expected}, got {seq}", kind="gap")
        try:
            verify_entry(trusted, entry)
        except FeedRejected as exc:
            return good, exc
        good.append(entry)
        expected += 1
    return good, None


async def _apply_one(s: AsyncSession, entry: Mapping[str, Any]) -> None:
    model = KINDS[entry["kind"]]
    table = cast(Table, model.__table__)
    values = row_values(entry["kind"], dict(entry.get("payload") or {}))
    pk_cols = list(table.primary_key.columns)
    if any(c.key not in values for c in pk_cols):
        raise FeedRejected(f"entry {entry['seq']} lacks its primary key", kind="malformed")
    where = [c == values[c.key] for c in pk_cols]
    if entry["op"] == "delete":
        await s.execute(delete(table).where(*where))
        return
    result = await s.execute(update(table).where(*where).values(**values))
    if getattr(result, "rowcount", 0) == 0:
        await s.execute(insert(table).values(**values))


async def apply_entries(
    db: Database, trusted: Mapping[str, Ed25519PublicKey], entries: Sequence[Mapping[str, Any]]
) -> PullResult:
    """Check and apply one page; raises `FeedRejected` after applying the valid prefix."""
    async with db.transaction() as s:
        s.sync_session.info[REPLICATING] = True
        row = await s.get(ReplicaCursor, _CURSOR_ID)
        if row is None:
            s.add(ReplicaCursor(id=_CURSOR_ID, seq=0, head_seq=0))
            await s.flush()
            cursor = 0
        else:
            cursor = row.seq
        good, rejected = _check(trusted, entries, cursor)
        for entry in good:
            await _apply_one(s, entry)
        new = cursor + len(good)
        if good:
            moved = await s.execute(
                update(ReplicaCursor)
                .where(ReplicaCursor.id == _CURSOR_ID, ReplicaCursor.seq == cursor)
                .values(seq=new, updated_at=datetime.now(UTC))
            )
            if getattr(moved, "rowcount", 0) != 1:
                # Another puller on this database applied these first: undo ours.
                raise _Raced()
    FEED_APPLIED.inc(len(good))
    FEED_CURSOR.set(new)
    if rejected is not None:
        FEED_REJECTED.labels(rejected.kind).inc()
        raise rejected
    return PullResult(len(good), new, new)


class _Raced(Exception):
    pass


class FeedPuller:
    """Long-polls the console's feed and applies it; `run()` never returns until cancelled."""

    def __init__(
        self,
        db: Database,
        *,
        console_url: str,
        token: str,
        trusted: Mapping[str, Ed25519PublicKey],
        wait_s: float = 25.0,
        limit: int = 1000,
        backoff_s: float = 1.0,
        verify: str | bool = True,
    ) -> None:
        self.db = db
        self.console_url = console_url.rstrip("/")
        self.trusted = trusted
        self.wait_s = wait_s
        self.limit = limit
        self.backoff_s = backoff_s
        self.reachable = False  # the last fetch reached the console
        self.head = 0
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(5.0, read=wait_s + 10.0),
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def fetch(self, after: int, wait_s: float) -> tuple[list[dict[str, Any]], int]:
        r = await self._http.get(
            f"{self.console_url}/api/federation/changes",
            params={"after": after, "limit": self.limit, "wait": wait_s},
        )
        r.raise_for_status()
        body = r.json()
        entries = body.get("entries")
        if not isinstance(entries, list):
            raise FeedRejected("the console's answer has no entries list", kind="malformed")
        return entries, int(body.get("head", 0))

    async def step(self, wait_s: float | None = None) -> PullResult:
        """One fetch from the cursor and its application."""
        cursor = await read_cursor(self.db)
        entries, head = await self.fetch(cursor, self.wait_s if wait_s is None else wait_s)
        self.reachable = True
        self.head = head
        FEED_LAG.set(max(0, head - cursor))
        result = await apply_entries(self.db, self.trusted, entries)
        FEED_LAG.set(max(0, head - result.cursor))
        return PullResult(result.applied, result.cursor, head, len(entries))

    async def run(self) -> None:
        delay = self.backoff_s
        while True:
            try:
                result = await self.step()
                delay = self.backoff_s
                if result.applied or not result.fetched:
                    continue
                # A page of nothing new (a replay): do not spin on it.
            except FeedRejected as exc:
                log.error("identity feed entry refused, not applied", extra={"reason": exc.reason})
            except _Raced:
                delay = 0.0
            except httpx.HTTPStatusError as exc:
                self.reachable = exc.response.status_code < 500
                log.warning(
                    "identity feed fetch refused",
                    extra={"status": exc.response.status_code, "body": exc.response.text[:200]},
                )
            except httpx.HTTPError as exc:
                self.reachable = False
                log.warning("console unreachable for the identity feed", extra={"error": str(exc)})
            except (SQLAlchemyError, OSError) as exc:
                log.warning("identity feed not applied", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(max(delay * 2, self.backoff_s), MAX_BACKOFF_S)
