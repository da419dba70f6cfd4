"""A form-posting HTTP client for the console pages: what a browser without JavaScript does."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from tests.services.platform import RunningPlatform

_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


class WebClient:
    """Cookies persist like in a browser; `csrf` is read from the last page shown."""

    def __init__(self, p: RunningPlatform) -> None:
        self.p = p
        # The console's own origin: cookies are host-only for "localhost". Like Chromium, which
        # treats http://localhost as a secure context, keep and send Secure cookies there (the
        # session cookie is `__Host-`, hence Secure).
        self.http = httpx.Client(
            base_url=p.settings.public_url, follow_redirects=False, timeout=30,
            event_hooks={"request": [self._send_secure_cookies]},
        )  # fmt: skip
        self.csrf = ""

    def _send_secure_cookies(self, request: httpx.Request) -> None:
        """Chromium treats http://localhost as a secure context and sends Secure cookies there
        (the session cookie is `__Host-`, hence Secure); http.cookiejar sends them over https
        only, so add them the way the browser would."""
        sent = request.headers.get("cookie", "")
        names = {part.split("=", 1)[0].strip() for part in sent.split(";") if part.strip()}
        extra = [f"{c.name}={c.value}" for c in self.http.cookies.jar
                 if c.secure and c.name not in names]  # fmt: skip
        if extra:
            request.headers["cookie"] = "; ".join([sent, *extra] if sent else extra)

    def get(self, path: str, **kw: object) -> httpx.Response:
        r = self.http.get(path, **kw)  # type: ignore[arg-type]
        found = _META.search(r.text) or _FIELD.search(r.text)
        if found and found.group(1):
            self.csrf = found.group(1)
        return r

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True,
             **kw: object) -> httpx.Response:  # fmt: skip
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.csrf)
        return self.http.post(path, data=body, **kw)  # type: ignore[arg-type]

    def login(self, email: str, password: str, next_: str = "") -> httpx.Response:
        self.get("/login")
        return self.post("/login", {"email": email, "password": password, "next": next_})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def web_user(platform: RunningPlatform) -> Iterator[tuple[WebClient, str, str]]:
    """A logged-in browser of a fresh (non-admin) user, with the user's e-mail and password."""
    email = f"web-{secrets.token_hex(3)}@example.com"
    password = secrets.token_urlsafe(12)
    with platform.client() as admin:
        admin.create_user(email, password, "Web User")
    client = WebClient(platform)
    r = client.login(email, password)
    assert r.status_code == 303, r.text
    client.get("/teams")  # as the redirect would: picks up the session's CSRF token
    try:
        yield client, email, password
    finally:
        client.close()


@pytest.fixture
def web_admin(platform: RunningPlatform) -> Iterator[WebClient]:
    assert platform.admin is not None
    client = WebClient(platform)
    assert client.login(platform.admin.email, platform.admin.password).status_code == 303
    client.get("/teams")
    try:
        yield client
    finally:
        client.close()
