"""Benchmark: validate + render a generated 20-DC install spec, beside just loading its YAML.

`rows()` returns `(measurement, median milliseconds, baseline name, ratio to the baseline)` for:
the baseline `yaml.safe_load` of the same text; `parse_spec` (YAML walk with line numbers, the
pydantic models and the seed's rules); `render` (all manifests of all 21 sites); rendering plus
YAML serialisation; and the whole validate + render + serialise. Each figure is the median of
`REPEATS` runs in this process. `main()` prints them as a Rich table (`python -m bench render`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import yaml
from rich.console import Console
from rich.table import Table

from hemisphere.installer.render import render, to_yaml
from hemisphere.topology import ScenarioName, parse_spec
from hemisphere.topology.starters import starter_spec

DATACENTERS = 20
REPEATS = 15
SCENARIO: ScenarioName = (
    "central-cp-individual-db"  # the most objects per site: hosted CPs, a DB per DC
)


def _median_ms(action: Callable[[], object]) -> float:
    action()  # warm-up
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def rows() -> list[tuple[str, float, str, float]]:
    text = starter_spec(SCENARIO, DATACENTERS)
    spec = parse_spec(text, "bench.yaml")
    assert len(spec.datacenters) == DATACENTERS

    def serialise() -> None:
        for manifests in render(spec).values():
            to_yaml(manifests)

    def everything() -> None:
        for manifests in render(parse_spec(text, "bench.yaml")).values():
            to_yaml(manifests)

    baseline = _median_ms(lambda: yaml.safe_load(text))
    measured = [
        ("yaml.safe_load (baseline)", baseline),
        ("parse_spec: YAML + models + rules", _median_ms(lambda: parse_spec(text, "bench.yaml"))),
        ("render (21 sites)", _median_ms(lambda: render(spec))),
        ("render + YAML serialisation", _median_ms(serialise)),
        ("validate + render + serialise", _median_ms(everything)),
    ]
    return [(name, ms, "yaml.safe_load", ms / baseline) for name, ms in measured]


def main() -> None:
    text = starter_spec(SCENARIO, DATACENTERS)
    objects = sum(len(m) for m in render(parse_spec(text, "bench.yaml")).values())
    table = Table(
        title=f"{SCENARIO}, {DATACENTERS} DCs: {len(text)} bytes of YAML, {objects} objects "
        f"(median of {REPEATS})",
        title_justify="left",
    )
    table.add_column("measurement")
    table.add_column("median ms", justify="right")
    table.add_column("ratio to yaml.safe_load", justify="right")
    for name, ms, _, ratio in rows():
        table.add_row(name, f"{ms:.2f}", f"{ratio:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
