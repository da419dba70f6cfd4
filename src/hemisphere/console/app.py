"""The console role: identity, data-center registry, audit — mounted onto an app."""

from __future__ import annotations

from fastapi import FastAPI

from hemisphere.console import api, api_datacenters, api_feed, api_orgs
from hemisphere.db.engine import Database
from hemisphere.federation.feed import FeedSigner
from hemisphere.identity.reader import DatabaseIdentity
from hemisphere.identity.throttle import LoginThrottle


def mount_console(
    app: FastAPI, db: Database, *, agent_tokens_dir: str = "", feed_signer: FeedSigner
) -> None:
    app.state.db = db
    app.state.feed_signer = feed_signer  # signs feed entries and console -> DC assertions
    app.state.agent_tokens_dir = agent_tokens_dir
    app.state.identity = DatabaseIdentity(db)
    app.state.login_throttle = LoginThrottle()
    app.include_router(api.router)
    app.include_router(api_orgs.router)
    app.include_router(api_datacenters.router)
    app.include_router(api_feed.router)
