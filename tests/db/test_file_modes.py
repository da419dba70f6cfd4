"""The SQLite database and its companions are readable by the platform's user only (issue 10):
it holds password hashes, token hashes and sealed secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from hemisphere.config import Settings
from hemisphere.db.engine import Database
from hemisphere.db.migrate import upgrade_to_head
from hemisphere.server.app import Roles, build_app


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    os.umask(0o022)
    path = tmp_path / "hemisphere.db"
    db = Database(f"sqlite:///{path}")
    try:
        async with db.session() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))
            await s.execute(text("INSERT INTO t VALUES (1)"))
            await s.commit()
            wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
            assert wal.exists() and shm.exists()  # WAL mode: the companions exist now
            assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        await db.engine.dispose()


async def test_an_existing_world_readable_database_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.write_bytes(b"")
    Path(f"{path}-wal").write_bytes(b"")
    os.chmod(path, 0o644)
    os.chmod(f"{path}-wal", 0o644)
    db = Database(f"sqlite:///{path}")
    await db.engine.dispose()
    assert mode(path) == 0o600
    assert mode(Path(f"{path}-wal")) == 0o600


def test_migrations_create_the_file_0600(tmp_path: Path) -> None:
    os.umask(0o022)
    path = tmp_path / "migrated.db"
    upgrade_to_head(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_the_data_dir_can_be_entered_but_not_listed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_app(Settings(data_dir=data_dir), Roles(console=True, dc=False))
    assert mode(data_dir) == 0o711
    assert mode(data_dir / "hemisphere.db") == 0o600
