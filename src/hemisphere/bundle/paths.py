"""The one rule for names inside a bundle: a relative POSIX path that stays inside its root.

Every name read from an archive or a manifest passes `check_member_name` before it is compared,
hashed or joined to a directory, so `..`, absolute paths, backslashes, NUL bytes and empty
components are refused in one place.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from hemisphere.bundle.errors import UnsafeEntryError

MAX_NAME_LENGTH = 1024


def check_member_name(name: str) -> str:
    """Return `name` if it is a safe relative path, else raise `UnsafeEntryError` naming it."""
    shown = repr(name)
    if not name:
        raise UnsafeEntryError("archive entry with an empty name")
    if len(name) > MAX_NAME_LENGTH:
        raise UnsafeEntryError(f"archive entry name longer than {MAX_NAME_LENGTH} characters")
    if "\x00" in name or "\\" in name:
        raise UnsafeEntryError(f"archive entry {shown} contains a NUL byte or a backslash")
    if name.startswith("/"):
        raise UnsafeEntryError(f"archive entry {shown} is an absolute path")
    parts = name.split("/")
    if any(part == ".." for part in parts):
        raise UnsafeEntryError(f"archive entry {shown} climbs out of the bundle with '..'")
    if any(part in ("", ".") for part in parts):
        raise UnsafeEntryError(f"archive entry {shown} has an empty or '.' path component")
    return name


def join_inside(root: Path, name: str) -> Path:
    """Join a checked member name to `root` and prove the result is still below `root`."""
    check_member_name(name)
    target = root.joinpath(*PurePosixPath(name).parts)
    resolved_root = root.resolve()
    if not target.resolve().is_relative_to(resolved_root):
        raise UnsafeEntryError(f"archive entry {name!r} resolves outside {root}")
    return target
