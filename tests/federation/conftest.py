"""A console and a replica DC per database kind (SQLite+SQLite, PostgreSQL+PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.sites import Federation, federation
from tests.services.postgres import PostgresServer


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    if request.param == "sqlite":
        urls = (f"sqlite:///{root / 'console.db'}", f"sqlite:///{root / 'dc.db'}")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        urls = (server.create_database(), server.create_database())
    yield from federation(*urls, root)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path
