"""A real PostgreSQL 15 server for the test session (initdb into a temp dir, run as the
`postgres` system user because the server refuses to run as root). Each test that asks for
`postgres_url` gets a fresh database on it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from hemisphere.lab.postgres import PG_BIN, free_port
from hemisphere.lab.postgres import PostgresServer as _Server

__all__ = ["PG_BIN", "PostgresServer", "free_port", "running_postgres"]

_counter = itertools.count()


class PostgresServer(_Server):
    """The suite's server on loopback (trust auth), with a fresh database per test."""

    def create_database(self) -> str:
        name = f"t{os.getpid()}_{next(_counter)}_{int(time.time() * 1000) % 100000}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A fresh server, stopped and removed afterwards."""
    # Not under pytest's basetemp: that is 0700 root and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="hemisphere-pg-"))
    server = PostgresServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
