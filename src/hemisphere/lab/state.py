"""`lab.json`: everything a lab created, so every later command — and `lab down` after a crash
of the `lab` CLI itself — knows what exists without asking anything but this file and the kernel.

Written atomically (0600: it names the files holding the sites' secrets) after every change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hemisphere.lab.errors import LabNotFoundError
from hemisphere.lab.plan import LabPlan

__all__ = [
    "DatabaseState",
    "LabState",
    "LinkState",
    "ProcessState",
    "SiteState",
    "ToxiproxyState",
    "lab_root",
    "load_state",
    "save_state",
]

STATE_FILE = "lab.json"


def lab_root() -> Path:
    """Where labs live: HEMISPHERE_LAB_DIR, else /var/lib/hemisphere-lab."""
    return Path(os.environ.get("HEMISPHERE_LAB_DIR", "/var/lib/hemisphere-lab")).resolve()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteState(_Model):
    name: str
    index: int
    datacenter_id: int | None
    netns: str
    veth: str
    hub_address: str
    address: str
    url: str


class DatabaseState(_Model):
    key: str
    site: str
    port: int
    dbname: str
    user: str
    users: list[str]
    root: str


class LinkState(_Model):
    name: str
    client: str
    server: str
    service: str
    listen: str
    upstream: str
    # What the lab last set; toxiproxy itself is asked for the live state.
    cut: bool = False
    latency_ms: int = 0
    jitter_ms: int = 0
    bandwidth_kbps: int | None = None


class ProcessState(_Model):
    site: str
    role: str  # console, dc, agent
    argv: list[str]
    env_file: str
    data_dir: str
    log: str
    pid: int | None = None
    start_ticks: int | None = None


class ToxiproxyState(_Model):
    api: str
    log: str
    pid: int | None = None
    start_ticks: int | None = None


class LabState(_Model):
    format: int = 1
    name: str
    dir: str
    spec_file: str
    slot: int
    console_site: str
    toxiproxy: ToxiproxyState
    sites: list[SiteState]
    databases: list[DatabaseState]
    links: list[LinkState]
    processes: list[ProcessState]

    @property
    def path(self) -> Path:
        return Path(self.dir)

    def site(self, name: str) -> SiteState:
        return next(s for s in self.sites if s.name == name)

    def process(self, site: str, role: str) -> ProcessState:
        return next(p for p in self.processes if (p.site, p.role) == (site, role))

    @classmethod
    def of(
        cls, plan: LabPlan, directory: Path, spec_file: Path, toxiproxy: ToxiproxyState
    ) -> LabState:
        return cls(
            name=plan.name,
            dir=str(directory),
            spec_file=str(spec_file),
            slot=plan.slot,
            console_site=plan.console_site,
            toxiproxy=toxiproxy,
            sites=[
                SiteState(
                    name=s.name,
                    index=s.index,
                    datacenter_id=s.datacenter_id,
                    netns=s.netns,
                    veth=s.veth,
                    hub_address=s.hub_address,
                    address=s.address,
                    url=s.url,
                )
                for s in plan.sites
            ],
            databases=[
                DatabaseState(
                    key=d.key,
                    site=d.site,
                    port=d.port,
                    dbname=d.dbname,
                    user=d.user,
                    users=list(d.users),
                    root=str(directory / "db" / d.key),
                )
                for d in plan.databases
            ],
            links=[
                LinkState(
                    name=link.name,
                    client=link.client,
                    server=link.server,
                    service=link.service,
                    listen=link.listen,
                    upstream=link.upstream,
                )
                for link in plan.links
            ],
            processes=[],
        )


def save_state(state: LabState) -> None:
    path = state.path / STATE_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(state.model_dump_json(indent=2))
    os.replace(tmp, path)


def load_state(directory: Path) -> LabState:
    path = directory / STATE_FILE
    try:
        return LabState.model_validate(json.loads(path.read_text()))
    except FileNotFoundError:
        raise LabNotFoundError(
            f"no lab at {directory} (no {STATE_FILE}); start one with `hemisphere lab up SPEC`"
        ) from None
