"""The `kubernetes` workspace runtime: each workspace is objects in the DC's cluster.

Per workspace `<id>`, in one namespace (default `codesphere-workspaces`), all labelled
`hemisphere.dev/workspace-id=<id>` and `app.kubernetes.io/managed-by=hemisphere`:

    PersistentVolumeClaim ws-<id>-home   the home directory, on the DC's storage class (Ceph)
    Service               ws-<id>        the preview/app port, selecting the Pod
    Pod                   ws-<id>        the sandbox; exists only while the workspace runs

Names are derived from the workspace id and every object is written with server-side apply
(field manager `hemisphere`), so a retried or crashed-and-rerun operation can neither duplicate
nor orphan anything: a rerun finds the same names. A bare Pod (not a StatefulSet) keeps the
state machine in the reconciler, where it is level-triggered from the DB: a Pod that dies is
observed FAILED and the reconciler decides, instead of a controller restarting it behind its
back (containers still restart in place: `restartPolicy: Always`).

Exec, terminal and port access go through the API server (pods/exec and pods/portforward,
websocket streams). `provision` only creates the claim: cloning `git_url` happens in an init
container on first start (the home is only mountable inside the cluster), and is skipped when
the home already holds a checkout, so a crash mid-clone is redone cleanly on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hemisphere.installer.live.client import KubeClient
from hemisphere.installer.live.errors import (
    ApiError,
    ApiUnavailable,
    Conflict,
    Invalid,
    LiveError,
    StreamError,
)
from hemisphere.installer.live.kubeconfig import ClusterAccess
from hemisphere.installer.live.streams import (
    close_port_forwards,
    exec_in_pod,
    open_pod_terminal,
    port_forward,
)
from hemisphere.workspaces.git_urls import (
    CREDENTIAL_HELPER,
    GIT_PASSWORD_ENV,
    GIT_USERNAME_ENV,
    split_credentials,
)
from hemisphere.workspaces.runtime.base import (
    ExecResult,
    Observed,
    ObservedPhase,
    RuntimePermanentError,
    RuntimeTemporaryError,
    SandboxSpec,
    Terminal,
    WorkspaceNotRunning,
)

__all__ = ["KubernetesRuntime", "KubernetesRuntimeConfig"]

Obj = dict[str, Any]
WORKSPACE_LABEL = "hemisphere.dev/workspace-id"
TEAM_LABEL = "hemisphere.dev/team-id"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED = {"app.kubernetes.io/managed-by": "hemisphere", COMPONENT_LABEL: "workspace"}
SELECTOR = "app.kubernetes.io/managed-by=hemisphere,app.kubernetes.io/component=workspace"
SPEC_HASH_ANNOTATION = "hemisphere.dev/spec-hash"
CONTAINER = "workspace"
HOME = "/home/user"
APP_PORT = 3000
EXEC_TIMEOUT_EXIT_CODE = 124
# Container states that will not fix themselves: the workspace is failed, with this reason.
_FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class KubernetesRuntimeConfig:
    """Where and how workspaces run on the DC's cluster."""

    access: ClusterAccess
    storage_class: str
    namespace: str = "codesphere-workspaces"
    images: Mapping[str, str] = field(default_factory=dict)  # base image id -> image reference
    image_pull_policy: str = "IfNotPresent"
    uid: int = 1000
    git_image: str = "alpine/git:2.45.2"
    bind_timeout_s: float = 30.0  # how long start() waits for the home claim to be Bound


def pod_name(workspace_id: int) -> str:
    return f"ws-{workspace_id}"


def claim_name(workspace_id: int) -> str:
    return f"ws-{workspace_id}-home"


def git_secret_name(workspace_id: int) -> str:
    """The Secret holding a gitUrl's credentials: the Pod spec names it, never the values."""
    return f"ws-{workspace_id}-git"


def _labels(spec: SandboxSpec | None, workspace_id: int) -> dict[str, str]:
    labels = {**MANAGED, WORKSPACE_LABEL: str(workspace_id)}
    if spec is not None:
        labels[TEAM_LABEL] = str(spec.team_id)
    return labels


def _translate(exc: LiveError, what: str) -> Exception:
    """API errors -> the runtime's retry-later / give-up types."""
    if isinstance(exc, ApiUnavailable):
        return RuntimeTemporaryError(f"{what}: {exc}")
    if isinstance(exc, Invalid):
        return RuntimePermanentError(f"{what}: {exc}")
    if isinstance(exc, ApiError) and exc.status in (400, 403, 404, 422):
        return RuntimePermanentError(f"{what}: {exc}")
    return RuntimeTemporaryError(f"{what}: {exc}")


def observe_pod(pod: Mapping[str, Any]) -> tuple[ObservedPhase, str | None]:
    """Map a Pod's status to the runtime's phase and reason (pure)."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return ObservedPhase.STOPPED, "stopping"
    phase = status.get("phase")
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _FATAL_WAITING:
            return ObservedPhase.FAILED, f"{waiting['reason']}: {waiting.get('message', '')}".strip(
                ": "
            )
    if phase in ("Failed", "Succeeded"):
        reason = status.get("reason") or status.get("message")
        for cs in status.get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if term:
                reason = reason or f"{term.get('reason')} (exit code {term.get('exitCode')})"
        return ObservedPhase.FAILED, f"pod {phase.lower()}: {reason or 'sandbox exited'}"
    if phase == "Running":
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if (conditions.get("Ready") or {}).get("status") == "True":
            return ObservedPhase.RUNNING, None
        return ObservedPhase.STARTING, "container not ready"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return ObservedPhase.STARTING, f"{scheduled.get('reason')}: {scheduled.get('message')}"
    return ObservedPhase.STARTING, None


class KubernetesRuntime:
    """WorkspaceRuntime on a Kubernetes cluster (see the module docstring)."""

    name = "kubernetes"

    def __init__(self, config: KubernetesRuntimeConfig) -> None:
        self.config = config
        self._client: KubeClient | None = None
        self._namespace_ready = False
        self._binding_mode: str | None = None

    @property
    def client(self) -> KubeClient:
        if self._client is None:
            self._client = KubeClient(self.config.access)
        return self._client

    async def aclose(self) -> None:
        await close_port_forwards()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- objects ---------------------------------------------------------------------------

    def _image(self, spec: SandboxSpec) -> str:
        image = self.config.images.get(spec.base_image)
        if image is None:
            known = ", ".join(sorted(self.config.images)) or "none configured"
            raise RuntimePermanentError(
                f"base image {spec.base_image!r} has no image on this data center (known: {known})"
            )
        return image

    def claim_manifest(self, spec: SandboxSpec) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name(spec.workspace_id),
                "namespace": self.config.namespace,
                "labels": _labels(spec, spec.workspace_id),
            },
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": self.config.storage_class,
                "resources": {"requests": {"storage": f"{spec.storage_mib}Mi"}},
            },
        }

    def git_secret_manifest(self, spec: SandboxSpec) -> Obj | None:
        """The clone's credentials as a Secret, or None when the gitUrl carries none."""
        _, credentials = split_credentials(spec.git_url or "")
        if credentials is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": git_secret_name(spec.workspace_id),
                "namespace": self.config.namespace,
                "labels": _labels(spec, spec.workspace_id),
            },
            "stringData": {"username": credentials[0], "password": credentials[1]},
        }

    def service_manifest(self, spec: SandboxSpec) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": pod_name(spec.workspace_id),
                "namespace": self.config.namespace,
                "labels": _labels(spec, spec.workspace_id),
            },
            "spec": {
                "selector": {WORKSPACE_LABEL: str(spec.workspace_id), **MANAGED},
                "ports": [{"name": "app", "port": APP_PORT, "targetPort": APP_PORT}],
            },
        }

    def pod_manifest(self, spec: SandboxSpec) -> Obj:
        c = self.config
        env = [{"name": "HOME", "value": HOME}] + [
            {"name": k, "value": v} for k, v in sorted(spec.env.items())
        ]
        resources = {
            "requests": {"cpu": f"{spec.cpu_millis}m", "memory": f"{spec.memory_mib}Mi"},
            "limits": {"cpu": f"{spec.cpu_millis}m", "memory": f"{spec.memory_mib}Mi"},
        }
        home_mount = [{"name": "home", "mountPath": HOME}]
        pod_spec: Obj = {
            "restartPolicy": "Always",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostname": pod_name(spec.workspace_id),
            "terminationGracePeriodSeconds": 10,
            "securityContext": {
                "runAsUser": c.uid,
                "runAsGroup": c.uid,
                "fsGroup": c.uid,
                "runAsNonRoot": True,
            },
            "containers": [
                {
                    "name": CONTAINER,
                    "image": self._image(spec),
                    "imagePullPolicy": c.image_pull_policy,
                    "command": ["/bin/sh", "-c", "trap 'exit 0' TERM INT; sleep infinity & wait"],
                    "workingDir": HOME,
                    "env": env,
                    "resources": resources,
                    "volumeMounts": home_mount,
                    "ports": [{"name": "app", "containerPort": APP_PORT}],
                }
            ],
            "volumes": [
                {
                    "name": "home",
                    "persistentVolumeClaim": {"claimName": claim_name(spec.workspace_id)},
                }
            ],
        }
        if spec.git_url:
            url, credentials = split_credentials(spec.git_url)
            ref = f" --branch {shlex.quote(spec.git_ref)}" if spec.git_ref else ""
            script = (
                f"[ -d {HOME}/app/.git ] || "
                f"(rm -rf {HOME}/app.partial && git clone{ref} -- {shlex.quote(url)} "
                f"{HOME}/app.partial && mv {HOME}/app.partial {HOME}/app)"
            )
            clone_env: list[Obj] = [
                {"name": "HOME", "value": HOME},
                {"name": "GIT_TERMINAL_PROMPT", "value": "0"},
            ]
            if credentials is not None:
                secret = git_secret_name(spec.workspace_id)
                clone_env += [
                    {"name": "GIT_CONFIG_COUNT", "value": "1"},
                    {"name": "GIT_CONFIG_KEY_0", "value": "credential.helper"},
                    {"name": "GIT_CONFIG_VALUE_0", "value": CREDENTIAL_HELPER},
                    *(
                        {
                            "name": variable,
                            "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
                        }
                        for variable, key in (
                            (GIT_USERNAME_ENV, "username"),
                            (GIT_PASSWORD_ENV, "password"),
                        )
                    ),
                ]
            pod_spec["initContainers"] = [
                {
                    "name": "clone",
                    "image": c.git_image,
                    "imagePullPolicy": c.image_pull_policy,
                    "command": ["/bin/sh", "-c", script],
                    "env": clone_env,
                    "volumeMounts": home_mount,
                }
            ]
        digest = hashlib.sha256(json.dumps(pod_spec, sort_keys=True).encode()).hexdigest()[:16]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name(spec.workspace_id),
                "namespace": c.namespace,
                "labels": _labels(spec, spec.workspace_id),
                "annotations": {SPEC_HASH_ANNOTATION: digest},
            },
            "spec": pod_spec,
        }

    async def _ensure_namespace(self) -> None:
        if self._namespace_ready:
            return
        await self.client.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": self.config.namespace, "labels": dict(MANAGED)},
            }
        )
        self._namespace_ready = True

    # -- the Protocol ------------------------------------------------------------------------

    async def observe(self) -> dict[int, Observed]:
        ns = self.config.namespace
        try:
            pods, claims = await asyncio.gather(
                self.client.list("v1", "Pod", ns, label_selector=SELECTOR),
                self.client.list("v1", "PersistentVolumeClaim", ns, label_selector=SELECTOR),
            )
        except LiveError as exc:
            raise RuntimeTemporaryError(f"observing workspaces in {ns}: {exc}") from exc
        seen: dict[int, Observed] = {}
        for claim in claims:
            wid = _workspace_id(claim)
            if wid is None:
                continue
            if claim["metadata"].get("deletionTimestamp"):
                seen[wid] = Observed(wid, ObservedPhase.STOPPED, "storage being removed")
            elif (claim.get("status") or {}).get("phase") == "Lost":
                seen[wid] = Observed(wid, ObservedPhase.FAILED, "storage lost (volume gone)")
            else:
                seen[wid] = Observed(wid, ObservedPhase.STOPPED)
        for pod in pods:
            wid = _workspace_id(pod)
            if wid is None:
                continue
            phase, reason = observe_pod(pod)
            if wid not in seen and phase is not ObservedPhase.STOPPED:
                phase, reason = ObservedPhase.FAILED, "sandbox without storage"
            seen[wid] = Observed(wid, phase, reason)
        return seen

    async def provision(self, spec: SandboxSpec) -> None:
        try:
            await self._ensure_namespace()
            await self.client.apply(self.claim_manifest(spec))
            await self.client.apply(self.service_manifest(spec))
            if (secret := self.git_secret_manifest(spec)) is not None:
                await self.client.apply(secret)
        except LiveError as exc:
            raise _translate(exc, f"provisioning workspace {spec.workspace_id}") from exc

    async def _wait_bound(self, workspace_id: int) -> None:
        """With an Immediate storage class, create the Pod only once its claim is Bound: a Pod
        whose claim is unbound is unschedulable, and the scheduler's retry backoff (up to 10 s
        per attempt) would then dominate the start time. WaitForFirstConsumer classes bind
        when the Pod is scheduled, so there is nothing to wait for."""
        if self._binding_mode is None:
            sc = await self.client.get(
                "storage.k8s.io/v1", "StorageClass", self.config.storage_class
            )
            if sc is None:
                raise RuntimePermanentError(
                    f"storage class {self.config.storage_class!r} does not exist on this "
                    "cluster; fix the data center's storage class in the install spec"
                )
            self._binding_mode = str(sc.get("volumeBindingMode") or "Immediate")
        if self._binding_mode != "Immediate":
            return
        deadline = asyncio.get_running_loop().time() + self.config.bind_timeout_s
        delay = 0.05
        while True:
            claim = await self.client.get(
                "v1", "PersistentVolumeClaim", claim_name(workspace_id), self.config.namespace
            )
            phase = ((claim or {}).get("status") or {}).get("phase")
            if phase == "Bound":
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise RuntimeTemporaryError(
                    f"storage of workspace {workspace_id} is not bound yet (phase {phase}); "
                    f"is the provisioner of storage class {self.config.storage_class!r} running?"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    async def start(self, spec: SandboxSpec) -> None:
        wanted = self.pod_manifest(spec)
        what = f"starting workspace {spec.workspace_id}"
        try:
            await self.provision(spec)
            await self._wait_bound(spec.workspace_id)
            live = await self.client.get("v1", "Pod", pod_name(spec.workspace_id),
                                         self.config.namespace)  # fmt: skip
            if live is not None:
                meta = live["metadata"]
                if meta.get("deletionTimestamp"):
                    raise RuntimeTemporaryError(f"{what}: the previous sandbox is still stopping")
                have = (meta.get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
                if have == wanted["metadata"]["annotations"][SPEC_HASH_ANNOTATION]:
                    return  # already there, same spec: nothing to do
                # Pods are immutable: a changed plan/env/image means a new sandbox.
                await self.client.delete("v1", "Pod", meta["name"], self.config.namespace)
                raise RuntimeTemporaryError(f"{what}: replacing the sandbox with the new spec")
            await self.client.create(wanted)
        except Conflict:
            return  # created concurrently (a rerun raced an earlier attempt): same name, done
        except LiveError as exc:
            raise _translate(exc, what) from exc

    async def stop(self, workspace_id: int) -> None:
        try:
            await self.client.delete("v1", "Pod", pod_name(workspace_id), self.config.namespace)
        except LiveError as exc:
            raise _translate(exc, f"stopping workspace {workspace_id}") from exc

    async def remove(self, workspace_id: int) -> None:
        ns = self.config.namespace
        try:
            await self.client.delete("v1", "Pod", pod_name(workspace_id), ns)
            await self.client.delete("v1", "Service", pod_name(workspace_id), ns)
            await self.client.delete("v1", "PersistentVolumeClaim", claim_name(workspace_id), ns)
            await self.client.delete("v1", "Secret", git_secret_name(workspace_id), ns)
        except LiveError as exc:
            raise _translate(exc, f"removing workspace {workspace_id}") from exc

    async def _running_pod(self, workspace_id: int) -> str:
        try:
            pod = await self.client.get("v1", "Pod", pod_name(workspace_id), self.config.namespace)
        except LiveError as exc:
            raise _translate(exc, f"workspace {workspace_id}") from exc
        if pod is None or observe_pod(pod)[0] is not ObservedPhase.RUNNING:
            raise WorkspaceNotRunning(f"workspace {workspace_id} is not running")
        return pod_name(workspace_id)

    async def exec(
        self,
        workspace_id: int,
        command: str,
        *,
        env: Mapping[str, str],
        working_dir: str | None,
        timeout_s: float,
    ) -> ExecResult:
        pod = await self._running_pod(workspace_id)
        script = command if working_dir is None else f"cd {shlex.quote(working_dir)} && {command}"
        # The API has no way to kill an exec'd process: `timeout` inside the sandbox does it.
        argv = ["env", *(f"{k}={v}" for k, v in sorted(env.items()))]
        argv += ["timeout", "-k", "2", f"{max(timeout_s, 0.1):.1f}", "bash", "-c", script]
        try:
            result = await asyncio.wait_for(
                exec_in_pod(self.config.access, self.config.namespace, pod, argv,
                            container=CONTAINER),
                timeout=timeout_s + 15,
            )  # fmt: skip
        except TimeoutError:
            return ExecResult("", "", EXEC_TIMEOUT_EXIT_CODE, timed_out=True)
        except StreamError as exc:
            raise RuntimeTemporaryError(f"exec in workspace {workspace_id}: {exc}") from exc
        timed_out = result.exit_code in (EXEC_TIMEOUT_EXIT_CODE, 137)
        return ExecResult(
            result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
            EXEC_TIMEOUT_EXIT_CODE if timed_out else result.exit_code,
            timed_out=timed_out,
        )

    async def open_terminal(self, workspace_id: int, cols: int, rows: int) -> Terminal:
        pod = await self._running_pod(workspace_id)
        try:
            return await open_pod_terminal(
                self.config.access, self.config.namespace, pod, ["bash", "-l"],
                container=CONTAINER, cols=cols, rows=rows,
            )  # fmt: skip
        except StreamError as exc:
            raise RuntimeTemporaryError(f"terminal in workspace {workspace_id}: {exc}") from exc

    async def connect_port(
        self, workspace_id: int, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        pod = await self._running_pod(workspace_id)
        try:
            return await port_forward(self.config.access, self.config.namespace, pod, port)
        except StreamError as exc:
            raise RuntimeTemporaryError(f"port {port} of workspace {workspace_id}: {exc}") from exc

    async def listening_ports(self, workspace_id: int) -> list[int]:
        result = await self.exec(
            workspace_id,
            "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null",
            env={},
            working_dir=None,
            timeout_s=10,
        )
        return parse_listening(result.output)

    async def storage_usage_mib(self, workspace_id: int) -> int:
        result = await self.exec(
            workspace_id, 'du -sm -- "$HOME" | cut -f1', env={}, working_dir=None, timeout_s=60
        )
        with contextlib.suppress(ValueError):
            return int(result.output.strip().splitlines()[-1])
        raise RuntimeTemporaryError(
            f"storage usage of workspace {workspace_id}: unexpected output {result.output!r} "
            f"{result.error!r}"
        )


def parse_listening(proc_net_tcp: str) -> list[int]:
    """Ports in state LISTEN (0A) from /proc/net/tcp{,6} text."""
    ports: set[int] = set()
    for line in proc_net_tcp.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[3] == "0A" and ":" in parts[1]:
            with contextlib.suppress(ValueError):
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return sorted(ports)


def _workspace_id(obj: Mapping[str, Any]) -> int | None:
    value = ((obj.get("metadata") or {}).get("labels") or {}).get(WORKSPACE_LABEL)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
