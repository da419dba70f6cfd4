"""`hemisphere lab`: every site of an install spec as real processes on one machine.

Each site runs in its own network namespace; the only way between sites is a WAN link through
toxiproxy (latency, jitter, bandwidth, cut); each database the spec names is a PostgreSQL in its
site; each role the installer renders for a site is a `hemisphere serve …` process there. The
fault suite (tests/lab/) starts its sites through exactly this code.

    plan.py       spec → sites, addresses, databases, links (pure)
    env.py        rendered manifests → each role's argv and environment (pure)
    host.py       namespaces, veths, processes (the kernel's side)
    postgres.py   one PostgreSQL server (shared with the test suite)
    toxiproxy.py  the WAN proxy's HTTP API
    state.py      lab.json
    control.py    up, status, down
    faults.py     cut, heal, delay, kill, restart, db stop/start
"""

from hemisphere.lab.control import FirstAdmin, down, first_admin, lab_dir, open_lab, status, up
from hemisphere.lab.errors import (
    LabError,
    LabExistsError,
    LabHostError,
    LabNotFoundError,
    LabSpecError,
    UnknownTargetError,
)
from hemisphere.lab.faults import (
    Delay,
    cut,
    db_start,
    db_stop,
    delay,
    heal,
    kill,
    links_of,
    processes_of,
    restart,
)
from hemisphere.lab.plan import LabPlan, plan_lab
from hemisphere.lab.state import LabState, lab_root

__all__ = [
    "Delay",
    "FirstAdmin",
    "LabError",
    "LabExistsError",
    "LabHostError",
    "LabNotFoundError",
    "LabPlan",
    "LabSpecError",
    "LabState",
    "UnknownTargetError",
    "cut",
    "db_start",
    "db_stop",
    "delay",
    "down",
    "first_admin",
    "heal",
    "kill",
    "lab_dir",
    "lab_root",
    "links_of",
    "open_lab",
    "plan_lab",
    "processes_of",
    "restart",
    "status",
    "up",
]
