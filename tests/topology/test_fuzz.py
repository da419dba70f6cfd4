"""Fuzzing the loader: no input crashes it; every rejection is a located, explained problem.

Three generators: arbitrary text, arbitrary YAML documents, and the examples with one field
replaced by an arbitrary value (which reaches the models and the rules). Whatever the loader
accepts must also render and summarise without error.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hemisphere.installer.render import render
from hemisphere.topology import SCENARIO_NAMES, InstallSpec, SpecError, parse_spec
from hemisphere.topology.plan import summarize
from tests.topology.conftest import example_data

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "10.0.0.0/8",
            "fra",
            "1.0.0",
            "cloudnativepg",
            "external",
            "DE",
            "-1",
            "k0smotron",
            "0.0.0.0/0",
            "::/0",
            "a" * 300,
            "postgresql://u@h/d",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)


def _check(text: str) -> InstallSpec | None:
    lines = len(re.split(r"\r\n|[\r\n\x85\u2028\u2029]", text))  # YAML's line breaks
    try:
        spec = parse_spec(text, "fuzz.yaml")
    except SpecError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.file == "fuzz.yaml"
            assert 1 <= p.line <= lines, (p, lines)
            assert p.message.strip() and p.fix.strip()
            assert "Traceback" not in p.message
            assert len(p.message) < 2000 and len(p.fix) < 2000
        return None
    render(spec)
    summarize(spec)
    return spec


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    _check(text)


@FUZZ
@given(values)
def test_arbitrary_yaml_documents(value: Any) -> None:
    _check(yaml.safe_dump(value))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    data = copy.deepcopy(example_data(draw(st.sampled_from(SCENARIO_NAMES))))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(data)))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict) and len(path) > 0:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(values)
        if not isinstance(parent, dict | list):
            break
    return yaml.safe_dump(data, sort_keys=False)


@FUZZ
@given(mutated_examples())
def test_examples_with_fields_replaced(text: str) -> None:
    _check(text)


def test_unmodified_examples_pass_the_same_check() -> None:
    for name in SCENARIO_NAMES:
        assert _check(yaml.safe_dump(example_data(name), sort_keys=False)) is not None


@FUZZ
@given(st.text(alphabet="[]{}:-,&*!|>'\"#%@` \n\t\rab01.<=?~", max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    _check(text)
