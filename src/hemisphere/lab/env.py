"""The environment of each role of a lab site: what the installer renders for that site, with
only the addresses (and the runtime) changed.

The installer's manifests for a site (`render_site(spec, site, vault)`) already say which roles
run there (one Deployment each, its `args`), their `HEMISPHERE_*` variables (ConfigMaps via
`envFrom`), their secrets (`secretKeyRef`, filled from the vault's rendered Secrets, or from the
lab's own password for a database the spec keeps outside every cluster) and the secrets mounted
as files (written under the lab's site directory). So a lab site runs exactly what a cluster
would, and a variable the render adds reaches the lab without a change here.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hemisphere.installer.render import Manifest
from hemisphere.lab.plan import HTTP_PORT, LabPlan

__all__ = ["RoleLaunch", "site_roles"]

_COMPONENT = "app.kubernetes.io/name"


@dataclass(frozen=True)
class RoleLaunch:
    """One process to start: `hemisphere ARGS` with `env` (secret values included)."""

    role: str
    args: tuple[str, ...]
    env: dict[str, str]
    data_dir: Path
    files: dict[Path, str]  # mounted secrets: path → content


def _secrets(
    manifests: list[Manifest], extra: dict[str, dict[str, str]]
) -> dict[str, dict[str, str]]:
    out = {name: dict(data) for name, data in extra.items()}
    for m in manifests:
        if m["kind"] == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in m.get("data", {}).items()}
            out.setdefault(m["metadata"]["name"], {}).update(data)
    return out


def _by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _resolve_env(
    container: dict[str, Any], config_maps: dict[str, Manifest], secrets: dict[str, dict[str, str]]
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            env.update(config_maps[ref["name"]].get("data", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        try:
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        except KeyError:
            raise KeyError(
                f"{item['name']}: secret {ref['name']}/{ref['key']} is neither in the vault's "
                "render nor one the lab creates"
            ) from None
    return env


def _mounted_files(
    deployment: Manifest, secrets: dict[str, dict[str, str]], site_dir: Path
) -> tuple[dict[str, Path], dict[Path, str]]:
    """Mount path → lab directory, and the files to write there."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    paths: dict[str, Path] = {}
    files: dict[Path, str] = {}
    for mount in pod["containers"][0]["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        target = site_dir / "secrets" / secret["secretName"]
        paths[mount["mountPath"]] = target
        for key, value in secrets.get(secret["secretName"], {}).items():
            files[target / key] = value
    return paths, files


def _db_url(plan: LabPlan, site: str, database_key: str) -> str:
    db = next(d for d in plan.databases if d.key == database_key)
    if db.site == site:
        host, port = "127.0.0.1", db.port
    else:
        link = plan.link_to(site, db.site, f"db-{db.key}")
        assert link is not None, f"no WAN link from {site} to database {db.key}"
        host, port = link.listen_host, link.listen_port
    return f"postgresql://{db.user}@{host}:{port}/{db.dbname}?sslmode=disable"


def _override(plan: LabPlan, site: str, env: dict[str, str], data_dir: Path) -> dict[str, str]:
    me = plan.site(site)
    out = dict(env)
    out["HEMISPHERE_DATA_DIR"] = str(data_dir)
    out["HEMISPHERE_HOST"] = "0.0.0.0"  # noqa: S104 (inside the site's own namespace)
    out["HEMISPHERE_PORT"] = str(HTTP_PORT)
    if "HEMISPHERE_PUBLIC_URL" in out:
        out["HEMISPHERE_PUBLIC_URL"] = me.url
    if "HEMISPHERE_DATABASE" in out:
        out["HEMISPHERE_DATABASE_URL"] = _db_url(plan, site, out["HEMISPHERE_DATABASE"])
    if "HEMISPHERE_CONSOLE_URL" in out:
        if site == plan.console_site:
            out["HEMISPHERE_CONSOLE_URL"] = f"http://127.0.0.1:{HTTP_PORT}"
        else:
            link = plan.link_to(site, plan.console_site, "console")
            assert link is not None
            out["HEMISPHERE_CONSOLE_URL"] = f"http://{link.listen}"
    if "HEMISPHERE_DC_URL" in out:
        out["HEMISPHERE_DC_URL"] = f"http://127.0.0.1:{HTTP_PORT}"
    if "HEMISPHERE_DOMAIN" in out:
        # Preview hosts are {port}-{name}-{id}.<domain>: clients send that Host header.
        out["HEMISPHERE_DOMAIN"] = f"{me.address}:{HTTP_PORT}"
    if "HEMISPHERE_DATACENTERS" in out:
        dcs = json.loads(out["HEMISPHERE_DATACENTERS"])
        for dc in dcs:
            dc_site = next(s for s in plan.sites if s.datacenter_id == dc["id"])
            link = plan.link_to(site, dc_site.name, "dc")
            dc["url"] = f"http://{link.listen}" if link else dc_site.url
        out["HEMISPHERE_DATACENTERS"] = json.dumps(dcs, separators=(",", ":"))
    if "HEMISPHERE_RUNTIME" in out:
        # Lab DCs run real bubblewrap sandboxes on this host; plain directory homes, so a
        # SIGKILLed DC leaves no loop mount behind for `lab down` to find.
        out["HEMISPHERE_RUNTIME"] = "local"
        out["HEMISPHERE_STORAGE"] = "directory"
    return out


def site_roles(
    plan: LabPlan,
    site: str,
    manifests: list[Manifest],
    site_dir: Path,
    lab_secrets: dict[str, dict[str, str]],
) -> list[RoleLaunch]:
    """Every role the render puts on `site`, ready to start in the lab."""
    secrets = _secrets(manifests, lab_secrets)
    config_maps = _by_kind(manifests, "ConfigMap")
    out = []
    for deployment in _by_kind(manifests, "Deployment").values():
        role = deployment["metadata"]["labels"][_COMPONENT]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = _resolve_env(container, config_maps, secrets)
        mount_paths, files = _mounted_files(deployment, secrets, site_dir)
        for name, value in list(env.items()):
            for mount, target in mount_paths.items():
                if value == mount or value.startswith(mount + "/"):
                    env[name] = str(target) + value[len(mount) :]
        data_dir = site_dir / role
        out.append(
            RoleLaunch(
                role=role,
                args=tuple(container["args"]),
                env=_override(plan, site, env, data_dir),
                data_dir=data_dir,
                files=files,
            )
        )
    # The DC before its agent: the agent reports the DC's readiness.
    order = {"console": 0, "dc": 1, "agent": 2}
    return sorted(out, key=lambda r: order.get(r.role, 9))
