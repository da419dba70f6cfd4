"""The one error envelope (Codesphere's `{status, title, detail, traceId}`) and the one place
that turns exceptions into it. Not-found and not-allowed look the same to a caller."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from hemisphere.identity import errors as ie
from hemisphere.workspaces import errors as we

log = logging.getLogger("hemisphere.api")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def trace_id_of(request: Request) -> str:
    tid = getattr(request.state, "trace_id", None)
    if not tid:
        tid = uuid.uuid4().hex
        request.state.trace_id = tid
    return str(tid)


def problem(
    request: Request, status: int, detail: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "status": status,
        "title": _TITLES.get(status, "Error"),
        "detail": detail,
        "traceId": trace_id_of(request),
    }
    return JSONResponse(body, status_code=status, headers=headers)


class ApiProblem(Exception):
    """Raised by handlers for errors that have no domain exception (e.g. 413, 429)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


_DOMAIN_STATUS: list[tuple[type[Exception], int]] = [
    (ie.InvalidCredentials, 401),
    (ie.NotFound, 404),
    (ie.Forbidden, 403),
    (ie.AlreadyExists, 409),
    (ie.InvalidInput, 400),
    (we.WorkspaceNotFound, 404),
    (we.WorkspaceConflict, 409),
    (we.InvalidWorkspaceInput, 400),
    (we.WorkspaceNotRunningError, 400),
    (we.WorkspaceBusy, 409),
]


def _field_path(loc: tuple[Any, ...]) -> str:
    """`("body", "env", 0, "name")` → `env[0].name`, the way a user would point at it."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p == "[key]":
            out += " (the key)"
        elif isinstance(p, str) and p.isidentifier():
            out += f".{p}" if out else p
        else:
            out += f"[{json.dumps(str(p))}]"
    return out or "body"


def _validation_detail(exc: RequestValidationError) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            msgs.append(f"the body is not valid JSON ({ctx.get('error', 'parse error')})")
            continue
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        where = _field_path(loc)
        if err.get("type") == "extra_forbidden":
            msg = "unknown field; check the spelling against the API reference"
        if err.get("type") == "missing":
            msg = "is required"
        msgs.append(f"{where}: {msg}")
    return "; ".join(msgs) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the exception handlers that write the envelope."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(request, 400, _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        return problem(request, exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(ApiProblem)
    async def _api(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(request, exc.status, exc.detail, exc.headers)

    for exc_type, status in _DOMAIN_STATUS:
        _register_domain(app, exc_type, status)

    async def _store_down(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "metadata store unreachable",
            extra={"trace_id": trace_id_of(request), "error": type(exc).__name__},
        )
        return problem(
            request,
            503,
            "metadata store unreachable; running workspaces are unaffected, retry later",
        )

    app.add_exception_handler(OperationalError, _store_down)
    app.add_exception_handler(PoolTimeout, _store_down)
    app.add_exception_handler(ConnectionRefusedError, _store_down)

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _store_down(request, exc)
        log.exception("database error", extra={"trace_id": trace_id_of(request)})
        return problem(request, 500, "internal error; quote the trace ID when reporting it")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"trace_id": trace_id_of(request)})
        return problem(request, 500, "internal error; quote the trace ID when reporting it")


def _register_domain(app: FastAPI, exc_type: type[Exception], status: int) -> None:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        message = getattr(exc, "message", None) or str(exc)
        fld = getattr(exc, "field", None)
        detail = f"{fld}: {message}" if fld and not message.startswith(fld) else message
        return problem(request, status, detail)

    app.add_exception_handler(exc_type, handler)
