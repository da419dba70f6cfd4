"""The `local` workspace runtime: one bubblewrap sandbox per workspace on this host.

Each workspace gets its own pid/mount/net/ipc/uts (and user, cgroup) namespaces, a distinct
unprivileged uid/gid (`uid_base + workspace id`), its home from the storage backend bound at
/home/user, the host's /usr read-only, a seccomp filter (seccomp.py), and cgroup v1 limits from
its plan (sandbox.py and cgroups.py explain how).

uid ranges are per installation: two platforms on one host must never give two workspaces the
same uid (they could signal and read each other). `uid_base` is configuration
(`HEMISPHERE_UID_BASE`); its default, `default_uid_base(root)`, derives a 2^20-uid slot from the
data directory, so two installations with different data directories get different ranges
without configuration (1 in 1792 pairs collide: set it explicitly when several share a host).
The base in use is recorded in `root/uid-base`: it cannot change under existing homes.

Sandboxes run detached from the platform process: a platform crash leaves developers' shells
alone, and the next platform process finds them again.

Base images: the only root file system this host has is its own, so every base image id
(`ubuntu-24.04`, `debian-12`, ...) maps to the host's /usr, read-only. `base_images` restricts
which ids are accepted.

State under `root` (the platform must run as root):

    homes/ws-<id>/                 the workspace's home (storage/image.py or storage/local.py)
    sandboxes/ws-<id>/sandbox.json pid + start time of the sandbox's pid 1, uid/gid (no env)
    sandboxes/ws-<id>/sandbox.log  bubblewrap's stderr (the reason when a start fails)
    uid-base                       the uid base this installation's homes belong to

Nothing under `root` the privileged side opens by path is writable by a tenant (sandboxes/ is
root's, 0700; a home is reached only through its storage's own entry, and bound from an fd).

`observe` trusts nothing but the kernel: a sandbox runs iff the recorded pid is alive AND has the
recorded start time (so a reused pid is not mistaken for it); leftovers of interrupted
operations (a cgroup with processes but no live sandbox, a sandbox record without a home, a
half-built home) are reported FAILED, which makes the reconciler stop (= clean) the workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import posixpath
import shutil
import signal
import socket
import urllib.parse
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from hemisphere.workspaces.egress import UNREACHABLE, CheckedRemote, GitEgressPolicy, GitUrlRefused
from hemisphere.workspaces.runtime import cgroups, inside
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
from hemisphere.workspaces.runtime.cgroups import CgroupLimits, WorkspaceCgroup
from hemisphere.workspaces.runtime.inside import launch_argv, pty_argv
from hemisphere.workspaces.runtime.netns import open_connection_in_netns
from hemisphere.workspaces.runtime.pipes import OutputCollector, read_until
from hemisphere.workspaces.runtime.procfs import (
    PROC,
    devpts_device,
    is_same_process,
    listening_tcp_ports,
    read_stat,
)
from hemisphere.workspaces.runtime.pty import ForeignPty, PtyTerminal, receive_master
from hemisphere.workspaces.runtime.sandbox import (
    DEFAULT_PATH,
    HOST_ENV,
    SANDBOX_HOME,
    SANDBOX_USER,
    SandboxUser,
    check_env,
    clone_argv,
    clone_request,
    enter_argv,
    etc_files,
    join_cgroups_argv,
    sandbox_argv,
    sandbox_options,
)
from hemisphere.workspaces.runtime.seccomp import build_filter
from hemisphere.workspaces.storage.base import WorkspaceStorage
from hemisphere.workspaces.storage.errors import StorageCapacityError, StorageError
from hemisphere.workspaces.storage.local import LocalDirectoryStorage

log = logging.getLogger("hemisphere.runtime")

REQUIRED_TOOLS = ("bwrap", "setpriv", "nsenter", "setsid", "git", inside.PYTHON)
EXEC_TIMEOUT_EXIT_CODE = 124  # as coreutils `timeout`
_MIB = 1024 * 1024
_UID_MAX = 2**31 - 2
_SECCOMP = build_filter()
_LEGACY_UID_BASE = 200_000
_UID_SLOT = 2**20  # uids (= workspace ids) per installation
_UID_SLOTS = 1792  # slots from 2^27 up, all below _UID_MAX


@dataclass(frozen=True)
class _SandboxRecord:
    """What a later platform process needs to find and enter a running sandbox. Never the
    workspace's environment: that lives in the sandbox (inside.ENV_FILE) and, sealed, in the DB."""

    pid: int
    start_ticks: int
    uid: int
    gid: int
    team_id: int

    @classmethod
    def load(cls, path: Path) -> _SandboxRecord | None:
        try:
            raw = json.loads(path.read_text())
            record = cls(
                pid=int(raw["pid"]),
                start_ticks=int(raw["start_ticks"]),
                uid=int(raw["uid"]),
                gid=int(raw["gid"]),
                team_id=int(raw["team_id"]),
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None  # torn or foreign file: treated as "no live sandbox recorded"
        if "env" in raw:
            record.save(path)  # written by an older version, with env values: scrub them
        return record

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class LocalRuntime:
    """`WorkspaceRuntime` (runtime/base.py) on this host with bubblewrap and cgroups v1."""

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        uid_base: int | None = None,
        cgroup_parent: str = "hemisphere",
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        storage: WorkspaceStorage | None = None,
        base_images: Collection[str] | None = None,
        start_timeout_s: float = 10.0,
        clone_timeout_s: float = 600.0,
        connect_timeout_s: float = 5.0,
        max_output_bytes: int = _MIB,
        egress: GitEgressPolicy | None = None,
    ) -> None:
        _require_host()
        cgroups.check_controllers(cgroup_root)
        if uid_base is not None and not 1000 <= uid_base <= _UID_MAX:
            raise RuntimePermanentError(
                f"uid_base {uid_base} must be between 1000 and {_UID_MAX}; "
                "set HEMISPHERE_UID_BASE accordingly"
            )
        self.root = root.absolute()
        self.cgroup_parent = cgroup_parent
        self.cgroup_root = cgroup_root
        self.base_images = frozenset(base_images) if base_images is not None else None
        self.start_timeout_s = start_timeout_s
        self.clone_timeout_s = clone_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_output_bytes = max_output_bytes
        # Where git clones may connect (egress.py); by default nothing internal.
        self.egress = egress or GitEgressPolicy()
        self._sandboxes = self.root / "sandboxes"
        try:
            self._sandboxes.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.root, 0o711)  # noqa: S103 - homes below must be reachable
            self.storage = storage or LocalDirectoryStorage(self.root / "homes")
            self.uid_base = self._settle_uid_base(uid_base)
        except (StorageError, OSError) as exc:
            raise RuntimePermanentError(str(exc)) from exc
        self._locks: dict[int, asyncio.Lock] = {}
        self._busy: set[int] = set()

    def _settle_uid_base(self, configured: int | None) -> int:
        """The uid base this installation uses, kept in `root/uid-base` once chosen: homes are
        owned by their uids, so it must not change under existing workspaces. Installations
        from before it was recorded used 200000."""
        marker = self.root / "uid-base"
        try:
            recorded: int | None = int(marker.read_text())
        except FileNotFoundError:
            recorded = _LEGACY_UID_BASE if self.storage.workspace_ids() else None
        except ValueError:
            recorded = None
        chosen = configured if configured is not None else recorded
        if chosen is None:
            chosen = default_uid_base(self.root)
        if recorded is not None and chosen != recorded and self.storage.workspace_ids():
            raise RuntimePermanentError(
                f"HEMISPHERE_UID_BASE is {chosen}, but the existing workspaces under "
                f"{self.root} belong to uids from {recorded}; set HEMISPHERE_UID_BASE={recorded} "
                "(or remove the workspaces first)"
            )
        if recorded != chosen:
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(f"{chosen}\n")
            os.replace(tmp, marker)
        return chosen

    # ---- observing -----------------------------------------------------------------------

    async def observe(self) -> dict[int, Observed]:
        ids = (
            self.storage.workspace_ids()
            | self._recorded_ids()
            | cgroups.workspace_ids(self.cgroup_root, self.cgroup_parent)
        )
        return {wid: self._observe_one(wid) for wid in sorted(ids)}

    def _observe_one(self, wid: int) -> Observed:
        if self._live(wid) is not None:
            return Observed(wid, ObservedPhase.RUNNING)
        if wid in self._busy:
            return Observed(wid, ObservedPhase.STARTING)
        if self._cgroup(wid).pids():
            return Observed(
                wid,
                ObservedPhase.FAILED,
                "processes of the workspace are running without its sandbox "
                "(interrupted start, or the sandbox died); stopping cleans them up",
            )
        if self.storage.mounted(wid):
            return Observed(
                wid,
                ObservedPhase.FAILED,
                "the home is mounted without a sandbox (interrupted start or stop); "
                "stopping unmounts it",
            )
        if self.storage.exists(wid):
            if self._record_path(wid).exists():
                return Observed(wid, ObservedPhase.STOPPED, "the sandbox exited on its own")
            return Observed(wid, ObservedPhase.STOPPED)
        return Observed(
            wid,
            ObservedPhase.FAILED,
            "leftovers of an interrupted provision or removal, without a home; "
            "stopping or removing the workspace cleans them up",
        )

    # ---- lifecycle -----------------------------------------------------------------------

    async def provision(self, spec: SandboxSpec) -> None:
        wid = spec.workspace_id
        user = self._user(wid)
        self._check_image(spec.base_image)
        git = _check_git(spec.git_url, spec.git_ref)
        async with self._lock(wid):
            if self.storage.exists(wid):
                return
            self._busy.add(wid)
            try:
                remote = None
                if git is not None:
                    try:  # resolved and checked here; the clone connects to that address only
                        remote = await self.egress.check(git[0])
                    except GitUrlRefused as exc:
                        raise RuntimePermanentError(str(exc)) from None

                async def clone(target: Path) -> None:
                    assert git is not None and remote is not None
                    await self._clone(spec, user, target, remote, git[1])

                await self.storage.create(
                    wid, user.uid, user.gid, clone if git else None, size_mib=spec.storage_mib
                )
            except StorageCapacityError as exc:
                raise RuntimePermanentError(str(exc)) from exc
            except (StorageError, OSError) as exc:
                raise RuntimeTemporaryError(
                    f"cannot create the home of workspace {wid}: {exc}"
                ) from exc
            finally:
                self._busy.discard(wid)

    async def start(self, spec: SandboxSpec) -> None:
        wid = spec.workspace_id
        user = self._user(wid)
        self._check_image(spec.base_image)
        try:
            check_env(spec.env)
        except ValueError as exc:
            raise RuntimePermanentError(str(exc)) from exc
        limits = CgroupLimits.of(
            memory_mib=spec.memory_mib, cpu_millis=spec.cpu_millis, pids_max=spec.pids_max
        )
        async with self._lock(wid):
            if self._live(wid) is not None:
                return
            if not self.storage.exists(wid):
                raise RuntimePermanentError(
                    f"workspace {wid} has no home directory to start with; provision it first"
                )
            self._busy.add(wid)
            try:
                # Mounted before the sandbox exists; a crash from here on leaves a mount
                # without a sandbox, which `observe` reports so a stop unmounts it.
                try:
                    await self.storage.attach(wid, spec.storage_mib)
                except StorageCapacityError as exc:
                    raise RuntimePermanentError(str(exc)) from exc
                except (StorageError, OSError) as exc:
                    raise RuntimeTemporaryError(
                        f"cannot mount the home of workspace {wid}: {exc}"
                    ) from exc
                await self._spawn(spec, user, limits)
            finally:
                self._busy.discard(wid)

    async def stop(self, workspace_id: int) -> None:
        async with self._lock(workspace_id):
            await self._stop_locked(workspace_id)

    async def remove(self, workspace_id: int) -> None:
        async with self._lock(workspace_id):
            await self._stop_locked(workspace_id)
            try:
                await self.storage.destroy(workspace_id)
            except (StorageError, OSError) as exc:
                raise RuntimeTemporaryError(
                    f"cannot delete the home of workspace {workspace_id}: {exc}"
                ) from exc

    # ---- using a running sandbox ---------------------------------------------------------

    async def exec(
        self,
        workspace_id: int,
        command: str,
        *,
        env: Mapping[str, str],
        working_dir: str | None,
        timeout_s: float,
    ) -> ExecResult:
        """`bash -c command` in the sandbox. On timeout the command's session is killed and
        the result has `timed_out=True`, exit code 124. Output beyond `max_output_bytes` per
        stream is read and dropped (`truncated=True`; the command is not killed for it).
        Processes the command leaves running in the background keep running; their output is
        no longer read once the command has exited."""
        record = self._require_live(workspace_id)
        argv, request = self._enter(
            workspace_id,
            record,
            env=env,
            working_dir=working_dir,
            command=["/bin/bash", "-c", command],
        )
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                env=HOST_ENV,
                start_new_session=True,
                pass_fds=(request,),
            )
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (out_w, err_w, request):
                os.close(fd)
        stdout = OutputCollector(out_r, self.max_output_bytes)
        stderr = OutputCollector(err_r, self.max_output_bytes)
        timed_out = False
        try:
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                timed_out = True
                self._kill_session(workspace_id, proc.pid)
                await proc.wait()
        except BaseException:
            self._kill_session(workspace_id, proc.pid)
            await proc.wait()
            await stdout.abandon()
            await stderr.abandon()
            raise
        output, error = await asyncio.gather(stdout.finish(0.5), stderr.finish(0.5))
        code = proc.returncode if proc.returncode is not None else -1
        if timed_out:
            code = EXEC_TIMEOUT_EXIT_CODE
        elif code < 0:
            code = 128 - code  # killed by a signal, as a shell reports it
        return ExecResult(
            output=output,
            error=error,
            exit_code=code,
            timed_out=timed_out,
            truncated=stdout.truncated or stderr.truncated,
        )

    async def open_terminal(self, workspace_id: int, cols: int, rows: int) -> Terminal:
        record = self._require_live(workspace_id)
        master = await self._allocate_pty(workspace_id, record)
        try:
            argv, request = self._enter(
                workspace_id,
                record,
                env={"TERM": "xterm-256color"},
                working_dir=None,
                command=["/bin/bash", "--login"],
                controlling_tty=True,
            )
        except BaseException:
            os.close(master)
            raise
        try:
            return await PtyTerminal.spawn(
                argv,
                master=master,
                owner=(record.uid, record.gid),
                cols=cols,
                rows=rows,
                env=HOST_ENV,
                pass_fds=(request,),
                session_members=lambda sid: self._session_members(workspace_id, sid),
            )
        finally:
            os.close(request)

    async def _allocate_pty(self, workspace_id: int, record: _SandboxRecord) -> int:
        """A pty master from the sandbox's own devpts, allocated inside by the workspace user
        (see pty.py for why root never opens the sandbox's /dev/ptmx)."""
        devpts = devpts_device(record.pid)
        if devpts is None or not is_same_process(record.pid, record.start_ticks):
            raise WorkspaceNotRunning(f"workspace {workspace_id} is not running")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours:
            try:
                user = SandboxUser(workspace_id, record.uid, record.gid)
                argv = join_cgroups_argv(
                    self._cgroup(workspace_id).procs_files,
                    enter_argv(record.pid, user, pty_argv(theirs.fileno(), _SECCOMP)),
                )
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    env=HOST_ENV,
                    start_new_session=True,
                    pass_fds=(theirs.fileno(),),
                )
            finally:
                theirs.close()
            try:
                _, err = await asyncio.wait_for(proc.communicate(), self.start_timeout_s)
            except TimeoutError:
                self._kill_session(workspace_id, proc.pid)
                await proc.wait()
                raise RuntimeTemporaryError(
                    f"workspace {workspace_id}: no terminal after {self.start_timeout_s:.0f} s"
                ) from None
            if not is_same_process(record.pid, record.start_ticks):
                raise WorkspaceNotRunning(f"workspace {workspace_id} is not running")
            try:
                return receive_master(ours, devpts)
            except ForeignPty as exc:
                detail = err.decode(errors="replace").strip()[-300:]
                raise RuntimePermanentError(
                    f"workspace {workspace_id}: cannot open a terminal: {exc}"
                    + (f" ({detail})" if detail else "")
                    + "; the sandbox's /dev/pts may have been tampered with, restart the "
                    "workspace"
                ) from None

    async def connect_port(
        self, workspace_id: int, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to 127.0.0.1:`port` inside the sandbox. ConnectionRefusedError if nothing
        listens there."""
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is out of range (1..65535)")
        record = self._require_live(workspace_id)
        try:
            netns = os.open(PROC / str(record.pid) / "ns" / "net", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise WorkspaceNotRunning(f"workspace {workspace_id} is not running") from None
        try:
            # Checked after opening: the fd now pins the namespace of the process we verified.
            if not is_same_process(record.pid, record.start_ticks):
                raise WorkspaceNotRunning(f"workspace {workspace_id} is not running")
            return await open_connection_in_netns(netns, port, self.connect_timeout_s)
        finally:
            os.close(netns)

    async def listening_ports(self, workspace_id: int) -> list[int]:
        record = self._require_live(workspace_id)
        ports = listening_tcp_ports(record.pid)
        self._require_live(workspace_id)  # the pid may have been reused while we read
        return ports

    async def aclose(self) -> None:
        """Nothing to release: sandboxes are independent processes and outlive this object."""

    async def storage_usage_mib(self, workspace_id: int) -> int:
        """Space used in the home, rounded up to MiB (from the file system's own counters for
        image homes); 0 if the workspace has no home."""
        return math.ceil(await self.storage.usage_bytes(workspace_id) / _MIB)

    # ---- internals -----------------------------------------------------------------------

    def _lock(self, workspace_id: int) -> asyncio.Lock:
        return self._locks.setdefault(workspace_id, asyncio.Lock())

    def _user(self, workspace_id: int) -> SandboxUser:
        # Modulo the slot: a DC with its own database numbers workspaces from dc_id * 10^6
        # (db/workspace_ids.py), and those uids must stay inside this installation's slot.
        # Ids below 2^20 (every shared-database id so far) keep their uid.
        uid = self.uid_base + workspace_id % _UID_SLOT
        if workspace_id < 0 or uid > _UID_MAX:
            raise RuntimePermanentError(
                f"workspace id {workspace_id} gives uid {uid}, outside 0..{_UID_MAX}; "
                "lower the runtime's uid_base"
            )
        return SandboxUser(workspace_id, uid, uid)

    def _cgroup(self, workspace_id: int) -> WorkspaceCgroup:
        return WorkspaceCgroup(self.cgroup_root, self.cgroup_parent, workspace_id)

    def _state_dir(self, workspace_id: int) -> Path:
        return self._sandboxes / f"ws-{workspace_id}"

    def _record_path(self, workspace_id: int) -> Path:
        return self._state_dir(workspace_id) / "sandbox.json"

    def _recorded_ids(self) -> set[int]:
        ids = set()
        for entry in os.scandir(self._sandboxes):
            name = entry.name
            if name.startswith("ws-") and name[3:].isdigit():
                ids.add(int(name[3:]))
        return ids

    def _live(self, workspace_id: int) -> _SandboxRecord | None:
        record = _SandboxRecord.load(self._record_path(workspace_id))
        if record is None or not is_same_process(record.pid, record.start_ticks):
            return None
        return record

    def _require_live(self, workspace_id: int) -> _SandboxRecord:
        record = self._live(workspace_id)
        if record is None:
            raise WorkspaceNotRunning(f"workspace {workspace_id} is not running")
        return record

    def _check_image(self, image: str) -> None:
        if not image or (self.base_images is not None and image not in self.base_images):
            offered = ", ".join(sorted(self.base_images or ())) or "none"
            raise RuntimePermanentError(
                f"base image {image!r} is not offered by the local runtime (offered: {offered})"
            )

    def _session_members(self, workspace_id: int, session: int) -> set[int]:
        members = set()
        for pid in self._cgroup(workspace_id).pids():
            st = read_stat(pid)
            if st is not None and st.session == session:
                members.add(pid)
        return members

    def _kill_session(self, workspace_id: int, session: int) -> None:
        """SIGKILL an exec's whole session, including children that left its process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(session, signal.SIGKILL)
        for pid in self._session_members(workspace_id, session):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _enter(
        self,
        workspace_id: int,
        record: _SandboxRecord,
        *,
        env: Mapping[str, str],
        working_dir: str | None,
        command: list[str],
        controlling_tty: bool = False,
    ) -> tuple[list[str], int]:
        """The argv that runs `command` in the sandbox, and the memfd (the caller passes it to
        the process and closes it) holding everything the tenant chose: `env`, the command
        and its directory. None of it is on the argv (issue 10: `ps` shows argv to anyone)."""
        user = SandboxUser(workspace_id, record.uid, record.gid)
        base = {
            "HOME": SANDBOX_HOME,
            "USER": SANDBOX_USER,
            "LOGNAME": SANDBOX_USER,
            "SHELL": "/bin/bash",
            "PATH": DEFAULT_PATH,
            "LANG": "C.UTF-8",
            "HOSTNAME": user.hostname,
            "WORKSPACE_ID": str(workspace_id),
            "TEAM_ID": str(record.team_id),
        }
        try:
            check_env(env)
        except ValueError as exc:
            raise RuntimePermanentError(str(exc)) from exc
        directory = posixpath.join(SANDBOX_HOME, working_dir or "")  # relative: to the home
        request = _memfd(
            "request",
            inside.payload(env=base, call_env=env, cwd=directory, argv=command, seccomp=_SECCOMP),
        )
        inner = enter_argv(record.pid, user, launch_argv(request), controlling_tty=controlling_tty)
        return join_cgroups_argv(self._cgroup(workspace_id).procs_files, inner), request

    async def _stop_locked(self, workspace_id: int) -> None:
        record = self._live(workspace_id)
        if record is not None:
            # Killing the sandbox's pid 1 makes the kernel kill everything in its pid namespace.
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
        cgroup = self._cgroup(workspace_id)
        await cgroup.kill_all()
        cgroup.remove()
        shutil.rmtree(self._state_dir(workspace_id), ignore_errors=True)
        try:
            await self.storage.detach(workspace_id)  # its processes are gone: unmount
            await self.storage.discard_leftovers(workspace_id)
        except (StorageError, OSError) as exc:
            raise RuntimeTemporaryError(
                f"cannot unmount the home of workspace {workspace_id}: {exc}"
            ) from exc

    async def _spawn(self, spec: SandboxSpec, user: SandboxUser, limits: CgroupLimits) -> None:
        wid = spec.workspace_id
        cgroup = self._cgroup(wid)
        await cgroup.kill_all()  # leftovers of a start interrupted by a crash
        state_dir = self._state_dir(wid)
        state_dir.mkdir(mode=0o700, exist_ok=True)
        self._record_path(wid).unlink(missing_ok=True)
        cgroup.create(limits)

        # The home is bound from an fd opened here (the path's parents need not be reachable by
        # the workspace uid, and bwrap's options, which its pid 1 shows the tenant in
        # /proc/1/cmdline, name no host path). Its last component is the storage's, not the
        # tenant's: O_NOFOLLOW is belt and braces.
        home_fd = os.open(
            self.storage.home(wid), os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
        etc_fds = {name: _memfd(name, data) for name, data in etc_files(user).items()}
        env_fd = _memfd("env", inside.env_file(spec.env))
        seccomp_fd = _memfd("seccomp", _SECCOMP)
        info_r, info_w = os.pipe()
        ready_r, ready_w = os.pipe()
        log_path = state_dir / "sandbox.log"
        # bubblewrap's stderr is a pipe, not the log file: its pid 1 keeps stderr open for the
        # sandbox's whole life, and a tenant that ptraces it could otherwise write a root-owned
        # file in the data dir without limit. What arrives during start-up is saved to the log
        # here; afterwards the read end is closed and late writes go nowhere.
        err_r, log_fd = os.pipe()
        options = sandbox_options(
            user,
            home_fd=home_fd,
            etc_fds=etc_fds,
            env_fd=env_fd,
            seccomp_fd=seccomp_fd,
            info_fd=info_w,
        )
        args_fd = _memfd("bwrap-args", b"".join(o.encode() + b"\0" for o in options))
        argv = join_cgroups_argv(cgroup.procs_files, sandbox_argv(user, args_fd))
        passed = (home_fd, env_fd, seccomp_fd, info_w, args_fd, *etc_fds.values())
        try:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=ready_w,
                    stderr=log_fd,
                    pass_fds=passed,
                    env=HOST_ENV,
                )
            finally:
                for fd in (ready_w, log_fd, *passed):
                    os.close(fd)
            # `setsid --fork` returns at once; the sandbox lives on as an orphan.
            if await proc.wait() != 0:
                _save_log(log_path, err_r)
                raise RuntimePermanentError(
                    f"workspace {wid}: sandbox launcher failed: {_tail(log_path)}"
                )
            try:
                info = await asyncio.wait_for(
                    read_until(info_r, newline=False), self.start_timeout_s
                )
                ready = await asyncio.wait_for(
                    read_until(ready_r, newline=True), self.start_timeout_s
                )
            except TimeoutError:
                raise RuntimeTemporaryError(
                    f"workspace {wid}: sandbox not ready after {self.start_timeout_s:.0f} s"
                ) from None
            _save_log(log_path, err_r)
            if ready != b"ready\n":
                raise RuntimePermanentError(
                    f"workspace {wid}: sandbox failed to start: {_tail(log_path)}"
                )
            pid = int(json.loads(info)["child-pid"])
            st = read_stat(pid)
            if st is None or not st.alive:
                raise RuntimePermanentError(
                    f"workspace {wid}: sandbox exited right after starting: {_tail(log_path)}"
                )
            record = _SandboxRecord(
                pid=pid,
                start_ticks=st.start_ticks,
                uid=user.uid,
                gid=user.gid,
                team_id=spec.team_id,
            )
            record.save(self._record_path(wid))
        except BaseException:
            with contextlib.suppress(RuntimeTemporaryError):
                await cgroup.kill_all()
            raise
        finally:
            os.close(info_r)
            os.close(ready_r)
            os.close(err_r)

    async def _clone(
        self,
        spec: SandboxSpec,
        user: SandboxUser,
        target: Path,
        remote: CheckedRemote,
        ref: str | None,
    ) -> None:
        """Clone `remote` (checked by the egress policy; git may connect to its address only).
        Every failure reads the same to the tenant (egress.UNREACHABLE): what answered, and
        how, would make the clone a scanner of the platform's network."""
        cgroup = self._cgroup(spec.workspace_id)
        cgroup.create(
            CgroupLimits.of(
                memory_mib=spec.memory_mib, cpu_millis=spec.cpu_millis, pids_max=spec.pids_max
            )
        )
        request = _memfd("clone", clone_request(remote.url, ref, _SECCOMP, remote.git_config()))
        try:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *join_cgroups_argv(cgroup.procs_files, clone_argv(user, target, request)),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=HOST_ENV,
                    start_new_session=True,
                    pass_fds=(request,),
                )
            finally:
                os.close(request)
            try:
                _, err = await asyncio.wait_for(proc.communicate(), self.clone_timeout_s)
            except TimeoutError:
                await cgroup.kill_all()
                await proc.wait()
                raise RuntimePermanentError(UNREACHABLE) from None
            if proc.returncode != 0:
                # git's own words (and the URL, which may hold credentials) go to the log.
                log.info(
                    "git clone failed",
                    extra={
                        "workspace": spec.workspace_id,
                        "git_error": err.decode(errors="replace").strip()[-500:],
                    },
                )
                raise RuntimePermanentError(UNREACHABLE)
        finally:
            await cgroup.kill_all()
            cgroup.remove()


def default_uid_base(root: Path) -> int:
    """The uid base of the installation whose runtime lives at `root`, when none is configured:
    one of 1792 slots of 2^20 uids from 2^27 up, picked by a hash of the path."""
    digest = hashlib.sha256(str(root).encode()).digest()
    return 2**27 + int.from_bytes(digest[:8], "big") % _UID_SLOTS * _UID_SLOT


def _require_host() -> None:
    if os.geteuid() != 0:
        raise RuntimePermanentError(
            "the local runtime must run as root: it creates cgroups and switches to a "
            "distinct uid per workspace"
        )
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool, path=HOST_ENV["PATH"]) is None]
    if missing:
        raise RuntimePermanentError(
            f"the local runtime needs {', '.join(missing)} on {HOST_ENV['PATH']}: "
            "run `apt-get install -y bubblewrap util-linux git python3`"
        )


def _check_git(url: str | None, ref: str | None) -> tuple[str, str | None] | None:
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuntimePermanentError(
            f"git URL {url!r} is not supported: use an http:// or https:// URL"
        )
    if ref is not None and (
        not ref or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref)
    ):
        raise RuntimePermanentError(f"git ref {ref!r} is not a valid branch, tag or commit")
    return url, ref or None


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(f"hemisphere-{name}", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _save_log(path: Path, fd: int, limit: int = 65536) -> None:
    """Write what the pipe `fd` holds right now (at most `limit` bytes) to the log `path`."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError):
        while len(data) < limit and (chunk := os.read(fd, limit - len(data))):
            data += chunk
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(out, "wb") as f:
        f.write(data)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return "no log"
    return text[-limit:] or "no output"
