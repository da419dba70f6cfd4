"""`hemisphere bundle build|keygen|sign|verify|inspect|extract|push`: offline bundles.

Every command that uses a bundle's content verifies it first (signature, then every checksum)
with the public key(s) given by --key (or $HEMISPHERE_BUNDLE_PUBKEY). Errors print one line that
names the file or entry at fault and exit 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from hemisphere.bundle import (
    BuildOptions,
    BundleError,
    FileEntry,
    ImageSource,
    MirrorOptions,
    MirrorTarget,
    WheelSet,
    build_bundle,
    extract_bundle,
    generate_keypair,
    human_size,
    inspect_bundle,
    load_private_key,
    load_public_key,
    mirror_bundle,
    parse_size,
    read_head,
    sign_bundle,
    verify_bundle,
)
from hemisphere.bundle.rendered import load_rendered_dir
from hemisphere.cli.apps import command_group

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

bundle_app = command_group(
    name="bundle",
    help="Signed offline bundles: build, sign, verify, inspect, extract, push to a mirror.",
)

PUBKEY_ENV = "HEMISPHERE_BUNDLE_PUBKEY"
BundlePath = Annotated[Path, typer.Argument(help="The bundle file (or its first part).")]
PublicKeys = Annotated[
    list[Path] | None,
    typer.Option(
        "--key",
        help=f"Trusted public key (.pub from `bundle keygen`); repeatable. Default: ${PUBKEY_ENV}.",
    ),
]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except BundleError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def trusted_keys(keys: list[Path] | None) -> list[Ed25519PublicKey]:
    """The --key files, else $HEMISPHERE_BUNDLE_PUBKEY; shared with `hemisphere upgrade`."""
    paths = list(keys or [])
    if not paths and os.environ.get(PUBKEY_ENV):
        paths = [Path(p) for p in os.environ[PUBKEY_ENV].split(os.pathsep) if p]
    if not paths:
        err.print(
            "[red]error:[/red] no trusted public key: pass --key PUB (the vendor's .pub file) or "
            f"set {PUBKEY_ENV}"
        )
        raise typer.Exit(1)
    return [load_public_key(p) for p in paths]


def _byte_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@contextmanager
def _file_progress(label: str, total: int) -> Iterator[Callable[[FileEntry, int], None]]:
    with _byte_progress() as progress:
        task = progress.add_task(label, total=total)

        def advance(_entry: FileEntry, nbytes: int) -> None:
            progress.advance(task, nbytes)

        yield advance


@bundle_app.command("keygen")
def keygen(
    out_prefix: Annotated[
        Path, typer.Option("--out", help="Writes OUT.pem (private, 0600) and OUT.pub.")
    ] = Path("hemisphere-bundle"),
) -> None:
    """Create an Ed25519 signing key pair (encrypted if HEMISPHERE_BUNDLE_KEY_PASSPHRASE is set)."""
    private = out_prefix.with_name(out_prefix.name + ".pem")
    public = out_prefix.with_name(out_prefix.name + ".pub")
    with _errors():
        kid = generate_keypair(private, public)
    out.print(f"private key: {private}\npublic key:  {public}\nkey id:      {kid}")


@bundle_app.command("build")
def build(
    version: Annotated[str, typer.Option("--version", help="Product version, e.g. 1.68.0.")],
    output: Annotated[Path, typer.Option("--out", help="Bundle file to write.")],
    image: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            help="REF (pulled from its registry) or REF=oci:DIR[:NAME] (from an OCI layout); "
            "repeatable.",
        ),
    ] = None,
    key: Annotated[
        Path | None, typer.Option("--key", help="Sign with this private key (.pem).")
    ] = None,
    min_upgrade_from: Annotated[
        str | None, typer.Option("--min-upgrade-from", help="Oldest version it may upgrade.")
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Install spec whose manifests to render in.")
    ] = None,
    manifests: Annotated[
        Path | None,
        typer.Option("--manifests", help="Pre-rendered manifests DIR/<site>/*.yaml (no --spec)."),
    ] = None,
    wheels: Annotated[
        WheelSet, typer.Option("--wheels", help="Python wheels to include.")
    ] = WheelSet.ALL,
    wheel_dir: Annotated[
        list[Path] | None, typer.Option("--wheel-dir", help="Extra prebuilt wheels; repeatable.")
    ] = None,
    project: Annotated[
        Path | None, typer.Option("--project", help="Hemisphere source tree to build from.")
    ] = None,
    max_part_size: Annotated[
        str | None, typer.Option("--max-part-size", help="Split into parts, e.g. 4G or 650M.")
    ] = None,
    insecure_registry: Annotated[
        bool, typer.Option("--insecure-registry", help="Allow plain-HTTP/unverified sources.")
    ] = False,
    allow_missing_images: Annotated[
        bool, typer.Option(help="Build even if the manifests use images not in the bundle.")
    ] = False,
    level: Annotated[int, typer.Option("--compression-level", min=1, max=19)] = 3,
) -> None:
    """Build one bundle archive: images, wheels, rendered manifests, SBOM, manifest."""
    with _errors():
        options = BuildOptions(
            version=version,
            out=output,
            images=[ImageSource.parse(i) for i in image or []],
            min_upgrade_from=min_upgrade_from,
            wheels=wheels,
            wheel_dirs=list(wheel_dir or []),
            project_dir=project,
            spec=spec,
            rendered=load_rendered_dir(manifests) if manifests else None,
            allow_missing_images=allow_missing_images,
            max_part_size=parse_size(max_part_size) if max_part_size else None,
            signing_key=load_private_key(key) if key else None,
            insecure_registries=insecure_registry,
            compression_level=level,
        )
        with err.status("building") as status:
            result = build_bundle(options, lambda text: status.update(f"building: {text}"))
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    manifest = result.manifest
    out.print(
        f"built {', '.join(str(p) for p in result.files)}: version {manifest.version}, "
        f"{len(manifest.images)} image(s), {len(manifest.files)} files, "
        f"{human_size(manifest.total_size)} uncompressed, "
        f"{human_size(sum(p.stat().st_size for p in result.files))} on disk"
    )
    out.print(f"signed by {result.signer}" if result.signer else "unsigned: run `bundle sign`")


@bundle_app.command("sign")
def sign(
    bundle: BundlePath,
    key: Annotated[Path, typer.Option("--key", help="Private key (.pem) to sign with.")],
) -> None:
    """Sign a bundle in place (checks every file against the manifest while rewriting)."""
    with _errors():
        private = load_private_key(key)
        head = read_head(bundle)
        with _file_progress("signing", head.manifest.total_size) as advance:
            envelope = sign_bundle(bundle, private, progress=advance)
    out.print(f"signed {bundle}: key id(s) {', '.join(s.keyid for s in envelope.signatures)}")


@bundle_app.command("verify")
def verify(bundle: BundlePath, key: PublicKeys = None) -> None:
    """Check the signature, then every file's checksum; extracts nothing."""
    with _errors():
        trusted = trusted_keys(key)
        head = read_head(bundle)
        with _file_progress("verifying", head.manifest.total_size) as advance:
            verified = verify_bundle(bundle, trusted, progress=advance)
    manifest = verified.manifest
    out.print(
        f"[green]OK[/green] {bundle}: version {manifest.version}, signed by {verified.signer}, "
        f"{len(manifest.files)} files ({human_size(manifest.total_size)}) match the manifest"
    )


@bundle_app.command("inspect")
def inspect(
    bundle: BundlePath,
    key: PublicKeys = None,
    files: Annotated[bool, typer.Option("--files", help="List every file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Show version, contents, sizes and signer (reads the manifest only)."""
    with _errors():
        trusted = [load_public_key(p) for p in key or []]
        summary = inspect_bundle(bundle, trusted)
    manifest = summary.head.manifest
    if as_json:
        out.print_json(json.dumps(manifest.model_dump(mode="json")))
        return
    out.print(
        f"[bold]Hemisphere {manifest.version}[/bold]  (bundle format {manifest.format_version})"
    )
    out.print(f"created:           {manifest.created}")
    out.print(f"upgrades from:     {manifest.min_upgrade_from or 'any version'}")
    out.print(
        f"archive:           {human_size(summary.archive_size)} in {summary.parts} part(s), "
        f"{human_size(manifest.total_size)} uncompressed"
    )
    out.print(f"signers (claimed): {', '.join(summary.signers) or 'none'}")
    out.print(f"signature:         {summary.signature}")
    if manifest.wheels_for:
        out.print(f"wheels for:        {manifest.wheels_for}")
    table = Table("contents", "files", "size")
    for kind, count in sorted(summary.counts.items()):
        table.add_row(str(kind), str(count), human_size(summary.sizes[kind]))
    out.print(table)
    if manifest.images:
        images = Table("image", "digest", "media type")
        for item in manifest.images:
            images.add_row(item.ref, item.digest, item.media_type.rsplit(".", 2)[-2])
        out.print(images)
    if files:
        listing = Table("path", "size", "sha256")
        for entry in manifest.files:
            listing.add_row(entry.path, human_size(entry.size), entry.sha256[:16] + "…")
        out.print(listing)


@bundle_app.command("extract")
def extract(
    bundle: BundlePath,
    target: Annotated[Path, typer.Argument(help="New or empty directory to extract into.")],
    key: PublicKeys = None,
) -> None:
    """Verify, then extract into DIR (e.g. to install the wheels offline)."""
    with _errors():
        trusted = trusted_keys(key)
        head = read_head(bundle)
        with _file_progress("verifying + extracting", 2 * head.manifest.total_size) as advance:
            verified = extract_bundle(bundle, target, trusted, progress=advance)
    out.print(f"extracted {len(verified.manifest.files)} files into {target}")


class _RichPush:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("pushing", total=None)
        self.counts: dict[str, int] = {}

    def start(self, total_bytes: int, total_blobs: int) -> None:
        self._progress.update(self._task, total=total_bytes, description=f"{total_blobs} blobs")

    def advance(self, nbytes: int) -> None:
        self._progress.advance(self._task, nbytes)

    def blob_done(self, digest: str, how: str) -> None:
        self.counts[how] = self.counts.get(how, 0) + 1
        done = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
        self._progress.update(self._task, description=done)


@bundle_app.command("push")
def push(
    bundle: BundlePath,
    registry: Annotated[
        str, typer.Option("--registry", help="Mirror as HOST[:PORT][/PATH], e.g. reg:5000/hsp.")
    ],
    key: PublicKeys = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Plain HTTP or unverified TLS to the registry.")
    ] = False,
    ca_file: Annotated[
        Path | None, typer.Option("--ca-file", help="CA bundle for the registry's TLS.")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", envvar="REGISTRY_USER")] = None,
    password: Annotated[
        str | None, typer.Option("--password", envvar="REGISTRY_PASSWORD", hidden=True)
    ] = None,
    manifests_out: Annotated[
        Path | None,
        typer.Option("--manifests-out", help="Write the rewritten manifests here."),
    ] = None,
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where resume state is kept.")
    ] = None,
    chunk_size: Annotated[str, typer.Option("--chunk-size", help="Upload chunk size.")] = "8M",
    limit_rate: Annotated[
        str | None, typer.Option("--limit-rate", help="Max upload rate per second, e.g. 20M.")
    ] = None,
) -> None:
    """Verify, then mirror every image into a registry and rewrite the manifests to it."""
    with _errors():
        trusted = trusted_keys(key)
        target = MirrorTarget.parse(registry)
        options = MirrorOptions(
            target=target,
            insecure=insecure,
            ca_file=ca_file,
            username=username,
            password=password,
            manifests_out=manifests_out or Path(f"{bundle.name.removesuffix('.bundle')}-manifests"),
            state_dir=state_dir,
            chunk_size=parse_size(chunk_size),
            limit_rate=parse_size(limit_rate) if limit_rate else None,
        )
        head = read_head(bundle)
        with _byte_progress() as progress:
            checking = progress.add_task(
                "verifying + extracting", total=2 * head.manifest.total_size
            )

            def advance(_entry: FileEntry, nbytes: int) -> None:
                progress.advance(checking, nbytes)

            reporter = _RichPush(progress)
            result = mirror_bundle(
                bundle, trusted, options, verify_progress=advance, push_progress=reporter
            )
    report = result.report
    table = Table("image", "mirrored as")
    for pushed in report.images:
        table.add_row(pushed.source, pushed.target)
    out.print(table)
    out.print(
        f"blobs: {report.uploaded} uploaded ({human_size(report.bytes_uploaded)}), "
        f"{report.skipped} already present, {report.mounted} mounted, "
        f"{report.resumed} resumed, {report.restarted} restarted"
    )
    if result.manifests:
        out.print(
            f"{len(result.manifests)} manifest file(s) rewritten into {options.manifests_out}"
        )
    for missing in result.unresolved:
        err.print(
            f"[yellow]warning:[/yellow] {missing.document} {missing.field}: image "
            f"{missing.image} is not in the bundle; the site cannot pull it offline"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(bundle_app)
