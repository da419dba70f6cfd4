"""The tamper matrix: every way a bundle can be altered in transit is refused, by a message that
names the problem, and extraction leaves nothing behind (inside or outside the target)."""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hemisphere.bundle import (
    BundleError,
    BundleFormatError,
    FileKind,
    IntegrityError,
    SignatureError,
    TruncatedBundleError,
    UnsafeEntryError,
    UntrustedKeyError,
    extract_bundle,
    read_head,
    sign_bundle,
    verify_bundle,
)
from tests.bundle import tarsurgery as surgery
from tests.bundle.conftest import KeyPair, make_bundle


def _snapshot(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def assert_rejected(
    bundle: Path,
    key: KeyPair,
    error: type[BundleError],
    words: str,
    workspace: Path,
) -> str:
    """Verify and extract both refuse `bundle` with `error` mentioning `words`; nothing written."""
    with pytest.raises(error) as verified:
        verify_bundle(bundle, [key.public])
    assert words in str(verified.value), str(verified.value)
    before = _snapshot(workspace)
    target = workspace / "extracted"
    with pytest.raises(error) as extracted:
        extract_bundle(bundle, target, [key.public])
    assert words in str(extracted.value)
    assert _snapshot(workspace) == before
    assert not target.exists()
    return str(verified.value)


def _first_of(bundle: Path, kind: FileKind, pick: Callable[[str], bool] = lambda _p: True) -> str:
    files = [f for f in read_head(bundle).manifest.files if f.kind is kind and pick(f.path)]
    return max(files, key=lambda f: f.size).path


TARGETS: dict[str, Callable[[Path], str]] = {
    "oci-layout": lambda b: _first_of(b, FileKind.IMAGE, lambda p: p.endswith("oci-layout")),
    "oci-index": lambda b: _first_of(b, FileKind.IMAGE, lambda p: p.endswith("index.json")),
    "image-layer": lambda b: _first_of(b, FileKind.IMAGE, lambda p: "/blobs/" in p),
    "wheel": lambda b: _first_of(b, FileKind.WHEEL),
    "rendered-manifest": lambda b: _first_of(b, FileKind.RENDERED),
    "sbom": lambda b: _first_of(b, FileKind.SBOM),
}


def test_untampered_bundle_verifies_and_extracts(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    verified = verify_bundle(bundle_copy, [vendor_key.public])
    target = tmp_path / "out"
    extract_bundle(bundle_copy, target, [vendor_key.public])
    for entry in verified.manifest.files:
        assert (target / entry.path).stat().st_size == entry.size


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_flipped_byte_in_each_kind_of_file_is_named(
    kind: str, bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    name = TARGETS[kind](bundle_copy)
    surgery.flip_in_entry(bundle_copy, name)
    message = assert_rejected(bundle_copy, vendor_key, IntegrityError, name, tmp_path)
    assert "sha256" in message


def test_flipped_byte_in_manifest_breaks_the_signature(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    surgery.flip_in_entry(bundle_copy, "manifest.json")
    assert_rejected(bundle_copy, vendor_key, SignatureError, "manifest.json", tmp_path)


def test_flipped_byte_in_signature_is_refused(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    surgery.flip_in_entry(bundle_copy, "signature.dsse.json")
    assert_rejected(bundle_copy, vendor_key, SignatureError, "signature", tmp_path)


def test_flipped_byte_in_compressed_stream_is_refused(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    data = bytearray(bundle_copy.read_bytes())
    data[len(data) // 2] ^= 0x40
    bundle_copy.write_bytes(bytes(data))
    with pytest.raises((BundleFormatError, IntegrityError)):
        verify_bundle(bundle_copy, [vendor_key.public])
    with pytest.raises(BundleError):
        extract_bundle(bundle_copy, tmp_path / "out", [vendor_key.public])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_bundle_is_refused(
    keep: float, bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    data = bundle_copy.read_bytes()
    bundle_copy.write_bytes(data[: int(len(data) * keep)])
    assert_rejected(bundle_copy, vendor_key, TruncatedBundleError, "truncated", tmp_path)


def test_extra_file_is_refused(bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path) -> None:
    surgery.rewrite(bundle_copy, lambda es: [*es, surgery.regular("wheels/evil-1.0.whl", b"x")])
    assert_rejected(bundle_copy, vendor_key, IntegrityError, "wheels/evil-1.0.whl", tmp_path)


def test_extra_file_in_the_middle_is_refused(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    surgery.rewrite(
        bundle_copy, lambda es: [*es[:4], surgery.regular("sbom2.json", b"{}"), *es[4:]]
    )
    assert_rejected(bundle_copy, vendor_key, IntegrityError, "not listed", tmp_path)


def test_data_after_end_of_archive_is_refused(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    raw = surgery.raw_tar(bundle_copy)
    surgery.write_raw(bundle_copy, raw + surgery.pack([surgery.regular("hidden", b"payload")]))
    assert_rejected(bundle_copy, vendor_key, BundleFormatError, "unexpected data", tmp_path)


def test_removed_file_is_refused(bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path) -> None:
    surgery.rewrite(bundle_copy, lambda es: es[:-1])
    assert_rejected(bundle_copy, vendor_key, TruncatedBundleError, "sbom.cdx.json", tmp_path)


def test_reordered_entries_are_refused(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    def swap(es: list[surgery.Entry]) -> list[surgery.Entry]:
        es = list(es)
        es[3], es[4] = es[4], es[3]
        return es

    surgery.rewrite(bundle_copy, swap)
    assert_rejected(bundle_copy, vendor_key, IntegrityError, "reordered", tmp_path)


def test_signature_of_another_bundle_is_refused(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path, image_layout: Path
) -> None:
    other = make_bundle(tmp_path / "other.bundle", image_layout, vendor_key, version="9.9.9")
    theirs = dict((i.name, d) for i, d in surgery.entries(other))["signature.dsse.json"]

    def swap_signature(es: list[surgery.Entry]) -> list[surgery.Entry]:
        return [
            surgery.regular(i.name, theirs) if i.name == "signature.dsse.json" else (i, d)
            for i, d in es
        ]

    surgery.rewrite(bundle_copy, swap_signature)
    other.unlink()
    assert_rejected(bundle_copy, vendor_key, SignatureError, "signs a different manifest", tmp_path)


def test_signature_by_unknown_key_is_refused(
    tmp_path: Path, image_layout: Path, vendor_key: KeyPair, stranger_key: KeyPair
) -> None:
    forged = make_bundle(tmp_path / "b" / "forged.bundle", image_layout, stranger_key)
    message = assert_rejected(
        forged, vendor_key, UntrustedKeyError, "none of which is trusted", tmp_path / "b"
    )
    assert "--key" in message


def test_unsigned_bundle_is_refused(
    tmp_path: Path, image_layout: Path, vendor_key: KeyPair
) -> None:
    unsigned = make_bundle(tmp_path / "b" / "unsigned.bundle", image_layout, None)
    assert_rejected(unsigned, vendor_key, SignatureError, "not signed", tmp_path / "b")
    sign_bundle(unsigned, vendor_key.private)
    assert verify_bundle(unsigned, [vendor_key.public]).signer is not None


def _insert_after_signature(bundle: Path, entry: surgery.Entry) -> None:
    surgery.rewrite(bundle, lambda es: [*es[:2], entry, *es[2:]])


MALICIOUS: dict[str, tuple[surgery.Entry, str]] = {
    "dot-dot": (surgery.regular("images/../../escaped-by-dotdot", b"x"), "'..'"),
    "absolute": (surgery.regular("/tmp/escaped-absolute", b"x"), "absolute path"),
    "symlink-outside": (
        surgery.special("images/passwd", tarfile.SYMTYPE, "/etc/passwd"),
        "symbolic link",
    ),
    "hardlink-outside": (
        surgery.special("images/shadow", tarfile.LNKTYPE, "../../etc/shadow"),
        "hard link",
    ),
    "device": (surgery.special("images/null", tarfile.CHRTYPE), "device file"),
    "fifo": (surgery.special("images/pipe", tarfile.FIFOTYPE), "FIFO"),
    "directory": (surgery.special("images/dir", tarfile.DIRTYPE), "directory"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_entries_are_refused_and_nothing_escapes(
    case: str, bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    entry, words = MALICIOUS[case]
    _insert_after_signature(bundle_copy, entry)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    assert_rejected(bundle_copy, vendor_key, UnsafeEntryError, words, workspace)
    assert not (tmp_path / "escaped-by-dotdot").exists()
    assert not Path("/tmp/escaped-absolute").exists()


def test_duplicate_name_is_refused(bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path) -> None:
    surgery.rewrite(bundle_copy, lambda es: [*es[:3], es[2], *es[3:]])
    assert_rejected(bundle_copy, vendor_key, UnsafeEntryError, "appears twice", tmp_path)


def test_size_bomb_on_a_listed_file_is_refused_unread(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    items = surgery.entries(bundle_copy)
    head = surgery.pack(items[:2])[: -1024 * 9]  # manifest + signature, end marker dropped
    head = head[: len(head) - len(head) % 512]
    while head.endswith(b"\0" * 512):
        head = head[:-512]
    surgery.write_raw(bundle_copy, head + surgery.bomb_header(items[2][0].name, 2**40))
    assert_rejected(bundle_copy, vendor_key, IntegrityError, "1.0 TiB", tmp_path)


def test_size_bomb_as_manifest_is_refused_unread(
    bundle_copy: Path, vendor_key: KeyPair, tmp_path: Path
) -> None:
    surgery.write_raw(bundle_copy, surgery.bomb_header("manifest.json", 2**40))
    assert_rejected(bundle_copy, vendor_key, UnsafeEntryError, "size bomb", tmp_path)


def test_missing_part_is_named(tmp_path: Path, image_layout: Path, vendor_key: KeyPair) -> None:
    base = make_bundle(
        tmp_path / "b" / "split.bundle", image_layout, vendor_key, max_part_size=2**20
    )
    parts = sorted(base.parent.glob("split.bundle.part*"))
    assert len(parts) >= 3
    parts[1].unlink()
    assert_rejected(base, vendor_key, TruncatedBundleError, "part(s) 002 missing", tmp_path / "b")


def test_swapped_parts_are_refused(tmp_path: Path, image_layout: Path, vendor_key: KeyPair) -> None:
    base = make_bundle(
        tmp_path / "b" / "split.bundle", image_layout, vendor_key, max_part_size=2**20
    )
    first, second = sorted(base.parent.glob("split.bundle.part*"))[1:3]
    scratch = tmp_path / "swap"
    shutil.move(first, scratch)
    shutil.move(second, first)
    shutil.move(scratch, second)
    with pytest.raises((BundleFormatError, IntegrityError)):
        verify_bundle(base, [vendor_key.public])
