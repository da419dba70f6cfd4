"""The interface every workspace runtime implements (ARCHITECTURE.md §4).

A runtime owns the sandbox AND the persistent storage of each workspace on one data center. The
reconciler only talks to this Protocol; which implementation runs is configuration
(`local` = bubblewrap on this host, `kubernetes` = Pods/PVCs/Services on the DC's cluster).

Every mutator is idempotent: calling `start` on a running workspace, `stop` on a stopped one or
`remove` on an absent one is a no-op. Errors are `RuntimeTemporaryError` (retry later) or
`RuntimePermanentError` (give up, mark the workspace failed with the message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ObservedPhase(StrEnum):
    """What the runtime sees of one workspace, independent of what the DB wants."""

    STOPPED = "stopped"  # storage exists, no sandbox process/pod
    STARTING = "starting"  # sandbox created, not ready yet (e.g. Pod pending)
    RUNNING = "running"
    FAILED = "failed"  # sandbox exists but crashed / cannot run; `reason` says why


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a runtime needs to run one workspace (derived from the DB row and its plan)."""

    workspace_id: int
    team_id: int
    name: str
    cpu_millis: int
    memory_mib: int
    storage_mib: int
    pids_max: int = 512
    base_image: str = "ubuntu-24.04"
    env: Mapping[str, str] = field(default_factory=dict)
    git_url: str | None = None
    git_ref: str | None = None


@dataclass(frozen=True)
class Observed:
    workspace_id: int
    phase: ObservedPhase
    reason: str | None = None


@dataclass(frozen=True)
class ExecResult:
    output: str
    error: str
    exit_code: int
    timed_out: bool = False
    truncated: bool = False  # output or error lost bytes past the runtime's per-stream cap


class Terminal(Protocol):
    """An interactive pty session inside a workspace (browser terminal)."""

    async def read(self) -> bytes:
        """Next chunk of output; b"" when the shell has exited."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def resize(self, cols: int, rows: int) -> None: ...

    async def close(self) -> None: ...


class RuntimeTemporaryError(Exception):
    """The operation may succeed later (API server unreachable, resource busy)."""

    def __init__(self, message: str, delay: float = 2.0) -> None:
        super().__init__(message)
        self.delay = delay


class RuntimePermanentError(Exception):
    """The operation cannot succeed as asked (bad image, clone failed); surfaced to the user."""


class WorkspaceNotRunning(Exception):
    """exec/terminal/port access on a workspace whose sandbox is not running."""


class WorkspaceRuntime(Protocol):
    """One data center's workspace backend."""

    name: str

    async def observe(self) -> dict[int, Observed]:
        """Every workspace this runtime holds anything for (sandbox or storage), by id."""
        ...

    async def provision(self, spec: SandboxSpec) -> None:
        """Create the persistent storage (and clone `git_url` into it) if absent. Idempotent;
        a half-finished earlier attempt is cleaned and redone."""
        ...

    async def start(self, spec: SandboxSpec) -> None:
        """Run the sandbox; storage must exist. Idempotent."""
        ...

    async def stop(self, workspace_id: int) -> None:
        """Stop the sandbox, keep the storage. Idempotent."""
        ...

    async def remove(self, workspace_id: int) -> None:
        """Stop the sandbox and destroy the storage. Idempotent."""
        ...

    async def exec(
        self,
        workspace_id: int,
        command: str,
        *,
        env: Mapping[str, str],
        working_dir: str | None,
        timeout_s: float,
    ) -> ExecResult:
        """Run `bash -c command` inside the running sandbox as the workspace user."""
        ...

    async def open_terminal(self, workspace_id: int, cols: int, rows: int) -> Terminal:
        """A login shell on a pty inside the running sandbox."""
        ...

    async def connect_port(
        self, workspace_id: int, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `port` inside the sandbox's network (preview proxy)."""
        ...

    async def listening_ports(self, workspace_id: int) -> list[int]:
        """TCP ports the workspace listens on (for preview links)."""
        ...

    async def storage_usage_mib(self, workspace_id: int) -> int:
        """How much of its storage the workspace uses (quota reporting)."""
        ...

    async def aclose(self) -> None:
        """Release connections held by the runtime (workspaces keep running)."""
        ...
