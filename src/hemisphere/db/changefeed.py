"""The write side of the identity change feed: every identity write appends to `identity_changes`
in its own transaction, whoever wrote it.

One choke point, so no writer can forget: `Database` hands out sessions of class `FeedSession`,
whose flush hook turns each inserted, changed or deleted identity row (users, organizations and
their members, teams and their members, API tokens, the data-center registry) into a feed entry
carrying the whole row. Bulk `UPDATE`/`DELETE`/`INSERT` statements on those tables would bypass
the hook, so they are refused (except lease renewals, which only touch volatile columns).

Sequence numbers are gap-free and follow commit order: each flush takes the next numbers after
`max(seq)` while holding a lock until commit (PostgreSQL: a transaction-scoped advisory lock;
SQLite serialises writers anyway), and a rolled-back transaction takes its numbers with it. A
replica DC therefore can treat a gap as an error. Commits that wrote entries wake in-process
long-pollers (`wait_for_commit`); other processes poll.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, event, func, insert, select, text
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from hemisphere.db.models import (
    ApiToken,
    Base,
    Datacenter,
    IdentityChange,
    Organization,
    OrgMembership,
    Team,
    TeamMembership,
    User,
)

__all__ = [
    "KINDS",
    "REPLICATING",
    "FeedBypassError",
    "FeedSession",
    "append_entries",
    "entry_key",
    "key_payload",
    "row_payload",
    "row_values",
    "wait_for_commit",
]

# Parents before children: upserts are applied in this order, deletes in reverse.
KINDS: dict[str, type[Base]] = {
    "organization": Organization,
    "user": User,
    "datacenter": Datacenter,
    "team": Team,
    "org_member": OrgMembership,
    "team_member": TeamMembership,
    "api_token": ApiToken,
}
_KIND_OF: dict[type[Base], str] = {model: kind for kind, model in KINDS.items()}
_RANK = {kind: n for n, kind in enumerate(KINDS)}
_TABLES = {model.__table__.name for model in KINDS.values()}  # type: ignore[attr-defined]
# Columns that change all the time and mean nothing to another site: not in payloads, and a
# change of only these is no feed entry.
VOLATILE: dict[str, frozenset[str]] = {
    # The lease and what the agent last reported (federation/heartbeat.py, every few seconds).
    "datacenter": frozenset(
        {"last_heartbeat_at", "version", "last_rejected_at", "last_rejected_reason"}
    ),
    "api_token": frozenset({"last_used_at"}),
}
# session.info flag of the replica applier: its writes are the feed's effect, not new entries.
REPLICATING = "hemisphere.replicating"
_PENDING = "hemisphere.feed_pending"
_FEED_LOCK = 0x48454D49  # "HEMI": the advisory lock that orders feed appends on PostgreSQL


class FeedBypassError(RuntimeError):
    """A bulk statement on an identity table, which the change feed would not see."""


class FeedSession(Session):
    """A session whose identity writes are recorded in the change feed (see module docstring)."""


def entry_key(model: type[Base], row: Any) -> str:
    return ":".join(str(getattr(row, str(c.key))) for c in model.__mapper__.primary_key)


def row_payload(kind: str, row: Any) -> dict[str, Any]:
    """The whole row as JSON values (datetimes as ISO 8601 UTC), minus volatile columns."""
    skip = VOLATILE.get(kind, frozenset())
    out: dict[str, Any] = {}
    for column in KINDS[kind].__table__.columns:
        if column.key in skip:
            continue
        value = getattr(row, column.key)
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        out[column.key] = value
    return out


def key_payload(kind: str, row: Any) -> dict[str, Any]:
    """A delete's payload: the primary key, by column."""
    return {str(c.key): getattr(row, str(c.key)) for c in KINDS[kind].__mapper__.primary_key}


def row_values(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A payload back into column values of this site's schema (unknown keys are dropped, so a
    newer console's extra columns do not stop an older DC)."""
    out: dict[str, Any] = {}
    for column in KINDS[kind].__table__.columns:
        if column.key not in payload:
            continue
        value = payload[column.key]
        if isinstance(column.type, DateTime) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        out[column.key] = value
    return out


def _changes(session: Session) -> list[tuple[str, str, str, dict[str, Any]]]:
    deletes: list[tuple[str, Any]] = []
    upserts: list[tuple[str, Any]] = []
    for obj in session.deleted:
        kind = _KIND_OF.get(type(obj))
        if kind is not None:
            deletes.append((kind, obj))
    for obj in session.new:
        kind = _KIND_OF.get(type(obj))
        if kind is not None:
            upserts.append((kind, obj))
    for obj in session.dirty:
        kind = _KIND_OF.get(type(obj))
        if kind is not None and _really_changed(kind, obj):
            upserts.append((kind, obj))
    deletes.sort(key=lambda e: -_RANK[e[0]])
    upserts.sort(key=lambda e: _RANK[e[0]])
    out: list[tuple[str, str, str, dict[str, Any]]] = [
        (k, entry_key(KINDS[k], o), "delete", key_payload(k, o)) for k, o in deletes
    ]
    out += [(k, entry_key(KINDS[k], o), "upsert", row_payload(k, o)) for k, o in upserts]
    return out


def _really_changed(kind: str, obj: Any) -> bool:
    from sqlalchemy import inspect

    state = inspect(obj)
    skip = VOLATILE.get(kind, frozenset())
    return any(attr.key not in skip and attr.history.has_changes() for attr in state.attrs)


Change = tuple[str, str, str, dict[str, Any]]  # kind, key, op, payload


def append_entries(session: Session, changes: Iterable[Change]) -> None:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Held until commit: the next writer reads max(seq) only after this one committed.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FEED_LOCK})
    seq = int(conn.execute(select(func.coalesce(func.max(IdentityChange.seq), 0))).scalar_one())
    now = datetime.now(UTC)
    rows = []
    for kind, key, op, payload in changes:
        seq += 1
        rows.append({"seq": seq, "at": now, "kind": kind, "key": key, "op": op, "payload": payload})
    conn.execute(insert(IdentityChange), rows)


@event.listens_for(FeedSession, "after_flush")
def _record(session: Session, _ctx: UOWTransaction) -> None:
    if session.info.get(REPLICATING):
        return
    changes = _changes(session)
    if changes:
        append_entries(session, changes)
        session.info[_PENDING] = True


@event.listens_for(FeedSession, "do_orm_execute")
def _refuse_bulk_writes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if state.session.info.get(REPLICATING):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name not in _TABLES:
        return
    values = getattr(state.statement, "_values", None) or {}
    touched = {getattr(c, "key", str(c)) for c in values}
    kind = next(k for k, m in KINDS.items() if m.__table__.name == name)  # type: ignore[attr-defined]
    if state.is_update and touched and touched <= VOLATILE.get(kind, frozenset()):
        return  # a lease renewal: nothing another site needs to know
    raise FeedBypassError(
        f"a bulk statement on {name} would bypass the identity change feed; "
        "load the rows and change them through the session instead"
    )


# ---- waking long-pollers in this process --------------------------------------------------

_lock = threading.Lock()
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()


def _wake() -> None:
    with _lock:
        waiting = list(_waiters)
        _waiters.clear()
    for loop, fut in waiting:
        loop.call_soon_threadsafe(_resolve, fut)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@event.listens_for(FeedSession, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        _wake()


@event.listens_for(FeedSession, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def wait_for_commit(timeout_s: float) -> bool:
    """Until a commit in this process appended feed entries (True) or the timeout (False)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    item = (loop, fut)
    with _lock:
        _waiters.add(item)
    try:
        await asyncio.wait_for(fut, timeout_s)
        return True
    except TimeoutError:
        return False
    finally:
        with _lock:
            _waiters.discard(item)
