"""The bundle's container: one tar stream, zstd-compressed, written and read strictly.

`ArchiveWriter` writes entries in the order given (manifest first), with fixed ownership and
mtime so the same inputs give the same bytes. `ArchiveReader` reads the stream once, front to
back, without seeking, and refuses anything a bundle never contains: links, devices, directories,
sparse files, unsafe or duplicate names, data after the end-of-archive marker, and a compressed
stream that stops mid-frame. What each entry must contain is `verify.py`'s business.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, BinaryIO

import zstandard

from hemisphere.bundle.errors import BundleFormatError, TruncatedBundleError, UnsafeEntryError
from hemisphere.bundle.parts import ConcatenatedReader, PartSet, SplitWriter
from hemisphere.bundle.paths import check_member_name

CHUNK = 1024 * 1024
# A tar writer pads the end-of-archive marker up to its record size (10 KiB here); anything
# beyond this after the last entry is data a verifier did not check, so it is refused.
MAX_TAIL_BYTES = 64 * 1024
_END_MARKER = 2 * tarfile.BLOCKSIZE


class _ZstdStream:
    """Decompress a stream of zstd frames, refusing a frame that is cut off.

    Keeps the last few chunks it returned (with their stream offsets) so the reader can look at
    the bytes between the last tar entry and the point the tar parser had read up to.
    """

    def __init__(self, raw: ConcatenatedReader) -> None:
        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor().decompressobj()
        self._buffer = bytearray()
        self._raw_done = False
        self._frames = 0
        self._in_frame = False
        self.position = 0
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=4)

    def _fill(self, want: int) -> None:
        while len(self._buffer) < want and not self._raw_done:
            chunk = self._raw.read(CHUNK)
            if not chunk:
                self._raw_done = True
                if self._in_frame or self._frames == 0:
                    raise TruncatedBundleError(
                        f"the compressed stream ends in the middle of a frame after "
                        f"{self._raw.bytes_read} bytes: the bundle is truncated (a cut download "
                        "or a missing last part)"
                    )
                return
            self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        while chunk:
            try:
                self._buffer += self._decompressor.decompress(chunk)
            except zstandard.ZstdError as exc:
                raise BundleFormatError(
                    f"the compressed stream is corrupt near byte {self._raw.bytes_read}: {exc}"
                ) from exc
            self._in_frame = True
            if not self._decompressor.eof:
                return
            self._frames += 1
            self._in_frame = False
            chunk = self._decompressor.unused_data
            self._decompressor = zstandard.ZstdDecompressor().decompressobj()

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = 1 << 62
        self._fill(size)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        if out:
            self.recent.append((self.position, out))
            self.position += len(out)
        return out

    def bytes_since(self, offset: int) -> bytes:
        """Bytes handed out from stream `offset` up to `position` (must be in `recent`)."""
        pieces = [(start, data) for start, data in self.recent if start + len(data) > offset]
        if not pieces or pieces[0][0] > offset:
            if offset >= self.position:
                return b""
            raise BundleFormatError(f"internal: tail at offset {offset} is no longer buffered")
        joined = b"".join(data for _, data in pieces)
        return joined[offset - pieces[0][0] :]


@dataclass
class ArchiveEntry:
    """One regular file of the archive, readable once, in order."""

    name: str
    size: int
    index: int
    _stream: IO[bytes]

    def chunks(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        remaining = self.size
        while remaining > 0:
            try:
                data = self._stream.read(min(chunk_size, remaining))
            except tarfile.ReadError as exc:
                raise TruncatedBundleError(
                    f"the archive ends inside {self.name!r}: the bundle is truncated"
                ) from exc
            if not data:
                raise TruncatedBundleError(
                    f"the archive ends inside {self.name!r} after {self.size - remaining} of "
                    f"{self.size} bytes: the bundle is truncated"
                )
            remaining -= len(data)
            yield data


def _describe_type(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "a device file"
    if member.isfifo():
        return "a FIFO"
    if member.isdir():
        return "a directory"
    if member.issparse():
        return "a sparse file"
    return f"an entry of tar type {member.type!r}"


class ArchiveReader:
    """Iterate the regular files of a bundle archive once; `finish()` checks the end."""

    def __init__(self, parts: PartSet) -> None:
        self.parts = parts
        self._raw = parts.open()
        self._stream = _ZstdStream(self._raw)
        try:
            self._tar = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115
                fileobj=self._stream, mode="r|"
            )
        except tarfile.ReadError as exc:
            self._raw.close()
            raise BundleFormatError(
                f"{parts.base} is not a bundle (not a zstd-compressed tar archive): {exc}"
            ) from exc
        except BaseException:
            self._raw.close()
            raise
        self._seen: set[str] = set()
        self._count = 0
        self._ended = False

    @property
    def compressed_bytes_read(self) -> int:
        return self._raw.bytes_read

    def __iter__(self) -> Iterator[ArchiveEntry]:
        while True:
            try:
                member = self._tar.next()
            except tarfile.ReadError as exc:
                raise TruncatedBundleError(
                    f"the archive ends after entry #{self._count}: the bundle is truncated ({exc})"
                ) from exc
            except tarfile.TarError as exc:
                raise BundleFormatError(
                    f"corrupt tar header after entry #{self._count}: {exc}"
                ) from exc
            if member is None:
                self._ended = True
                return
            yield self._entry(member)

    def _entry(self, member: tarfile.TarInfo) -> ArchiveEntry:
        name = check_member_name(member.name)
        if not member.isreg() or member.issparse():
            raise UnsafeEntryError(
                f"archive entry {name!r} is {_describe_type(member)}; bundles contain only regular "
                "files, so this archive was not made by `hemisphere bundle build`"
            )
        if name in self._seen:
            raise UnsafeEntryError(f"archive entry {name!r} appears twice")
        self._seen.add(name)
        stream = self._tar.extractfile(member)
        assert stream is not None
        entry = ArchiveEntry(name=name, size=member.size, index=self._count, _stream=stream)
        self._count += 1
        return entry

    def finish(self) -> None:
        """Refuse anything after the end-of-archive marker, and a cut-off compressed stream."""
        if not self._ended:
            for _ in self:
                pass
        tail = self._stream.bytes_since(self._tar.offset)
        while len(tail) <= MAX_TAIL_BYTES:
            more = self._stream.read(CHUNK)
            if not more:
                break
            tail += more
        if len(tail) > MAX_TAIL_BYTES or tail.count(0) != len(tail):
            raise BundleFormatError(
                f"unexpected data at byte {self._tar.offset} of the archive, after the last "
                "readable entry: a corrupt tar header or something appended to the bundle"
            )
        if len(tail) < _END_MARKER:
            raise TruncatedBundleError(
                "the archive has no end-of-archive marker: the bundle is truncated"
            )

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EntryWriter:
    """Receives the bytes of one entry; `close` refuses a count different from the header's."""

    def __init__(self, archive: ArchiveWriter, name: str, size: int) -> None:
        self._archive = archive
        self.name = name
        self.size = size
        self.written = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.size:
            raise BundleFormatError(f"{self.name}: more than the {self.size} bytes declared")
        self.sha256.update(data)
        self._archive._emit(data)
        self.written += len(data)

    def close(self) -> str:
        if self.written != self.size:
            raise BundleFormatError(
                f"{self.name}: {self.written} bytes written, {self.size} declared"
            )
        self._archive._pad()
        return self.sha256.hexdigest()


class ArchiveWriter:
    """Write a bundle archive entry by entry into one file or numbered parts.

    The tar framing is written here (PAX headers from `tarfile.TarInfo.tobuf`, 512-byte padding,
    the two-block end marker) so entries can be pushed chunk by chunk from another stream.
    """

    def __init__(
        self, out: Path, *, max_part_size: int | None = None, level: int = 3, mtime: int = 0
    ) -> None:
        self._split = SplitWriter(out, max_part_size)
        compressor = zstandard.ZstdCompressor(level=level, write_checksum=True, threads=-1)
        self._zstd = compressor.stream_writer(self._split, closefd=False)  # type: ignore[arg-type]
        self._mtime = mtime
        self._offset = 0
        self._open: EntryWriter | None = None

    def _emit(self, data: bytes) -> None:
        self._zstd.write(data)
        self._offset += len(data)

    def _pad(self) -> None:
        self._open = None
        remainder = self._offset % tarfile.BLOCKSIZE
        if remainder:
            self._emit(b"\0" * (tarfile.BLOCKSIZE - remainder))

    def begin(self, name: str, size: int) -> EntryWriter:
        if self._open is not None:
            raise BundleFormatError(f"internal: {self._open.name} is still being written")
        info = tarfile.TarInfo(check_member_name(name))
        info.size = size
        info.mtime = self._mtime
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        self._emit(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        self._open = EntryWriter(self, name, size)
        return self._open

    def add_bytes(self, name: str, data: bytes) -> str:
        entry = self.begin(name, len(data))
        entry.write(data)
        return entry.close()

    def add_stream(self, name: str, size: int, source: BinaryIO) -> str:
        """Copy exactly `size` bytes from `source`; return their sha256 hex digest."""
        entry = self.begin(name, size)
        while entry.written < size:
            data = source.read(min(CHUNK, size - entry.written))
            if not data:
                raise BundleFormatError(
                    f"{name}: source ended after {entry.written} of {size} bytes"
                )
            entry.write(data)
        return entry.close()

    def commit(self) -> list[Path]:
        self._emit(b"\0" * _END_MARKER)
        record = tarfile.RECORDSIZE
        if self._offset % record:
            self._emit(b"\0" * (record - self._offset % record))
        self._zstd.flush(zstandard.FLUSH_FRAME)
        self._zstd.close()  # type: ignore[no-untyped-call]
        return self._split.commit()

    def abort(self) -> None:
        self._split.abort()
