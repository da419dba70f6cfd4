"""Structured (JSON lines) logging that cannot leak secrets.

Log calls pass facts in `extra`. The formatter does not trust them to leave secrets out: every
field whose name says it holds a secret (password, token, secret, authorization, cookie, key,
credential …, case-insensitive, at any depth) is replaced, and every string — the message, the
exception text, nested values — is scrubbed of values that look like secrets whatever their field
(`hsp_` API tokens, `Bearer …`, URL userinfo, PEM private keys, the 32-byte seal key in base64).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

REDACTED = "***"

# Words of a field name (camelCase and snake_case split) that mark its value as secret.
_SECRET_WORDS = frozenset(
    {
        "password", "passwd", "pwd", "passphrase", "secret", "secrets", "token", "tokens",
        "authorization", "cookie", "cookies", "credential", "credentials", "key", "apikey",
        "privatekey", "seal", "sealed", "otp", "session",
    }
)  # fmt: skip
_SECRET_PREFIXES = ("password", "secret", "token", "credential", "privatekey", "apikey")

# (pattern, replacement), applied in order to every string that is logged.
_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        "[private key redacted]",
    ),
    (re.compile(r"hsp_[A-Za-z0-9_\-]{16,}"), "hsp_" + REDACTED),
    (re.compile(r"\b(Bearer|Basic|Token)\s+[^\s\"',;]+", re.IGNORECASE), r"\1 " + REDACTED),
    # scheme://user:password@host → scheme://***@host
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@\"']+@"), r"\1" + REDACTED + "@"),
    # 32 random bytes in base64: the form of the seal key (and of similar keys).
    (re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"), REDACTED),
)

_literals: set[str] = set()


def protect(*values: str) -> None:
    """Redact these exact values wherever they appear in a log line from now on (keys the
    process loaded, for instance). Short values are ignored: they would redact ordinary words."""
    _literals.update(v for v in values if len(v) >= 8)


def _words(key: str) -> list[str]:
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()
    return [w for w in re.split(r"[^a-z0-9]+", snake) if w]


def is_secret_key(key: str) -> bool:
    words = _words(key)
    if any(w in _SECRET_WORDS for w in words):
        return True
    joined = "".join(words)
    return any(joined.startswith(p) or joined.endswith(p) for p in _SECRET_PREFIXES)


def scrub(text: str) -> str:
    """`text` with everything that looks like a secret replaced."""
    for literal in _literals:
        if literal in text:
            text = text.replace(literal, REDACTED)
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A JSON-ready copy of `value`: secret-named fields replaced, every string scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if is_secret_key(str(k)) and v is not None else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(redact(entry))


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    protect(os.environ.get("HEMISPHERE_SECRET_KEY", ""))
    # uvicorn's access log would duplicate our request log line.
    logging.getLogger("uvicorn.access").disabled = True
