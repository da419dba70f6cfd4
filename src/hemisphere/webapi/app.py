"""The HTTP skeleton both roles share: trace IDs, body-size limit, metrics, request logs,
health endpoints and the error envelope. Roles add their routers on top."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hemisphere import __version__
from hemisphere.observability.metrics import (
    HTTP_LATENCY,
    HTTP_REQUESTS,
    REGISTRY,
    scrape_allowed,
)
from hemisphere.webapi import problems

log = logging.getLogger("hemisphere.http")

ReadyCheck = Callable[[], Awaitable[str | None]]


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        request = Request(scope)
        resp = problems.problem(
            request, 413, f"request body larger than {self.limit} bytes; send less data"
        )
        await resp(scope, _no_receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class RequestObserver:
    """Trace ID, metrics and one log line per request (a plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task and a stream copy per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                trace_id = value.decode("latin-1")
        if not trace_id or len(trace_id) > 64 or not trace_id.replace("-", "").isalnum():
            trace_id = uuid.uuid4().hex
        scope.setdefault("state", {})["trace_id"] = trace_id
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", trace_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            method = scope["method"]
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                principal = scope["state"].get("principal")
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "trace_id": trace_id,
                        "user_id": getattr(principal, "user_id", None),
                    },
                )


_DOCS_ASSETS = Path(__file__).parent / "static"


def _mount_docs(app: FastAPI, title: str) -> None:
    """Swagger UI served from our own files (scripts/copy-web-assets.sh), never from a CDN."""
    app.mount("/api/docs/static", StaticFiles(directory=_DOCS_ASSETS, check_dir=False), "docs")

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if not (_DOCS_ASSETS / "swagger-ui-bundle.js").exists():
            return HTMLResponse(
                "<p>The interactive docs' assets are not installed (run scripts/deps-web.sh). "
                "The OpenAPI document is at <a href=/api/openapi.json>/api/openapi.json</a>.</p>",
                status_code=503,
            )
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title=f"{title} — docs",
            swagger_js_url="/api/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/static/swagger-ui.css",
            swagger_favicon_url="/api/docs/static/favicon-32x32.png",
        )


def create_app(
    *,
    title: str,
    max_body_bytes: int,
    ready_checks: list[ReadyCheck],
    metrics_token: str = "",
    **kw: Any,
) -> FastAPI:
    app = FastAPI(
        title=title,
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        **kw,
    )
    problems.install(app)

    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(RequestObserver)

    _mount_docs(app, title)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        failures = [msg for check in ready_checks if (msg := await check())]
        if failures:
            return JSONResponse({"status": "unavailable", "problems": failures}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False, response_model=None)
    async def metrics(request: Request) -> PlainTextResponse | JSONResponse:
        if not scrape_allowed(request.headers.get("authorization"), metrics_token):
            return problems.problem(
                request,
                401,
                "/metrics needs the metrics token (HEMISPHERE_METRICS_TOKEN) as "
                "`Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
