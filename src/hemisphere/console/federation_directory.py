"""Where each data center is, and how the console calls it on a user's behalf (issue 9).

The console knows every DC from its registry (the `datacenters` table) and each DC's API URL
from the install spec (HEMISPHERE_DATACENTERS). A call for a DC goes:

- to the dc role in this same process, when the console runs it (embedded `hemisphere up`, or
  console + dc in one process): through the app below the routing middleware, no socket;
- to the DC's URL otherwise, with the caller's identity carried as the DC can check it: the
  caller's own bearer token when it is an API token (valid at the DC through the shared
  database or the identity replica), or an assertion signed by the console
  (federation/assertions.py) for browser sessions — a session token never leaves the console.

Which DC owns a workspace: the workspace row's `datacenter_id` when this database holds it (a
shared database), else the DC whose id range the id is in (db/workspace_ids.py), else the DC
whose last snapshot lists it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from hemisphere.db.models import Datacenter, DatacenterSnapshot, Workspace
from hemisphere.db.workspace_ids import datacenter_of_workspace
from hemisphere.federation.assertions import HEADER as ASSERTION_HEADER
from hemisphere.federation.assertions import issue_assertion
from hemisphere.identity.principal import Principal

_LOCAL_BASE = "http://dc.in-process"


@dataclass(frozen=True)
class KnownDatacenter:
    id: int
    name: str
    cordoned: bool
    url: str  # "" when the spec gave none

    @property
    def label(self) -> str:
        return f"data center {self.id} ({self.name})"


class Unroutable(Exception):
    """The call cannot be taken to the DC; `status` and `detail` are for the caller."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Federation:
    """The console's view of its DCs, kept on `app.state.federation`."""

    urls: Mapping[int, str]
    local_datacenter: int | None  # the DC whose dc role runs in this process, if any
    list_deadline_s: float = 1.5
    route_timeout_s: float = 30.0
    # Set by the routing middleware: the app below it, for calls to the in-process DC.
    inner_app: ASGIApp | None = None
    outer_app: Any = None
    _http: httpx.AsyncClient | None = field(default=None, repr=False)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self.route_timeout_s, connect=min(3.0, self.route_timeout_s)),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ---- the registry ---------------------------------------------------------------------

    async def datacenters(self, s: AsyncSession) -> list[KnownDatacenter]:
        rows = await s.scalars(select(Datacenter).order_by(Datacenter.id))
        return [KnownDatacenter(d.id, d.name, d.cordoned, self.urls.get(d.id, "")) for d in rows]

    async def owner_of(self, s: AsyncSession, workspace_id: int) -> int | None:
        owner = await s.scalar(select(Workspace.datacenter_id).where(Workspace.id == workspace_id))
        if owner is not None:
            return int(owner)
        ranged = datacenter_of_workspace(workspace_id)
        if ranged is not None:
            return ranged
        for snap in await s.scalars(select(DatacenterSnapshot)):
            if any(w.get("id") == workspace_id for w in snap.workspaces):
                return snap.datacenter_id
        return None

    def is_local(self, datacenter_id: int) -> bool:
        return self.local_datacenter == datacenter_id and self.inner_app is not None

    # ---- calling a DC ---------------------------------------------------------------------

    def auth_headers(
        self, app_state: Any, headers: Mapping[str, str], who: Principal, dc: KnownDatacenter
    ) -> dict[str, str]:
        """How the caller is known at `dc` (see the module docstring)."""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and who.token_kind == "api":
            return {"Authorization": auth}
        signer = getattr(app_state, "feed_signer", None)
        if signer is None:
            raise Unroutable(
                503,
                f"{dc.label} cannot be asked on behalf of a browser session: this console has "
                "no signing key (HEMISPHERE_SIGNING_PRIVATE_KEY); use an API token",
            )
        token = issue_assertion(
            signer.private_key, key_id=signer.key_id, user_id=who.user_id, datacenter_id=dc.id
        )
        return {ASSERTION_HEADER: token}

    def client_for(self, dc: KnownDatacenter, headers: Mapping[str, str]) -> DcClient:
        if self.is_local(dc.id):
            # The caller's own headers: the in-process dc role authenticates them itself.
            assert self.inner_app is not None
            transport = httpx.ASGITransport(app=_WithApp(self.inner_app, self.outer_app))
            return DcClient(dc, _LOCAL_BASE, dict(headers), transport=transport)
        if not dc.url:
            raise Unroutable(
                503,
                f"{dc.label} has no API URL known to the console: add its url to "
                "HEMISPHERE_DATACENTERS (the install spec's datacenter url)",
            )
        return DcClient(dc, dc.url.rstrip("/"), dict(headers), http=self.http)


class _WithApp:
    """The app below the middleware, with `scope["app"]` set as the full app would set it."""

    def __init__(self, inner: ASGIApp, outer: Any) -> None:
        self.inner = inner
        self.outer = outer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = {**scope, "app": self.outer}
        await self.inner(scope, receive, send)


class DcClient:
    """One DC's API for one caller."""

    def __init__(
        self,
        dc: KnownDatacenter,
        base: str,
        headers: dict[str, str],
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.dc = dc
        self.base = base
        self.headers = {**headers, "Accept": "application/json"}
        self._own = http is None
        self.http = http or httpx.AsyncClient(transport=transport, timeout=30.0)

    async def aclose(self) -> None:
        if self._own:
            await self.http.aclose()

    async def get_json(self, path: str, timeout: float | None = None) -> tuple[int, Any]:
        kw: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        r = await self.http.get(self.base + path, headers=self.headers, **kw)
        return r.status_code, (r.json() if r.content else None)
