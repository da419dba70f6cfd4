"""`lab up`, `lab status` and `lab down`: bring every site of a spec up on this machine, report
on it, and remove all of it again.

Up, in order: a copy of the spec and its vault (`hemisphere vault init`) in the lab directory;
toxiproxy in the hub with one proxy per directed link; a namespace and veth pair per site; a
PostgreSQL per database inside its site; then the roles the installer renders for each site as
`hemisphere serve …` processes inside their site's namespace. The console goes first when it
shares its database with the DCs, so exactly one process runs the schema migrations. lab.json
is written after every step, so `lab down` removes whatever got created even if `up` failed
half-way or the CLI was killed.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hemisphere.installer.render import render_site
from hemisphere.installer.vault import VaultPaths, database_secret, init_vault, open_vault
from hemisphere.lab import host
from hemisphere.lab.env import site_roles
from hemisphere.lab.errors import LabError, LabExistsError, LabHostError
from hemisphere.lab.plan import NETWORK, plan_lab
from hemisphere.lab.postgres import PostgresServer, free_port
from hemisphere.lab.state import (
    STATE_FILE,
    DatabaseState,
    LabState,
    ProcessState,
    ToxiproxyState,
    lab_root,
    load_state,
    save_state,
)
from hemisphere.lab.toxiproxy import Toxiproxy, toxiproxy_binary
from hemisphere.topology import ExternalDatabase, InstallSpec, load_spec

__all__ = [
    "FirstAdmin",
    "Progress",
    "down",
    "first_admin",
    "lab_dir",
    "open_lab",
    "postgres_of",
    "start_process",
    "status",
    "up",
    "wait_ready",
]

Progress = Callable[[str], None]
_LAB_SECRETS = "lab-secrets.json"
# The DC stops its sandboxes on SIGTERM (uvicorn's graceful shutdown, up to 10 s, then the
# runtime's own stop); a console or agent needs a second.
_GRACE_S = {"dc": 40.0}
_DEFAULT_GRACE_S = 15.0


def _quiet(_: str) -> None:
    pass


def lab_dir(name: str) -> Path:
    return lab_root() / name


def open_lab(name: str) -> LabState:
    return load_state(lab_dir(name))


# --- up ---------------------------------------------------------------------------------


def _used_slots(root: Path) -> set[int]:
    used = set()
    if root.is_dir():
        for state_file in root.glob(f"*/{STATE_FILE}"):
            try:
                used.add(int(json.loads(state_file.read_text())["slot"]))
            except (OSError, ValueError, KeyError):
                continue
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        for word in line.split():
            if "/" in word and word[0].isdigit():
                address = ipaddress.IPv4Interface(word).ip
                if address in NETWORK:
                    used.add((int(address) - int(NETWORK.network_address)) // 256)
    return used


def _free_slot(root: Path) -> int:
    used = _used_slots(root)
    for slot in range(256):
        if slot not in used:
            return slot
    raise LabHostError(f"every address slot of {NETWORK} is in use; run `hemisphere lab down`")


def _lab_secrets(directory: Path, spec: InstallSpec) -> dict[str, dict[str, str]]:
    """Passwords of the databases the spec keeps outside every cluster (the customer's Secret
    in a real installation): generated once, kept beside the vault."""
    path = directory / _LAB_SECRETS
    known: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}
    for db in spec.databases:
        if isinstance(db.config, ExternalDatabase):
            ref = db.config.password_secret
            known.setdefault(ref.name, {}).setdefault(ref.key, secrets.token_urlsafe(24))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(known, f, indent=2)
    return known


def _db_password(spec: InstallSpec, key: str, vault_fields: Callable[[str], dict[str, str]],
                 lab_secrets: dict[str, dict[str, str]]) -> str:  # fmt: skip
    db = next(d for d in spec.databases if d.key == key)
    if isinstance(db.config, ExternalDatabase):
        ref = db.config.password_secret
        return lab_secrets[ref.name][ref.key]
    return vault_fields(database_secret(key))["password"]


def postgres_of(state: LabState, db: DatabaseState) -> PostgresServer:
    site = state.site(db.site)
    return PostgresServer(
        Path(db.root),
        port=db.port,
        listen=("127.0.0.1", site.address),
        netns=site.netns,
        password_auth=True,
    )


def _child_env(env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEMISPHERE_")}
    return {**base, **env}


def start_process(state: LabState, proc: ProcessState) -> None:
    """Start (or start again) one role; its pid and start time go into lab.json."""
    site = state.site(proc.site)
    env = json.loads(Path(proc.env_file).read_text())
    pid, ticks = host.spawn(
        host.in_netns(site.netns, proc.argv),
        env=_child_env(env),
        log=Path(proc.log),
        cwd=state.path,
    )
    proc.pid, proc.start_ticks = pid, ticks
    save_state(state)


def _readyz(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_ready(
    state: LabState, procs: list[ProcessState], timeout_s: float = 180,
    progress: Progress = _quiet,
) -> None:  # fmt: skip
    """Wait until every HTTP role answers /readyz (agents: are alive); fail naming the first
    role that exited or is still not ready, with the end of its log."""
    waiting = list(procs)
    deadline = time.monotonic() + timeout_s
    while waiting:
        for proc in list(waiting):
            if not host.alive(proc.pid, proc.start_ticks):
                raise LabError(f"{proc.site}:{proc.role} exited during start-up:\n{_tail(proc)}")
            if proc.role == "agent" or _readyz(state.site(proc.site).url):
                waiting.remove(proc)
                progress(f"{proc.site}:{proc.role} ready")
        if waiting and time.monotonic() > deadline:
            first = waiting[0]
            raise LabError(
                f"{first.site}:{first.role} is not ready after {timeout_s:.0f} s:\n{_tail(first)}"
            )
        time.sleep(0.2)


def _tail(proc: ProcessState, lines: int = 30) -> str:
    try:
        return "\n".join(Path(proc.log).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(
    spec_path: Path, name: str | None = None, *, progress: Progress = _quiet,
    timeout_s: float = 180,
) -> LabState:  # fmt: skip
    """Start every site of the spec at `spec_path`; see the module docstring."""
    spec = load_spec(spec_path)
    lab_name = name or spec.name
    directory = lab_dir(lab_name)
    if (directory / STATE_FILE).exists():
        raise LabExistsError(
            f"lab {lab_name!r} already exists ({directory / STATE_FILE}); "
            f"`hemisphere lab status --name {lab_name}` shows it, `hemisphere lab down "
            f"--name {lab_name}` removes it"
        )
    directory.mkdir(parents=True, exist_ok=True)
    _require_traversable(directory)
    # The postgres user and the workspace users traverse it (data dirs below are 0711 too).
    directory.chmod(0o711)
    spec_copy = directory / "spec.yaml"
    shutil.copyfile(spec_path, spec_copy)
    vault_paths = VaultPaths.beside(spec_copy)
    init_vault(spec, vault_paths)
    vault = open_vault(vault_paths)
    lab_secrets = _lab_secrets(directory, spec)
    progress(f"vault and spec copy in {directory}")

    plan = plan_lab(spec, lab_name, _free_slot(lab_root()))
    state = LabState.of(
        plan,
        directory,
        spec_copy,
        ToxiproxyState(api=f"127.0.0.1:{free_port()}", log=str(directory / "toxiproxy.log")),
    )
    save_state(state)
    try:
        _start_wan(state, progress)
        for site in state.sites:
            host.add_site_network(site.netns, site.veth, site.hub_address, site.address)
            progress(f"site {site.name}: namespace {site.netns}, address {site.address}")
        for db in state.databases:
            server = postgres_of(state, db)
            server.start()
            password = _db_password(spec, db.key, vault.fields, lab_secrets)
            server.ensure_database(db.dbname, db.user, password)
            progress(f"database {db.key}: PostgreSQL in {db.site} on port {db.port}")
        _create_processes(state, spec, vault, lab_secrets)
        first = [p for p in state.processes if p.role == "console"] if spec.shares_database else []
        for proc in first:
            start_process(state, proc)
        wait_ready(state, first, timeout_s, progress)
        rest = [p for p in state.processes if p not in first]
        for proc in rest:
            start_process(state, proc)
        wait_ready(state, rest, timeout_s, progress)
    except BaseException:
        save_state(state)
        raise
    return state


def _require_traversable(directory: Path) -> None:
    """PostgreSQL (as `postgres`) and workspace users open paths below the lab directory."""
    for parent in directory.parents:
        if not parent.stat().st_mode & 0o001:
            raise LabHostError(
                f"{parent} is not searchable by other users (mode "
                f"{oct(parent.stat().st_mode & 0o777)}), but PostgreSQL and the workspaces open "
                f"files below it: `chmod o+x {parent}` or set HEMISPHERE_LAB_DIR elsewhere"
            )


def _start_wan(state: LabState, progress: Progress) -> None:
    binary = toxiproxy_binary()
    api_host, api_port = state.toxiproxy.api.rsplit(":", 1)
    pid, ticks = host.spawn(
        [str(binary), "-host", api_host, "-port", api_port],
        env={**_child_env({}), "LOG_LEVEL": "warn"},
        log=Path(state.toxiproxy.log),
    )
    state.toxiproxy.pid, state.toxiproxy.start_ticks = pid, ticks
    save_state(state)
    with Toxiproxy(state.toxiproxy.api) as toxi:
        deadline = time.monotonic() + 20
        while not toxi.ready():
            if not host.alive(pid, ticks) or time.monotonic() > deadline:
                raise LabHostError(f"toxiproxy did not start; see {state.toxiproxy.log}")
            time.sleep(0.05)
        progress(f"WAN: toxiproxy on {state.toxiproxy.api}")


def _ensure_proxies(state: LabState) -> None:
    with Toxiproxy(state.toxiproxy.api) as toxi:
        for link in state.links:
            toxi.ensure_proxy(link.name, link.listen, link.upstream)


def _create_processes(
    state: LabState, spec: InstallSpec, vault: Any, lab_secrets: dict[str, dict[str, str]]
) -> None:
    # The hub ends must exist before toxiproxy can listen on them.
    _ensure_proxies(state)
    plan = plan_lab(spec, state.name, state.slot)
    for site in state.sites:
        site_dir = state.path / "sites" / site.name
        site_dir.mkdir(parents=True, exist_ok=True)
        site_dir.chmod(0o711)
        for launch in site_roles(plan, site.name, render_site(spec, site.name, vault), site_dir,
                                 lab_secrets):  # fmt: skip
            for path, content in launch.files.items():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                _write_private(path, content)
            launch.data_dir.mkdir(parents=True, exist_ok=True)
            launch.data_dir.chmod(0o711)
            env_file = site_dir / f"{launch.role}.env.json"
            _write_private(env_file, json.dumps(launch.env, indent=2, sort_keys=True))
            state.processes.append(
                ProcessState(
                    site=site.name,
                    role=launch.role,
                    argv=[sys.executable, "-m", "hemisphere.cli.main", *launch.args],
                    env_file=str(env_file),
                    data_dir=str(launch.data_dir),
                    log=str(site_dir / f"{launch.role}.log"),
                )
            )
    save_state(state)


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)


# --- status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str
    token: str


def first_admin(state: LabState) -> FirstAdmin | None:
    """The console's first admin (the file `serve console` writes into its data dir)."""
    try:
        console = state.process(state.console_site, "console")
        text = (Path(console.data_dir) / "first-admin.txt").read_text()
    except (StopIteration, OSError):
        return None
    lines = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    try:
        return FirstAdmin(lines["Admin e-mail"], lines["Admin password"], lines["API token"])
    except KeyError:
        return None


def status(state: LabState) -> dict[str, Any]:
    """Every site with its URL, processes, databases and links, and the first admin."""
    live: dict[str, dict[str, Any]] = {}
    toxi_alive = host.alive(state.toxiproxy.pid, state.toxiproxy.start_ticks)
    if toxi_alive:
        with Toxiproxy(state.toxiproxy.api) as toxi:
            try:
                live = toxi.proxies()
            except LabHostError:
                live = {}
    links = []
    for link in state.links:
        proxy = live.get(link.name)
        toxics = {t["type"]: t["attributes"] for t in (proxy or {}).get("toxics", [])}
        latency = toxics.get("latency", {})
        links.append({
            "name": link.name, "client": link.client, "server": link.server,
            "service": link.service, "listen": link.listen, "upstream": link.upstream,
            "state": "up" if proxy and proxy["enabled"] else "cut",
            "latency_ms": int(latency.get("latency", 0)),
            "jitter_ms": int(latency.get("jitter", 0)),
            "bandwidth_kbps": toxics.get("bandwidth", {}).get("rate"),
        })  # fmt: skip
    sites = []
    for site in state.sites:
        sites.append({
            "name": site.name,
            "datacenter_id": site.datacenter_id,
            "netns": site.netns,
            "address": site.address,
            "url": site.url,
            "processes": [
                {"role": p.role, "pid": p.pid, "alive": host.alive(p.pid, p.start_ticks),
                 "log": p.log}
                for p in state.processes if p.site == site.name
            ],
            "databases": [
                {"key": d.key, "port": d.port, "dbname": d.dbname,
                 "state": "up" if postgres_of(state, d).is_running() else "down"}
                for d in state.databases if d.site == site.name
            ],
        })  # fmt: skip
    admin = first_admin(state)
    return {
        "name": state.name,
        "dir": state.dir,
        "console_url": state.site(state.console_site).url,
        "toxiproxy": {"api": state.toxiproxy.api, "alive": toxi_alive},
        "sites": sites,
        "links": links,
        "admin": None if admin is None else {
            "email": admin.email, "password": admin.password, "token": admin.token,
        },
    }  # fmt: skip


# --- down -------------------------------------------------------------------------------


def down(name: str, *, keep_data: bool = False, progress: Progress = _quiet) -> None:
    """Remove everything lab `name` created; idempotent; works from lab.json alone."""
    directory = lab_dir(name)
    if not (directory / STATE_FILE).exists():
        progress(f"no lab {name!r} at {directory}: nothing to do")
        return
    state = load_state(directory)
    # Agents and consoles first, DCs last and gracefully: a DC stops its own sandboxes.
    order = {"agent": 0, "console": 1, "dc": 2}
    for proc in sorted(state.processes, key=lambda p: order.get(p.role, 9)):
        host.stop_process(proc.pid, proc.start_ticks,
                          grace_s=_GRACE_S.get(proc.role, _DEFAULT_GRACE_S))  # fmt: skip
        if proc.role == "dc":
            # Whatever a SIGKILLed DC could not stop itself.
            host.kill_dc_sandboxes(Path(proc.data_dir))
        progress(f"stopped {proc.site}:{proc.role}")
    for db in state.databases:
        postgres_of(state, db).stop("fast")
        progress(f"stopped database {db.key}")
    host.stop_process(state.toxiproxy.pid, state.toxiproxy.start_ticks, grace_s=5,
                      sig=signal.SIGTERM)  # fmt: skip
    for site in state.sites:
        host.delete_site_network(site.netns, site.veth)
        progress(f"removed namespace {site.netns}")
    leftovers = [s.netns for s in state.sites if host.netns_exists(s.netns)]
    if leftovers:
        raise LabHostError(f"could not remove namespaces {', '.join(leftovers)}; "
                           "something still runs in them (`ip netns pids NAME`)")  # fmt: skip
    if keep_data:
        (directory / STATE_FILE).rename(directory / "lab.json.down")
        progress(f"kept the data in {directory}")
    else:
        shutil.rmtree(directory)
        progress(f"removed {directory}")
