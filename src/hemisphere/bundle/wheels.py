"""The Hemisphere distribution and its dependencies as wheels, so the platform installs offline.

At build time (where PyPI or a mirror is reachable) `pip wheel` builds Hemisphere from its
source tree and resolves every dependency into a directory; at install time, on the
air-gapped side, `pip install --no-index --find-links wheels/ hemisphere` needs nothing else.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from enum import StrEnum
from pathlib import Path

import hemisphere
from hemisphere.bundle.errors import BuildError


class WheelSet(StrEnum):
    ALL = "all"  # Hemisphere and every dependency: what an offline install needs
    SELF = "self"  # only the Hemisphere wheel (for quick test bundles)
    NONE = "none"  # no wheels (images and manifests only)


@dataclass(frozen=True)
class WheelInfo:
    path: Path
    name: str
    version: str
    license: str | None


def wheels_for() -> str:
    """Interpreter and platform the wheels were resolved for."""
    return (
        f"{platform.python_implementation().lower()}-{sys.version_info.major}."
        f"{sys.version_info.minor}-{sys.platform}-{platform.machine()}"
    )


def find_project_dir() -> Path:
    """The Hemisphere source tree this code runs from (an editable or source install)."""
    candidate = Path(hemisphere.__file__).resolve().parents[2]
    pyproject = candidate / "pyproject.toml"
    if pyproject.is_file():
        name = tomllib.loads(pyproject.read_text()).get("project", {}).get("name")
        if name == "hemisphere":
            return candidate
    raise BuildError(
        "cannot find the Hemisphere source tree to build its wheel from; pass --project DIR, "
        "or bring prebuilt wheels with --wheel-dir DIR"
    )


def collect_wheels(
    dest: Path, which: WheelSet, project_dir: Path | None, extra_dirs: list[Path]
) -> list[WheelInfo]:
    dest.mkdir(parents=True, exist_ok=True)
    for directory in extra_dirs:
        if not directory.is_dir():
            raise BuildError(f"--wheel-dir {directory} is not a directory")
        for wheel in sorted(directory.glob("*.whl")):
            shutil.copyfile(wheel, dest / wheel.name)
    if which is not WheelSet.NONE:
        source = project_dir or find_project_dir()
        with tempfile.TemporaryDirectory(prefix="hemisphere-wheel-") as scratch:
            # Build from a copy so the build's egg-info/ and build/ never land in the tree.
            copy = _copy_project(source, Path(scratch) / "src")
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest)]
            if which is WheelSet.SELF:
                command.append("--no-deps")
            command.append(str(copy))
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise BuildError(
                f"`pip wheel` failed for {source} (exit {result.returncode}):\n"
                f"{result.stderr.strip()[-2000:]}"
            )
    return [read_wheel(path) for path in sorted(dest.glob("*.whl"))]


def _copy_project(source: Path, target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    target.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in"):
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)
    if not (source / "README.md").is_file():
        (target / "README.md").write_text("Hemisphere\n")
    shutil.copytree(source / "src", target / "src", ignore=ignore)
    return target


def read_wheel(path: Path) -> WheelInfo:
    try:
        with zipfile.ZipFile(path) as archive:
            metadata_name = next(
                n
                for n in archive.namelist()
                if n.endswith(".dist-info/METADATA") and n.count("/") == 1
            )
            headers = HeaderParser().parsestr(
                archive.read(metadata_name).decode("utf-8", "replace")
            )
    except (zipfile.BadZipFile, StopIteration, KeyError) as exc:
        raise BuildError(f"{path} is not a wheel with METADATA: {exc}") from exc
    license_text = headers.get("License-Expression") or headers.get("License")
    if license_text and len(license_text) > 100:
        license_text = None  # a full license text, not an identifier
    return WheelInfo(
        path=path,
        name=str(headers.get("Name", path.name.split("-")[0])),
        version=str(headers.get("Version", "")),
        license=license_text,
    )
