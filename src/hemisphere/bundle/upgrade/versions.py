"""Versions and the version-skew policy: the console runs release N, every DC N or N-1.

A release is MAJOR.MINOR (the patch level never matters for skew). "N-1" is the release just
before N: the previous minor of the same major, or, when N is a MAJOR.0, any release of the
previous major (the last release of a major line is the one before the next major's .0).
A DC is never ahead of the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from hemisphere.bundle.upgrade.errors import VersionError

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise VersionError(
                f"{text!r} is not a version (expected MAJOR.MINOR.PATCH, e.g. 1.68.0)"
            )
        major, minor, patch = (int(g) for g in match.groups())
        return cls(major, minor, patch, text.strip())

    @property
    def release(self) -> tuple[int, int]:
        return (self.major, self.minor)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch) < (other.major, other.minor, other.patch)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return (self.major, self.minor, self.patch) == (other.major, other.minor, other.patch)

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch))

    def __str__(self) -> str:
        return self.text


def is_previous_release(older: Version, newer: Version) -> bool:
    """Whether `older` is release N-1 of `newer`'s N."""
    if older.major == newer.major:
        return older.minor == newer.minor - 1
    return older.major == newer.major - 1 and newer.minor == 0


def skew_problem(console: Version, dc: Version) -> str | None:
    """Why a DC at `dc` may not run beside a console at `console`, or None if it may."""
    if dc.release == console.release:
        return None
    if dc.release > console.release:
        return f"runs {dc}, ahead of the console's {console} (a DC is never newer than the console)"
    if is_previous_release(dc, console):
        return None
    return (
        f"runs {dc}, more than one release behind the console's {console} (policy: DCs run the "
        f"console's release {console.major}.{console.minor} or the one before it)"
    )
