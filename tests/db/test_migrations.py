"""Migrations run forward and back on both databases, and the schema matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from hemisphere.db import downgrade, to_sync_url, upgrade_to_head
from hemisphere.db.models import Base


def _tables(url: str) -> set[str]:
    engine = create_engine(to_sync_url(url))
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_creates_every_model_table_and_downgrade_removes_them(db_url: str) -> None:
    upgrade_to_head(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)
    upgrade_to_head(db_url)  # a second start is a no-op
    downgrade(db_url, "base")
    assert _tables(db_url) == set()
    upgrade_to_head(db_url)
    assert _tables(db_url) == set(Base.metadata.tables)


def test_models_and_migrations_agree(db_url: str) -> None:
    upgrade_to_head(db_url)
    engine = create_engine(to_sync_url(db_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models changed without a migration: {diff}"


def test_deleted_ids_are_never_handed_out_again(db_url: str) -> None:
    upgrade_to_head(db_url)
    engine = create_engine(to_sync_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO organizations (id, name, created_at) VALUES ('o', 'o', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO datacenters (id, name, city, country_code, domain) VALUES (1, 'd', 'c', 'DE', 'x')"
                )
            )
            insert = text(
                "INSERT INTO teams (name, organization_id, default_datacenter_id, created_at) "
                "VALUES (:n, 'o', 1, CURRENT_TIMESTAMP) RETURNING id"
            )
            first = conn.execute(insert, {"n": "a"}).scalar_one()
            conn.execute(text("DELETE FROM teams WHERE id = :i"), {"i": first})
            second = conn.execute(insert, {"n": "b"}).scalar_one()
        assert second != first
    finally:
        engine.dispose()
