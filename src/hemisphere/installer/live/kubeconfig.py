"""Reading a site's kubeconfig into what an HTTPS client needs (server, CA, credentials).

Only what a platform engineer's kubeconfig for a cluster-admin usually holds is supported:
client certificates, bearer tokens (inline or tokenFile), CA bundles (inline or file),
`insecure-skip-tls-verify`. Exec/auth-provider plugins are refused with a clear message.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hemisphere.installer.live.errors import KubeconfigError

__all__ = ["ClusterAccess", "load_kubeconfig"]


@dataclass(frozen=True)
class ClusterAccess:
    """Everything needed to talk to one cluster's API server."""

    server: str
    source: str  # "kubeconfig-path (context NAME)" for messages
    ca_pem: bytes | None = None
    insecure: bool = False
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    token: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_pem is not None:
            ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        else:
            ctx = ssl.create_default_context()
        if self.client_cert_pem is not None and self.client_key_pem is not None:
            # load_cert_chain only reads files: write them privately, load, delete.
            with tempfile.TemporaryDirectory(prefix="hemisphere-kube-") as tmp:
                cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(self.client_key_pem)
                cert.write_bytes(self.client_cert_pem)
                ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _named(doc: dict[str, Any], section: str, name: str, where: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section[:-1])
            if isinstance(body, dict):
                return body
            raise KubeconfigError(f"{where}: {section} entry {name!r} has no {section[:-1]!r} map")
    known = ", ".join(str(e.get("name")) for e in doc.get(section) or [] if isinstance(e, dict))
    raise KubeconfigError(
        f"{where}: no {section[:-1]} named {name!r} (known: {known or 'none'}); "
        "fix the name or the kubeconfig"
    )


def _data_or_file(body: dict[str, Any], key: str, base: Path, where: str) -> bytes | None:
    inline = body.get(f"{key}-data")
    if inline:
        try:
            return base64.b64decode(str(inline), validate=True)
        except binascii.Error:
            raise KubeconfigError(f"{where}: {key}-data is not valid base64") from None
    path = body.get(key)
    if path:
        p = Path(os.path.expanduser(str(path)))
        p = p if p.is_absolute() else base / p
        try:
            return p.read_bytes()
        except OSError as exc:
            raise KubeconfigError(f"{where}: cannot read {key} file {p}: {exc.strerror}") from None
    return None


def load_kubeconfig(path: Path, context: str | None = None) -> ClusterAccess:
    """Read `path` and resolve `context` (default: its current-context)."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise KubeconfigError(
            f"kubeconfig {path}: cannot read it ({exc.strerror}); check the site's "
            "kubernetes.kubeconfig in the spec"
        ) from None
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig {path}: expected a mapping at the top")
    name = context or doc.get("current-context")
    if not name:
        raise KubeconfigError(
            f"kubeconfig {path}: no context given and no current-context set; "
            "set kubernetes.context in the spec"
        )
    where = f"kubeconfig {path} (context {name})"
    ctx = _named(doc, "contexts", str(name), where)
    cluster = _named(doc, "clusters", str(ctx.get("cluster")), where)
    user = _named(doc, "users", str(ctx.get("user")), where) if ctx.get("user") else {}
    server = cluster.get("server")
    if not server or not str(server).startswith(("https://", "http://")):
        raise KubeconfigError(f"{where}: cluster has no https:// server URL")
    if "exec" in user or "auth-provider" in user:
        raise KubeconfigError(
            f"{where}: credential plugins (exec/auth-provider) are not supported; "
            "use a kubeconfig with a client certificate or a token"
        )
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_bytes = _data_or_file({"tokenFile": user["tokenFile"]}, "tokenFile", base, where)
        token = token_bytes.decode().strip() if token_bytes else None
    return ClusterAccess(
        server=str(server).rstrip("/"),
        source=where,
        ca_pem=_data_or_file(cluster, "certificate-authority", base, where),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        client_cert_pem=_data_or_file(user, "client-certificate", base, where),
        client_key_pem=_data_or_file(user, "client-key", base, where),
        token=str(token) if token else None,
    )


_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster_access(sa_dir: Path = _SERVICE_ACCOUNT) -> ClusterAccess:
    """The API server of the cluster this process runs in, as its service account."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeconfigError(
            "not running inside Kubernetes (KUBERNETES_SERVICE_HOST is unset): "
            "set HEMISPHERE_KUBECONFIG to a kubeconfig file"
        )
    try:
        token = (sa_dir / "token").read_text().strip()
        ca = (sa_dir / "ca.crt").read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"cannot read the service account in {sa_dir}: {exc}") from exc
    server = f"https://{host}:{port}" if ":" not in host else f"https://[{host}]:{port}"
    return ClusterAccess(server=server, source=f"in-cluster ({sa_dir})", ca_pem=ca, token=token)
