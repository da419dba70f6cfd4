"""Schema migrations, run on start (`upgrade_to_head`) and reversible (`downgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from hemisphere.db.engine import private_sqlite_file, to_sync_url

_SCRIPTS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    cfg.set_main_option("sqlalchemy.url", to_sync_url(url).replace("%", "%%"))
    return cfg


def upgrade_to_head(url: str) -> None:
    private_sqlite_file(url)  # before Alembic creates it with the umask's mode
    command.upgrade(alembic_config(url), "head")


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    """Developer helper: autogenerate a new revision against the database at `url`."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
