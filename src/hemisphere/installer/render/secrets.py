"""Kubernetes Secrets: the names manifests reference, and their content from the vault.

Manifests always reference these names; the Secret objects themselves are rendered only when a
vault is passed (the apply step does that in memory), so a render directory holds no secret
value unless the user asks for one. A data center's cluster receives only what it needs: its own
agent token and database password, the public half of the signing key, the CA certificate.
"""

from __future__ import annotations

import base64

from hemisphere.installer import vault as v
from hemisphere.installer.render.meta import Manifest, make
from hemisphere.topology import Datacenter, InstallSpec

__all__ = [
    "ADMIN_SECRET",
    "AGENT_SECRET",
    "AGENT_TOKENS_SECRET",
    "CA_SECRET",
    "DB_SECRET",
    "SIGNING_SECRET",
    "render_secrets",
]

SIGNING_SECRET = "hemisphere-signing"
CA_SECRET = "hemisphere-ca"
ADMIN_SECRET = "hemisphere-admin"
DB_SECRET = "hemisphere-db"
AGENT_SECRET = "hemisphere-agent"
AGENT_TOKENS_SECRET = "hemisphere-agent-tokens"


def _b64(data: dict[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(val.encode()).decode() for k, val in sorted(data.items())}


def _secret(name: str, site: str, data: dict[str, str], secret_type: str = "Opaque") -> Manifest:
    return make(
        "v1",
        "Secret",
        name,
        site=site,
        phase="infra",
        component="secrets",
        type=secret_type,
        data=_b64(data),
    )


def _pick(fields: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: fields[k] for k in keys}


def render_secrets(spec: InstallSpec, vault: v.Vault, site_name: str) -> list[Manifest]:
    """The Secret objects site `site_name` needs, filled from `vault`."""
    site = spec.site(site_name)
    is_console = site_name == spec.console_site
    signing = vault.fields(v.SIGNING_KEY)
    ca = vault.fields(v.CA)
    out = []
    if is_console:
        out.append(_secret(SIGNING_SECRET, site_name, signing))
        out.append(_secret(CA_SECRET, site_name, ca))
        out.append(_secret(ADMIN_SECRET, site_name, vault.fields(v.ADMIN)))
        tokens = {
            v.dc_scope(dc.id): vault.fields(v.agent_secret(dc.id))["token"]
            for dc in spec.datacenters
        }
        out.append(_secret(AGENT_TOKENS_SECRET, site_name, tokens))
    else:
        out.append(_secret(SIGNING_SECRET, site_name, _pick(signing, "public-key")))
        out.append(_secret(CA_SECRET, site_name, _pick(ca, "ca.crt")))
    if isinstance(site, Datacenter):
        out.append(_secret(AGENT_SECRET, site_name, vault.fields(v.agent_secret(site.id))))
    db = spec.database_of_site(site_name)
    if db.in_cluster:
        creds = vault.fields(v.database_secret(db.key))
        out.append(_secret(DB_SECRET, site_name, creds, "kubernetes.io/basic-auth"))
    return out
