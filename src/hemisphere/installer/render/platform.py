"""The platform itself: the management console, a DC's services and its agent.

One image runs every role (`hemisphere serve console|dc|agent`); what differs per site is the
configuration, rendered as a ConfigMap of `HEMISPHERE_*` environment variables plus Secret
references. The pod template carries a hash of its configuration so a change rolls the pods.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hemisphere.installer.render.database import database_env
from hemisphere.installer.render.images import image_refs, mirrored
from hemisphere.installer.render.meta import SITE_LABEL, Manifest, make, selector_labels
from hemisphere.installer.render.secrets import (
    ADMIN_SECRET,
    AGENT_SECRET,
    AGENT_TOKENS_SECRET,
    CA_SECRET,
    SIGNING_SECRET,
)
from hemisphere.installer.render.storage import (
    BLOCK_STORAGE_CLASS,
    FILE_STORAGE_CLASS,
    pool_affinity,
)
from hemisphere.topology import NAMESPACE, Datacenter, InstallSpec, Site

__all__ = ["HTTP_PORT", "render_platform"]

HTTP_PORT = 8080
_UID = 10001
_CONSOLE = "console"
_DC = "dc"
_AGENT = "agent"


def _name(component: str) -> str:
    return f"hemisphere-{component}"


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _config_map(site: str, component: str, data: dict[str, str]) -> Manifest:
    return make(
        "v1",
        "ConfigMap",
        _name(component),
        site=site,
        phase="platform",
        component=component,
        data=dict(sorted(data.items())),
    )


def _service_account(site: str, component: str, automount: bool) -> Manifest:
    return make(
        "v1",
        "ServiceAccount",
        _name(component),
        site=site,
        phase="platform",
        component=component,
        automountServiceAccountToken=automount,
    )


def _hash(data: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _deployment(
    spec: InstallSpec,
    site: Site,
    component: str,
    *,
    args: list[str],
    config: dict[str, str],
    secret_env: list[dict[str, Any]],
    replicas: int,
    mounts: dict[str, str],
    privileged: bool = False,
    automount: bool = False,
) -> Manifest:
    image = mirrored(image_refs(spec)[component], site.registry)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    volume_mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 (the container's own)
    for secret, path in sorted(mounts.items()):
        volumes.append({"name": secret, "secret": {"secretName": secret}})
        volume_mounts.append({"name": secret, "mountPath": path, "readOnly": True})
    if privileged:
        security: dict[str, Any] = {"privileged": True}
        pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
        volumes.append(
            {"name": "workspaces", "persistentVolumeClaim": {"claimName": _name("workspaces")}}
        )
        volume_mounts.append({"name": "workspaces", "mountPath": "/var/lib/hemisphere"})
    else:
        security = {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        pod_security = {
            "runAsNonRoot": True,
            "runAsUser": _UID,
            "runAsGroup": _UID,
            "fsGroup": _UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    container = {
        "name": component,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": _name(component)}}],
        "env": secret_env,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}},
        "livenessProbe": {**probe, "failureThreshold": 6},
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "1Gi"},
        },
        "securityContext": security,
        "volumeMounts": volume_mounts,
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": _name(component),
        "automountServiceAccountToken": automount,
        "securityContext": pod_security,
        "containers": [container],
        "volumes": volumes,
    }
    if isinstance(site, Datacenter) and site.workers is not None:
        pod_spec["nodeSelector"] = pool_affinity(site)
    single = replicas == 1
    return make(
        "apps/v1",
        "Deployment",
        _name(component),
        site=site.name,
        phase="platform",
        component=component,
        spec={
            "replicas": replicas,
            "strategy": {"type": "Recreate"} if single else {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector_labels(component)},
            "template": {
                "metadata": {
                    "labels": {**selector_labels(component), SITE_LABEL: site.name},
                    "annotations": {"hemisphere.dev/config-hash": _hash(config)},
                },
                "spec": pod_spec,
            },
        },
    )


def _service(site: str, component: str) -> Manifest:
    return make(
        "v1",
        "Service",
        _name(component),
        site=site,
        phase="platform",
        component=component,
        spec={
            "type": "ClusterIP",
            "selector": selector_labels(component),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    )


def _ingress(site: Site, component: str, hosts: list[str]) -> Manifest:
    tls = site.ingress.tls
    annotations = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"}
    if tls.mode == "acme" and tls.cluster_issuer:
        annotations["cert-manager.io/cluster-issuer"] = tls.cluster_issuer
    backend = {"service": {"name": _name(component), "port": {"name": "http"}}}
    return make(
        "networking.k8s.io/v1",
        "Ingress",
        _name(component),
        site=site.name,
        phase="platform",
        component=component,
        annotations=annotations,
        spec={
            "ingressClassName": site.ingress.class_name,
            "tls": [{"hosts": hosts, "secretName": tls.secret_name}],
            "rules": [
                {
                    "host": host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
                for host in hosts
            ],
        },
    )


def _identity_mode(spec: InstallSpec) -> str:
    return "shared-database" if spec.shares_database else "replica"


def _console(spec: InstallSpec, site: Site) -> list[Manifest]:
    db_settings, db_secret = database_env(spec, site.name)
    datacenters = [
        {
            "id": dc.id,
            "name": dc.name,
            "city": dc.city,
            "country_code": dc.country_code,
            "url": f"https://{dc.domain}",
        }
        for dc in spec.datacenters
    ]
    config = {
        **db_settings,
        "HEMISPHERE_INSTALLATION": spec.name,
        "HEMISPHERE_VERSION": spec.version,
        "HEMISPHERE_PUBLIC_URL": spec.console_url,
        "HEMISPHERE_IDENTITY_MODE": _identity_mode(spec),
        "HEMISPHERE_DATACENTERS": json.dumps(datacenters, separators=(",", ":")),
        "HEMISPHERE_AGENT_TOKENS_DIR": "/etc/hemisphere/agent-tokens",
        "HEMISPHERE_CA_DIR": "/etc/hemisphere/ca",
    }
    env = [
        *db_secret,
        _secret_env("HEMISPHERE_SIGNING_PRIVATE_KEY", SIGNING_SECRET, "private-key"),
        _secret_env("HEMISPHERE_ADMIN_PASSWORD", ADMIN_SECRET, "password"),
    ]
    mounts = {AGENT_TOKENS_SECRET: "/etc/hemisphere/agent-tokens", CA_SECRET: "/etc/hemisphere/ca"}
    return [
        _config_map(site.name, _CONSOLE, config),
        _service_account(site.name, _CONSOLE, automount=False),
        _deployment(
            spec,
            site,
            _CONSOLE,
            args=["serve", "console"],
            config=config,
            secret_env=env,
            replicas=2,
            mounts=mounts,
        ),
        _service(site.name, _CONSOLE),
        _ingress(site, _CONSOLE, [spec.console_host]),
    ]


def _console_url_from(spec: InstallSpec, site: str) -> str:
    if site == spec.console_site:
        return f"http://{_name(_CONSOLE)}.{NAMESPACE}.svc"
    return spec.console_url


def _workspace_rbac(dc: Datacenter) -> list[Manifest]:
    rules = [
        {
            "apiGroups": [""],
            "resources": ["pods", "services", "persistentvolumeclaims", "configmaps", "secrets"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {
            "apiGroups": [""],
            "resources": ["pods/exec", "pods/log", "pods/attach"],
            "verbs": ["get", "create"],
        },
        {
            "apiGroups": ["apps"],
            "resources": ["statefulsets"],
            "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
    ]
    name = _name("dc-workspaces")
    return [
        make(
            "rbac.authorization.k8s.io/v1",
            "Role",
            name,
            site=dc.name,
            phase="platform",
            component=_DC,
            rules=rules,
        ),
        make(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            name,
            site=dc.name,
            phase="platform",
            component=_DC,
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            subjects=[{"kind": "ServiceAccount", "name": _name(_DC), "namespace": NAMESPACE}],
        ),
    ]


def _datacenter(spec: InstallSpec, dc: Datacenter) -> list[Manifest]:
    db_settings, db_secret = database_env(spec, dc.name)
    console_url = _console_url_from(spec, dc.name)
    config = {
        **db_settings,
        "HEMISPHERE_DATACENTER_ID": str(dc.id),
        "HEMISPHERE_DATACENTER_NAME": dc.name,
        "HEMISPHERE_DOMAIN": dc.domain,
        "HEMISPHERE_PUBLIC_URL": f"https://{dc.domain}",
        "HEMISPHERE_CONSOLE_URL": console_url,
        "HEMISPHERE_IDENTITY_MODE": _identity_mode(spec),
        "HEMISPHERE_RUNTIME": dc.runtime,
        "HEMISPHERE_STORAGE_CLASS": BLOCK_STORAGE_CLASS,
        "HEMISPHERE_WORKSPACE_NAMESPACE": NAMESPACE,
    }
    if dc.storage.ceph.filesystem:
        config["HEMISPHERE_FILE_STORAGE_CLASS"] = FILE_STORAGE_CLASS
    env = [*db_secret, _secret_env("HEMISPHERE_SIGNING_PUBLIC_KEY", SIGNING_SECRET, "public-key")]
    if not spec.shares_database:
        # A DC with its own database pulls the identity change feed itself, with its agent token.
        env.append(_secret_env("HEMISPHERE_AGENT_TOKEN", AGENT_SECRET, "token"))
    kubernetes_runtime = dc.runtime == "kubernetes"
    out = [
        _config_map(dc.name, _DC, config),
        _service_account(dc.name, _DC, automount=kubernetes_runtime),
        _deployment(
            spec,
            dc,
            _DC,
            args=["serve", "dc", "--datacenter", str(dc.id)],
            config=config,
            secret_env=env,
            replicas=1,
            mounts={CA_SECRET: "/etc/hemisphere/ca"},
            privileged=not kubernetes_runtime,
            automount=kubernetes_runtime,
        ),
        _service(dc.name, _DC),
        _ingress(dc, _DC, [dc.domain, f"*.{dc.domain}"]),
    ]
    if kubernetes_runtime:
        out += _workspace_rbac(dc)
    else:
        out.append(
            make(
                "v1",
                "PersistentVolumeClaim",
                _name("workspaces"),
                site=dc.name,
                phase="platform",
                component=_DC,
                spec={
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": BLOCK_STORAGE_CLASS,
                    "resources": {"requests": {"storage": "100Gi"}},
                },
            )
        )
    agent_config = {
        "HEMISPHERE_DATACENTER_ID": str(dc.id),
        "HEMISPHERE_CONSOLE_URL": console_url,
        "HEMISPHERE_DC_URL": f"http://{_name(_DC)}.{NAMESPACE}.svc",
    }
    out += [
        _config_map(dc.name, _AGENT, agent_config),
        _service_account(dc.name, _AGENT, automount=False),
        _deployment(
            spec,
            dc,
            _AGENT,
            args=["serve", "agent", "--datacenter", str(dc.id)],
            config=agent_config,
            secret_env=[_secret_env("HEMISPHERE_AGENT_TOKEN", AGENT_SECRET, "token")],
            replicas=1,
            mounts={CA_SECRET: "/etc/hemisphere/ca"},
        ),
    ]
    return out


def render_platform(spec: InstallSpec, site_name: str) -> list[Manifest]:
    """Console (on the console's site) and DC services plus agent (on each DC)."""
    site = spec.site(site_name)
    out: list[Manifest] = []
    if site_name == spec.console_site:
        out += _console(spec, site)
    if isinstance(site, Datacenter):
        out += _datacenter(spec, site)
    return out
