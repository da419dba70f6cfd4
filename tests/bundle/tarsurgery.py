"""Rewrite a bundle at the tar level, the way an attacker or a broken transfer would: every
helper decompresses the archive, changes entries or bytes, and compresses it again."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import zstandard

Entry = tuple[tarfile.TarInfo, bytes]


def raw_tar(bundle: Path) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(bundle.read_bytes())


def write_raw(bundle: Path, data: bytes) -> None:
    bundle.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(data))


def entries(bundle: Path) -> list[Entry]:
    out: list[Entry] = []
    with tarfile.open(fileobj=io.BytesIO(raw_tar(bundle)), mode="r:") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            out.append((member, handle.read() if handle else b""))
    return out


def pack(items: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in items:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def rewrite(bundle: Path, change: Callable[[list[Entry]], list[Entry]]) -> None:
    write_raw(bundle, pack(change(entries(bundle))))


def regular(name: str, data: bytes) -> Entry:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, b""


def flip_in_entry(bundle: Path, name: str) -> None:
    """Flip one bit in the middle of entry `name`'s content, leaving the tar framing intact."""
    raw = bytearray(raw_tar(bundle))
    with tarfile.open(fileobj=io.BytesIO(bytes(raw)), mode="r:") as tar:
        member = tar.getmember(name)
    offset = member.offset_data + member.size // 2
    raw[offset] ^= 0x01
    write_raw(bundle, bytes(raw))


def bomb_header(name: str, size: int) -> bytes:
    """A tar header claiming `size` bytes followed by only a few: the start of a size bomb."""
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.PAX_FORMAT) + b"\0" * 4096
