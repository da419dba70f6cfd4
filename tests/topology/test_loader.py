"""The loader: every problem at once, each with file, line, field path, message and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hemisphere.topology import SCENARIO_NAMES, SpecError, load_spec, parse_spec
from hemisphere.topology.starters import starter_spec
from tests.topology.conftest import EXAMPLES

BROKEN = """\
version: 1.67
scenario: federated-individual-db
name: northwind
central:
  name: hq
  domain: console.northwind.example
  kubernetes: {kubeconfig: hq.yaml}
  database: {type: cloudnativepg}
datacenters:
  - id: 1
    name: fra
    city: Frankfurt
    country_code: NO
    domain: dev.fra.example
    kubernetes: {kubeconfig: fra.yaml}
    network: {node_cidr: 10.1.0.1/18, pod_cidr: 10.1.64.0/18, service_cidr: 10.1.128.0/18}
    storage: {ceph: {mon_cout: 3}}
    database: {type: postgres}
"""


def _problems(text: str) -> dict[str, tuple[int, str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "broken.yaml")
    assert all(p.file == "broken.yaml" for p in info.value.problems)
    return {p.path: (p.line, p.message, p.fix) for p in info.value.problems}


def test_every_problem_is_reported_at_once_with_line_path_and_fix() -> None:
    found = _problems(BROKEN)
    assert set(found) == {
        "version",
        "datacenters[0].country_code",
        "datacenters[0].network.node_cidr",
        "datacenters[0].storage.ceph.mon_cout",
        "datacenters[0].database.type",
    }
    line, message, fix = found["version"]
    assert (line, "read as a number" in message, '"1.67.0"' in fix) == (1, True, True)
    line, message, fix = found["datacenters[0].country_code"]
    assert line == 13 and "booleans" in message and '"NO"' in fix
    line, message, fix = found["datacenters[0].network.node_cidr"]
    assert line == 16 and "host bits" in message and "10.1.0.0/18" in fix
    line, message, fix = found["datacenters[0].storage.ceph.mon_cout"]
    assert line == 17 and message == "unknown field" and "did you mean `mon_count`" in fix
    line, message, fix = found["datacenters[0].database.type"]
    assert line == 18 and "cloudnativepg" in fix


def test_missing_field_points_at_its_parent() -> None:
    text = starter_spec("air-gapped").replace("    city: Frankfurt\n", "")
    found = _problems(text)
    line, message, fix = found["datacenters[0].city"]
    assert message == "required field is missing"
    assert fix == "add `city:` under datacenters[0]"
    assert text.splitlines()[line - 1].strip() == "- id: 1"


def test_yaml_syntax_error_has_its_line() -> None:
    found = _problems("version: '1.0.0'\nscenario: [air-gapped\nname: x\n")
    ((line, message, _),) = found.values()
    assert "not valid YAML" in message and line in (2, 3)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("- a\n- b\n", "not a mapping"),
        ("a: 1\na: 2\n", "appears twice"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "merge keys"),
        ("a: !!python/object:os.system {}\n", "unsupported tag"),
        ("a: !custom 1\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("a: \x07\n", "not allowed"),
        ("[" * 5000, "nest"),
    ],
)
def test_malformed_documents_are_clear_problems(text: str, needle: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "bad.yaml")
    assert any(needle in p.message for p in info.value.problems), info.value


def test_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    with pytest.raises(SpecError) as info:
        parse_spec("\n".join(lines) + "\n", "bomb.yaml")
    assert "too many values" in info.value.problems[0].message


def test_load_spec_reads_files_and_reports_unreadable_ones(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "missing.yaml")
    assert "cannot read" in info.value.problems[0].message
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"version: '1.0.0'\ncity: M\xfcnchen\n")
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    assert info.value.problems[0].line == 2 and "UTF-8" in info.value.problems[0].message


def test_relative_kubeconfig_paths_are_resolved_against_the_spec_file() -> None:
    spec = load_spec(EXAMPLES / "air-gapped.yaml")
    access = spec.datacenters[0].kubernetes
    assert access.kubeconfig == EXAMPLES / "kubeconfigs" / "muc.yaml"
    assert access.context == "muc-admin"


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_example_and_starter_loads(name: str) -> None:
    spec = load_spec(EXAMPLES / f"{name}.yaml")
    assert spec.scenario == name
    if spec.scenario_info.max_datacenters is None:
        assert len(spec.datacenters) >= 3
        assert len({dc.country_code for dc in spec.datacenters}) == len(spec.datacenters)
    assert parse_spec(starter_spec(name), "starter.yaml").scenario == name


def test_error_text_names_file_line_and_fix() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(BROKEN, "broken.yaml")
    text = str(info.value)
    assert text.startswith("install spec has 5 problems:")
    assert "broken.yaml:17: datacenters[0].storage.ceph.mon_cout: unknown field" in text
    assert "    fix: " in text
