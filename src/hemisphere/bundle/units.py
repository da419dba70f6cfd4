"""Byte sizes for people: `human_size` for messages, `parse_size` for `--max-part-size 4G`."""

from __future__ import annotations

import re

from hemisphere.bundle.errors import BundleError

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def parse_size(text: str) -> int:
    """Parse `650M`, `4G`, `4GiB`, `1048576` (powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise BundleError(f"cannot read size {text!r}: use a number with K, M, G or T (e.g. 4G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
