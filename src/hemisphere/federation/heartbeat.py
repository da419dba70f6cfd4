"""Renewing a data center's lease, either straight in a shared database (the dc role when the
console shares its database) or over HTTP to the console (the agent, which only dials out)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from hemisphere import __version__
from hemisphere.db.engine import Database
from hemisphere.db.models import Datacenter

log = logging.getLogger("hemisphere.heartbeat")


async def renew_in_database(db: Database, datacenter_id: int) -> None:
    async with db.transaction() as s:
        await s.execute(
            update(Datacenter)
            .where(Datacenter.id == datacenter_id)
            .values(last_heartbeat_at=datetime.now(UTC))
        )


async def beat_forever_in_database(db: Database, datacenter_id: int, interval_s: float) -> None:
    while True:
        try:
            await renew_in_database(db, datacenter_id)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("heartbeat not recorded", extra={"error": type(exc).__name__})
        await asyncio.sleep(interval_s)


class Agent:
    """Checks the local dc services and renews the DC's lease at the console."""

    def __init__(
        self,
        *,
        datacenter_id: int,
        console_url: str,
        token: str,
        dc_url: str = "",
        interval_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.datacenter_id = datacenter_id
        self.console_url = console_url.rstrip("/")
        self.dc_url = dc_url.rstrip("/")
        self.token = token
        self.interval_s = interval_s
        self._http = httpx.AsyncClient(timeout=5.0, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

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
            headers={"Authorization": f"Bearer {self.token}"},
            json={"healthy": healthy, "detail": detail, "version": __version__},
        )
        r.raise_for_status()

    async def run(self) -> None:
        delay = self.interval_s
        while True:
            try:
                await self.beat()
                delay = self.interval_s
            except httpx.HTTPError as exc:
                # Cut off from the console: keep trying, but back off (up to 2 minutes).
                log.warning("console unreachable", extra={"error": str(exc)})
                delay = min(delay * 2, 120.0)
            await asyncio.sleep(delay)
