"""Rendering: deterministic, golden per example, valid against the Kubernetes schemas."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from hemisphere.installer.render import (
    CUSTOM_KINDS,
    MANAGED_BY,
    PHASE_ANNOTATION,
    PHASES,
    SITE_LABEL,
    Manifest,
    phase_of,
    render,
    to_yaml,
    write_manifests,
)
from hemisphere.installer.render.images import image_refs, mirrored
from hemisphere.installer.vault import Vault
from hemisphere.topology import SCENARIO_NAMES, InstallSpec, parse_spec
from tests.installer.conftest import EXAMPLES, GOLDEN, example

KUBERNETES_VERSIONS = ("1.29.0", "1.34.0")  # oldest we target; the test harness's version
_CUSTOM = {(c.api_version, c.kind): c for c in CUSTOM_KINDS}


def _all(rendered: dict[str, list[Manifest]]) -> Iterator[tuple[str, Manifest]]:
    for site, manifests in rendered.items():
        for m in manifests:
            yield site, m


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj[part]
    return obj


def test_rendering_is_byte_identical_for_the_same_input(scenario_spec: InstallSpec) -> None:
    again = parse_spec((EXAMPLES / f"{scenario_spec.scenario}.yaml").read_text(), "other.yaml")
    first = {site: to_yaml(m) for site, m in render(scenario_spec).items()}
    assert first == {site: to_yaml(m) for site, m in render(again).items()}


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_golden_manifests(name: str, tmp_path: Path) -> None:
    written = write_manifests(render(example(name)), tmp_path)
    actual = {str(p.relative_to(tmp_path)): p.read_text() for p in written}
    golden_dir = GOLDEN / name
    if os.environ.get("HEMISPHERE_UPDATE_GOLDEN") == "1":
        for rel, text in actual.items():
            (golden_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / rel).write_text(text)
    expected = {
        str(p.relative_to(golden_dir)): p.read_text() for p in sorted(golden_dir.rglob("*.yaml"))
    }
    assert sorted(actual) == sorted(expected), "set HEMISPHERE_UPDATE_GOLDEN=1 to refresh"
    for rel in expected:
        assert actual[rel] == expected[rel], f"{name}/{rel} differs from the golden file"


def test_every_object_is_labelled_and_phased_in_order(scenario_spec: InstallSpec) -> None:
    rendered = render(scenario_spec)
    assert list(rendered) == list(scenario_spec.site_names)
    for site, manifests in rendered.items():
        assert manifests[0]["kind"] == "Namespace"
        phases = [PHASES.index(phase_of(m)) for m in manifests]  # type: ignore[arg-type]
        assert phases == sorted(phases)
        for m in manifests:
            labels = m["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == MANAGED_BY
            assert labels[SITE_LABEL] == site
            assert m["metadata"]["annotations"][PHASE_ANNOTATION] in PHASES
            if m["kind"] not in ("Namespace", "StorageClass"):
                assert m["metadata"]["namespace"] == "codesphere"
        names = [(m["apiVersion"], m["kind"], m["metadata"]["name"]) for m in manifests]
        assert len(names) == len(set(names))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_validate_against_kubernetes_schemas(
    scenario_spec: InstallSpec, version: str
) -> None:
    checked = 0
    for _, m in _all(render(scenario_spec)):
        if (m["apiVersion"], m["kind"]) in _CUSTOM:
            continue
        kubernetes_validate.validate(m, version, strict=True)
        checked += 1
    assert checked > 10


def test_the_validator_rejects_a_broken_object() -> None:
    manifests = render(example("air-gapped"))["muc"]
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34.0", strict=True)


def test_custom_resources_carry_their_operators_required_fields(
    scenario_spec: InstallSpec,
) -> None:
    for _, m in _all(render(scenario_spec)):
        custom = _CUSTOM.get((m["apiVersion"], m["kind"]))
        if custom is None:
            assert "." not in m["apiVersion"].split("/")[0] or m["apiVersion"].endswith(
                ".k8s.io/v1"
            ), m["apiVersion"]
            continue
        for path in custom.required:
            assert _get(m, path) not in (None, "", [], {}), (m["kind"], path)


def test_every_site_has_what_its_scenario_puts_there(scenario_spec: InstallSpec) -> None:
    rendered = render(scenario_spec)
    spec = scenario_spec
    kinds = {site: {m["kind"] for m in ms} for site, ms in rendered.items()}
    for dc in spec.datacenters:
        assert {"CephCluster", "CephBlockPool", "StorageClass"} <= kinds[dc.name]
        deployments = {
            m["metadata"]["name"] for m in rendered[dc.name] if m["kind"] == "Deployment"
        }
        assert {"hemisphere-dc", "hemisphere-agent"} <= deployments
        db = spec.database_for(dc.id)
        assert (
            "Cluster" in kinds[dc.name]
            and any(m["apiVersion"] == "postgresql.cnpg.io/v1" for m in rendered[dc.name])
        ) == (db.site == dc.name)
    console = rendered[spec.console_site]
    assert any(
        m["metadata"]["name"] == "hemisphere-console" and m["kind"] == "Deployment" for m in console
    )
    if spec.central is not None:
        assert "CephCluster" not in kinds[spec.central.name]
    hosted = [
        m
        for _, m in _all(rendered)
        if m["kind"] in ("TenantControlPlane", "Cluster")
        and m["apiVersion"] != "postgresql.cnpg.io/v1"
    ]
    if spec.hosts_control_planes:
        assert spec.central is not None
        assert len(hosted) == len(spec.datacenters)
        assert all(m["metadata"]["labels"][SITE_LABEL] == spec.central.name for m in hosted)
    else:
        assert hosted == []


def test_dc_services_are_configured_for_their_own_database() -> None:
    spec = example("federated-individual-db")
    rendered = render(spec)
    for dc in spec.datacenters:
        config = next(
            m
            for m in rendered[dc.name]
            if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "hemisphere-dc"
        )
        data = config["data"]
        assert data["HEMISPHERE_DATACENTER_ID"] == str(dc.id)
        assert data["HEMISPHERE_DATABASE"] == f"dc-{dc.id}"
        assert data["HEMISPHERE_CONSOLE_URL"] == "https://console.northwind.example"
        assert data["HEMISPHERE_IDENTITY_MODE"] == "replica"
    zrh = {(m["kind"], m["metadata"]["name"]): m for m in rendered["zrh"]}
    assert zrh["ConfigMap", "hemisphere-dc"]["data"]["HEMISPHERE_DATABASE_URL"] == (
        "postgresql://codesphere@10.2.10.5:5432/codesphere_zrh?sslmode=verify-ca"
    )
    assert zrh["EndpointSlice", "hemisphere-db-external-1"]["endpoints"] == [
        {"addresses": ["10.2.10.5"]}
    ]


def test_shared_database_is_exposed_to_the_dcs_only() -> None:
    spec = example("central-cp-shared-db")
    rendered = render(spec)
    cloud = {(m["kind"], m["metadata"]["name"]): m for m in rendered["cloud"]}
    assert cloud["Service", "hemisphere-db-public"]["spec"]["type"] == "LoadBalancer"
    policy = cloud["NetworkPolicy", "allow-database-from-datacenters"]
    allowed = [b["ipBlock"]["cidr"] for b in policy["spec"]["ingress"][0]["from"]]
    assert allowed == ["10.1.0.0/18", "10.2.0.0/18", "10.3.0.0/18", "10.0.0.0/18"]
    ber = {(m["kind"], m["metadata"]["name"]): m for m in rendered["ber"]}
    assert ber["ConfigMap", "hemisphere-dc"]["data"]["HEMISPHERE_DATABASE_URL"].startswith(
        "postgresql://codesphere@db.northwind.hemisphere-cloud.example:5432/"
    )
    assert ber["Deployment", "hemisphere-dc"]["spec"]["template"]["spec"]["nodeSelector"] == {
        "hemisphere.dev/pool": "ber-workers"
    }
    token = cloud["JoinTokenRequest", "cp-ber-ber-workers"]
    assert token["spec"]["expiry"] == "24h"


def test_images_come_from_the_one_image_table_and_the_site_mirror(
    scenario_spec: InstallSpec,
) -> None:
    refs = image_refs(scenario_spec)
    for site, m in _all(render(scenario_spec)):
        registry = scenario_spec.site(site).registry
        allowed = {mirrored(r, registry) for r in refs.values()}
        allowed.add(mirrored("quay.io/k0sproject/k0s", registry))
        for image in re.findall(r"(?:image|imageName): (\S+)", to_yaml([m])):
            assert image in allowed, (site, image)
    if scenario_spec.is_air_gapped:
        text = "".join(to_yaml(ms) for ms in render(scenario_spec).values())
        images = re.findall(r"(?:image|imageName): (\S+)", text)
        assert images and all(i.startswith("registry.muc.northwind.internal:5000/") for i in images)


def test_without_a_vault_nothing_secret_is_rendered(
    federated_vault: tuple[InstallSpec, Vault],
) -> None:
    spec, vault = federated_vault
    text = "".join(to_yaml(ms) for ms in render(spec).values())
    assert "kind: Secret" not in text
    for name in vault.names():
        for key, value in vault.fields(name).items():
            if key != "username":
                assert value not in text
                assert base64.b64encode(value.encode()).decode() not in text


def test_with_a_vault_each_site_gets_only_its_own_secrets(
    federated_vault: tuple[InstallSpec, Vault],
) -> None:
    spec, vault = federated_vault
    rendered = render(spec, vault)

    def secrets(site: str) -> dict[str, dict[str, str]]:
        return {
            m["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in m["data"].items()}
            for m in rendered[site]
            if m["kind"] == "Secret"
        }

    hq = secrets("hq")
    assert "private-key" in hq["hemisphere-signing"]
    assert set(hq["hemisphere-agent-tokens"]) == {"dc-1", "dc-2", "dc-3"}
    assert hq["hemisphere-db"] == vault.fields("database/console")
    fra = secrets("fra")
    assert set(fra["hemisphere-signing"]) == {"public-key"}
    assert set(fra["hemisphere-ca"]) == {"ca.crt"}
    assert fra["hemisphere-agent"] == vault.fields("agent/dc-1")
    assert fra["hemisphere-db"] == vault.fields("database/dc-1")
    zrh = secrets("zrh")
    assert "hemisphere-db" not in zrh  # external database: the customer's own Secret
    fra_text = to_yaml(rendered["fra"])
    for other in ("agent/dc-2", "agent/dc-3", "database/dc-3", "database/console"):
        for key, value in vault.fields(other).items():
            if key == "username":
                continue
            assert base64.b64encode(value.encode()).decode() not in fra_text, other


def test_write_manifests_lays_out_one_file_per_site_and_phase(tmp_path: Path) -> None:
    files = write_manifests(render(example("federated-shared-db")), tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in files)
    assert "fra/1-infra.yaml" in names and "hq/3-platform.yaml" in names
    assert all(
        re.fullmatch(r"[a-z0-9]+/[123]-(infra|dependencies|platform)\.yaml", n) for n in names
    )


def test_no_code_outside_topology_branches_on_a_scenario_name() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "hemisphere"
    offenders = []
    for path in src.rglob("*.py"):
        if "topology" in path.relative_to(src).parts:
            continue
        text = path.read_text()
        offenders += [f"{path}: {n}" for n in SCENARIO_NAMES if f'"{n}"' in text]
    assert offenders == []
