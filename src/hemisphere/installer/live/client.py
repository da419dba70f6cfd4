"""One small async client for a Kubernetes API server (httpx; no generated models).

Why not a client library: the installer handles arbitrary manifests (built-in kinds and custom
resources alike), so all it needs is discovery (apiVersion/kind -> URL), server-side apply, get,
list, delete and watch on plain dicts, plus exec/port-forward streams (`streams.py`). Errors from
the API server are translated into the typed tree in `errors.py` at this boundary.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

import httpx

from hemisphere.installer.live.errors import (
    ApiError,
    ApiUnavailable,
    Conflict,
    Invalid,
    NotFound,
    UnknownKind,
)
from hemisphere.installer.live.kubeconfig import ClusterAccess

__all__ = ["FIELD_MANAGER", "KubeClient", "Resource"]

FIELD_MANAGER = "hemisphere"
_RETRIES_429 = 8
Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """What discovery says about one kind: its URL segment and whether it is namespaced."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


def describe(obj: Mapping[str, Any]) -> str:
    """`Kind namespace/name` of a manifest, for messages."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


class KubeClient:
    """Async access to one cluster. Use as `async with KubeClient(access) as client:`."""

    def __init__(self, access: ClusterAccess, *, timeout: float = 30.0) -> None:
        self.access = access
        self.ssl = access.ssl_context()
        self._http = httpx.AsyncClient(
            base_url=access.server,
            verify=self.ssl,
            headers=access.headers(),
            timeout=timeout,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )
        self._groups: dict[str, dict[str, Resource]] = {}
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- raw requests --------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body or raise a typed error.

        429 (the API server is busy, or a new CRD's endpoint is not serving yet) is retried
        after its Retry-After, a few times."""
        for attempt in range(_RETRIES_429 + 1):
            try:
                resp = await self._http.request(
                    method, path, params=params, json=json_body, content=content, headers=headers
                )
            except httpx.HTTPError as exc:
                raise ApiUnavailable(
                    f"{self.access.server} ({self.access.source}): {type(exc).__name__}: {exc}; "
                    "is the API server up and reachable?"
                ) from exc
            if resp.status_code != 429 or attempt == _RETRIES_429:
                break
            try:
                delay = float(resp.headers.get("Retry-After", "1"))
            except ValueError:
                delay = 1.0
            await asyncio.sleep(min(max(delay, 0.1), 2.0))
        if resp.status_code >= 400:
            raise _error(resp, what or f"{method} {path}")
        return resp.json() if resp.content else None

    # -- discovery -----------------------------------------------------------------------------

    async def _group_version(self, api_version: str, refresh: bool = False) -> dict[str, Resource]:
        async with self._lock:
            if refresh or api_version not in self._groups:
                path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                try:
                    doc = await self.request("GET", path, what=f"discovery of {api_version}")
                except NotFound:
                    doc = {"resources": []}
                kinds: dict[str, Resource] = {}
                for r in doc.get("resources", []):
                    if "/" in r["name"]:
                        continue  # subresource
                    kinds[r["kind"]] = Resource(api_version, r["kind"], r["name"], r["namespaced"])
                self._groups[api_version] = kinds
            return self._groups[api_version]

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The resource serving apiVersion/kind; rediscovers once (a CRD may be new)."""
        found = (await self._group_version(api_version)).get(kind)
        if found is None:
            found = (await self._group_version(api_version, refresh=True)).get(kind)
        if found is None:
            raise UnknownKind(
                f"{self.access.server}: the API server serves no {kind} in {api_version}; "
                "install its CustomResourceDefinition first"
            )
        return found

    async def resource_of(self, obj: Mapping[str, Any]) -> Resource:
        return await self.resource(str(obj.get("apiVersion")), str(obj.get("kind")))

    # -- objects -------------------------------------------------------------------------------

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        res = await self.resource(api_version, kind)
        try:
            got: Obj = await self.request("GET", res.path(namespace, name))
        except NotFound:
            return None
        return got

    async def get_live(self, obj: Mapping[str, Any]) -> Obj | None:
        meta = obj.get("metadata") or {}
        return await self.get(
            str(obj["apiVersion"]), str(obj["kind"]), str(meta["name"]), meta.get("namespace")
        )

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[Obj]:
        res = await self.resource(api_version, kind)
        params = {"labelSelector": label_selector} if label_selector else None
        items: list[Obj] = []
        cont: str | None = None
        while True:
            p = dict(params or {})
            p["limit"] = "500"
            if cont:
                p["continue"] = cont
            doc = await self.request("GET", res.path(namespace), params=p)
            for item in doc.get("items", []):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                return items

    async def apply(
        self, obj: Mapping[str, Any], *, dry_run: bool = False, force: bool = True
    ) -> Obj:
        """Server-side apply (field manager `hemisphere`); returns the object as stored."""
        res = await self.resource_of(obj)
        meta = obj.get("metadata") or {}
        params = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        result: Obj = await self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta.get("name")),
            what=describe(obj),
            params=params,
            content=json.dumps(obj).encode(),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        return result

    async def create(self, obj: Mapping[str, Any]) -> Obj:
        res = await self.resource_of(obj)
        created: Obj = await self.request(
            "POST",
            res.path((obj.get("metadata") or {}).get("namespace")),
            what=describe(obj),
            json_body=obj,
        )
        return created

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
        grace_seconds: int | None = None,
    ) -> bool:
        """Delete one object; False when it was already gone."""
        res = await self.resource(api_version, kind)
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            await self.request(
                "DELETE",
                res.path(namespace, name),
                what=f"{kind} {namespace + '/' if namespace else ''}{name}",
                json_body=body,
            )
        except NotFound:
            return False
        return True

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_s: int = 300,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """Yield (event type, object) from a watch until the server ends it."""
        res = await self.resource(api_version, kind)
        params = {"watch": "true", "timeoutSeconds": str(timeout_s), "allowWatchBookmarks": "false"}
        if label_selector:
            params["labelSelector"] = label_selector
        if resource_version:
            params["resourceVersion"] = resource_version
        try:
            async with self._http.stream(
                "GET", res.path(namespace), params=params, timeout=httpx.Timeout(30, read=None)
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error(resp, f"watch {kind}")
                async for line in resp.aiter_lines():
                    if line:
                        event = json.loads(line)
                        yield event["type"], event["object"]
        except httpx.HTTPError as exc:
            raise ApiUnavailable(f"{self.access.server}: watch {kind} broke: {exc}") from exc


def _error(resp: httpx.Response, what: str) -> ApiError:
    reason, message = resp.reason_phrase, resp.text[:500]
    try:
        status = resp.json()
        reason = status.get("reason") or reason
        message = status.get("message") or message
    except ValueError:
        pass
    cls = {404: NotFound, 409: Conflict, 422: Invalid}.get(resp.status_code, ApiError)
    return cls(resp.status_code, str(reason), str(message), what=what)
