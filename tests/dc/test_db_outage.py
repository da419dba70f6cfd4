"""The worst day, part one: the database dies under a running platform.

Running workspaces keep running, API calls fail fast with a 503 that says what is wrong, the
reconciler takes no destructive action, and everything recovers when the database returns.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hemisphere.sdk import ServiceUnavailable
from tests.dc.test_api_workspaces import new_ws, wait_for
from tests.services.platform import RunningPlatform, platform_settings
from tests.services.postgres import PostgresServer, running_postgres

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, so stopping it harms no other test."""
    with running_postgres() as server:
        yield server


def test_database_outage_fails_fast_and_recovers(
    data_dir: Path, own_postgres: PostgresServer
) -> None:
    p = RunningPlatform(platform_settings(data_dir, own_postgres.create_database())).start()
    try:
        _, token = p.new_user()
        with p.client(token) as c:
            team = c.create_team("resilient", dc=1)
            ws = c.create_workspace(new_ws(team.id, "survivor"))
            wait_for(c, ws.id, lambda s: s.isRunning)
            c.execute(ws.id, "nohup sleep 600 >/dev/null 2>&1 &")
            sandboxes_before = set(_sandbox_dirs(data_dir))

            own_postgres.stop()
            started = time.monotonic()
            with pytest.raises(ServiceUnavailable) as down:
                c.list_workspaces(team.id)
            assert "metadata store unreachable" in (down.value.detail or "")
            assert time.monotonic() - started < 30  # fails fast rather than hanging forever
            ready = httpx.get(p.base_url + "/readyz")
            assert ready.status_code == 503
            assert "metadata store unreachable" in ready.json()["problems"][0]

            time.sleep(2)  # several reconcile passes while the database is gone
            assert set(_sandbox_dirs(data_dir)) == sandboxes_before  # nothing was torn down

            own_postgres.start()
            deadline = time.monotonic() + 60
            while True:
                try:
                    st = c.workspace_status(ws.id)
                    break
                except ServiceUnavailable:
                    assert time.monotonic() < deadline, "the platform did not recover"
                    time.sleep(0.5)
            assert st.isRunning
            # The process started before the outage is still there: the sandbox never stopped.
            assert (
                c.execute(ws.id, "pgrep -f '^sleep 600' >/dev/null && echo yes").output == "yes\n"
            )
    finally:
        p.stop()


def _sandbox_dirs(data_dir: Path) -> list[str]:
    root = data_dir / "workspaces" / "sandboxes"
    return sorted(x.name for x in root.iterdir()) if root.exists() else []
