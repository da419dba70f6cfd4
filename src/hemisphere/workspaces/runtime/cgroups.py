"""The cgroup (v1) of one workspace: its plan's limits, and the handle that kills it as a whole.

Every process of a workspace — the sandbox, every exec, every terminal, the `git clone` of its
provisioning — joins `<controller>/<parent>/ws-<id>` for the memory, cpu and pids controllers
BEFORE it executes anything (see `sandbox.join_cgroups_argv`), so the limits hold for all of them
and `kill_all` finds all of them, including processes that left the sandbox's process group or
were started by a platform process that has since crashed.

This host has cgroup v1 for these controllers (ARCHITECTURE.md §7); v2 has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from hemisphere.workspaces.runtime.base import RuntimePermanentError, RuntimeTemporaryError

CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000
_LEAF = re.compile(r"^ws-(\d+)$")


@dataclass(frozen=True)
class CgroupLimits:
    memory_bytes: int
    cpu_quota_us: int  # per CFS_PERIOD_US; cpu_millis * 100
    pids_max: int

    @classmethod
    def of(cls, *, memory_mib: int, cpu_millis: int, pids_max: int) -> CgroupLimits:
        if memory_mib < 8 or cpu_millis < 10 or pids_max < 8:
            raise RuntimePermanentError(
                f"plan limits too small to run a sandbox: memory {memory_mib} MiB (min 8), "
                f"cpu {cpu_millis} millicores (min 10), pids {pids_max} (min 8)"
            )
        return cls(memory_mib * 1024 * 1024, cpu_millis * CFS_PERIOD_US // 1000, pids_max)


def check_controllers(mount_root: Path) -> None:
    """Fail early, with the fix, if this host lacks the v1 controllers the runtime needs."""
    missing = [c for c in CONTROLLERS if not (mount_root / c / "cgroup.procs").is_file()]
    if missing:
        raise RuntimePermanentError(
            f"cgroup v1 controllers {', '.join(missing)} are not mounted under {mount_root}; "
            "the local runtime needs them for plan limits (mount them, e.g. "
            f"`mount -t cgroup -o {missing[0]} cgroup {mount_root / missing[0]}`)"
        )


def workspace_ids(mount_root: Path, parent: str) -> set[int]:
    """Workspaces that have a cgroup directory below `parent` in any controller."""
    ids: set[int] = set()
    for controller in CONTROLLERS:
        base = mount_root / controller / parent
        if not base.is_dir():
            continue
        for entry in os.scandir(base):
            match = _LEAF.match(entry.name)
            if match and entry.is_dir():
                ids.add(int(match.group(1)))
    return ids


class WorkspaceCgroup:
    def __init__(self, mount_root: Path, parent: str, workspace_id: int) -> None:
        self.workspace_id = workspace_id
        self.dirs = {c: mount_root / c / parent / f"ws-{workspace_id}" for c in CONTROLLERS}

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs.values())

    def create(self, limits: CgroupLimits) -> None:
        """Create (or reuse) the directories and write the limits. Idempotent."""
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        self._write_memory(limits.memory_bytes)
        _write(self.dirs["cpu"] / "cpu.cfs_period_us", CFS_PERIOD_US)
        _write(self.dirs["cpu"] / "cpu.cfs_quota_us", limits.cpu_quota_us)
        _write(self.dirs["pids"] / "pids.max", limits.pids_max)

    def pids(self) -> set[int]:
        """Live processes in the workspace (host pids), over all controllers."""
        found: set[int] = set()
        for path in self.procs_files:
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            found.update(int(line) for line in text.split())
        return found

    async def kill_all(self, timeout_s: float = 10.0) -> None:
        """SIGKILL every process until the cgroup is empty (forks racing the kill are caught by
        the next round)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        delay = 0.002
        while pids := self.pids():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if loop.time() > deadline:
                raise RuntimeTemporaryError(
                    f"processes {sorted(pids)} of workspace {self.workspace_id} survived SIGKILL "
                    f"for {timeout_s:.0f} s (uninterruptible I/O?); will retry"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    def remove(self) -> None:
        """Delete the (empty) directories. Idempotent."""
        for d in self.dirs.values():
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno == errno.EBUSY:
                    raise RuntimeTemporaryError(
                        f"cgroup {d} still has processes; will retry", delay=0.5
                    ) from exc
                raise

    def _write_memory(self, limit: int) -> None:
        memory = self.dirs["memory"]
        memsw = memory / "memory.memsw.limit_in_bytes"  # only with swap accounting
        # memsw must stay >= limit at every step, so the order depends on the direction.
        files = [memory / "memory.limit_in_bytes"]
        if memsw.exists():
            files = [memsw, *files] if limit > _read_int(memsw) else [*files, memsw]
        for path in files:
            _write(path, limit)


def _read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _write(path: Path, value: int) -> None:
    try:
        path.write_text(f"{value}\n")
    except OSError as exc:
        raise RuntimeTemporaryError(f"cannot set {path} to {value}: {exc.strerror}") from exc
