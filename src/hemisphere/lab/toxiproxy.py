"""The lab's WAN: one toxiproxy server (in the hub, the root namespace) and its HTTP API.

The kernel here has no netem (ARCHITECTURE.md §7), so latency, jitter, bandwidth and cuts are
added in userspace by toxiproxy v2.5.0, built from Go modules by scripts/build-toxiproxy.sh.
Every directed service link is one proxy; a cut disables it (open connections are closed and new
ones refused), a delay adds `latency` toxics in both directions (so a request's round trip grows
by twice the latency) and optionally `bandwidth` toxics.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx

from hemisphere.lab.errors import LabHostError

__all__ = ["Toxiproxy", "toxiproxy_binary"]

VERSION = "v2.5.0"
_BINARY = "toxiproxy-server"


def toxiproxy_binary() -> Path:
    """The server binary: HEMISPHERE_TOXIPROXY, the build cache, or PATH."""
    explicit = os.environ.get("HEMISPHERE_TOXIPROXY")
    if explicit:
        return Path(explicit)
    cache = Path(
        os.environ.get("HEMISPHERE_BIN_CACHE", Path.home() / ".cache" / "hemisphere" / "bin")
    )
    if (cache / _BINARY).is_file():
        return cache / _BINARY
    found = shutil.which(_BINARY)
    if found:
        return Path(found)
    raise LabHostError(
        f"toxiproxy-server is not built: run `scripts/build-toxiproxy.sh` (it builds "
        f"github.com/Shopify/toxiproxy/v2 {VERSION} from Go modules into {cache})"
    )


class Toxiproxy:
    """The HTTP API of a running toxiproxy server at `api` (host:port)."""

    def __init__(self, api: str, timeout_s: float = 5.0) -> None:
        self.api = api
        self._http = httpx.Client(base_url=f"http://{api}", timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Toxiproxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            r = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise LabHostError(f"toxiproxy at {self.api} is unreachable ({exc})") from None
        if r.status_code >= 400:
            raise LabHostError(f"toxiproxy {method} {path}: {r.status_code} {r.text.strip()}")
        return r.json() if r.content else None

    def ready(self) -> bool:
        try:
            return self._http.get("/version").status_code == 200
        except httpx.TransportError:
            return False

    def proxies(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return result

    def ensure_proxy(self, name: str, listen: str, upstream: str) -> None:
        """Create the proxy, or make an existing one match (enabled, same addresses)."""
        existing = self.proxies().get(name)
        if existing is None:
            self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                            "enabled": True})  # fmt: skip
        elif existing["listen"] != listen or existing["upstream"] != upstream:
            self._call("POST", f"/proxies/{name}", {"listen": listen, "upstream": upstream,
                                                    "enabled": True})  # fmt: skip

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{name}", {"enabled": enabled})

    def set_delay(
        self, name: str, latency_ms: int, jitter_ms: int, bandwidth_kbps: int | None
    ) -> None:
        """Replace the proxy's toxics by latency (± jitter) and bandwidth, both directions."""
        for toxic in self._call("GET", f"/proxies/{name}/toxics"):
            self._call("DELETE", f"/proxies/{name}/toxics/{toxic['name']}")
        for stream in ("upstream", "downstream"):
            if latency_ms or jitter_ms:
                self._call("POST", f"/proxies/{name}/toxics", {
                    "name": f"latency-{stream}", "type": "latency", "stream": stream,
                    "toxicity": 1.0, "attributes": {"latency": latency_ms, "jitter": jitter_ms},
                })  # fmt: skip
            if bandwidth_kbps:
                self._call("POST", f"/proxies/{name}/toxics", {
                    "name": f"bandwidth-{stream}", "type": "bandwidth", "stream": stream,
                    "toxicity": 1.0, "attributes": {"rate": bandwidth_kbps},
                })  # fmt: skip

    def toxics(self, name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/proxies/{name}/toxics")
        return result
