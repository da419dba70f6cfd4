"""Errors of the live-cluster layer (talking to a site's Kubernetes API).

LiveError                       base; every message says what, where, and what to do
├── KubeconfigError             the kubeconfig/context of a site cannot be used
├── ApiError                    the API server answered with an error Status
│   ├── NotFound                404: the object (or its kind) does not exist
│   ├── Conflict                409: already exists / field-manager conflict
│   └── Invalid                 422: the API server rejected the object
├── ApiUnavailable              the API server could not be reached (retry later)
├── UnknownKind                 no resource serves apiVersion/kind (CRD not installed?)
├── ReadinessTimeout            an object did not become ready in time (names the object)
└── StreamError                 exec/port-forward stream failed
"""

from __future__ import annotations


class LiveError(Exception):
    """Base of every error raised by hemisphere.installer.live."""


class KubeconfigError(LiveError):
    """A kubeconfig file cannot be read, or lacks the context/cluster/user it refers to."""


class ApiError(LiveError):
    """An error Status from the API server (status code, reason, message)."""

    def __init__(self, status: int, reason: str, message: str, *, what: str = "") -> None:
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}{message} (HTTP {status} {reason})")
        self.status = status
        self.reason = reason
        self.api_message = message


class NotFound(ApiError):
    """404."""


class Conflict(ApiError):
    """409."""


class Invalid(ApiError):
    """422: the object does not validate."""


class ApiUnavailable(LiveError):
    """Connecting to or talking with the API server failed; the operation may succeed later."""


class UnknownKind(LiveError):
    """The API server serves no resource for an apiVersion/kind."""


class ReadinessTimeout(LiveError):
    """An applied object did not become ready within its timeout."""


class StreamError(LiveError):
    """An exec or port-forward stream through the API server failed."""
