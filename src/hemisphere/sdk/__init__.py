"""Wire models and the typed client of the Hemisphere API."""

from hemisphere.sdk import models
from hemisphere.sdk.client import HemisphereClient
from hemisphere.sdk.errors import (
    ApiError,
    BadRequest,
    Conflict,
    HemisphereError,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
)

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "HemisphereClient",
    "HemisphereError",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "models",
]
