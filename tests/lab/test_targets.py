"""Fault targets: SITE, SITE-SITE and SITE:ROLE resolve to links and processes, and a wrong name
is refused with the valid ones listed. `lab down` of a lab that does not exist is a no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from hemisphere import lab
from hemisphere.lab.state import LabState, ProcessState, ToxiproxyState
from hemisphere.topology import load_spec

EXAMPLES = Path(__file__).parents[2] / "examples"


def _state(tmp_path: Path) -> LabState:
    plan = lab.plan_lab(load_spec(EXAMPLES / "federated-shared-db.yaml"), "t", 7)
    state = LabState.of(plan, tmp_path, tmp_path / "spec.yaml",
                        ToxiproxyState(api="127.0.0.1:1", log=""))  # fmt: skip
    state.processes = [
        ProcessState(site=s, role=r, argv=[], env_file="", data_dir="", log="")
        for s, r in [("hq", "console"), ("fra", "dc"), ("fra", "agent")]
    ]
    return state


def test_site_and_pair_targets(tmp_path: Path) -> None:
    state = _state(tmp_path)
    assert {link.name for link in lab.links_of(state, "fra-hq")} == {
        "fra-to-hq-console", "hq-to-fra-dc", "fra-to-hq-db-shared",
    }  # fmt: skip
    assert len(lab.links_of(state, "hq")) == 9
    assert [p.role for p in lab.processes_of(state, "fra")] == ["dc", "agent"]
    assert [p.role for p in lab.processes_of(state, "fra:agent")] == ["agent"]


@pytest.mark.parametrize(
    "target, message",
    [
        ("mars", r"'mars' is neither a site.*sites: hq, fra, par, vie.*pairs: fra-hq"),
        ("fra-par", r"'fra' and 'par' have no WAN link.*linked pairs: fra-hq, hq-par, hq-vie"),
    ],
)
def test_unknown_links_are_refused_listing_the_valid_ones(
    tmp_path: Path, target: str, message: str
) -> None:
    with pytest.raises(lab.UnknownTargetError, match=message):
        lab.links_of(_state(tmp_path), target)


def test_unknown_sites_and_roles_are_refused_listing_the_valid_ones(tmp_path: Path) -> None:
    state = _state(tmp_path)
    with pytest.raises(lab.UnknownTargetError, match=r"no site 'mars'.*sites: hq, fra"):
        lab.processes_of(state, "mars:dc")
    with pytest.raises(lab.UnknownTargetError, match="no role 'console'; roles: dc, agent"):
        lab.processes_of(state, "fra:console")
    with pytest.raises(lab.UnknownTargetError, match="runs no database; sites with one: hq"):
        lab.db_stop(state, "fra")


def test_down_of_a_missing_lab_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEMISPHERE_LAB_DIR", str(tmp_path))
    said: list[str] = []
    lab.down("nothing-here", progress=said.append)
    assert said == [f"no lab 'nothing-here' at {tmp_path / 'nothing-here'}: nothing to do"]


def test_up_below_a_private_directory_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setenv("HEMISPHERE_LAB_DIR", str(private / "labs"))
    with pytest.raises(lab.LabHostError, match=rf"{private} is not searchable.*chmod o\+x"):
        lab.up(EXAMPLES / "federated-shared-db.yaml", "x")
