"""Renewing a data center's lease and pushing its status snapshot, either straight in a shared
database (the dc role when the console shares its database) or over HTTP to the console (the
agent, which only dials out).

Heartbeats are idempotent (each one just says "alive now"), so a late or repeated beat is
harmless; the lease (federation/lease.py) outlives several missed beats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from hemisphere import __version__
from hemisphere.db.engine import Database
from hemisphere.db.models import Datacenter
from hemisphere.federation.lease import DEFAULT_HEARTBEAT_INTERVAL_S
from hemisphere.federation.snapshots import store_snapshot, take_snapshot
from hemisphere.sdk import models as m

log = logging.getLogger("hemisphere.heartbeat")

DEFAULT_SNAPSHOT_INTERVAL_S = 5.0

SnapshotSource = Callable[[], Awaitable[m.DatacenterSnapshot]]


async def renew_in_database(db: Database, datacenter_id: int) -> None:
    async with db.transaction() as s:
        await s.execute(
            update(Datacenter)
            .where(Datacenter.id == datacenter_id)
            .values(last_heartbeat_at=datetime.now(UTC), version=__version__)
        )


async def snapshot_in_database(db: Database, datacenter_id: int) -> None:
    snap = await take_snapshot(db, datacenter_id)
    async with db.transaction() as s:
        await store_snapshot(s, datacenter_id, snap)


async def beat_forever_in_database(
    db: Database,
    datacenter_id: int,
    interval_s: float,
    snapshot_interval_s: float = DEFAULT_SNAPSHOT_INTERVAL_S,
) -> None:
    last_snapshot = float("-inf")
    while True:
        try:
            await renew_in_database(db, datacenter_id)
            if time.monotonic() - last_snapshot >= snapshot_interval_s:
                await snapshot_in_database(db, datacenter_id)
                last_snapshot = time.monotonic()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("heartbeat not recorded", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval_s)


class Agent:
    """Checks the local dc services, renews the DC's lease at the console and pushes its status
    snapshot. Each duty is one method; `run` loops over them (a feed loop can sit beside it)."""

    def __init__(
        self,
        *,
        datacenter_id: int,
        console_url: str,
        token: str,
        dc_url: str = "",
        interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        snapshot: SnapshotSource | None = None,
        snapshot_interval_s: float = DEFAULT_SNAPSHOT_INTERVAL_S,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        self.datacenter_id = datacenter_id
        self.console_url = console_url.rstrip("/")
        self.dc_url = dc_url.rstrip("/")
        self.token = token
        self.interval_s = interval_s
        self.snapshot = snapshot
        self.snapshot_interval_s = snapshot_interval_s
        # What the console said last: an agent of a cordoned DC knows it is cordoned.
        self.cordoned = False
        self._last_snapshot = float("-inf")
        self._http = httpx.AsyncClient(timeout=5.0, transport=transport, verify=verify)

    async def close(self) -> None:
        await self._http.aclose()

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def local_health(self) -> tuple[bool, str]:
        if not self.dc_url:
            return True, "no local dc URL configured"
        try:
            r = await self._http.get(f"{self.dc_url}/readyz")
        except httpx.HTTPError as exc:
            return False, f"dc services unreachable: {exc}"
        return r.status_code == 200, f"dc /readyz answered {r.status_code}"

    async def beat(self) -> None:
        """One heartbeat; raises httpx.HTTPError when the console cannot be reached."""
        healthy, detail = await self.local_health()
        r = await self._http.put(
            f"{self.console_url}/api/datacenters/{self.datacenter_id}/heartbeat",
            headers=self._headers,
            json={"healthy": healthy, "detail": detail, "version": __version__},
        )
        r.raise_for_status()
        self._acknowledged(r)

    async def push_snapshot(self) -> None:
        """One status snapshot; raises httpx.HTTPError when the console cannot be reached."""
        if self.snapshot is None:
            return
        snap = await self.snapshot()
        r = await self._http.put(
            f"{self.console_url}/api/datacenters/{self.datacenter_id}/snapshot",
            headers={**self._headers, "Content-Type": "application/json"},
            content=snap.model_dump_json(),
        )
        r.raise_for_status()
        self._acknowledged(r)
        self._last_snapshot = time.monotonic()

    def _acknowledged(self, r: httpx.Response) -> None:
        with contextlib.suppress(ValueError):  # an older console answers with no body
            self.cordoned = m.HeartbeatAck.model_validate_json(r.content or b"{}").cordoned

    async def tick(self) -> None:
        await self.beat()
        if time.monotonic() - self._last_snapshot >= self.snapshot_interval_s:
            try:
                await self.push_snapshot()
            except SQLAlchemyError as exc:
                # The DC's own database is down: the lease still says the DC is alive.
                log.warning("snapshot not taken", extra={"error": type(exc).__name__})

    async def run(self) -> None:
        delay = self.interval_s
        while True:
            try:
                await self.tick()
                delay = self.interval_s
            except httpx.HTTPError as exc:
                # Cut off from the console: keep trying, but back off (up to 10 s, so the
                # lease is back within seconds of the link).
                log.warning("console unreachable", extra={"error": str(exc)})
                delay = min(delay * 2, 10.0)
            await asyncio.sleep(delay)
