"""First-start seeding: the data-center registry entry, the plan and image catalog, and the first
administrator. Every step is idempotent, so it runs on every start."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.config import Settings
from hemisphere.db.models import BaseImage, Datacenter, Plan, User
from hemisphere.identity import service as ids
from hemisphere.identity.secrets import new_password

# id 8 is the Codesphere CLI's default plan, so `cs create workspace` works unchanged.
DEFAULT_PLANS = (
    Plan(id=7, title="Small", cpu=0.5, ram_mib=512, storage_mib=2048, temp_storage_mib=1024,
         pids_max=256, price_usd=0.0, max_replicas=1),
    Plan(id=8, title="Medium", cpu=1.0, ram_mib=2048, storage_mib=10240, temp_storage_mib=2048,
         pids_max=512, price_usd=0.0, max_replicas=1),
    Plan(id=9, title="Large", cpu=2.0, ram_mib=4096, storage_mib=20480, temp_storage_mib=4096,
         pids_max=1024, price_usd=0.0, max_replicas=1),
)  # fmt: skip
DEFAULT_IMAGES = (
    ("ubuntu-24.04", "Ubuntu 24.04", datetime(2029, 5, 31, tzinfo=UTC)),
    ("debian-12", "Debian 12", datetime(2028, 6, 30, tzinfo=UTC)),
)
FIRST_ADMIN_EMAIL = "admin@hemisphere.local"


@dataclass(frozen=True)
class FirstAdmin:
    email: str
    password: str
    token: str


async def ensure_datacenter(
    s: AsyncSession, dc_id: int, name: str, city: str, country_code: str, domain: str
) -> None:
    dc = await s.get(Datacenter, dc_id)
    if dc is None:
        s.add(Datacenter(id=dc_id, name=name, city=city, country_code=country_code, domain=domain))
    else:
        dc.name, dc.city, dc.country_code, dc.domain = name, city, country_code, domain
    await s.flush()


async def register_datacenters(
    s: AsyncSession, settings: Settings, *, only: int | None = None
) -> None:
    """The DCs of the install spec (HEMISPHERE_DATACENTERS), or this machine's one DC."""
    if settings.datacenters:
        for dc in settings.datacenters:
            if only is None or dc.id == only:
                domain = urlsplit(dc.url).hostname or dc.url or settings.preview_domain
                await ensure_datacenter(s, dc.id, dc.name, dc.city, dc.country_code, domain)
        return
    dc_id = settings.datacenter_id
    name = "local" if dc_id == 1 else f"dc-{dc_id}"
    await ensure_datacenter(s, dc_id, name, "Localhost", "DE", settings.preview_domain)


async def ensure_catalog(s: AsyncSession) -> None:
    for plan in DEFAULT_PLANS:
        if await s.get(Plan, plan.id) is None:
            s.add(
                Plan(
                    id=plan.id,
                    title=plan.title,
                    cpu=plan.cpu,
                    ram_mib=plan.ram_mib,
                    storage_mib=plan.storage_mib,
                    temp_storage_mib=plan.temp_storage_mib,
                    pids_max=plan.pids_max,
                    price_usd=plan.price_usd,
                    max_replicas=plan.max_replicas,
                )
            )
    for image_id, name, until in DEFAULT_IMAGES:
        if await s.get(BaseImage, image_id) is None:
            s.add(BaseImage(id=image_id, name=name, supported_until=until))
    await s.flush()


async def ensure_first_admin(
    s: AsyncSession, credentials_file: Path, *, password: str | None = None
) -> FirstAdmin | None:
    """Create the first cluster admin when there are no users at all.

    Its password and a personal API token are written to `credentials_file` (mode 0600), like
    Jenkins' initialAdminPassword, so that a restart can print them again until the admin
    deletes the file. Returns the credentials (new or from the file), or None.
    """
    if await s.scalar(select(func.count()).select_from(User)):
        return read_first_admin(credentials_file)
    password = password or new_password()
    user = await ids.create_user(
        s, FIRST_ADMIN_EMAIL, "Administrator", password, is_cluster_admin=True
    )
    _, token = await ids.issue_token(s, user, "first-admin")
    admin = FirstAdmin(FIRST_ADMIN_EMAIL, password, token)
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = credentials_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(format_first_admin(admin) + "\n")
    os.replace(tmp, credentials_file)
    return admin


def format_first_admin(a: FirstAdmin) -> str:
    return f"Admin e-mail: {a.email}\nAdmin password: {a.password}\nAPI token: {a.token}"


def read_first_admin(path: Path) -> FirstAdmin | None:
    try:
        lines = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
        return FirstAdmin(lines["Admin e-mail"], lines["Admin password"], lines["API token"])
    except (OSError, KeyError):
        return None
