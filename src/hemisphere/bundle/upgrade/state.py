"""The upgrade record of one installation: each site's version, known releases, the history.

Kept as JSON next to the spec (`.<spec>.upgrade-state.json`) or in a `--state` directory, and
written atomically after every step, so a crash mid-rollout leaves a file that says exactly
which sites moved. Releases remember the bundle each version came from, which is what
`rollback` re-verifies and re-deploys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from hemisphere.bundle.jsonfile import write_json_atomic
from hemisphere.bundle.upgrade.errors import UpgradeStateError


class SiteState(BaseModel):
    version: str | None = None
    pending: str | None = Field(default=None, description="version a failed step left half-done")


class ReleaseRecord(BaseModel):
    version: str
    bundle: str
    manifest_sha256: str
    signer: str | None = None


class HistoryEntry(BaseModel):
    at: str
    run: str
    action: Literal["upgrade", "rollback"]
    site: str
    from_version: str | None
    to_version: str
    result: Literal["ok", "failed"]
    detail: str = ""


class UpgradeState(BaseModel):
    sites: dict[str, SiteState] = {}
    releases: dict[str, ReleaseRecord] = {}
    history: list[HistoryEntry] = []
    rolled_back_runs: list[str] = []

    def version_of(self, site: str) -> str | None:
        state = self.sites.get(site)
        return state.version if state else None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_state_path(spec_path: Path, state_dir: Path | None) -> Path:
    if state_dir is not None:
        return state_dir / "upgrade-state.json"
    return spec_path.with_name(f".{spec_path.stem}.upgrade-state.json")


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> UpgradeState:
        if not self.path.exists():
            return UpgradeState()
        try:
            return UpgradeState.model_validate_json(self.path.read_text())
        except (OSError, ValidationError) as exc:
            raise UpgradeStateError(
                f"{self.path} is not a readable upgrade state file ({exc}); restore it from a "
                "backup or move it away to start a fresh record"
            ) from exc

    def save(self, state: UpgradeState) -> None:
        write_json_atomic(self.path, state.model_dump(mode="json"))
