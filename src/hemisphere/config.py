"""Process settings: flags override environment variables (HEMISPHERE_*) override defaults.

The embedded default (`hemisphere up`) keeps everything under one data directory: the SQLite
database, the secret key, workspace storage and the first admin's credentials file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


def _env(name: str, default: str) -> str:
    return os.environ.get(f"HEMISPHERE_{name}", default)


@dataclass(frozen=True)
class Settings:
    # /var/lib/hemisphere: workspace users must be able to traverse every parent of their homes,
    # which a checkout under /root (0700) would not allow.
    data_dir: Path = field(
        default_factory=lambda: Path(_env("DATA_DIR", "/var/lib/hemisphere")).resolve()
    )
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "8080")))
    datacenter_id: int = field(default_factory=lambda: int(_env("DATACENTER_ID", "1")))
    runtime: str = field(default_factory=lambda: _env("RUNTIME", "local"))
    # Host name suffix for preview URLs: {port}-{workspace}.{preview_domain}
    preview_domain: str = field(default_factory=lambda: _env("PREVIEW_DOMAIN", "localhost:8080"))
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", "http://localhost:8080"))
    max_body_bytes: int = field(default_factory=lambda: int(_env("MAX_BODY_BYTES", str(1 << 20))))
    reconcile_interval_s: float = field(
        default_factory=lambda: float(_env("RECONCILE_INTERVAL", "5"))
    )
    usage_interval_s: float = field(default_factory=lambda: float(_env("USAGE_INTERVAL", "60")))
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    exec_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'hemisphere.db'}")

    def with_(self, **changes: Any) -> Settings:
        changes = {k: v for k, v in changes.items() if v is not None}
        if (
            "data_dir" in changes
            and "database_url" not in changes
            and not os.environ.get("HEMISPHERE_DATABASE_URL")
        ):
            changes["database_url"] = ""
        return replace(self, **changes)

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "workspaces"

    @property
    def first_admin_file(self) -> Path:
        return self.data_dir / "first-admin.txt"
