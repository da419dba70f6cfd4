"""Mirror a bundle's images into a registry: skip what is there, resume what was cut off.

For every image, every blob it references is pushed before the manifests that reference it
(children before parents), then the image's manifest or index is put under its tag. A blob the
registry already has is skipped (HEAD); one already pushed to another repository in this run is
mounted; the rest is uploaded in chunks. After every chunk the upload's location and offset go
to a small JSON state file, so a killed push, re-run, asks the registry how much of that upload
it holds and continues from there. At the end each tag is read back and compared by digest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from hemisphere.bundle.errors import RegistryError
from hemisphere.bundle.jsonfile import read_json, write_json_atomic
from hemisphere.bundle.model import ImageEntry
from hemisphere.bundle.ocilayout import Descriptor, ImageLayout
from hemisphere.bundle.references import ImageReference
from hemisphere.bundle.registry import RegistryClient
from hemisphere.bundle.rewrite import mirror_path

DEFAULT_CHUNK = 8 * 1024 * 1024


class PushProgress(Protocol):
    """What a push reports as it goes (the CLI draws a Rich progress bar from it)."""

    def start(self, total_bytes: int, total_blobs: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def blob_done(self, digest: str, how: str) -> None: ...


class _Quiet:
    def start(self, total_bytes: int, total_blobs: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def blob_done(self, digest: str, how: str) -> None:
        pass


@dataclass
class PushedImage:
    source: str
    target: str
    digest: str


@dataclass
class PushReport:
    images: list[PushedImage] = field(default_factory=list)
    uploaded: int = 0
    skipped: int = 0
    mounted: int = 0
    resumed: int = 0
    restarted: int = 0
    bytes_uploaded: int = 0


class PushState:
    """Upload sessions in flight, keyed `repo@digest`, saved after every chunk."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.uploads: dict[str, dict[str, object]] = {}
        if path is not None and path.is_file():
            raw = read_json(path)
            if isinstance(raw, dict) and isinstance(raw.get("uploads"), dict):
                self.uploads = raw["uploads"]

    def save(self) -> None:
        if self.path is not None:
            write_json_atomic(self.path, {"uploads": self.uploads})

    def finish(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _RateLimit:
    def __init__(self, bytes_per_second: int | None) -> None:
        self._rate = bytes_per_second
        self._start = time.monotonic()
        self._sent = 0

    def spend(self, nbytes: int) -> None:
        if not self._rate:
            return
        self._sent += nbytes
        ahead = self._sent / self._rate - (time.monotonic() - self._start)
        if ahead > 0:
            time.sleep(ahead)


def mirror_repository(image: ImageEntry, prefix: str) -> str:
    """The image's repository in the mirror: its mirror path, below the mirror's prefix if any."""
    path = mirror_path(image)
    return f"{prefix}/{path}" if prefix else path


class ImagePusher:
    """Push images of an OCI layout to one registry."""

    def __init__(
        self,
        layout: ImageLayout,
        client: RegistryClient,
        *,
        state: PushState,
        progress: PushProgress | None = None,
        chunk_size: int = DEFAULT_CHUNK,
        limit_rate: int | None = None,
        prefix: str = "",
    ) -> None:
        self.prefix = prefix.strip("/")
        self.layout = layout
        self.client = client
        self.state = state
        self.progress = progress or _Quiet()
        self.chunk_size = chunk_size
        self._rate = _RateLimit(limit_rate)
        self._present: dict[str, str] = {}  # digest -> a repository known to hold it
        self.report = PushReport()

    def push(self, images: list[ImageEntry]) -> PushReport:
        plans: list[tuple[ImageEntry, list[Descriptor]]] = []
        for image in images:
            root = self.layout.resolve(image.digest)
            plans.append((image, list(self.layout.walk(root))))
        unique = {d.digest: d for _, descs in plans for d in descs if not d.is_manifest}
        self.progress.start(sum(d.size for d in unique.values()), len(unique))
        for image, descs in plans:
            self._push_image(image, descs)
        self.state.finish()
        return self.report

    def _push_image(self, image: ImageEntry, descs: list[Descriptor]) -> None:
        repo = mirror_repository(image, self.prefix)
        for desc in descs:
            if not desc.is_manifest:
                self._ensure_blob(repo, desc)
        for desc in descs:
            if desc.is_manifest and desc.digest != image.digest:
                body = self.layout.read_blob(desc)
                self.client.put_manifest(repo, desc.digest, body, desc.media_type)
        root = next(d for d in descs if d.digest == image.digest)
        body = self.layout.read_blob(root)
        self.client.put_manifest(repo, image.tag or image.digest, body, root.media_type)
        target = ImageReference(self.client.host, repo, image.tag, image.digest)
        stored = self.client.manifest_digest(repo, image.tag or image.digest)
        if stored != image.digest:
            raise RegistryError(
                f"{target.name}: the registry serves {stored} after the push, expected "
                f"{image.digest}"
            )
        self.report.images.append(PushedImage(image.ref, str(target), image.digest))

    def _ensure_blob(self, repo: str, desc: Descriptor) -> None:
        if self._present.get(desc.digest) == repo:
            return
        if self.client.has_blob(repo, desc.digest):
            self._present[desc.digest] = repo
            self.report.skipped += 1
            self.progress.advance(desc.size)
            self.progress.blob_done(desc.digest, "skipped")
            return
        source = self._present.get(desc.digest)
        if source is not None and self.client.mount_blob(repo, desc.digest, source):
            self._present[desc.digest] = repo
            self.report.mounted += 1
            self.progress.blob_done(desc.digest, "mounted")
            return
        how = self._upload(repo, desc)
        self._present[desc.digest] = repo
        self.progress.blob_done(desc.digest, how)

    def _upload(self, repo: str, desc: Descriptor) -> str:
        key = f"{repo}@{desc.digest}"
        location: str | None = None
        offset = 0
        saved = self.state.uploads.get(key)
        if isinstance(saved, dict) and isinstance(saved.get("location"), str):
            status = self.client.upload_status(repo, str(saved["location"]))
            if status is not None and status[1] <= desc.size:
                location, offset = status
        if saved is not None and location is None:
            self.report.restarted += 1
        how = "resumed" if location is not None and offset > 0 else "uploaded"
        try:
            return self._send(repo, desc, key, location, offset, how)
        except RegistryError as exc:
            if how != "resumed" or exc.status not in (400, 404, 416):
                raise
            # The registry would not continue that session (expired, or it counted a partly
            # received chunk differently): start the blob again.
            self.progress.advance(-offset)
            self.report.resumed -= 1
            self.report.restarted += 1
            return self._send(repo, desc, key, None, 0, "restarted")

    def _send(
        self, repo: str, desc: Descriptor, key: str, location: str | None, offset: int, how: str
    ) -> str:
        if location is None:
            location = self.client.start_upload(repo)
            self.state.uploads[key] = {"location": location, "offset": 0}
            self.state.save()
        if how == "resumed":
            self.report.resumed += 1
            self.progress.advance(offset)
        with self.layout.blob_path(desc.digest).open("rb") as blob:
            blob.seek(offset)
            while offset < desc.size:
                data = blob.read(min(self.chunk_size, desc.size - offset))
                location = self.client.upload_chunk(repo, location, data, offset)
                offset += len(data)
                self.state.uploads[key] = {"location": location, "offset": offset}
                self.state.save()
                self.report.bytes_uploaded += len(data)
                self.progress.advance(len(data))
                self._rate.spend(len(data))
        self.client.finish_upload(repo, location, desc.digest)
        del self.state.uploads[key]
        self.state.save()
        self.report.uploaded += 1
        return how
