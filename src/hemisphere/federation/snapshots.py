"""A data center's status snapshot: workspace counts by state and a compact list of its
workspaces, read from the DC's own database.

The agent pushes one to the console every few seconds (PUT /api/datacenters/{id}/snapshot); the
console keeps the last one per DC and shows it, marked stale with its age, whenever the DC cannot
be asked live (cut off, slow, down). With a database shared with the console the dc role writes
the snapshot row itself (`store_snapshot`), exactly as it renews its lease there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.engine import Database
from hemisphere.db.models import DatacenterSnapshot, Workspace
from hemisphere.sdk import models as m


async def take_snapshot(db: Database, datacenter_id: int) -> m.DatacenterSnapshot:
    async with db.session() as s:
        rows = await s.scalars(
            select(Workspace).where(Workspace.datacenter_id == datacenter_id).order_by(Workspace.id)
        )
        items = [
            m.SnapshotWorkspace(
                id=w.id,
                name=w.name,
                teamId=w.team_id,
                state=w.state,
                planId=w.plan_id,
                updatedAt=_utc(w.updated_at),
                replicas=w.replicas,
                userId=w.user_id,
                isPrivateRepo=w.is_private_repo,
                createdAt=_utc(w.created_at),
            )
            for w in rows
        ]
    counts: dict[str, int] = {}
    for w in items:
        counts[w.state] = counts.get(w.state, 0) + 1
    return m.DatacenterSnapshot(counts=counts, workspaces=items)


async def store_snapshot(s: AsyncSession, datacenter_id: int, snap: m.DatacenterSnapshot) -> None:
    """Keep `snap` as the DC's last snapshot (one row per DC, replaced)."""
    row = await s.get(DatacenterSnapshot, datacenter_id)
    if row is None:
        row = DatacenterSnapshot(datacenter_id=datacenter_id)
        s.add(row)
    row.received_at = datetime.now(UTC)
    row.counts = dict(snap.counts)
    row.workspaces = [w.model_dump(mode="json") for w in snap.workspaces]
    await s.flush()


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
