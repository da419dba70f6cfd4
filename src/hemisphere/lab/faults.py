"""Faults a lab can inject, each idempotent and each naming what it acted on:

- `cut` / `heal` SITE or SITE-SITE: every WAN link of a site, or the links between two sites
  (both directions). A cut link refuses connections and closes open ones.
- `delay` SITE or SITE-SITE: latency ± jitter (per direction) and optionally bandwidth.
- `kill` SITE[:ROLE] (SIGKILL) and `restart` SITE[:ROLE] (graceful stop, start, wait ready).
- `db_stop` / `db_start` SITE: the PostgreSQL servers running in that site.

Unknown names raise UnknownTargetError listing the valid ones.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from hemisphere.lab import host
from hemisphere.lab.control import postgres_of, start_process, wait_ready
from hemisphere.lab.errors import UnknownTargetError
from hemisphere.lab.state import DatabaseState, LabState, LinkState, ProcessState, save_state
from hemisphere.lab.toxiproxy import Toxiproxy

__all__ = [
    "Delay",
    "cut",
    "db_start",
    "db_stop",
    "delay",
    "heal",
    "kill",
    "links_of",
    "processes_of",
    "restart",
]


def _site_names(state: LabState) -> list[str]:
    return [s.name for s in state.sites]


def links_of(state: LabState, target: str) -> list[LinkState]:
    """The links `target` names: SITE (all its links) or SITE-SITE (between the two)."""
    names = _site_names(state)
    if target in names:
        return [link for link in state.links if target in (link.client, link.server)]
    for i, ch in enumerate(target):
        if ch == "-" and target[:i] in names and target[i + 1 :] in names:
            pair = {target[:i], target[i + 1 :]}
            found = [link for link in state.links if {link.client, link.server} == pair]
            if found:
                return found
            raise UnknownTargetError(
                f"sites {target[:i]!r} and {target[i + 1 :]!r} have no WAN link between them; "
                f"linked pairs: {', '.join(_pairs(state))}"
            )
    raise UnknownTargetError(
        f"{target!r} is neither a site nor a SITE-SITE pair of lab {state.name!r}; "
        f"sites: {', '.join(names)}; linked pairs: {', '.join(_pairs(state))}"
    )


def _pairs(state: LabState) -> list[str]:
    seen = []
    for link in state.links:
        a, b = sorted((link.client, link.server))
        if f"{a}-{b}" not in seen:
            seen.append(f"{a}-{b}")
    return seen


def cut(state: LabState, target: str) -> list[str]:
    return _set_enabled(state, target, False)


def heal(state: LabState, target: str) -> list[str]:
    return _set_enabled(state, target, True)


def _set_enabled(state: LabState, target: str, enabled: bool) -> list[str]:
    links = links_of(state, target)
    with Toxiproxy(state.toxiproxy.api) as toxi:
        for link in links:
            toxi.set_enabled(link.name, enabled)
            link.cut = not enabled
    save_state(state)
    return [link.name for link in links]


@dataclass(frozen=True)
class Delay:
    latency_ms: int
    jitter_ms: int = 0
    bandwidth_kbps: int | None = None


def delay(state: LabState, target: str, d: Delay) -> list[str]:
    """Set latency/jitter/bandwidth on the links of `target`; Delay(0) removes them."""
    links = links_of(state, target)
    with Toxiproxy(state.toxiproxy.api) as toxi:
        for link in links:
            toxi.set_delay(link.name, d.latency_ms, d.jitter_ms, d.bandwidth_kbps)
            link.latency_ms, link.jitter_ms = d.latency_ms, d.jitter_ms
            link.bandwidth_kbps = d.bandwidth_kbps
    save_state(state)
    return [link.name for link in links]


def processes_of(state: LabState, target: str) -> list[ProcessState]:
    """SITE (every role there) or SITE:ROLE."""
    site, _, role = target.partition(":")
    if site not in _site_names(state):
        raise UnknownTargetError(
            f"no site {site!r} in lab {state.name!r}; sites: {', '.join(_site_names(state))}"
        )
    found = [p for p in state.processes if p.site == site and (not role or p.role == role)]
    if not found:
        roles = [p.role for p in state.processes if p.site == site]
        raise UnknownTargetError(f"site {site!r} runs no role {role!r}; roles: {', '.join(roles)}")
    return found


def kill(state: LabState, target: str) -> list[str]:
    """SIGKILL the process(es); the DC's sandboxes keep running (they are detached)."""
    procs = processes_of(state, target)
    for proc in procs:
        host.stop_process(proc.pid, proc.start_ticks, grace_s=0, sig=signal.SIGKILL)
    return [f"{p.site}:{p.role}" for p in procs]


def restart(state: LabState, target: str, timeout_s: float = 180) -> list[str]:
    """Stop gracefully if running (a DC keeps its sandboxes: `--keep-sandboxes` is not needed,
    a restarted DC adopts what runs), start again, wait until ready."""
    procs = processes_of(state, target)
    for proc in procs:
        host.stop_process(proc.pid, proc.start_ticks, grace_s=40, sig=signal.SIGTERM)
    for proc in procs:
        start_process(state, proc)
    wait_ready(state, procs, timeout_s)
    return [f"{p.site}:{p.role}" for p in procs]


def _databases_of(state: LabState, site: str) -> list[DatabaseState]:
    if site not in _site_names(state):
        raise UnknownTargetError(
            f"no site {site!r} in lab {state.name!r}; sites: {', '.join(_site_names(state))}"
        )
    found = [d for d in state.databases if d.site == site]
    if not found:
        with_db = sorted({d.site for d in state.databases})
        raise UnknownTargetError(
            f"site {site!r} runs no database; sites with one: {', '.join(with_db)}"
        )
    return found


def db_stop(state: LabState, site: str) -> list[str]:
    dbs = _databases_of(state, site)
    for db in dbs:
        postgres_of(state, db).stop("fast")
    return [db.key for db in dbs]


def db_start(state: LabState, site: str) -> list[str]:
    dbs = _databases_of(state, site)
    for db in dbs:
        server = postgres_of(state, db)
        if not server.is_running():
            server.start()
    return [db.key for db in dbs]
