"""Specs for the topology tests: the examples as data, mutated per test and parsed back."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hemisphere.topology import InstallSpec, SpecError, parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_data(name: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def parse_data(data: dict[str, Any]) -> InstallSpec:
    return parse_spec(yaml.safe_dump(data, sort_keys=False), "spec.yaml")


def problems_of(data: dict[str, Any]) -> list[str]:
    """Every problem as 'path: message' (the spec must be rejected)."""
    with pytest.raises(SpecError) as info:
        parse_data(data)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


@pytest.fixture
def example() -> Callable[[str], dict[str, Any]]:
    return lambda name: copy.deepcopy(example_data(name))
