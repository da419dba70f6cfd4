"""The local runtime against the real thing: bubblewrap sandboxes, cgroups v1, ptys, git over
HTTP. Runs as root (as the platform does)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hemisphere.workspaces.egress import GitEgressPolicy
from hemisphere.workspaces.runtime.base import (
    ExecResult,
    ObservedPhase,
    RuntimePermanentError,
    SandboxSpec,
    Terminal,
    WorkspaceNotRunning,
    WorkspaceRuntime,
)
from hemisphere.workspaces.runtime.local import LocalRuntime

UID_BASE = 300_000
CGROUP_ROOT = Path("/sys/fs/cgroup")


def spec(wid: int, **changes: object) -> SandboxSpec:
    values: dict[str, object] = {
        "workspace_id": wid,
        "team_id": 7,
        "name": f"ws{wid}",
        "cpu_millis": 1000,
        "memory_mib": 256,
        "storage_mib": 1024,
        "pids_max": 256,
    }
    values.update(changes)
    return SandboxSpec(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def cgroup_parent() -> Iterator[str]:
    parent = f"hemisphere-test-{os.getpid()}"
    yield parent
    for controller in ("memory", "cpu", "pids"):
        base = CGROUP_ROOT / controller / parent
        if not base.is_dir():
            continue
        for leaf in base.iterdir():
            if leaf.is_dir():
                for pid in (leaf / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for _ in range(100):
            leaves = [p for p in base.iterdir() if p.is_dir()]
            try:
                for leaf in leaves:
                    leaf.rmdir()
                base.rmdir()
                break
            except OSError:
                subprocess.run(["sleep", "0.05"], check=False)


@pytest.fixture
def root() -> Iterator[Path]:
    # Not pytest's tmp_path: that lies below a 0700 directory the workspace uids cannot enter.
    path = Path(tempfile.mkdtemp(prefix="hemisphere-rt-", dir="/tmp"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_runtime(root: Path, cgroup_parent: str) -> LocalRuntime:
    return LocalRuntime(
        root,
        uid_base=UID_BASE,
        cgroup_parent=cgroup_parent,
        base_images={"ubuntu-24.04", "debian-12"},
        # The git servers of these tests listen on loopback (refused by default: egress.py).
        egress=GitEgressPolicy.of(allow_private=False, allow_networks=["127.0.0.1/32"]),
    )


@pytest.fixture
async def runtime(root: Path, cgroup_parent: str) -> AsyncIterator[LocalRuntime]:
    rt = make_runtime(root, cgroup_parent)
    yield rt
    for wid in await rt.observe():
        await rt.remove(wid)


async def sh(rt: WorkspaceRuntime, wid: int, command: str, **kw: object) -> ExecResult:
    return await rt.exec(
        wid,
        command,
        env=kw.pop("env", {}),  # type: ignore[arg-type]
        working_dir=kw.pop("working_dir", None),  # type: ignore[arg-type]
        timeout_s=kw.pop("timeout_s", 20.0),  # type: ignore[arg-type]
    )


async def running(rt: LocalRuntime, *specs: SandboxSpec) -> None:
    for s in specs:
        await rt.provision(s)
        await rt.start(s)


def record(root: Path, wid: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (root / "sandboxes" / f"ws-{wid}" / "sandbox.json").read_text()
    )
    return data


async def eventually(predicate: object, what: str, attempts: int = 200) -> None:
    """Poll (no timing assertion: just give a slow machine a generous number of tries)."""
    for _ in range(attempts):
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


# ---- lifecycle -------------------------------------------------------------------------------


async def test_lifecycle_is_idempotent(
    runtime: LocalRuntime, root: Path, cgroup_parent: str
) -> None:
    s = spec(1)
    assert await runtime.observe() == {}
    await runtime.provision(s)
    await runtime.provision(s)
    home = root / "homes" / "ws-1"
    assert home.stat().st_uid == UID_BASE + 1
    assert home.stat().st_mode & 0o777 == 0o700
    assert (await runtime.observe())[1].phase == ObservedPhase.STOPPED

    await runtime.start(s)
    pid = record(root, 1)["pid"]
    await runtime.start(s)
    assert record(root, 1)["pid"] == pid, "a second start must not spawn a second sandbox"
    assert (await runtime.observe())[1].phase == ObservedPhase.RUNNING
    for controller in ("memory", "cpu", "pids"):
        procs = (CGROUP_ROOT / controller / cgroup_parent / "ws-1" / "cgroup.procs").read_text()
        assert str(pid) in procs.split()

    await runtime.stop(1)
    await runtime.stop(1)
    assert (await runtime.observe())[1].phase == ObservedPhase.STOPPED
    assert not (CGROUP_ROOT / "pids" / cgroup_parent / "ws-1").exists()

    await runtime.remove(1)
    await runtime.remove(1)
    assert await runtime.observe() == {}
    assert not home.exists()
    assert list((root / "homes").iterdir()) == []


async def test_start_requires_provisioned_storage(runtime: LocalRuntime) -> None:
    with pytest.raises(RuntimePermanentError, match="provision it first"):
        await runtime.start(spec(2))


async def test_unknown_base_image_is_permanent_error(runtime: LocalRuntime) -> None:
    with pytest.raises(RuntimePermanentError, match="base image 'windows-11'"):
        await runtime.provision(spec(3, base_image="windows-11"))
    await runtime.provision(spec(3, base_image="debian-12"))


async def test_home_persists_across_stop_and_start(runtime: LocalRuntime) -> None:
    s = spec(4)
    await running(runtime, s)
    assert (await sh(runtime, 4, "echo kept > notes.txt")).exit_code == 0
    await runtime.stop(4)
    with pytest.raises(WorkspaceNotRunning):
        await sh(runtime, 4, "true")
    await runtime.start(s)
    assert (await sh(runtime, 4, "cat ~/notes.txt")).output == "kept\n"


async def test_observe_is_truthful_after_platform_crash(
    runtime: LocalRuntime, root: Path, cgroup_parent: str
) -> None:
    s = spec(5)
    await running(runtime, s)
    await sh(runtime, 5, "echo before-crash > marker")

    # A fresh runtime on the same state directory = the platform after kill -9 and restart.
    reborn = make_runtime(root, cgroup_parent)
    assert (await reborn.observe())[5].phase == ObservedPhase.RUNNING
    assert (await sh(reborn, 5, "cat marker")).output == "before-crash\n"

    os.kill(int(record(root, 5)["pid"]), signal.SIGKILL)  # the sandbox dies behind our back

    async def stopped() -> bool:
        return (await reborn.observe())[5].phase == ObservedPhase.STOPPED

    await eventually(stopped, "observe reports the killed sandbox as stopped")
    with pytest.raises(WorkspaceNotRunning):
        await sh(reborn, 5, "true")
    await reborn.start(s)
    assert (await sh(reborn, 5, "cat marker")).output == "before-crash\n"


PLATFORM = """
import asyncio, sys
from pathlib import Path
from hemisphere.workspaces.runtime.base import SandboxSpec
from hemisphere.workspaces.runtime.local import LocalRuntime

async def main() -> None:
    rt = LocalRuntime(Path(sys.argv[1]), uid_base=int(sys.argv[2]), cgroup_parent=sys.argv[3])
    s = SandboxSpec(workspace_id=9, team_id=1, name="w", cpu_millis=500, memory_mib=128,
                    storage_mib=64)
    await rt.provision(s)
    await rt.start(s)
    await rt.exec(9, "setsid sleep 4242 >/dev/null 2>&1 </dev/null &", env={}, working_dir=None,
                  timeout_s=10)
    print("started", flush=True)
    await asyncio.sleep(1000)

asyncio.run(main())
"""


async def test_sandbox_outlives_a_killed_platform_process(
    runtime: LocalRuntime, root: Path, cgroup_parent: str
) -> None:
    platform = subprocess.Popen(
        [sys.executable, "-c", PLATFORM, str(root), str(UID_BASE), cgroup_parent],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert platform.stdout is not None
    with platform.stdout:
        assert platform.stdout.readline() == "started\n"
    platform.kill()  # SIGKILL: no cleanup code runs
    platform.wait()
    assert (await runtime.observe())[9].phase == ObservedPhase.RUNNING
    assert "sleep 4242" in (await sh(runtime, 9, "ps -eo args")).output
    await runtime.stop(9)
    assert (await runtime.observe())[9].phase == ObservedPhase.STOPPED


async def test_recorded_pid_reused_by_another_process_is_not_running(
    runtime: LocalRuntime, root: Path
) -> None:
    await running(runtime, spec(6))
    path = root / "sandboxes" / "ws-6" / "sandbox.json"
    data = json.loads(path.read_text())
    data["start_ticks"] += 1  # same pid, other start time: a different process
    path.write_text(json.dumps(data))
    observed = (await runtime.observe())[6]
    # The sandbox's processes are still in the cgroup, so it is not "stopped" either.
    assert observed.phase == ObservedPhase.FAILED
    await runtime.stop(6)
    assert (await runtime.observe())[6].phase == ObservedPhase.STOPPED
    await runtime.start(spec(6))
    assert (await runtime.observe())[6].phase == ObservedPhase.RUNNING


async def test_stop_kills_every_process_of_the_workspace(
    runtime: LocalRuntime, cgroup_parent: str
) -> None:
    await running(runtime, spec(8))
    await sh(runtime, 8, "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &")
    procs = CGROUP_ROOT / "pids" / cgroup_parent / "ws-8" / "cgroup.procs"
    assert len(procs.read_text().split()) >= 3  # bwrap, its pid 1, sleep infinity, the daemon
    await runtime.stop(8)
    assert not procs.exists()


# ---- exec ------------------------------------------------------------------------------------


async def test_exec_streams_exit_code_env_and_working_dir(runtime: LocalRuntime) -> None:
    await running(runtime, spec(10, env={"GREETING": "hello", "OVERRIDE": "spec"}))
    result = await sh(runtime, 10, "echo out; echo err >&2; exit 3")
    assert (result.output, result.error, result.exit_code) == ("out\n", "err\n", 3)
    assert not result.timed_out

    result = await sh(
        runtime,
        10,
        'echo "$GREETING $OVERRIDE $EXTRA $HOME $USER"',
        env={"OVERRIDE": "call", "EXTRA": "x"},
    )
    assert result.output == "hello call x /home/user user\n"

    assert (await sh(runtime, 10, "pwd")).output == "/home/user\n"
    assert (await sh(runtime, 10, "pwd", working_dir="/tmp")).output == "/tmp\n"
    await sh(runtime, 10, "mkdir -p app/src")
    assert (await sh(runtime, 10, "pwd", working_dir="app/src")).output == "/home/user/app/src\n"
    missing = await sh(runtime, 10, "pwd", working_dir="/nope")
    assert missing.exit_code != 0 and "/nope" in missing.error

    assert (await sh(runtime, 10, "id -u; id -G; hostname")).output == (
        f"{UID_BASE + 10}\n{UID_BASE + 10}\nws-10\n"
    )


async def test_exec_timeout_kills_the_command(runtime: LocalRuntime) -> None:
    await running(runtime, spec(11))
    result = await sh(runtime, 11, "echo started; sleep 1000; echo never", timeout_s=3)
    assert result.timed_out
    assert result.exit_code == 124
    assert result.output == "started\n"
    ps = await sh(runtime, 11, "ps -eo args")
    assert "sleep 1000" not in ps.output


async def test_exec_returns_while_a_background_process_keeps_running(runtime: LocalRuntime) -> None:
    await running(runtime, spec(12))
    result = await sh(runtime, 12, "sleep 1000 & echo started")
    assert result.output == "started\n" and result.exit_code == 0
    assert "sleep 1000" in (await sh(runtime, 12, "ps -eo args")).output


async def test_exec_in_a_stopped_workspace_says_not_running(runtime: LocalRuntime) -> None:
    await runtime.provision(spec(13))
    with pytest.raises(WorkspaceNotRunning):
        await sh(runtime, 13, "true")


async def test_exec_rejects_invalid_env_names(runtime: LocalRuntime) -> None:
    await running(runtime, spec(14))
    with pytest.raises(RuntimePermanentError, match="name 'BAD-NAME'"):
        await sh(runtime, 14, "true", env={"BAD-NAME": "x"})


# ---- isolation -------------------------------------------------------------------------------


async def test_workspace_cannot_read_another_workspaces_files(
    runtime: LocalRuntime, root: Path
) -> None:
    await running(runtime, spec(20), spec(21))
    await sh(runtime, 20, "echo top-secret > secret.txt")
    a_home = root / "homes" / "ws-20"
    # B's sandbox does not even contain A's home ...
    probe = await sh(runtime, 21, f"cat {a_home}/secret.txt; ls /home")
    assert "top-secret" not in probe.output
    assert "No such file" in probe.error
    assert probe.output == "user\n"
    # ... and B's uid could not read it on the host either.
    host = subprocess.run(
        [
            "setpriv",
            f"--reuid={UID_BASE + 21}",
            f"--regid={UID_BASE + 21}",
            "--clear-groups",
            "cat",
            str(a_home / "secret.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert host.returncode != 0 and "Permission denied" in host.stderr
    # Positive control: A reads its own file.
    assert (await sh(runtime, 20, "cat secret.txt")).output == "top-secret\n"


async def test_workspace_cannot_see_another_workspaces_processes(runtime: LocalRuntime) -> None:
    await running(runtime, spec(22), spec(23))
    await sh(runtime, 22, "setsid sleep 31337 >/dev/null 2>&1 < /dev/null &")
    assert "sleep 31337" in (await sh(runtime, 22, "ps -eo args")).output
    seen_by_b = await sh(runtime, 23, "ps -eo args; ls /proc | grep -c '^[0-9]'")
    assert "sleep 31337" not in seen_by_b.output
    # B sees its own pid 1 (bwrap), its init, and the commands of this very exec: a handful.
    assert int(seen_by_b.output.split()[-1]) < 10


async def test_workspace_cannot_reach_host_loopback_ports(runtime: LocalRuntime) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # positive control: the port is reachable from the host
        await running(runtime, spec(24))
        probe = await sh(
            runtime,
            24,
            "python3 -c 'import socket,sys\n"
            "try:\n"
            f'    socket.create_connection(("127.0.0.1", {port}), timeout=2)\n'
            "except OSError as e:\n"
            "    print(type(e).__name__); sys.exit(1)\n"
            'print("connected")\'',
        )
        assert probe.output == "ConnectionRefusedError\n", probe
        # No other route out either: the sandbox's network has only its own loopback.
        links = await sh(runtime, 24, "cat /proc/net/dev")
        assert [line.split(":")[0].strip() for line in links.output.splitlines()[2:]] == ["lo"]


async def test_memory_limit_kills_the_hog_not_the_platform(
    runtime: LocalRuntime, cgroup_parent: str
) -> None:
    await running(runtime, spec(25, memory_mib=64))
    limit = CGROUP_ROOT / "memory" / cgroup_parent / "ws-25" / "memory.limit_in_bytes"
    assert int(limit.read_text()) == 64 * 1024 * 1024
    hog = await sh(runtime, 25, "python3 -c 'x = bytearray(512 * 1024 * 1024); print(len(x))'")
    assert hog.exit_code == 137, hog  # SIGKILL by the OOM killer
    assert hog.output == ""
    # The platform (this test process) lives on, and so does the workspace.
    assert (await runtime.observe())[25].phase == ObservedPhase.RUNNING
    assert (await sh(runtime, 25, "echo alive")).output == "alive\n"


async def test_pids_limit_stops_a_fork_bomb(runtime: LocalRuntime) -> None:
    await running(runtime, spec(26, pids_max=40))
    bomb = await sh(
        runtime,
        26,
        "python3 -c '\n"
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    for _ in range(200):\n"
        "        if os.fork() == 0:\n"
        "            os.close(1); os.close(2); time.sleep(2); os._exit(0)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        '    print("blocked after", n, e.errno)\n'
        "'",
    )
    assert bomb.output.startswith("blocked after"), bomb
    assert int(bomb.output.split()[2]) < 40


async def test_cpu_limit_is_the_plans_share(runtime: LocalRuntime, cgroup_parent: str) -> None:
    await running(runtime, spec(27, cpu_millis=250))
    cpu = CGROUP_ROOT / "cpu" / cgroup_parent / "ws-27"
    assert int((cpu / "cpu.cfs_quota_us").read_text()) == 25_000
    assert int((cpu / "cpu.cfs_period_us").read_text()) == 100_000
    # exec processes are inside the limited cgroup too
    own = await sh(runtime, 27, "cat /proc/self/cgroup")
    assert own.exit_code == 0
    exec_pids = (cpu / "cgroup.procs").read_text().split()
    assert len(exec_pids) >= 3


# ---- terminal, ports ---------------------------------------------------------------------------


class Screen:
    """Terminal output read so far; `expect` consumes it up to and including a needle."""

    def __init__(self, term: Terminal) -> None:
        self.term = term
        self.pending = b""

    async def expect(self, needle: bytes) -> bytes:
        while needle not in self.pending:
            chunk = await asyncio.wait_for(self.term.read(), 20)
            if not chunk:
                raise AssertionError(f"terminal closed before {needle!r}; got {self.pending!r}")
            self.pending += chunk
        seen, _, self.pending = self.pending.partition(needle)
        return seen + needle


async def test_terminal_echo_resize_and_exit(runtime: LocalRuntime) -> None:
    await running(runtime, spec(30, env={"FROM_SPEC": "yes"}))
    term = await runtime.open_terminal(30, cols=80, rows=24)
    screen = Screen(term)
    try:
        await term.write(b"echo hel''lo-$FROM_SPEC; tty\n")
        out = await screen.expect(b"hello-yes")
        await screen.expect(b"/dev/pts/")
        await term.write(b"stty size\n")
        await screen.expect(b"24 80")
        await term.resize(cols=132, rows=50)
        await term.write(b"stty size\n")
        await screen.expect(b"50 132")
        await term.write(b"exit\n")
        while await asyncio.wait_for(term.read(), 20):
            pass
    finally:
        await term.close()
    assert b"hello-yes" in out
    await term.close()  # idempotent


async def test_terminal_close_ends_the_shell(runtime: LocalRuntime) -> None:
    await running(runtime, spec(31))
    term = await runtime.open_terminal(31, cols=80, rows=24)
    await term.write(b"exec -a marker-shell bash\necho ready-now\n")
    await Screen(term).expect(b"ready-now")
    await term.close()

    async def gone() -> bool:
        return "marker-shell" not in (await sh(runtime, 31, "ps -eo args")).output

    await eventually(gone, "the terminal's shell exits when the terminal is closed")


async def test_connect_port_reaches_a_server_inside_the_sandbox(runtime: LocalRuntime) -> None:
    await running(runtime, spec(32))
    await sh(runtime, 32, "echo '<h1>preview</h1>' > index.html")
    await sh(
        runtime,
        32,
        "nohup python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &",
    )

    async def listening() -> bool:
        return 8000 in await runtime.listening_ports(32)

    await eventually(listening, "http.server listens on 8000")
    reader, writer = await runtime.connect_port(32, 8000)
    try:
        writer.write(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
        await writer.wait_closed()
    assert response.startswith(b"HTTP/1.0 200")
    assert b"<h1>preview</h1>" in response
    with pytest.raises(ConnectionRefusedError):
        await runtime.connect_port(32, 8001)
    # The server is in the sandbox's network only.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", 8000), timeout=2):
        pass


V6_SERVER = """
import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 9090))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"v6 only\\n")
    c.close()
"""


async def test_ipv6_only_listener_and_stopped_workspace(runtime: LocalRuntime, root: Path) -> None:
    await running(runtime, spec(33))
    (root / "homes" / "ws-33" / "v6.py").write_text(V6_SERVER)
    await sh(runtime, 33, "nohup python3 v6.py >/dev/null 2>&1 &")

    async def listening() -> bool:
        return await runtime.listening_ports(33) == [9090]

    await eventually(listening, "the IPv6 listener shows up")
    reader, writer = await runtime.connect_port(33, 9090)  # nothing on 127.0.0.1: ::1 it is
    try:
        assert await asyncio.wait_for(reader.read(), 20) == b"v6 only\n"
    finally:
        writer.close()
        await writer.wait_closed()
    await runtime.stop(33)
    with pytest.raises(WorkspaceNotRunning):
        await runtime.listening_ports(33)
    with pytest.raises(WorkspaceNotRunning):
        await runtime.connect_port(33, 9090)


async def test_storage_usage_counts_the_home(runtime: LocalRuntime) -> None:
    await running(runtime, spec(34))
    before = await runtime.storage_usage_mib(34)
    await sh(runtime, 34, "head -c 6291456 /dev/urandom > blob")
    assert await runtime.storage_usage_mib(34) >= before + 6
    assert await runtime.storage_usage_mib(999) == 0


# ---- provisioning from git ---------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def git_server() -> Iterator[str]:
    """A bare repository (branches main and feature) served over git's dumb HTTP protocol."""
    base = Path(tempfile.mkdtemp(prefix="hemisphere-git-"))
    work, bare = base / "work", base / "srv" / "repo.git"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def git(*args: str, cwd: Path = work) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    work.mkdir()
    git("init", "-q", "-b", "main")
    (work / "README.md").write_text("hello from git\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "first")
    git("checkout", "-q", "-b", "feature")
    (work / "feature.txt").write_text("feature branch\n")
    git("add", "feature.txt")
    git("commit", "-q", "-m", "feature")
    git("checkout", "-q", "main")
    git("clone", "-q", "--bare", str(work), str(bare), cwd=base)
    git("update-server-info", cwd=bare)

    handler = functools.partial(_QuietHandler, directory=str(base / "srv"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        shutil.rmtree(base, ignore_errors=True)


async def test_provision_clones_the_repository(
    runtime: LocalRuntime, root: Path, git_server: str
) -> None:
    await running(runtime, spec(40, git_url=f"{git_server}/repo.git"))
    result = await sh(
        runtime, 40, "cat README.md; git rev-parse --abbrev-ref HEAD; stat -c %u .git"
    )
    assert result.output == f"hello from git\nmain\n{UID_BASE + 40}\n"
    assert (root / "homes" / "ws-40" / "README.md").stat().st_uid == UID_BASE + 40


async def test_provision_checks_out_the_requested_ref(
    runtime: LocalRuntime, git_server: str
) -> None:
    await running(runtime, spec(41, git_url=f"{git_server}/repo.git", git_ref="feature"))
    assert (await sh(runtime, 41, "cat feature.txt")).output == "feature branch\n"


async def test_failed_clone_is_permanent_and_leaves_nothing(
    runtime: LocalRuntime, root: Path, git_server: str
) -> None:
    with pytest.raises(RuntimePermanentError, match="repository not reachable or not a git"):
        await runtime.provision(spec(42, git_url=f"{git_server}/missing.git"))
    assert await runtime.observe() == {}
    assert list((root / "homes").iterdir()) == []
    with pytest.raises(RuntimePermanentError, match="use an http:// or https:// URL"):
        await runtime.provision(spec(42, git_url="file:///etc"))
    with pytest.raises(RuntimePermanentError, match="not a valid branch"):
        await runtime.provision(
            spec(42, git_url=f"{git_server}/repo.git", git_ref="--upload-pack=x")
        )


async def test_interrupted_provision_is_redone(
    runtime: LocalRuntime, root: Path, git_server: str
) -> None:
    # A crash mid-clone leaves a partial directory; it is not a home, and provision starts over.
    partial = root / "homes" / ".partial-ws-43-deadbeef"
    partial.mkdir()
    (partial / "half-cloned").write_text("x")
    assert (await runtime.observe())[43].phase == ObservedPhase.FAILED
    await runtime.provision(spec(43, git_url=f"{git_server}/repo.git"))
    assert not partial.exists()
    assert (await runtime.observe())[43].phase == ObservedPhase.STOPPED
    assert (root / "homes" / "ws-43" / "README.md").exists()
