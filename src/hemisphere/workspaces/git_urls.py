"""Credentials inside git URLs (`https://user:token@host/repo`): split off for sealing, and
redacted wherever a URL is shown, logged or written into a state reason."""

from __future__ import annotations

import re
import urllib.parse

REDACTED_USERINFO = "***"

_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@\"']+@")


def has_credentials(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return "@" in parts.netloc


def redacted(url: str) -> str:
    """The URL with its userinfo (user, password or token) replaced by `***`."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{REDACTED_USERINFO}@{host}"))


def scrub(text: str) -> str:
    """Any URL userinfo inside free text (an error message) replaced by `***`."""
    return _USERINFO.sub(r"\1" + REDACTED_USERINFO + "@", text)
