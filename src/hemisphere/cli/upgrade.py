"""`hemisphere upgrade plan|apply|rollback|history` across the sites of an install spec.

The bundle is verified (signature and every checksum) and extracted before a site is touched;
the plan refuses version skews the policy forbids (console N, DCs N or N-1); `apply` moves the
console's site first, then DC by DC, waiting for each site's health gate; `rollback` returns
the sites of the last upgrade to the bundle they ran before. State and history are kept in a
JSON file next to the spec (or in --state DIR).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table

from hemisphere.bundle import BundleError, extract_bundle, read_head
from hemisphere.bundle.signing import verify_envelope
from hemisphere.bundle.upgrade import (
    CommandDeployer,
    HttpHealthGate,
    RecordOnlyDeployer,
    ReleaseRecord,
    ReleaseRef,
    RolloutEngine,
    SiteDeployer,
    StateStore,
    UpgradeError,
    UpgradePlan,
    UpgradeStateError,
    default_state_path,
    load_sites,
    plan_upgrade,
)
from hemisphere.cli.apps import command_group
from hemisphere.cli.bundle import PublicKeys, trusted_keys
from hemisphere.topology import TopologyError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

upgrade_app = command_group(
    name="upgrade",
    help="Upgrade the sites of a spec to a bundle's version, DC by DC; roll back.",
)

Spec = Annotated[Path, typer.Option("--spec", help="The install spec (YAML).")]
Bundle = Annotated[Path, typer.Option("--bundle", help="The bundle to upgrade to.")]
StateDir = Annotated[
    Path | None,
    typer.Option("--state", help="Directory for upgrade-state.json (default: next to the spec)."),
]
DeployCommand = Annotated[
    str | None,
    typer.Option(
        "--deploy-command",
        help="Command run per site (env: HEMISPHERE_SITE, HEMISPHERE_VERSION, "
        "HEMISPHERE_BUNDLE_DIR, HEMISPHERE_MANIFESTS).",
    ),
]
RecordOnly = Annotated[
    bool,
    typer.Option("--record-only", help="Deploy nothing; gate on health and record (sites "
                 "upgraded by other means)."),
]  # fmt: skip
HealthUrls = Annotated[
    list[str] | None,
    typer.Option("--health-url", help="SITE=URL readiness URL override; repeatable."),
]
HealthTimeout = Annotated[float, typer.Option("--health-timeout", help="Seconds per site.")]
HealthInterval = Annotated[float, typer.Option("--health-interval", help="Seconds between polls.")]
CaFile = Annotated[Path | None, typer.Option("--ca-file", help="CA bundle for the sites' TLS.")]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (BundleError, UpgradeError, TopologyError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def _health_urls(pairs: list[str] | None) -> dict[str, str]:
    urls: dict[str, str] = {}
    for pair in pairs or []:
        site, sep, url = pair.partition("=")
        if not sep or not site or not url:
            raise UpgradeStateError(f"--health-url {pair!r}: expected SITE=URL")
        urls[site] = url
    return urls


def _deployer(command: str | None, record_only: bool) -> SiteDeployer:
    if command and record_only:
        raise UpgradeStateError("give either --deploy-command or --record-only, not both")
    if command:
        return CommandDeployer(command)
    if record_only:
        return RecordOnlyDeployer()
    raise UpgradeStateError(
        "say how to deploy a site: --deploy-command CMD (run per site), or --record-only if the "
        "sites are upgraded by other means and should only be health-gated and recorded"
    )


def _print_plan(plan: UpgradePlan) -> None:
    if plan.is_noop:
        out.print(f"every site already runs {plan.target}: nothing to do")
        return
    table = Table("#", "site", "role", "from", "to")
    for number, step in enumerate(plan.steps, start=1):
        table.add_row(
            str(number), step.site, str(step.role), step.from_version or "-", step.to_version
        )
    out.print(table)
    if plan.unchanged:
        out.print(f"already at {plan.target}: {', '.join(plan.unchanged)}")


def _release(bundle: Path, trusted: list[Ed25519PublicKey], scratch: Path) -> ReleaseRef:
    verified = extract_bundle(bundle, scratch / "bundle", trusted)
    return ReleaseRef(
        version=verified.manifest.version,
        bundle=bundle,
        manifest_sha256=verified.head.manifest_sha256,
        signer=verified.signer,
        root=scratch / "bundle",
    )


@upgrade_app.command("plan")
def plan(spec: Spec, bundle: Bundle, key: PublicKeys = None, state: StateDir = None) -> None:
    """Show the steps an upgrade to the bundle's version would take, or why it is refused."""
    with _errors():
        trusted = trusted_keys(key)
        head = read_head(bundle)
        if head.envelope_bytes is None:
            raise UpgradeStateError(
                f"{bundle} is not signed; sign it with `hemisphere bundle sign`"
            )
        signer = verify_envelope(head.envelope_bytes, head.manifest_bytes, trusted)
        sites = load_sites(spec)
        store = StateStore(default_state_path(spec, state))
        current = store.load()
        the_plan = plan_upgrade(
            sites,
            {s.name: current.version_of(s.name) for s in sites},
            head.manifest.version,
            head.manifest.min_upgrade_from,
        )
    out.print(f"bundle {head.manifest.version} signed by {signer} (checksums are checked at apply)")
    _print_plan(the_plan)


@upgrade_app.command("apply")
def apply(
    spec: Spec,
    bundle: Bundle,
    key: PublicKeys = None,
    state: StateDir = None,
    deploy_command: DeployCommand = None,
    record_only: RecordOnly = False,
    health_url: HealthUrls = None,
    health_timeout: HealthTimeout = 300.0,
    health_interval: HealthInterval = 2.0,
    ca_file: CaFile = None,
) -> None:
    """Verify the bundle, then upgrade the console's site and each DC in turn, health-gated."""
    with _errors():
        trusted = trusted_keys(key)
        sites = load_sites(spec, _health_urls(health_url))
        store = StateStore(default_state_path(spec, state))
        engine = _engine(
            store, deploy_command, record_only, health_timeout, health_interval, ca_file
        )
        scratch = Path(tempfile.mkdtemp(prefix="hemisphere-upgrade-"))
        try:
            with err.status("verifying the bundle"):
                release = _release(bundle, trusted, scratch)
            head = read_head(bundle)
            current = store.load()
            the_plan = plan_upgrade(
                sites,
                {s.name: current.version_of(s.name) for s in sites},
                release.version,
                head.manifest.min_upgrade_from,
            )
            _print_plan(the_plan)
            run = engine.apply(sites, the_plan, release)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    out.print(f"[green]upgraded[/green] to {release.version} (run {run}); history in {store.path}")


@upgrade_app.command("rollback")
def rollback(
    spec: Spec,
    key: PublicKeys = None,
    state: StateDir = None,
    deploy_command: DeployCommand = None,
    record_only: RecordOnly = False,
    health_url: HealthUrls = None,
    health_timeout: HealthTimeout = 300.0,
    health_interval: HealthInterval = 2.0,
    ca_file: CaFile = None,
) -> None:
    """Return the sites of the last upgrade to the versions (and bundles) they ran before."""
    with _errors():
        trusted = trusted_keys(key)
        sites = load_sites(spec, _health_urls(health_url))
        store = StateStore(default_state_path(spec, state))
        engine = _engine(
            store, deploy_command, record_only, health_timeout, health_interval, ca_file
        )
        scratch = Path(tempfile.mkdtemp(prefix="hemisphere-rollback-"))

        def load_release(record: ReleaseRecord) -> ReleaseRef:
            path = Path(record.bundle)
            if not _bundle_exists(path):
                raise UpgradeStateError(
                    f"the bundle of {record.version} ({path}) is gone; put it back to roll back"
                )
            release = _release(path, trusted, scratch / record.version)
            if release.manifest_sha256 != record.manifest_sha256:
                raise UpgradeStateError(
                    f"{path} is not the bundle {record.version} was applied from (its manifest "
                    "changed); put the original bundle back"
                )
            return release

        try:
            run = engine.rollback(sites, load_release)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    after = store.load()
    versions = ", ".join(f"{s.name}={after.version_of(s.name) or '-'}" for s in sites)
    out.print(f"[green]rolled back[/green] upgrade run {run}: {versions}")


def _engine(
    store: StateStore,
    deploy_command: str | None,
    record_only: bool,
    health_timeout: float,
    health_interval: float,
    ca_file: Path | None,
) -> RolloutEngine:
    """The rollout engine both `apply` and `rollback` drive: deployer + health gate + state."""
    deployer = _deployer(deploy_command, record_only)
    gate = HttpHealthGate(timeout=health_timeout, interval=health_interval, ca_file=ca_file)
    return RolloutEngine(store, deployer, gate, on_event=lambda t: err.print(f"  {t}"))


def _bundle_exists(path: Path) -> bool:
    return path.exists() or any(path.parent.glob(f"{path.name}.part*"))


@upgrade_app.command("history")
def history(spec: Spec, state: StateDir = None) -> None:
    """Show each site's version and the upgrade history."""
    with _errors():
        store = StateStore(default_state_path(spec, state))
        current = store.load()
        sites = load_sites(spec)
    table = Table("site", "role", "version", "pending")
    for site in sites:
        site_state = current.sites.get(site.name)
        table.add_row(
            site.name,
            str(site.role),
            site_state.version or "-" if site_state else "-",
            (site_state.pending or "") if site_state else "",
        )
    out.print(table)
    log = Table("at", "run", "action", "site", "from", "to", "result", "detail")
    for entry in current.history:
        log.add_row(
            entry.at,
            entry.run,
            entry.action,
            entry.site,
            entry.from_version or "-",
            entry.to_version,
            entry.result,
            entry.detail[:80],
        )
    out.print(log)


def register(app: typer.Typer) -> None:
    app.add_typer(upgrade_app)
