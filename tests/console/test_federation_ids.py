"""Workspace ids unique across DCs without coordination (issue 9): a DC with its own database
draws ids from its range, set once at start-up and idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hemisphere.db.engine import Database
from hemisphere.db.migrate import upgrade_to_head
from hemisphere.db.models import Datacenter, Organization, Plan, Team, User, Workspace
from hemisphere.db.workspace_ids import (
    WORKSPACE_ID_RANGE,
    WorkspaceIdRangeError,
    datacenter_of_workspace,
    local_workspace_number,
    reserve_workspace_ids,
    workspace_id_floor,
)


@pytest.mark.parametrize(
    ("workspace_id", "owner"),
    [(1, None), (999_999, None), (1_000_001, 1), (2_000_042, 2), (2_146_999_999, 2146)],
)
def test_the_owning_dc_is_derived_from_the_id(workspace_id: int, owner: int | None) -> None:
    assert datacenter_of_workspace(workspace_id) == owner
    assert local_workspace_number(workspace_id) < WORKSPACE_ID_RANGE


def test_a_dc_id_without_a_range_is_refused_with_the_variable_named() -> None:
    for bad in (0, 2147):
        with pytest.raises(WorkspaceIdRangeError, match="HEMISPHERE_DATACENTER_ID"):
            workspace_id_floor(bad)


async def _new_workspace(db: Database, dc_id: int, name: str) -> int:
    async with db.transaction() as s:
        if await s.get(Datacenter, dc_id) is None:
            s.add(Datacenter(id=dc_id, name=f"dc{dc_id}", city="c", country_code="DE", domain="x"))
            org = Organization(name=f"org{dc_id}")
            s.add(org)
            s.add(User(email=f"u{dc_id}@example.com", name="u", password_hash="x"))
            s.add(Plan(id=8, title="Small", cpu=1, ram_mib=1, storage_mib=1, temp_storage_mib=1))
            await s.flush()
            s.add(Team(name="t", organization_id=org.id, default_datacenter_id=dc_id))
            await s.flush()
        team_id = (await s.get(Team, 1) or Team()).id
        ws = Workspace(
            team_id=team_id, datacenter_id=dc_id, user_id=1, name=name, plan_id=8,
            base_image="ubuntu-24.04",
        )  # fmt: skip
        s.add(ws)
        await s.flush()
        return ws.id


def test_ids_come_from_the_dcs_range_and_reserving_again_changes_nothing(db_url: str) -> None:
    upgrade_to_head(db_url)

    async def go() -> list[int]:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                assert await reserve_workspace_ids(s, 3) == 3 * WORKSPACE_ID_RANGE
            first = await _new_workspace(db, 3, "a")
            async with db.transaction() as s:  # the next start
                assert await reserve_workspace_ids(s, 3) == first
            second = await _new_workspace(db, 3, "b")
            # A database already used by another DC's range is refused, naming the setting.
            async with db.transaction() as s:
                with pytest.raises(WorkspaceIdRangeError, match="HEMISPHERE_DATACENTER_ID"):
                    await reserve_workspace_ids(s, 2)
            return [first, second]
        finally:
            await db.dispose()

    first, second = asyncio.run(go())
    assert (first, second) == (3_000_001, 3_000_002)
    assert datacenter_of_workspace(first) == 3


def test_a_database_with_shared_ids_moves_up_into_the_range(db_url: str) -> None:
    upgrade_to_head(db_url)

    async def go() -> tuple[int, int]:
        db = Database(db_url)
        try:
            before = await _new_workspace(db, 5, "old")
            async with db.transaction() as s:
                await reserve_workspace_ids(s, 5)
            return before, await _new_workspace(db, 5, "new")
        finally:
            await db.dispose()

    before, after = asyncio.run(go())
    assert before == 1 and after == 5_000_001


def test_the_local_runtime_keeps_uids_of_ranged_ids_inside_its_slot(data_dir: Path) -> None:
    from hemisphere.workspaces.runtime.local import LocalRuntime

    base = 2**27
    runtime = LocalRuntime(data_dir / "ws", uid_base=base, cgroup_parent="hemisphere-idtest")
    assert runtime._user(42).uid == base + 42  # shared-database ids: unchanged
    uids = {runtime._user(2 * WORKSPACE_ID_RANGE + n).uid for n in range(1, 2001)}
    assert len(uids) == 2000 and all(base <= u < base + 2**20 for u in uids)
