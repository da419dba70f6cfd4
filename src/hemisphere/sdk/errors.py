"""Errors a Hemisphere API client can see.

    HemisphereError                 (base of every error this package raises)
    └── ApiError                    (the server answered with the error envelope)
        ├── BadRequest         400
        ├── Unauthorized       401
        ├── NotFound           404  (also what a caller sees for another team's resource)
        ├── Conflict           409
        ├── PayloadTooLarge    413
        └── ServiceUnavailable 503  (e.g. "metadata store unreachable")
    └── TransportError              (no answer: connection refused, timeout)

The envelope is Codesphere's `{status, title, detail, traceId}`; `ApiError.from_envelope` is the
one place that parses it back.
"""

from __future__ import annotations

from typing import Any


class HemisphereError(Exception):
    """Base of every error raised by the SDK."""


class TransportError(HemisphereError):
    """The server could not be reached or did not answer in time."""


class ApiError(HemisphereError):
    """The server answered with the error envelope."""

    status: int = 500

    def __init__(
        self, status: int, title: str, detail: str | None = None, trace_id: str = ""
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.trace_id = trace_id
        text = f"{status} {title}"
        if detail:
            text += f": {detail}"
        if trace_id:
            text += f" (trace ID: {trace_id})"
        super().__init__(text)

    @staticmethod
    def from_envelope(status: int, body: Any) -> ApiError:
        """Build the typed error for an HTTP status and a (possibly malformed) envelope body."""
        title = "error"
        detail: str | None = None
        trace_id = ""
        if isinstance(body, dict):
            title = str(body.get("title") or title)
            raw_detail = body.get("detail")
            detail = None if raw_detail is None else str(raw_detail)
            trace_id = str(body.get("traceId") or "")
        elif isinstance(body, str) and body:
            detail = body[:500]
        cls = _BY_STATUS.get(status, ApiError)
        return cls(status, title, detail, trace_id)


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class ServiceUnavailable(ApiError):
    status = 503


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    503: ServiceUnavailable,
}
