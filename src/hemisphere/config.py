"""Process settings: flags override environment variables (HEMISPHERE_*) override defaults.

The embedded default (`hemisphere up`) keeps everything under one data directory: the SQLite
database, the secret key, workspace storage and the first admin's credentials file. Installed by
`hemisphere render`/`apply`, the same settings arrive as the HEMISPHERE_* variables of the
rendered ConfigMaps and Secrets (installer/render/platform.py).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _env(name: str, default: str) -> str:
    return os.environ.get(f"HEMISPHERE_{name}", default)


def _optional_int(raw: str) -> int | None:
    return int(raw) if raw else None


def _typed(name: str, default: str, parse: Callable[[str], T], kind: str) -> Callable[[], T]:
    def read() -> T:
        raw = _env(name, default)
        try:
            return parse(raw)
        except ValueError:
            raise ConfigError(f"HEMISPHERE_{name}={raw!r} is not {kind}") from None

    return read


@dataclass(frozen=True)
class RegisteredDatacenter:
    """A data center the console registers at start (HEMISPHERE_DATACENTERS, from the spec)."""

    id: int
    name: str
    city: str
    country_code: str
    url: str = ""


def _datacenters() -> tuple[RegisteredDatacenter, ...]:
    raw = _env("DATACENTERS", "")
    if not raw:
        return ()
    try:
        items = json.loads(raw)
        return tuple(
            RegisteredDatacenter(
                id=int(d["id"]),
                name=str(d["name"]),
                city=str(d.get("city", "")),
                country_code=str(d.get("country_code", "")),
                url=str(d.get("url", "")),
            )
            for d in items
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            f"HEMISPHERE_DATACENTERS must be a JSON list of {{id, name, city, country_code}}: {exc}"
        ) from None


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _list(name: str) -> tuple[str, ...]:
    """A comma-separated HEMISPHERE_* variable as a tuple of non-empty items."""
    return tuple(item.strip() for item in _env(name, "").split(",") if item.strip())


DEFAULT_WORKSPACE_IMAGES = {
    "ubuntu-24.04": "docker.io/library/ubuntu:24.04",
    "debian-12": "docker.io/library/debian:12",
}


def _workspace_images() -> dict[str, str]:
    """Base-image id → container image (kubernetes runtime), HEMISPHERE_WORKSPACE_IMAGES as JSON."""
    raw = _env("WORKSPACE_IMAGES", "")
    if not raw:
        return dict(DEFAULT_WORKSPACE_IMAGES)
    try:
        images = json.loads(raw)
        if not isinstance(images, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in images.items()
        ):
            raise ValueError("expected an object of strings")
        return images
    except ValueError as exc:
        raise ConfigError(
            f"HEMISPHERE_WORKSPACE_IMAGES must be a JSON object base-image id → image: {exc}"
        ) from None


@dataclass(frozen=True)
class Settings:
    # /var/lib/hemisphere: workspace users must be able to traverse every parent of their homes,
    # which a checkout under /root (0700) would not allow.
    data_dir: Path = field(
        default_factory=lambda: Path(_env("DATA_DIR", "/var/lib/hemisphere")).resolve()
    )
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    # Kept apart from the URL so it can come from a Kubernetes Secret.
    database_password: str = field(default_factory=lambda: _env("DATABASE_PASSWORD", ""))
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=_typed("PORT", "8080", int, "a port number"))
    datacenter_id: int = field(
        default_factory=_typed("DATACENTER_ID", "1", int, "an integer data-center id")
    )
    runtime: str = field(default_factory=lambda: _env("RUNTIME", "local"))
    # Host name suffix for preview URLs: {port}-{workspace}-{id}.{preview_domain}
    preview_domain: str = field(
        default_factory=lambda: _env("PREVIEW_DOMAIN", _env("DOMAIN", "localhost:8080"))
    )
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", "http://localhost:8080"))
    max_body_bytes: int = field(
        default_factory=_typed("MAX_BODY_BYTES", str(1 << 20), int, "a number of bytes")
    )
    reconcile_interval_s: float = field(
        default_factory=_typed("RECONCILE_INTERVAL", "5", float, "a number of seconds")
    )
    usage_interval_s: float = field(
        default_factory=_typed("USAGE_INTERVAL", "60", float, "a number of seconds")
    )
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))
    # If set, /metrics answers only `Authorization: Bearer <this>` (401 otherwise).
    metrics_token: str = field(default_factory=lambda: _env("METRICS_TOKEN", ""))
    exec_timeout_s: float = 5.0
    # The local runtime's first workspace uid (uid = base + workspace id). Unset: derived from
    # the data directory, one of 1792 ranges of 2^20 uids (runtime/local.py, default_uid_base);
    # set it when several installations share a host, so their uid ranges never overlap.
    uid_base: int | None = field(
        default_factory=_typed("UID_BASE", "", _optional_int, "an integer uid (e.g. 1000000)")
    )
    # What one workspace may hold of the DC's shared resources (issue 10): bytes kept per
    # execute output stream, concurrent executes, concurrent preview upstream connections.
    exec_max_output_bytes: int = field(
        default_factory=_typed("EXEC_MAX_OUTPUT_BYTES", str(1 << 20), int, "a number of bytes")
    )
    exec_concurrency: int = field(
        default_factory=_typed("EXEC_CONCURRENCY", "4", int, "a number of executes")
    )
    preview_connections: int = field(
        default_factory=_typed("PREVIEW_CONNECTIONS", "32", int, "a number of connections")
    )
    preview_connect_timeout_s: float = field(
        default_factory=_typed("PREVIEW_CONNECT_TIMEOUT", "10", float, "a number of seconds")
    )
    preview_read_timeout_s: float = field(
        default_factory=_typed("PREVIEW_READ_TIMEOUT", "120", float, "a number of seconds")
    )
    # The reconciler: actions in flight at once, and how long provisioning (incl. git clone)
    # and starting may take before the workspace is marked failed.
    reconcile_concurrency: int = field(
        default_factory=_typed("RECONCILE_CONCURRENCY", "8", int, "a number of actions")
    )
    provision_deadline_s: float = field(
        default_factory=_typed("PROVISION_DEADLINE", "120", float, "a number of seconds")
    )
    provisions_per_team: int = field(
        default_factory=_typed("PROVISIONS_PER_TEAM", "2", int, "a number of provisions")
    )
    datacenters: tuple[RegisteredDatacenter, ...] = field(default_factory=_datacenters)
    # Workspace homes of the local runtime (issue 10): `image` = a loop-mounted ext4 image per
    # workspace, its size the plan's storage (enforced); `directory` = plain directories (not
    # enforced, for hosts without loop devices); `auto` = image where loop mounts work. Images
    # are not created or grown when that would leave less than DISK_RESERVE_MIB free for the
    # platform's own data.
    storage: str = field(default_factory=lambda: _env("STORAGE", "auto"))
    disk_reserve_mib: int = field(
        default_factory=_typed("DISK_RESERVE_MIB", "1024", int, "a number of MiB")
    )
    # git clones (workspaces/egress.py): also allow private ranges (10/8, 172.16/12, ...), and
    # extra CIDR ranges allowed even where the policy would refuse them (e.g. a lab network).
    git_allow_private: bool = field(
        default_factory=_typed("GIT_ALLOW_PRIVATE", "false", _bool, "true or false")
    )
    git_allow_networks: tuple[str, ...] = field(default_factory=lambda: _list("GIT_ALLOW_NETWORKS"))
    # Reverse proxies whose X-Forwarded-For is believed (CIDR list, comma-separated; issue 10):
    # nothing by default, so no client can pick its own address for the login throttle.
    trusted_proxies: tuple[str, ...] = field(default_factory=lambda: _list("TRUSTED_PROXIES"))
    # DNS servers for domain verification ("ip" or "ip:port", comma-separated); empty means the
    # system resolver's (/etc/resolv.conf).
    dns_servers: tuple[str, ...] = field(default_factory=lambda: _list("DNS_SERVERS"))
    admin_password: str = field(default_factory=lambda: _env("ADMIN_PASSWORD", ""))
    # The agent: where the console is, and the token it presents (one per DC, from the vault).
    console_url: str = field(default_factory=lambda: _env("CONSOLE_URL", ""))
    dc_url: str = field(default_factory=lambda: _env("DC_URL", ""))
    agent_token: str = field(default_factory=lambda: _env("AGENT_TOKEN", ""))
    agent_tokens_dir: str = field(default_factory=lambda: _env("AGENT_TOKENS_DIR", ""))
    # Every 2.5 s against a 10 s lease (federation/lease.py): three beats may be late or lost.
    heartbeat_interval_s: float = field(
        default_factory=_typed("HEARTBEAT_INTERVAL", "2.5", float, "a number of seconds")
    )
    # The console's federation (issue 9): how long an aggregated list waits for each DC before
    # it shows that DC's last snapshot instead, and how long a routed workspace call may take.
    snapshot_interval_s: float = field(
        default_factory=_typed("SNAPSHOT_INTERVAL", "5", float, "a number of seconds")
    )
    federation_list_deadline_s: float = field(
        default_factory=_typed("FEDERATION_LIST_DEADLINE", "1.5", float, "a number of seconds")
    )
    federation_route_timeout_s: float = field(
        default_factory=_typed("FEDERATION_ROUTE_TIMEOUT", "30", float, "a number of seconds")
    )
    # Identity across sites (issue 9). shared-database: the console's tables are this process's
    # (2A, `hemisphere up`); replica: a DC with its own database replicates identity from the
    # console's change feed (2B). The console signs feed entries and assertions with its private
    # key (PEM, from the vault; generated into the data dir when unset); a DC trusts a
    # comma-separated list of public keys, so the console's key can be rotated without downtime.
    identity_mode: str = field(default_factory=lambda: _env("IDENTITY_MODE", "shared-database"))
    signing_private_key: str = field(default_factory=lambda: _env("SIGNING_PRIVATE_KEY", ""))
    signing_public_keys: str = field(default_factory=lambda: _env("SIGNING_PUBLIC_KEY", ""))
    feed_wait_s: float = field(
        default_factory=_typed("FEED_WAIT", "25", float, "a number of seconds")
    )
    # What the installer knows about this site, read for logs and checks: the installation's
    # name and version, the spec's name of this database and of this DC, the internal CA (the
    # agent and the feed puller trust it for the console's TLS).
    installation: str = field(default_factory=lambda: _env("INSTALLATION", ""))
    installed_version: str = field(default_factory=lambda: _env("VERSION", ""))
    database_key: str = field(default_factory=lambda: _env("DATABASE", ""))
    datacenter_name: str = field(default_factory=lambda: _env("DATACENTER_NAME", ""))
    ca_dir: str = field(default_factory=lambda: _env("CA_DIR", ""))

    # The kubernetes runtime (HEMISPHERE_RUNTIME=kubernetes): in-cluster service account unless a
    # kubeconfig is given; workspaces go to WORKSPACE_NAMESPACE on STORAGE_CLASS volumes.
    kubeconfig: str = field(default_factory=lambda: _env("KUBECONFIG", ""))
    kube_context: str = field(default_factory=lambda: _env("KUBE_CONTEXT", ""))
    storage_class: str = field(default_factory=lambda: _env("STORAGE_CLASS", "ceph-block"))
    workspace_namespace: str = field(
        default_factory=lambda: _env("WORKSPACE_NAMESPACE", "codesphere-workspaces")
    )
    workspace_images: dict[str, str] = field(default_factory=_workspace_images)
    # RWX volumes for workspaces that share files (rendered when the DC's Ceph has a filesystem).
    file_storage_class: str = field(default_factory=lambda: _env("FILE_STORAGE_CLASS", ""))

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'hemisphere.db'}")
        elif self.database_password and "://" in self.database_url:
            scheme, rest = self.database_url.split("://", 1)
            userinfo, at, hostpart = rest.rpartition("@")
            if at and ":" not in userinfo:
                url = f"{scheme}://{userinfo}:{quote(self.database_password, safe='')}@{hostpart}"
                object.__setattr__(self, "database_url", url)
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(
                    f"HEMISPHERE_TRUSTED_PROXIES: {cidr!r} is not an address or CIDR range "
                    "(e.g. 10.0.0.0/8,127.0.0.1)"
                ) from None
        if self.identity_mode not in ("shared-database", "replica"):
            raise ConfigError(
                f"HEMISPHERE_IDENTITY_MODE={self.identity_mode!r}: use 'shared-database' or "
                "'replica'"
            )
        if self.storage not in ("auto", "image", "directory"):
            raise ConfigError(
                f"HEMISPHERE_STORAGE={self.storage!r}: use 'auto', 'image' or 'directory'"
            )
        if self.runtime not in ("local", "kubernetes"):
            raise ConfigError(f"HEMISPHERE_RUNTIME={self.runtime!r}: use 'local' or 'kubernetes'")

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
    def signing_key_file(self) -> Path:
        """The console's signing key when HEMISPHERE_SIGNING_PRIVATE_KEY is unset (embedded)."""
        return self.data_dir / "signing.key"

    @property
    def ca_file(self) -> Path | None:
        """The internal CA's certificate, to verify the console's TLS, when one is mounted."""
        if not self.ca_dir:
            return None
        path = Path(self.ca_dir) / "ca.crt"
        return path if path.is_file() else None

    @property
    def first_admin_file(self) -> Path:
        return self.data_dir / "first-admin.txt"
