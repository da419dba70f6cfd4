"""The host side of a lab: network namespaces, veth pairs and processes, each step idempotent.

A site's namespace gets one veth pair: `wan0` inside (the site's /30 address, no default route)
and the hub end in the root namespace. Processes enter only the site's *network* namespace
(`nsenter --net`, not `ip netns exec`, which also unshares the mount namespace): their mounts and
sandboxes stay visible to the host, so `lab down` can check nothing is left behind.

A process is identified by its pid AND its start time (field 22 of /proc/PID/stat), so a reused
pid is never taken for a lab process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hemisphere.lab.errors import LabHostError

__all__ = [
    "add_site_network",
    "alive",
    "delete_site_network",
    "in_netns",
    "kill_dc_sandboxes",
    "netns_exists",
    "spawn",
    "start_ticks",
    "stop_process",
]

_CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP_CONTROLLERS = ("memory", "cpu", "pids")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LabHostError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def add_site_network(netns: str, veth: str, hub_address: str, address: str) -> None:
    """Namespace `netns` joined to the root namespace by `veth` (hub end) / `wan0` (site end)."""
    if not netns_exists(netns):
        _ip("netns", "add", netns)
    if not link_exists(veth):
        _ip("link", "add", veth, "type", "veth", "peer", "name", "wan0", "netns", netns)
    _ip("addr", "replace", f"{hub_address}/30", "dev", veth)
    _ip("link", "set", veth, "up")
    _ip("-n", netns, "addr", "replace", f"{address}/30", "dev", "wan0")
    _ip("-n", netns, "link", "set", "wan0", "up")
    _ip("-n", netns, "link", "set", "lo", "up")


def delete_site_network(netns: str, veth: str) -> None:
    """Remove the veth pair and the namespace; absent ones are fine."""
    if link_exists(veth):
        _ip("link", "del", veth, check=False)
    if netns_exists(netns):
        # Anything still inside holds the namespace open; `lab down` stops processes first.
        _ip("netns", "del", netns, check=False)


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]


def start_ticks(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot, or None if it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int | None, ticks: int | None) -> bool:
    return pid is not None and ticks is not None and start_ticks(pid) == ticks


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> tuple[int, int]:
    """Start `argv` in a new session, output appended to `log`; returns (pid, start ticks).

    The process is not our child for long: we do not wait for it, so it is reparented when
    the `lab` CLI exits, and every later command finds it by pid and start time.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
        )
    ticks = start_ticks(proc.pid)
    if ticks is None:
        raise LabHostError(f"{argv[0]} exited at once; see {log}")
    # Popen would warn about a child it never waited for; the lab tracks it by pid instead.
    proc.returncode = 0
    return proc.pid, ticks


def _reap(pid: int) -> None:
    """Collect `pid` if it is our child (the CLI that started it is still running)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_process(
    pid: int | None, ticks: int | None, *, grace_s: float, sig: int = signal.SIGTERM
) -> None:
    """Send `sig`, wait up to `grace_s` for the process to exit, then SIGKILL its session."""
    if not alive(pid, ticks):
        return
    assert pid is not None
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid, ticks):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid, ticks) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)


def kill_dc_sandboxes(data_dir: Path) -> int:
    """Kill what the local runtime of the DC at `data_dir` left running and remove its cgroups.

    Needed only when the DC process could not stop its sandboxes itself (it was SIGKILLed):
    sandboxes are detached from it on purpose (`setsid --fork`), but every one of their
    processes sits in the runtime's cgroup subtree, `hemisphere-<tag>` where tag is the first
    10 hex digits of sha256(<data dir>/workspaces) (dc/app.py `make_runtime`). Returns the
    number of processes killed.
    """
    tag = hashlib.sha256(str((data_dir / "workspaces").resolve()).encode()).hexdigest()[:10]
    killed: set[int] = set()
    for controller in _CGROUP_CONTROLLERS:
        parent = _CGROUP_ROOT / controller / f"hemisphere-{tag}"
        if not parent.is_dir():
            continue
        groups = sorted((p for p in parent.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for _ in range(50):
            pids = [
                int(line)
                for group in [*groups, parent]
                for line in _read(group / "cgroup.procs").split()
            ]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for group in [*groups, parent]:
            with contextlib.suppress(OSError):
                group.rmdir()
    return len(killed)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
