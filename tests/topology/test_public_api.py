"""The public surface other packages rely on stays what it is (changing it is a decision)."""

from __future__ import annotations

import inspect
from pathlib import Path

import hemisphere.installer.render as render_pkg
import hemisphere.topology as topology
from hemisphere.topology import InstallSpec, load_spec, parse_spec
from hemisphere.topology.starters import starter_spec


def test_topology_exports() -> None:
    assert set(topology.__all__) == {
        "NAMESPACE", "SCENARIOS", "SCENARIO_NAMES", "CentralSite", "CephStorage",
        "CloudNativePGDatabase", "ControlPlaneHost", "DatabaseAssignment", "Datacenter",
        "Endpoint", "ExternalDatabase", "HostedControlPlanes", "InstallSpec", "KubernetesAccess",
        "Network", "Point", "Problem", "Scenario", "ScenarioName", "Site", "SpecError",
        "TopologyError", "UnknownSiteError", "WorkerPool", "format_path", "json_schema",
        "load_spec", "parse_spec",
    }  # fmt: skip
    assert list(inspect.signature(load_spec).parameters) == ["path"]
    assert list(inspect.signature(parse_spec).parameters) == ["text", "filename"]
    for query in (
        "database_for",
        "control_plane_host_for",
        "datacenter",
        "site",
        "operator_of",
        "database_of_site",
        "hosted_control_planes_on",
    ):
        assert callable(getattr(InstallSpec, query))
    for prop in (
        "is_air_gapped",
        "shares_database",
        "hosts_control_planes",
        "sites",
        "site_names",
        "console_site",
        "console_url",
        "databases",
        "datacenter_ids",
    ):
        assert isinstance(inspect.getattr_static(InstallSpec, prop), property)


def test_render_exports() -> None:
    assert list(inspect.signature(render_pkg.render).parameters) == ["spec", "vault"]
    assert {"render", "CUSTOM_KINDS", "PHASES", "to_yaml", "write_manifests"} <= set(
        render_pkg.__all__
    )


def test_site_access_fields(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(starter_spec("central-cp-shared-db", 20))
    spec = load_spec(path)
    assert len(spec.datacenters) == 20 and len(set(spec.site_names)) == 21
    for site in spec.sites:
        assert site.kubernetes.kubeconfig.is_absolute()
        assert site.kubernetes.context is None
    dc = spec.datacenters[7]
    assert (dc.id, dc.runtime, dc.registry) == (8, "kubernetes", None)
    assert dc.name and dc.city and dc.country_code and dc.domain
    assert str(dc.network.node_cidr) == "10.8.0.0/18"
