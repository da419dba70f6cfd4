"""The questions other code asks the spec, answered for each scenario's example."""

from __future__ import annotations

import pytest

from hemisphere.topology import (
    SCENARIO_NAMES,
    TopologyError,
    UnknownSiteError,
    json_schema,
    load_spec,
)
from tests.topology.conftest import EXAMPLES


def _load(name: str):  # type: ignore[no-untyped-def]
    return load_spec(EXAMPLES / f"{name}.yaml")


def test_air_gapped_runs_everything_in_its_one_cluster() -> None:
    spec = _load("air-gapped")
    assert spec.is_air_gapped and spec.central is None
    assert spec.console_site == "muc" and spec.console_host == "console.dev.muc.northwind.internal"
    db = spec.database_for(1)
    assert (db.key, db.site, db.shared, db.users) == ("shared", "muc", True, ("muc",))
    assert db.endpoint_for("muc").host == "hemisphere-db-rw.codesphere.svc"
    cp = spec.control_plane_host_for(1)
    assert (cp.site, cp.hosted, cp.operator) == ("muc", False, "customer")
    assert spec.databases == (spec.console_database,)


def test_federated_shared_db_uses_the_trusted_zone_database_everywhere() -> None:
    spec = _load("federated-shared-db")
    assert not spec.is_air_gapped and spec.shares_database and not spec.hosts_control_planes
    dbs = {spec.database_for(i).key for i in spec.datacenter_ids}
    assert dbs == {"shared"} and spec.console_database.key == "shared"
    db = spec.database_for(2)
    assert db.site is None and not db.in_cluster
    assert db.endpoint_for("par").host == "pg.trusted.northwind.example"
    assert db.users == ("hq", "fra", "par", "vie")
    assert spec.operator_of("hq") == "customer"


def test_federated_individual_db_gives_each_dc_its_own() -> None:
    spec = _load("federated-individual-db")
    keys = [spec.database_for(i).key for i in spec.datacenter_ids]
    assert keys == ["dc-1", "dc-2", "dc-3"]
    assert spec.console_database.key == "console" and spec.console_database.site == "hq"
    assert spec.database_for(2).endpoint_for("zrh").host == "10.2.10.5"
    assert spec.database_for(2).dbname == "codesphere_zrh"
    assert [d.key for d in spec.databases] == ["console", "dc-1", "dc-2", "dc-3"]
    assert spec.database_of_site("osl").key == "dc-3"
    assert spec.database_of_site("hq").key == "console"


def test_central_cp_shared_db_hosts_control_planes_and_database_centrally() -> None:
    spec = _load("central-cp-shared-db")
    cp = spec.control_plane_host_for(3)
    assert (cp.site, cp.hosted, cp.provider, cp.operator) == ("cloud", True, "k0smotron", "vendor")
    db = spec.database_for(1)
    assert db.site == "cloud" and db.shared
    assert db.endpoint_for("ber").host == "db.northwind.hemisphere-cloud.example"
    assert db.endpoint_for("cloud").host == "hemisphere-db-rw.codesphere.svc"
    assert db.crosses_wan_for("ber") and not db.crosses_wan_for("cloud")
    assert [dc.name for dc in spec.hosted_control_planes_on("cloud")] == ["ber", "mil", "dub"]
    assert spec.hosted_control_planes_on("ber") == ()


def test_central_cp_individual_db_keeps_metadata_in_each_dc() -> None:
    spec = _load("central-cp-individual-db")
    assert spec.control_plane_host_for(2).provider == "kamaji"
    assert spec.database_for(2).site == "lis" and not spec.database_for(2).shared
    assert spec.operator_of("cloud") == "vendor" and spec.operator_of("lis") == "customer"


def test_unknown_ids_and_sites_raise_a_lookup_error() -> None:
    spec = _load("federated-shared-db")
    with pytest.raises(UnknownSiteError, match="ids are 1, 2, 3"):
        spec.datacenter(9)
    with pytest.raises(LookupError):
        spec.site("nowhere")
    assert isinstance(UnknownSiteError("x"), TopologyError)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_sites_list_central_first_then_dcs(name: str) -> None:
    spec = _load(name)
    assert spec.site_names[0] == (spec.central.name if spec.central else spec.datacenters[0].name)
    assert len(spec.sites) == len(spec.datacenters) + (1 if spec.central else 0)


def test_json_schema_describes_the_spec() -> None:
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"version", "scenario", "name", "datacenters"}
    assert schema["properties"]["scenario"]["enum"] == list(SCENARIO_NAMES)
    dc = schema["$defs"]["Datacenter"]
    assert {"id", "name", "city", "country_code", "domain", "kubernetes", "network"} <= set(
        dc["required"]
    )
    assert dc["additionalProperties"] is False


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_examples_satisfy_the_json_schema(name: str) -> None:
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(json_schema())
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    assert [e.message for e in validator.iter_errors(data)] == []
    data["datacenters"][0]["citty"] = "typo"
    assert any("citty" in e.message for e in validator.iter_errors(data))
