"""The console role: identity, data-center registry, audit — mounted onto an app."""

from __future__ import annotations

from fastapi import FastAPI

from hemisphere.console import api, api_datacenters, api_orgs
from hemisphere.db.engine import Database
from hemisphere.identity.reader import DatabaseIdentity
from hemisphere.identity.throttle import LoginThrottle


def mount_console(app: FastAPI, db: Database, *, agent_tokens_dir: str = "") -> None:
    app.state.db = db
    app.state.agent_tokens_dir = agent_tokens_dir
    app.state.identity = DatabaseIdentity(db)
    app.state.login_throttle = LoginThrottle()
    app.include_router(api.router)
    app.include_router(api_orgs.router)
    app.include_router(api_datacenters.router)
