"""`hemisphere plan SPEC --svg FILE`: the picture is generated from the spec, deterministic
(golden files), and says what each WAN link carries."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hemisphere.topology import load_spec
from hemisphere.topology.picture import Picture, PictureSite, picture_from_spec, render_svg

EXAMPLES = Path(__file__).parents[2] / "examples"
GOLDEN = Path(__file__).parent / "golden"
# Regenerate after a deliberate change: HEMISPHERE_UPDATE_GOLDEN=1 pytest tests/topology.
UPDATE = os.environ.get("HEMISPHERE_UPDATE_GOLDEN") == "1"
SCENARIOS = (
    "air-gapped",
    "federated-shared-db",
    "federated-individual-db",
    "central-cp-shared-db",
    "central-cp-individual-db",
)


def _texts(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)  # well-formed XML
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("name", SCENARIOS)
def test_picture_matches_its_golden_file(name: str) -> None:
    svg = render_svg(picture_from_spec(load_spec(EXAMPLES / f"{name}.yaml")))
    golden = GOLDEN / f"{name}.svg"
    if UPDATE:
        golden.write_text(svg)
    assert svg == golden.read_text(), f"regenerate with HEMISPHERE_UPDATE_GOLDEN=1 ({golden})"
    assert svg == render_svg(picture_from_spec(load_spec(EXAMPLES / f"{name}.yaml")))


def test_2b_draws_a_database_per_dc_and_the_identity_feed_on_each_link() -> None:
    texts = _texts(
        render_svg(picture_from_spec(load_spec(EXAMPLES / "federated-individual-db.yaml")))
    )
    assert "PostgreSQL dc-2" in texts  # zrh's external database is inside zrh's network
    assert "customer trusted zone" not in texts
    assert texts.count("identity feed ← console") == 3
    assert texts.count("workspace routing ← console") == 3
    assert not any(t.startswith("DB connection") for t in texts)


def test_2a_draws_the_shared_database_outside_and_a_db_connection_on_each_link() -> None:
    texts = _texts(render_svg(picture_from_spec(load_spec(EXAMPLES / "federated-shared-db.yaml"))))
    assert "customer trusted zone" in texts
    assert texts.count("DB connection → shared") == 3
    assert "identity feed ← console" not in texts  # identity travels in the shared database


def test_air_gapped_has_a_boundary_and_no_wan_link() -> None:
    svg = render_svg(picture_from_spec(load_spec(EXAMPLES / "air-gapped.yaml")))
    assert "air-gapped: no link leaves this boundary" in _texts(svg)
    assert 'class="wan"' not in svg


def test_live_health_colours_and_escaping() -> None:
    picture = Picture(
        title="a <b> & c",
        subtitle="s",
        sites=(
            PictureSite("c", "console", "", True, ("x",)),
            PictureSite("d", "d1", "", False, ("y",), status="Unknown", carries=("z",)),
            PictureSite("e", "d2", "", False, ("y",), status="Cordoned", carries=("z",)),
        ),
    )
    svg = render_svg(picture)
    assert "a &lt;b&gt; &amp; c" in svg
    assert 'fill="#d97706"' in svg and 'fill="#7c3aed"' in svg  # Unknown, Cordoned
    assert {"Unknown", "Cordoned"} <= set(_texts(svg))


def test_plan_svg_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "picture.svg"
    done = subprocess.run(
        [sys.executable, "-m", "hemisphere.cli.main", "plan",
         str(EXAMPLES / "federated-individual-db.yaml"), "--svg", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (GOLDEN / "federated-individual-db.svg").read_text()
