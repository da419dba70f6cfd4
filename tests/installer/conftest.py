"""Fixtures for installer tests: the examples, loaded, and a vault made for one of them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hemisphere.installer.vault import Vault, VaultPaths, init_vault
from hemisphere.topology import SCENARIO_NAMES, InstallSpec, load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXED_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def example(name: str) -> InstallSpec:
    return load_spec(EXAMPLES / f"{name}.yaml")


@pytest.fixture(params=SCENARIO_NAMES)
def scenario_spec(request: pytest.FixtureRequest) -> InstallSpec:
    return example(str(request.param))


@pytest.fixture
def vault_paths(tmp_path: Path) -> VaultPaths:
    return VaultPaths.beside(tmp_path / "northwind.yaml")


@pytest.fixture
def federated_vault(vault_paths: VaultPaths) -> tuple[InstallSpec, Vault]:
    spec = example("federated-individual-db")
    vault, _ = init_vault(spec, vault_paths, now=FIXED_TIME)
    return spec, vault
