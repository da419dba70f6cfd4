"""Browser fixtures: Debian's Chromium, headless, driven by Playwright (never `playwright install`:
the browser comes from the system package). Screenshots go to test-artifacts/."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
# Visible form controls that no <label> (or aria-label) names; ids or names for the message.
_UNLABELED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.id || e.name || e.className)"""
PHONE = {"width": 390, "height": 844}


# Package scope, not session: Playwright's sync API keeps an event loop running on the main
# thread while it is open, which would break every asyncio test that runs after this package.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright gives every launch a fresh, temporary user-data-dir.
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()


class Session:
    """One person's browser: a context (own cookies), a page, and what went wrong in it."""

    def __init__(self, browser: Browser, base_url: str, name: str) -> None:
        self.base_url = base_url
        self.name = name
        self.context: BrowserContext = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        self.context.set_default_timeout(30_000)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: self.problems.append(f"dialog opened: {d.message}"))
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # Documents answered with 4xx on purpose (wrong password, invalid form) are logged as
        # "Failed to load resource"; failing sub-resources are caught by _response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _response(self, response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            self.problems.append(
                f"{response.status} for {response.request.resource_type} {response.url}"
            )

    def goto(self, path: str) -> int:
        response = self.page.goto(self.base_url + path)
        return response.status if response else 0

    def shot(self, name: str, *, phone: bool = False) -> None:
        """Screenshot to test-artifacts/, after checking the page's basics: every form control
        has a label, and nothing is wider than the screen (390 px phones too)."""
        ARTIFACTS.mkdir(exist_ok=True)
        unlabeled = self.page.evaluate(_UNLABELED)
        assert unlabeled == [], f"{name}: form controls without a label: {unlabeled}"
        if phone:
            self.page.set_viewport_size(PHONE)  # type: ignore[arg-type]
        try:
            width = self.page.evaluate("() => document.documentElement.scrollWidth")
            viewport = PHONE["width"] if phone else DESKTOP["width"]
            assert width <= viewport, (
                f"{name}: the page is {width} px wide on a {viewport} px screen"
            )
            self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            if phone:
                self.page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]

    def login(self, email: str, password: str) -> None:
        """With the keyboard only: the e-mail field has focus, Tab to the password, Enter."""
        self.goto("/login")
        expect(self.page.get_by_label("E-mail address")).to_be_focused()
        self.page.keyboard.type(email)
        self.page.keyboard.press("Tab")
        self.page.keyboard.type(password)
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(re.compile(r".*/teams$"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def sessions(browser: Browser) -> Iterator[list[Session]]:
    opened: list[Session] = []
    try:
        yield opened
    finally:
        for s in opened:
            s.close()


class CuttableLink:
    """A loopback TCP forwarder whose open connections can be cut at once: a network blip the
    browser cannot tell from a real one (Chromium's offline emulation leaves WebSockets open)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            victims, self._open = self._open, set()
        for s in victims:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._listener.close()
        self.cut()
