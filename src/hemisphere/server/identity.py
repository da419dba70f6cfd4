"""How a process takes part in federated identity, decided once from its settings and roles.

- A console signs the change feed and console -> DC assertions with its Ed25519 key
  (HEMISPHERE_SIGNING_PRIVATE_KEY, or a key generated once into the data dir).
- A dc role accepts `X-Hemisphere-Assertion` signed by any trusted key
  (HEMISPHERE_SIGNING_PUBLIC_KEY, a comma-separated list for rotation; with the console in the
  same process, its own key).
- A dc role in replica mode (2B) pulls the feed into its own database and serves identity from
  it (server/replica.py); it needs the console's URL, its agent token and the trusted keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI

from hemisphere.config import ConfigError, Settings
from hemisphere.db.engine import Database
from hemisphere.federation.feed import FeedSigner
from hemisphere.federation.replica import FeedPuller
from hemisphere.federation.signing import (
    SigningKeyError,
    generate_key_file,
    load_private_key,
    load_public_keys,
)
from hemisphere.server.replica import mount_replica_identity

__all__ = ["IdentityWiring"]

log = logging.getLogger("hemisphere.identity")


@dataclass
class IdentityWiring:
    settings: Settings
    signer: FeedSigner | None
    trusted: Mapping[str, Ed25519PublicKey]
    puller: FeedPuller | None
    datacenter_id: int | None
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _app: FastAPI | None = field(default=None, init=False)

    @property
    def replica(self) -> bool:
        return self.puller is not None

    @classmethod
    def of(cls, settings: Settings, db: Database, *, console: bool, dc: bool) -> IdentityWiring:
        try:
            signer = _signer(settings) if console else None
            trusted = dict(load_public_keys(settings.signing_public_keys))
        except SigningKeyError as exc:
            raise ConfigError(str(exc)) from None
        if signer is not None and not trusted:
            trusted = {signer.key_id: signer.public_key}
        puller = None
        if dc and not console and settings.identity_mode == "replica":
            missing = [
                name
                for name, value in (
                    ("HEMISPHERE_CONSOLE_URL", settings.console_url),
                    ("HEMISPHERE_AGENT_TOKEN", settings.agent_token),
                    ("HEMISPHERE_SIGNING_PUBLIC_KEY", settings.signing_public_keys),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    "HEMISPHERE_IDENTITY_MODE=replica replicates identity from the console's "
                    f"change feed and needs {', '.join(missing)}"
                )
            puller = FeedPuller(
                db,
                console_url=settings.console_url,
                token=settings.agent_token,
                trusted=trusted,
                wait_s=settings.feed_wait_s,
                verify=_verify(settings),
            )
        return cls(settings, signer, trusted, puller, settings.datacenter_id if dc else None)

    def install(self, app: FastAPI) -> None:
        app.state.assertion_keys = self.trusted
        app.state.assertion_datacenter = self.datacenter_id
        app.state.feed_puller = self.puller
        self._app = app
        if self.puller is not None:
            mount_replica_identity(
                app, console_url=self.settings.console_url, verify=_verify(self.settings)
            )

    async def start(self) -> None:
        if self.puller is not None:
            self._task = asyncio.create_task(self.puller.run(), name="identity-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.puller is not None:
            await self.puller.close()
        http = getattr(self._app.state, "replica_http", None) if self._app else None
        if http is not None:
            await http.aclose()


def _signer(settings: Settings) -> FeedSigner:
    if settings.signing_private_key:
        return FeedSigner.of(load_private_key(settings.signing_private_key))
    return FeedSigner.of(generate_key_file(settings.signing_key_file))


def _verify(settings: Settings) -> str | bool:
    ca = settings.ca_file
    return str(ca) if ca is not None else True
