"""The console role: identity, data-center registry, audit — mounted onto an app."""

from __future__ import annotations

from fastapi import FastAPI

from hemisphere.console import api
from hemisphere.db.engine import Database
from hemisphere.identity.reader import DatabaseIdentity
from hemisphere.identity.throttle import LoginThrottle


def mount_console(app: FastAPI, db: Database) -> None:
    app.state.db = db
    app.state.identity = DatabaseIdentity(db)
    app.state.login_throttle = LoginThrottle()
    app.include_router(api.router)
