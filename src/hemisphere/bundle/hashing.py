"""sha256 of files, streamed in 1 MiB reads (the same code path `verify` is measured against)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1024 * 1024


def sha256_file(path: Path) -> tuple[str, int]:
    """Return (hex digest, size) of the file at `path`."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
