"""Bundles split into numbered parts for removable media (`--max-part-size`).

A split bundle `B` is the files `B.part001`, `B.part002`, ...: the compressed stream cut at
byte boundaries, nothing added. Readers accept `B` or any of its part names and read the parts
as one stream; the signed manifest inside catches a swapped, reordered or corrupted part, and
`PartSet.discover` names a missing one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from hemisphere.bundle.errors import BundleFormatError, TruncatedBundleError

_PART_SUFFIX = re.compile(r"^(?P<base>.+)\.part(?P<n>\d{3,})$")


def part_name(base: Path, number: int) -> Path:
    return base.with_name(f"{base.name}.part{number:03d}")


@dataclass(frozen=True)
class PartSet:
    """The files that together hold one bundle, in order."""

    base: Path
    files: tuple[Path, ...]

    @property
    def total_size(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    @property
    def is_split(self) -> bool:
        return self.files != (self.base,)

    @classmethod
    def discover(cls, path: Path) -> PartSet:
        """Find the bundle at `path`: a single file, or `path.partNNN` files, or one part."""
        match = _PART_SUFFIX.match(path.name)
        base = path.with_name(match.group("base")) if match else path
        if not match and path.is_file():
            return cls(base=path, files=(path,))
        parts = sorted(
            (int(m.group("n")), candidate)
            for candidate in base.parent.glob(f"{base.name}.part*")
            if (m := _PART_SUFFIX.match(candidate.name)) and m.group("base") == base.name
        )
        if not parts:
            raise BundleFormatError(
                f"{path}: no such bundle (looked for {base} and {base}.part001, ...)"
            )
        numbers = [n for n, _ in parts]
        expected = list(range(1, len(parts) + 1))
        if numbers != expected:
            missing = sorted(set(range(1, max(numbers) + 1)) - set(numbers))
            raise TruncatedBundleError(
                f"{base}: part(s) {', '.join(f'{n:03d}' for n in missing)} missing "
                f"(found {', '.join(p.name for _, p in parts)}); copy every part next to the others"
            )
        return cls(base=base, files=tuple(p for _, p in parts))

    def open(self) -> ConcatenatedReader:
        return ConcatenatedReader(self.files)


class ConcatenatedReader:
    """A read-only binary stream over several files, one after the other."""

    def __init__(self, files: tuple[Path, ...]) -> None:
        self._files = iter(files)
        self._current: BinaryIO | None = None
        self.bytes_read = 0
        self._advance()

    def _advance(self) -> None:
        if self._current is not None:
            self._current.close()
        nxt = next(self._files, None)
        self._current = nxt.open("rb") if nxt is not None else None

    def read(self, size: int = -1) -> bytes:
        chunks: list[bytes] = []
        want = size
        while self._current is not None and (want < 0 or want > 0):
            data = self._current.read(want if want > 0 else -1)
            if not data:
                self._advance()
                continue
            chunks.append(data)
            if want > 0:
                want -= len(data)
        out = b"".join(chunks)
        self.bytes_read += len(out)
        return out

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        while self._current is not None:
            self._advance()

    def __enter__(self) -> ConcatenatedReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SplitWriter:
    """Write one stream into `base` (no limit) or `base.part001...` (each at most `max_part_size`).

    Parts are written under temporary names and renamed into place by `commit`, so a crash never
    leaves something that looks like a complete bundle.
    """

    def __init__(self, base: Path, max_part_size: int | None) -> None:
        if max_part_size is not None and max_part_size < 1024:
            raise BundleFormatError(f"--max-part-size {max_part_size} is too small (minimum 1 KiB)")
        self._base = base
        self._max = max_part_size
        self._finished: list[tuple[Path, Path]] = []
        self._file: BinaryIO | None = None
        self._written_in_part = 0
        self.total = 0
        self._open_next()

    def _final_name(self, number: int) -> Path:
        return self._base if self._max is None else part_name(self._base, number)

    def _open_next(self) -> None:
        number = len(self._finished) + 1
        final = self._final_name(number)
        temp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        self._file = temp.open("wb")
        self._finished.append((temp, final))
        self._written_in_part = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        while view:
            assert self._file is not None
            room = len(view) if self._max is None else self._max - self._written_in_part
            if room == 0:
                self._file.close()
                self._open_next()
                continue
            written = self._file.write(view[:room])
            self._written_in_part += written
            self.total += written
            view = view[written:]
        return len(data)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def commit(self) -> list[Path]:
        """Close, fsync and rename the parts into place; remove stale parts of an older build."""
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        for stale in self._stale_outputs():
            stale.unlink()
        for temp, final in self._finished:
            temp.replace(final)
        return [final for _, final in self._finished]

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        for temp, _ in self._finished:
            temp.unlink(missing_ok=True)

    def _stale_outputs(self) -> Iterator[Path]:
        keep = {final for _, final in self._finished}
        if self._base.exists() and self._base not in keep:
            yield self._base
        for candidate in self._base.parent.glob(f"{self._base.name}.part*"):
            if _PART_SUFFIX.match(candidate.name) and candidate not in keep:
                yield candidate
