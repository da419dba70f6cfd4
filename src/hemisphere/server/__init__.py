"""Composes roles into one ASGI app (used by `hemisphere up`/`serve` and by the tests)."""

from hemisphere.server.app import Roles, build_app

__all__ = ["Roles", "build_app"]
