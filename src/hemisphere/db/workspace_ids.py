"""Workspace ids unique across data centers without coordination at creation time (issue 9).

In a shared database (1, 2A, 3A) one sequence hands out every id and the row's `datacenter_id`
says which DC owns a workspace. A DC with its own database (identity mode `replica`: 2B, 3B)
draws its ids from its own range, `dc_id * WORKSPACE_ID_RANGE + n`, so two DCs never hand out
the same id and anyone holding an id knows which DC to ask (`datacenter_of_workspace`).

The range is 10^6 ids per DC: ids travel as 32-bit integers (the wire contract's `Id`, the
`workspaces.id` column), so 2146 DCs of a million workspaces each fit, and the local runtime's
per-workspace uid offset (`local_workspace_number`) stays inside one installation's uid slot.

`reserve_workspace_ids` moves the database's sequence to the DC's range once at start-up:
idempotent (a sequence already inside the range is left alone) on SQLite (`sqlite_sequence`)
and PostgreSQL (`setval` on the column's sequence).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

WORKSPACE_ID_RANGE = 1_000_000
MAX_DATACENTER_FOR_RANGES = (2**31 - 1) // WORKSPACE_ID_RANGE - 1


class WorkspaceIdRangeError(ValueError):
    """The DC id cannot have a range of its own, or the sequence is past the DC's range."""


def workspace_id_floor(datacenter_id: int) -> int:
    """The last id *before* the DC's range: its first workspace gets floor + 1."""
    if not 1 <= datacenter_id <= MAX_DATACENTER_FOR_RANGES:
        raise WorkspaceIdRangeError(
            f"data center id {datacenter_id} cannot have its own workspace id range: use an id "
            f"between 1 and {MAX_DATACENTER_FOR_RANGES} (HEMISPHERE_DATACENTER_ID)"
        )
    return datacenter_id * WORKSPACE_ID_RANGE


def datacenter_of_workspace(workspace_id: int) -> int | None:
    """The DC whose range `workspace_id` is in; None for ids of a shared database's single
    sequence (below the first range), where the workspace row's `datacenter_id` decides."""
    if workspace_id < WORKSPACE_ID_RANGE:
        return None
    return workspace_id // WORKSPACE_ID_RANGE


def local_workspace_number(workspace_id: int) -> int:
    """The id's position inside its DC's range (the id itself for shared-database ids)."""
    return workspace_id % WORKSPACE_ID_RANGE


async def reserve_workspace_ids(s: AsyncSession, datacenter_id: int) -> int:
    """Make the next workspace id of this database come from the DC's range; returns the
    sequence's value after the call. Safe to call at every start."""
    floor = workspace_id_floor(datacenter_id)
    ceiling = floor + WORKSPACE_ID_RANGE - 1
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        current = await s.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'workspaces'"))
        if current is None:
            await s.execute(
                text("INSERT INTO sqlite_sequence (name, seq) VALUES ('workspaces', :f)"),
                {"f": floor},
            )
            return floor
        current = int(current)
        _check(current, floor, ceiling, datacenter_id)
        if current < floor:
            await s.execute(
                text("UPDATE sqlite_sequence SET seq = :f WHERE name = 'workspaces'"), {"f": floor}
            )
            return floor
        return current
    if dialect == "postgresql":
        seq = await s.scalar(text("SELECT pg_get_serial_sequence('workspaces', 'id')"))
        if seq is None:
            raise WorkspaceIdRangeError("workspaces.id has no sequence; run the migrations first")
        # The highest id in use counts too: a sequence that was reset must not go back below it.
        # NULL until the sequence has handed out its first value.
        last = await s.scalar(
            text("SELECT pg_sequence_last_value(CAST(:seq AS regclass))"), {"seq": seq}
        )
        used = await s.scalar(text("SELECT COALESCE(MAX(id), 0) FROM workspaces"))
        current = max(int(last or 0), int(used or 0))
        _check(current, floor, ceiling, datacenter_id)
        if current < floor:
            await s.execute(text("SELECT setval(:seq, :f, true)"), {"seq": seq, "f": floor})
            return floor
        return current
    raise WorkspaceIdRangeError(f"no workspace id ranges for database dialect {dialect!r}")


def _check(current: int, floor: int, ceiling: int, datacenter_id: int) -> None:
    if current > ceiling:
        raise WorkspaceIdRangeError(
            f"this database's workspace ids are already at {current}, past data center "
            f"{datacenter_id}'s range ({floor + 1}..{ceiling}): is HEMISPHERE_DATACENTER_ID "
            "right for this database?"
        )
