"""The Kubernetes harness: N independent, real control planes on loopback for the tests.

Each cluster is its own etcd + kube-apiserver (TLS, client-certificate auth, RBAC) +
kube-controller-manager + kube-scheduler, with kwok simulating nodes so that Pods of Deployments,
StatefulSets and Jobs become Running/Ready, and a tiny stand-in CSI provisioner
(`tests/services/kube_provisioner.py`) that binds PersistentVolumeClaims. The binaries come from
`scripts/build-k8s.sh` (`.cache/k8s-bin/`).

kwok is also the "kubelet" the API server proxies exec/port-forward to: a `ClusterExec` runs exec
requests as local processes in the cluster's `exec_home` directory (HOME points there), and a
`ClusterPortForward` sends pod port 8080 to `127.0.0.1:<forward_port>`. So the exec and
port-forward subresources go through the real API server and the real streaming protocols; what
runs at the far end is a host process instead of a container.

Use the session fixture `kube_harness`: `kube_harness.clusters(n)` returns the first n clusters of
one shared pool (starting more on demand). Tests leave clusters clean (`cluster.reset()`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("HEMISPHERE_K8S_BIN", REPO / ".cache" / "k8s-bin"))
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODES_PER_CLUSTER = 2
FORWARDED_POD_PORT = 8080
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
START_TIMEOUT_S = 180.0


class HarnessError(RuntimeError):
    """A harness component did not start; the message carries the tail of its log."""


def _free_port() -> int:
    """A free port below the ephemeral range, so no outgoing connection takes it before the
    component binds it."""
    low, _ = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    while True:
        port = random.randrange(10000, max(low, 10001))
        if port in _TAKEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port


_TAKEN: set[int] = set()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphans if pytest is killed


# ---------------------------------------------------------------------------------------- PKI


@dataclass(frozen=True)
class _KeyPair:
    cert: Path
    key: Path


class _Pki:
    """A CA and the certificates one cluster needs (EC P-256: fast to generate)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, f"hemisphere-test-ca-{directory.parent.name}")]
        )
        now = dt.datetime.now(dt.UTC)
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        self.ca = directory / "ca.crt"
        self.ca.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))
        sa_key = ec.generate_private_key(ec.SECP256R1())
        self.sa_key = self._write_key(directory / "sa.key", sa_key)
        self.sa_pub = directory / "sa.pub"
        self.sa_pub.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    @staticmethod
    def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
        return path

    def issue(
        self, stem: str, cn: str, *, orgs: tuple[str, ...] = (), server: bool = False
    ) -> _KeyPair:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
                    if server
                    else [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.DNSName("kubernetes"),
                        x509.DNSName("kubernetes.default.svc"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        cert = builder.sign(self._ca_key, hashes.SHA256())
        cert_path = self.dir / f"{stem}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return _KeyPair(cert_path, self._write_key(self.dir / f"{stem}.key", key))


def _kubeconfig(path: Path, server: str, ca: Path, pair: _KeyPair, name: str) -> Path:
    """A self-contained kubeconfig (embedded data, so it can be copied anywhere)."""
    import base64

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}
        ],
        "users": [
            {
                "name": f"{name}-admin",
                "user": {
                    "client-certificate-data": b64(pair.cert),
                    "client-key-data": b64(pair.key),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


# ----------------------------------------------------------------------------------- clusters


@dataclass
class KubeCluster:
    """One running control plane. `kubeconfig` (context `name`) has cluster-admin rights."""

    name: str
    dir: Path
    kubeconfig: Path
    server: str
    exec_home: Path
    forward_port: int
    start_seconds: float = 0.0
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)
    _admin: _KeyPair | None = field(default=None, repr=False)
    _ca: Path | None = field(default=None, repr=False)

    @property
    def context(self) -> str:
        return self.name

    def client(self, timeout: float = 30.0) -> httpx.Client:
        assert self._admin is not None and self._ca is not None
        ctx = ssl.create_default_context(cafile=str(self._ca))
        ctx.load_cert_chain(str(self._admin.cert), str(self._admin.key))
        return httpx.Client(base_url=self.server, verify=ctx, timeout=timeout)

    def kubectl_env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def log_tail(self, component: str, lines: int = 30) -> str:
        path = self.dir / "logs" / f"{component}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> list[str]:
        """Components that have exited (empty when all run)."""
        return [name for name, p in self._procs.items() if p.poll() is not None]

    def reset(self) -> None:
        """Delete everything tests created: non-system namespaces, CRDs, storage classes, PVs,
        and cluster-scoped RBAC managed by Hemisphere. Waits until namespaces are gone."""
        force = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}
        with self.client() as c:
            names = [
                ns["metadata"]["name"]
                for ns in c.get("/api/v1/namespaces").json()["items"]
                if ns["metadata"]["name"] not in SYSTEM_NAMESPACES
            ]
            # Terminating namespaces take no new pods; then remove the pods without grace (kwok
            # would honour the grace period), so the namespace controller has nothing to wait for.
            for name in names:
                c.delete(f"/api/v1/namespaces/{name}")
            for name in names:
                c.request("DELETE", f"/api/v1/namespaces/{name}/pods", json=force)
            for coll in (
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                "/apis/networking.k8s.io/v1/ingressclasses",
            ):
                c.delete(coll, params={"labelSelector": "app.kubernetes.io/managed-by=hemisphere"})
            c.delete("/apis/storage.k8s.io/v1/storageclasses")

            def namespaces_gone() -> bool:
                items = c.get("/api/v1/namespaces").json()["items"]
                return all(ns["metadata"]["name"] in SYSTEM_NAMESPACES for ns in items)

            self._wait_until(c, "namespaces deleted", namespaces_gone)
            crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
            for item in c.get(crds).json()["items"]:
                c.delete(f"{crds}/{item['metadata']['name']}")
            self._wait_until(c, "CRDs deleted", lambda: not c.get(crds).json()["items"])
            c.delete("/api/v1/persistentvolumes")

    def _wait_until(self, c: httpx.Client, what: str, done: Any) -> None:
        deadline = time.monotonic() + 120
        while not done():
            if time.monotonic() > deadline:
                raise HarnessError(f"{self.name}: {what} not reached within 120s")
            time.sleep(0.1)

    def stop(self) -> None:
        for name in ("provisioner", "kwok", "kube-scheduler", "kube-controller-manager"):
            _terminate(self._procs.get(name))
        _terminate(self._procs.get("kube-apiserver"))
        _terminate(self._procs.get("etcd"))


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class KubeHarness:
    """Starts clusters on demand and keeps them for the session."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._clusters: list[KubeCluster] = []
        self._started = 0
        missing = [b for b in BINARIES if not (BIN_DIR / b).is_file()]
        if missing:
            raise HarnessError(
                f"Kubernetes test binaries missing in {BIN_DIR}: {', '.join(missing)}. "
                "Build them with `scripts/build-k8s.sh` (make test does this)."
            )

    def clusters(self, count: int) -> list[KubeCluster]:
        if count > len(self._clusters):
            self._clusters.extend(self._start(count - len(self._clusters)))
        return self._clusters[:count]

    def cluster(self) -> KubeCluster:
        return self.clusters(1)[0]

    @contextlib.contextmanager
    def scratch(self) -> Iterator[KubeCluster]:
        """A cluster of its own for one test (started in seconds), stopped afterwards."""
        (cluster,) = self._start(1, prefix="scratch")
        try:
            yield cluster
        finally:
            cluster.stop()

    def stop(self) -> None:
        for c in self._clusters:
            c.stop()

    # -- starting, all clusters of one call in lock-step (the waits overlap) -------------------

    def _start(self, count: int, prefix: str = "kube") -> list[KubeCluster]:
        t0 = time.monotonic()
        self._started += count
        staged = [self._prepare(f"{prefix}{self._started - count + i}") for i in range(count)]
        try:
            for s in staged:
                s.spawn_etcd()
            for s in staged:
                s.wait_etcd()
            for s in staged:
                s.spawn_apiserver()
            for s in staged:
                s.wait_apiserver()
            for s in staged:
                s.spawn_rest()
            for s in staged:
                s.wait_nodes_and_accounts()
        except BaseException:
            for s in staged:
                s.cluster.stop()
            raise
        elapsed = time.monotonic() - t0
        for s in staged:
            s.cluster.start_seconds = elapsed
        return [s.cluster for s in staged]

    def _prepare(self, name: str) -> _Starter:
        d = self.base / name
        (d / "logs").mkdir(parents=True, exist_ok=True)
        exec_home = d / "exec-home"
        exec_home.mkdir()
        return _Starter(name, d, exec_home)


class _Starter:
    """Start-up steps of one cluster (each `spawn_*` is followed by a `wait_*`)."""

    def __init__(self, name: str, d: Path, exec_home: Path) -> None:
        self.d = d
        self.pki = _Pki(d / "pki")
        self.ports = {k: _free_port() for k in ("etcd", "peer", "api", "kwok", "forward")}
        server = f"https://127.0.0.1:{self.ports['api']}"
        admin = self.pki.issue("admin", "hemisphere-admin", orgs=("system:masters",))
        self.cluster = KubeCluster(
            name=name,
            dir=d,
            kubeconfig=_kubeconfig(d / "kubeconfig", server, self.pki.ca, admin, name),
            server=server,
            exec_home=exec_home,
            forward_port=self.ports["forward"],
            _admin=admin,
            _ca=self.pki.ca,
        )
        self.deadline = time.monotonic() + START_TIMEOUT_S

    def _spawn(self, component: str, argv: list[str]) -> None:
        log = (self.d / "logs" / f"{component}.log").open("wb")
        self.cluster._procs[component] = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.d,
            preexec_fn=_die_with_parent,
            env={**os.environ, "GOMAXPROCS": "2", "PYTHONPATH": str(REPO)},
        )
        log.close()

    def _wait(self, what: str, component: str, check: Any) -> None:
        while time.monotonic() < self.deadline:
            proc = self.cluster._procs[component]
            if proc.poll() is not None:
                raise HarnessError(
                    f"{self.cluster.name}: {component} exited ({proc.returncode}) while waiting "
                    f"for {what}:\n{self.cluster.log_tail(component)}"
                )
            with contextlib.suppress(httpx.HTTPError, OSError):
                if check():
                    return
            time.sleep(0.2)
        raise HarnessError(
            f"{self.cluster.name}: {what} not reached in {START_TIMEOUT_S:.0f}s:\n"
            f"{self.cluster.log_tail(component)}"
        )

    def spawn_etcd(self) -> None:
        p = self.ports
        self._spawn(
            "etcd",
            [
                str(BIN_DIR / "etcd"),
                "--name=default",
                f"--data-dir={self.d / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{p['peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p['peer']}",
                f"--initial-cluster=default=http://127.0.0.1:{p['peer']}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=2147483648",
            ],
        )

    def wait_etcd(self) -> None:
        url = f"http://127.0.0.1:{self.ports['etcd']}/health"
        self._wait("etcd health", "etcd", lambda: httpx.get(url, timeout=2).status_code == 200)

    def spawn_apiserver(self) -> None:
        pki = self.pki
        serving = pki.issue("apiserver", "kube-apiserver", server=True)
        kubelet_client = pki.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", orgs=("system:masters",)
        )
        self._spawn(
            "kube-apiserver",
            [
                str(BIN_DIR / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports['api']}",
                f"--cert-dir={self.d / 'apiserver-certs'}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={pki.ca}",
                f"--kubelet-client-certificate={kubelet_client.cert}",
                f"--kubelet-client-key={kubelet_client.key}",
                "--kubelet-preferred-address-types=InternalIP",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=Node,RBAC",
                "--endpoint-reconciler-type=none",
                # No node-lifecycle controller runs to lift the not-ready taint from new nodes.
                "--disable-admission-plugins=TaintNodesByCondition",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--watch-cache=true",
                "--v=1",
            ],
        )

    def wait_apiserver(self) -> None:
        def ready() -> bool:
            with self.cluster.client(timeout=3) as c:
                return c.get("/readyz").status_code == 200

        self._wait("kube-apiserver /readyz", "kube-apiserver", ready)

    def spawn_rest(self) -> None:
        pki, c, d = self.pki, self.cluster, self.d
        # system:masters: one identity for all controllers (kubeadm gives each its own SA instead)
        kcm = pki.issue("kcm", "system:kube-controller-manager", orgs=("system:masters",))
        sched = pki.issue("scheduler", "system:kube-scheduler")
        kwok_client = pki.issue("kwok", "kwok-controller", orgs=("system:masters",))
        kwok_serving = pki.issue("kwok-serving", "kwok", server=True)
        self._spawn(
            "kube-controller-manager",
            [
                str(BIN_DIR / "kube-controller-manager"),
                f"--kubeconfig={_kubeconfig(d / 'kcm.kubeconfig', c.server, pki.ca, kcm, c.name)}",
                f"--authentication-kubeconfig={d / 'kcm.kubeconfig'}",
                f"--authorization-kubeconfig={d / 'kcm.kubeconfig'}",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca}",
                "--use-service-account-credentials=false",
                "--leader-elect=false",
                "--secure-port=0",
                "--controllers=*,-nodeipam,-nodelifecycle,-service-lb-controller,-cloud-node-lifecycle",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--concurrent-statefulset-syncs=10",
                "--v=1",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(BIN_DIR / "kube-scheduler"),
                f"--kubeconfig={_kubeconfig(d / 'sched.kubeconfig', c.server, pki.ca, sched, c.name)}",
                f"--authentication-kubeconfig={d / 'sched.kubeconfig'}",
                f"--authorization-kubeconfig={d / 'sched.kubeconfig'}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
        )
        config = [
            {
                "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                "kind": "KwokConfiguration",
                "options": {"enableCRDs": []},
            },
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterExec",
                "metadata": {"name": "exec-on-host"},
                "spec": {
                    "execs": [
                        {
                            "local": {
                                "workDir": str(c.exec_home),
                                "envs": [{"name": "HOME", "value": str(c.exec_home)}],
                            }
                        }
                    ]
                },
            },
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterPortForward",
                "metadata": {"name": "forward-to-loopback"},
                "spec": {
                    "forwards": [
                        {
                            "ports": [FORWARDED_POD_PORT],
                            "target": {"port": c.forward_port, "address": "127.0.0.1"},
                        }
                    ]
                },
            },
        ]
        (d / "kwok.yaml").write_text(yaml.safe_dump_all(config))
        self._spawn(
            "kwok",
            [
                str(BIN_DIR / "kwok"),
                f"--config={d / 'kwok.yaml'}",
                f"--kubeconfig={_kubeconfig(d / 'kwok.kubeconfig', c.server, pki.ca, kwok_client, c.name)}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                f"--node-port={self.ports['kwok']}",
                f"--server-address=127.0.0.1:{self.ports['kwok']}",
                f"--tls-cert-file={kwok_serving.cert}",
                f"--tls-private-key-file={kwok_serving.key}",
                "--cidr=10.244.0.1/16",
            ],
        )
        self._spawn(
            "provisioner",
            [
                sys.executable,
                "-m",
                "tests.services.kube_provisioner",
                "--server",
                c.server,
                "--ca",
                str(pki.ca),
                "--cert",
                str(c._admin.cert if c._admin else ""),
                "--key",
                str(c._admin.key if c._admin else ""),
                "--volumes-dir",
                str(d / "volumes"),
            ],
        )
        with c.client() as cl:
            for i in range(NODES_PER_CLUSTER):
                r = cl.post("/api/v1/nodes", json=_node(f"kwok-node-{i}"))
                if r.status_code not in (201, 409):
                    raise HarnessError(f"{c.name}: creating node failed: {r.text}")

    def wait_nodes_and_accounts(self) -> None:
        def nodes_ready() -> bool:
            with self.cluster.client(timeout=3) as c:
                nodes = c.get("/api/v1/nodes").json()["items"]
                ready = [
                    n
                    for n in nodes
                    if any(
                        cond["type"] == "Ready" and cond["status"] == "True"
                        for cond in n.get("status", {}).get("conditions", [])
                    )
                ]
                sa = c.get("/api/v1/namespaces/default/serviceaccounts/default")
                return len(ready) == NODES_PER_CLUSTER and sa.status_code == 200

        self._wait("kwok nodes Ready and default service account", "kwok", nodes_ready)
        for comp in ("kube-controller-manager", "kube-scheduler", "provisioner"):
            if self.cluster._procs[comp].poll() is not None:
                raise HarnessError(
                    f"{self.cluster.name}: {comp} exited:\n{self.cluster.log_tail(comp)}"
                )


def _node(name: str) -> dict[str, Any]:
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def kubectl_binary() -> Path:
    """The kubectl `make test` installs (Debian's kubernetes-client, extracted by
    scripts/build-k8s.sh); never whatever `kubectl` happens to be on PATH."""
    binary = BIN_DIR / "debian-kubectl"
    if not binary.is_file():
        raise RuntimeError(f"{binary} is missing: run `make deps-k8s` (scripts/build-k8s.sh)")
    return binary


def kubectl(cluster: KubeCluster, *args: str) -> str:
    """Run the project's kubectl against `cluster` and return stdout (raises with stderr on
    failure)."""
    proc = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)


@pytest.fixture(scope="session")
def kube_harness() -> Iterator[KubeHarness]:
    base = Path(tempfile.mkdtemp(prefix="hemisphere-kube-"))
    harness = KubeHarness(base)
    try:
        yield harness
    finally:
        harness.stop()
        subprocess.run(["rm", "-rf", str(base)], check=False)
