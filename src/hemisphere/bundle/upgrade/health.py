"""The health gate between sites: a site must report ready, at the new version, in time.

`HealthGate` is the interface the rollout uses; `HttpHealthGate` polls a readiness URL until it
answers 200 and, when the body is JSON with a `version`, that version is the one just deployed.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Protocol

import httpx

from hemisphere.bundle.upgrade.errors import HealthGateError
from hemisphere.bundle.upgrade.sites import SiteTarget


class HealthGate(Protocol):
    def wait_ready(self, site: SiteTarget, version: str) -> None:
        """Return once `site` is ready at `version`; raise `HealthGateError` if it is not."""


class HttpHealthGate:
    def __init__(
        self,
        *,
        timeout: float = 300.0,
        interval: float = 2.0,
        ca_file: Path | None = None,
        insecure: bool = False,
    ) -> None:
        self.timeout = timeout
        self.interval = interval
        verify: bool | ssl.SSLContext = not insecure
        if ca_file is not None and not insecure:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._verify = verify

    def _probe(self, client: httpx.Client, site: SiteTarget, version: str) -> str | None:
        """None when ready; else why not."""
        try:
            response = client.get(site.health_url)
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__}: {exc})"
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:200].strip()}"
        try:
            body = response.json()
        except ValueError:
            return None
        reported = body.get("version") if isinstance(body, dict) else None
        if reported is not None and str(reported) != version:
            return f"ready, but reports version {reported}, not {version}"
        return None

    def wait_ready(self, site: SiteTarget, version: str) -> None:
        deadline = time.monotonic() + self.timeout
        with httpx.Client(verify=self._verify, timeout=min(10.0, self.timeout)) as client:
            while True:
                problem = self._probe(client, site, version)
                if problem is None:
                    return
                if time.monotonic() >= deadline:
                    raise HealthGateError(
                        f"site {site.name} is not ready at {version} after {self.timeout:.0f} s: "
                        f"{site.health_url} {problem}"
                    )
                time.sleep(self.interval)
