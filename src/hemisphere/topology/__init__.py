"""The install spec: the five installation topologies of the seed as validated data.

Load a spec with `load_spec(path)` (or `parse_spec(text, filename)`); both raise `SpecError`
listing every problem with its file, line, field path, what is wrong and how to fix it. Ask the
resulting `InstallSpec` questions (`database_for`, `control_plane_host_for`, `is_air_gapped`,
`console_site`, ...) instead of comparing scenario names: only this package knows what a
scenario means.
"""

from hemisphere.topology.errors import Problem, SpecError, TopologyError, UnknownSiteError
from hemisphere.topology.loader import format_path, load_spec, parse_spec
from hemisphere.topology.scenarios import SCENARIO_NAMES, SCENARIOS, Point, Scenario, ScenarioName
from hemisphere.topology.schema import json_schema
from hemisphere.topology.sites import (
    CentralSite,
    CephStorage,
    CloudNativePGDatabase,
    Datacenter,
    ExternalDatabase,
    HostedControlPlanes,
    KubernetesAccess,
    Network,
    Site,
    WorkerPool,
)
from hemisphere.topology.spec import (
    NAMESPACE,
    ControlPlaneHost,
    DatabaseAssignment,
    Endpoint,
    InstallSpec,
)

__all__ = [
    "NAMESPACE",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "CentralSite",
    "CephStorage",
    "CloudNativePGDatabase",
    "ControlPlaneHost",
    "DatabaseAssignment",
    "Datacenter",
    "Endpoint",
    "ExternalDatabase",
    "HostedControlPlanes",
    "InstallSpec",
    "KubernetesAccess",
    "Network",
    "Point",
    "Problem",
    "Scenario",
    "ScenarioName",
    "Site",
    "SpecError",
    "TopologyError",
    "UnknownSiteError",
    "WorkerPool",
    "format_path",
    "json_schema",
    "load_spec",
    "parse_spec",
]
