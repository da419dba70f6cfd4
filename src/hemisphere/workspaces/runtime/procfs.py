"""What /proc says about a process: is it still the one we started, which session is it in,
which TCP ports does its network namespace listen on, which devpts its mount namespace has.

Only files the kernel generates are read here (stat, net/tcp, mountinfo), never a path that
resolves through a sandbox's file system (`/proc/PID/root`, `/proc/PID/cwd`): those are the
tenant's to point at the host (issue 10).

A pid alone is not an identity: after the platform is killed and restarted, or after a sandbox
dies, its pid may belong to an unrelated process. A pid plus its start time (field 22 of
/proc/PID/stat, in clock ticks since boot) is, so the runtime records both at spawn.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    session: int
    start_ticks: int

    @property
    def alive(self) -> bool:
        """Zombies (Z) and dead tasks (X) are gone for our purposes."""
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """Parse /proc/PID/stat; None if there is no such process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_stat(text)


def parse_stat(text: str) -> ProcStat:
    # The command name (field 2) is in parentheses and may itself contain spaces and ')'.
    pid_part, _, rest = text.rpartition(")")
    fields = rest.split()
    # fields[0] is field 3 (state); field N is fields[N - 3].
    return ProcStat(
        pid=int(pid_part.split("(", 1)[0]),
        state=fields[0],
        session=int(fields[6 - 3]),
        start_ticks=int(fields[22 - 3]),
    )


def is_same_process(pid: int, start_ticks: int) -> bool:
    """True if `pid` is alive and is the process that was started at `start_ticks`."""
    st = read_stat(pid)
    return st is not None and st.alive and st.start_ticks == start_ticks


def listening_tcp_ports(pid: int) -> list[int]:
    """TCP ports in LISTEN state in the network namespace of `pid` (IPv4 and IPv6)."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            text = (PROC / str(pid) / "net" / name).read_text()
        except FileNotFoundError:
            continue
        ports.update(parse_listening_ports(text))
    return sorted(ports)


def parse_listening_ports(text: str) -> set[int]:
    """Local ports of the LISTEN rows of a /proc/net/tcp or tcp6 table."""
    ports: set[int] = set()
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) > 3 and cols[3] == _TCP_LISTEN:
            ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def devpts_device(pid: int) -> int | None:
    """st_dev of the devpts instance mounted at /dev/pts in the mount namespace of `pid` (as
    that process sees it), from the kernel's /proc/PID/mountinfo; None if there is none or no
    such process."""
    try:
        text = (PROC / str(pid) / "mountinfo").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_devpts_device(text)


def parse_devpts_device(text: str) -> int | None:
    """The devpts mounted at /dev/pts in a mountinfo table (the last one mounted there wins, as
    in path lookup)."""
    found = None
    for line in text.splitlines():
        fields, sep, tail = line.partition(" - ")
        cols = fields.split()
        if not sep or len(cols) < 5 or cols[4] != "/dev/pts":
            continue
        if tail.split()[:1] == ["devpts"]:
            major, minor = cols[2].split(":")
            found = os.makedev(int(major), int(minor))
        else:
            found = None  # something else mounted over it
    return found
