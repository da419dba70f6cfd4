"""Workspace errors (the runtime's own errors live in runtime/base.py).

WorkspaceError
├── WorkspaceNotFound          absent, or in a team the caller is not in
├── WorkspaceConflict          duplicate name in the team
│   └── StorageCapacityExceeded  the DC's disk cannot promise the storage (409: capacity, not
│                                bad input, and never 5xx)
├── InvalidWorkspaceInput      unknown plan/image/data center, value out of range
├── WorkspaceNotRunningError   exec/terminal/preview on a stopped workspace
└── WorkspaceBusy              being deleted
"""

from __future__ import annotations


class WorkspaceError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class WorkspaceNotFound(WorkspaceError):
    pass


class WorkspaceConflict(WorkspaceError):
    pass


class InvalidWorkspaceInput(WorkspaceError):
    pass


class WorkspaceNotRunningError(WorkspaceError):
    pass


class WorkspaceBusy(WorkspaceError):
    pass


class StorageCapacityExceeded(WorkspaceConflict):
    pass
