"""`hemisphere bundle push`: verify, extract, mirror the images, rewrite the manifests.

The bundle is verified (signature and every checksum) and extracted into a private work
directory before a single byte goes to the registry; the images are pushed from there
(`push.py`), and the rendered manifests are written to `manifests_out` with every image pointed
at the mirror (`rendered.py`). Resume state lives in `state_path`, keyed by registry and
bundle, so re-running the same command after an interruption continues where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hemisphere.bundle.errors import BundleError
from hemisphere.bundle.extract import extract_bundle
from hemisphere.bundle.model import IMAGES_DIR
from hemisphere.bundle.ocilayout import ImageLayout
from hemisphere.bundle.push import DEFAULT_CHUNK, ImagePusher, PushProgress, PushReport, PushState
from hemisphere.bundle.registry import RegistryClient
from hemisphere.bundle.rendered import rewrite_rendered
from hemisphere.bundle.rewrite import ImageMap, UnresolvedImage
from hemisphere.bundle.verify import Progress, VerifiedBundle


@dataclass(frozen=True)
class MirrorTarget:
    """`host[:port][/prefix]`: the registry and the path below which images are pushed."""

    host: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> MirrorTarget:
        text = text.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        host, _, prefix = text.partition("/")
        if not host or " " in text:
            raise BundleError(f"--registry {text!r}: expected HOST[:PORT][/PATH]")
        return cls(host=host, prefix=prefix)

    def __str__(self) -> str:
        return f"{self.host}/{self.prefix}" if self.prefix else self.host


@dataclass
class MirrorOptions:
    target: MirrorTarget
    insecure: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    manifests_out: Path | None = None
    state_dir: Path | None = None
    chunk_size: int = DEFAULT_CHUNK
    limit_rate: int | None = None
    work_dir: Path | None = None


@dataclass
class MirrorResult:
    verified: VerifiedBundle
    report: PushReport
    manifests: list[Path] = field(default_factory=list)
    unresolved: list[UnresolvedImage] = field(default_factory=list)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hemisphere" / "push"


def state_file(state_dir: Path, target: MirrorTarget, manifest_sha256: str) -> Path:
    key = hashlib.sha256(f"{target}\n{manifest_sha256}".encode()).hexdigest()[:24]
    return state_dir / f"{key}.json"


def mirror_bundle(
    path: Path,
    trusted: list[Ed25519PublicKey],
    options: MirrorOptions,
    *,
    verify_progress: Progress | None = None,
    push_progress: PushProgress | None = None,
    step: Callable[[str], None] | None = None,
) -> MirrorResult:
    say = step or (lambda _text: None)
    scratch = Path(tempfile.mkdtemp(prefix="hemisphere-push-", dir=options.work_dir))
    client = RegistryClient(
        options.target.host,
        insecure=options.insecure,
        ca_file=options.ca_file,
        username=options.username,
        password=options.password,
    )
    try:
        client.ping()  # before spending minutes on verification
        say("verifying and extracting")
        root = scratch / "bundle"
        verified = extract_bundle(path, root, trusted, progress=verify_progress)
        state = PushState(
            state_file(
                options.state_dir or default_state_dir(),
                options.target,
                verified.head.manifest_sha256,
            )
        )
        say(f"pushing {len(verified.manifest.images)} image(s) to {options.target}")
        with client:
            pusher = ImagePusher(
                ImageLayout.open(root / IMAGES_DIR)
                if verified.manifest.images
                else ImageLayout(root),
                client,
                state=state,
                progress=push_progress,
                chunk_size=options.chunk_size,
                limit_rate=options.limit_rate,
                prefix=options.target.prefix,
            )
            report = pusher.push(list(verified.manifest.images))
        result = MirrorResult(verified=verified, report=report)
        if options.manifests_out is not None:
            say(f"rewriting manifests into {options.manifests_out}")
            images = ImageMap(list(verified.manifest.images), str(options.target))
            rewritten = rewrite_rendered(root, options.manifests_out, images)
            result.manifests = rewritten.files
            result.unresolved = rewritten.unresolved
        return result
    finally:
        client.close()
        shutil.rmtree(scratch, ignore_errors=True)
