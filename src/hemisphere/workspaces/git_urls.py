"""Credentials inside git URLs (`https://user:token@host/repo`): split off for sealing, and
redacted wherever a URL is shown, logged or written into a state reason, and handed to git
through its credential protocol (never on a command line or in a Pod spec)."""

from __future__ import annotations

import re
import urllib.parse

REDACTED_USERINFO = "***"

# A git credential helper that answers from the environment of the clone's own process, so the
# credentials travel in its environment (local runtime) or a Secret (Kubernetes runtime).
GIT_USERNAME_ENV = "HEMISPHERE_GIT_USERNAME"
GIT_PASSWORD_ENV = "HEMISPHERE_GIT_PASSWORD"
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get && printf "username=%s\\npassword=%s\\n" '
    f'"${GIT_USERNAME_ENV}" "${GIT_PASSWORD_ENV}"; }}; f'
)

_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@\"']+@")


def has_credentials(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return "@" in parts.netloc


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without its userinfo, and the (percent-decoded) user name and password."""
    parts = urllib.parse.urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    username, _, password = userinfo.partition(":")
    bare = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return bare, (urllib.parse.unquote(username), urllib.parse.unquote(password))


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
