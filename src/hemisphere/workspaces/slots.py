"""Per-workspace admission: at most N of something at once for one workspace, refused (never
queued) beyond that.

One tenant must not be able to use up a resource the whole data center shares (preview upstream
connections, concurrent executes, ...). Refusing at once instead of queueing keeps the cost of an
abusive workspace on that workspace: its extra requests get a "retry later" answer immediately,
and nothing of the platform waits on them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class SlotsExhausted(Exception):
    """Every slot of this workspace is taken; `retry_after_s` is a hint for the caller."""

    def __init__(self, workspace_id: int, limit: int, what: str, retry_after_s: int = 1) -> None:
        super().__init__(
            f"workspace {workspace_id} already has {limit} {what} in progress (the limit); "
            f"wait for one to finish, then retry"
        )
        self.workspace_id = workspace_id
        self.limit = limit
        self.retry_after_s = retry_after_s


class WorkspaceSlots:
    """Counts what each workspace has in flight. Single event loop, so no lock is needed: the
    check and the increment happen without an await between them."""

    def __init__(self, limit: int, what: str) -> None:
        if limit < 1:
            raise ValueError(f"the limit for {what} per workspace must be at least 1, not {limit}")
        self.limit = limit
        self.what = what
        self._used: dict[int, int] = {}

    def in_use(self, workspace_id: int) -> int:
        return self._used.get(workspace_id, 0)

    def acquire(self, workspace_id: int) -> None:
        """Take one slot; SlotsExhausted if none is free. Pair with `release`."""
        used = self._used.get(workspace_id, 0)
        if used >= self.limit:
            raise SlotsExhausted(workspace_id, self.limit, self.what)
        self._used[workspace_id] = used + 1

    def release(self, workspace_id: int) -> None:
        left = self._used[workspace_id] - 1
        if left:
            self._used[workspace_id] = left
        else:
            del self._used[workspace_id]  # no entry per idle workspace

    @contextlib.contextmanager
    def take(self, workspace_id: int) -> Iterator[None]:
        """Hold one slot for the block; SlotsExhausted if none is free."""
        self.acquire(workspace_id)
        try:
            yield
        finally:
            self.release(workspace_id)
