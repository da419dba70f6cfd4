"""Every error the workspace storage package raises.

    StorageError            (base: the message says what, where and what to do)
    ├── StorageLayoutError  (the storage root cannot hold homes: a parent directory is not
    │                        searchable by the workspace users, or the root is not a directory)
    └── StorageCapacityError (creating or growing a home would eat into the disk space kept
                             for the platform's own data)

A failure inside `populate` (e.g. a failed `git clone`) is not wrapped: it propagates unchanged
after the half-built directory has been removed.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage error; `str(error)` is the message shown to the operator."""


class StorageLayoutError(StorageError):
    """The configured storage root cannot serve workspace homes."""


class StorageCapacityError(StorageError):
    """The host's disk cannot promise the space without going below the platform's reserve."""
