"""A hostile tenant against the local runtime (issue 10, findings 1, 9 and 13): real bubblewrap
sandboxes, real ptys, real processes; every attack is one a tenant can run from its own shell.

Runs as root, as the platform does."""

# The runtime fixtures are test_local's, imported by name (pytest finds them in this module).
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import base64
import functools
import http.server
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hemisphere.workspaces.runtime.base import RuntimePermanentError, Terminal
from hemisphere.workspaces.runtime.local import LocalRuntime, default_uid_base
from hemisphere.workspaces.runtime.procfs import devpts_device, parse_devpts_device
from hemisphere.workspaces.runtime.pty import ForeignPty, receive_master
from hemisphere.workspaces.runtime.seccomp import build_filter

from .test_local import (  # noqa: F401 - fixtures are used by name
    UID_BASE,
    cgroup_parent,
    git_server,
    make_runtime,
    root,
    running,
    runtime,
    sh,
    spec,
)


async def read_until(term: Terminal, marker: bytes, attempts: int = 400) -> bytes:
    seen = b""
    for _ in range(attempts):
        try:
            seen += await asyncio.wait_for(term.read(), 0.05)
        except TimeoutError:
            continue
        if marker in seen:
            return seen
    raise AssertionError(f"never saw {marker!r} in terminal output: {seen[-500:]!r}")


async def run_in_terminal(term: Terminal, command: str) -> str:
    """Run `command` in the shell and return what it printed between two markers."""
    tag = secrets.token_hex(4)
    # Split in the typed text, whole only in the output: the echo of the input never matches.
    await term.write(f"echo BEG''IN{tag}; {command}; echo EN''D{tag}\n".encode())
    out = await read_until(term, f"END{tag}\r\n".encode())
    text = out.decode(errors="replace")
    return text[text.rindex(f"BEGIN{tag}\r\n") + len(f"BEGIN{tag}\r\n") : text.rindex(f"END{tag}")]


def host_ptys() -> set[str]:
    return set(os.listdir("/dev/pts"))


# ---- finding 1: root never follows a path inside the sandbox ---------------------------------


async def test_ptmx_symlink_to_the_hosts_ptmx_gives_no_host_pty(runtime: LocalRuntime) -> None:
    await running(runtime, spec(41))
    hijack = await sh(runtime, 41, "ln -sfn /dev/ptmx /dev/ptmx && readlink /dev/ptmx")
    assert hijack.exit_code == 0 and hijack.output.strip() == "/dev/ptmx", hijack
    before = host_ptys()
    term = await runtime.open_terminal(41, 80, 24)
    try:
        # Old code: root opened /proc/PID/root/dev/ptmx, followed the absolute symlink into the
        # HOST's /dev/ptmx and handed the shell a pty of the host's devpts.
        assert host_ptys() == before
        where = await run_in_terminal(
            term, 't=$(tty); echo "tty=$t"; [ -e "$t" ] && stat -L -c "%d" "$t" /dev/pts/ptmx'
        )
        lines = where.split()
        assert lines[0].startswith("tty=/dev/pts/"), where
        assert len(lines) == 3 and lines[1] == lines[2], f"pty not of the sandbox's devpts: {where}"
    finally:
        await term.close()


@pytest.mark.parametrize("target", ["existing", "missing", "other-workspace"])
async def test_ptmx_symlink_to_host_files_is_no_oracle_and_never_opened(
    runtime: LocalRuntime, root: Path, target: str
) -> None:
    await running(runtime, spec(42), spec(43))
    canary = root / "canary"
    canary.write_bytes(b"host secret\n")
    os.chmod(canary, 0o600)
    other = await sh(runtime, 43, "echo theirs > ~/private; chmod 600 ~/private")
    assert other.exit_code == 0
    paths = {
        "existing": str(canary),
        "missing": str(root / "no-such-file"),
        "other-workspace": str(root / "homes" / "ws-43" / "private"),
    }
    before = canary.stat()
    hijack = await sh(runtime, 42, f"ln -sfn {paths[target]} /dev/ptmx")
    assert hijack.exit_code == 0, hijack
    # Old code: an existing target made open_terminal fail with a traceback (ENOTTY from the
    # ioctl on a file root had opened read-write), a missing one with "not running": an
    # existence oracle for any host path, with root's privileges. Now it is not even looked at.
    term = await runtime.open_terminal(42, 80, 24)
    try:
        assert (await run_in_terminal(term, "echo alive")).strip() == "alive"
    finally:
        await term.close()
    after = canary.stat()
    assert (after.st_atime_ns, after.st_mtime_ns, after.st_size) == (
        before.st_atime_ns,
        before.st_mtime_ns,
        before.st_size,
    )
    assert (root / "homes" / "ws-43" / "private").read_text() == "theirs\n"


async def test_terminal_pty_is_from_the_sandboxes_own_devpts(runtime: LocalRuntime) -> None:
    await running(runtime, spec(44))
    term = await runtime.open_terminal(44, 80, 24)
    try:
        out = await run_in_terminal(term, 'stat -L -c "%d %u" "$(tty)"; stat -c %d /dev/pts/ptmx')
        slave_dev, owner, devpts = out.split()
        assert slave_dev == devpts
        assert int(owner) == UID_BASE + 44
        host_devpts = os.stat("/dev/pts/ptmx").st_dev
        assert int(devpts) != host_devpts
    finally:
        await term.close()


FILLER = r"""
import os, time
time.sleep(0.5)  # after the exec that started it has ended and freed its pids
while True:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(600)
        os._exit(0)
open(os.path.expanduser("~/full"), "w").close()
time.sleep(600)
"""


async def test_a_tenant_that_starves_the_pty_helper_gets_a_clean_error(
    runtime: LocalRuntime, root: Path
) -> None:
    """With every pid of its plan in use, nothing can be started in the workspace: opening a
    terminal is a RuntimePermanentError naming the cause (the dc closes the WebSocket with
    1011), never a host pty or a stray OSError."""
    await running(runtime, spec(54, pids_max=16))
    start = await sh(runtime, 54, f"nohup python3 -c '{FILLER}' >/dev/null 2>&1 &")
    assert start.exit_code == 0, start
    full = root / "homes" / "ws-54" / "full"
    for _ in range(400):
        if full.exists():
            break
        await asyncio.sleep(0.05)
    assert full.exists(), "the filler never used up the pids"
    before = host_ptys()
    with pytest.raises(RuntimePermanentError, match="cannot open a terminal"):
        await runtime.open_terminal(54, 80, 24)
    assert host_ptys() == before


def test_a_pty_that_is_not_the_sandboxes_is_refused() -> None:
    """What a tampered sandbox could send back, checked against a real devpts."""
    sandbox_devpts = os.stat("/dev/pts/ptmx").st_dev + 1  # any devpts but the host's
    for fd_source in ("/dev/ptmx", "/dev/null", "/etc/hostname"):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with ours, theirs:
            fd = os.open(fd_source, os.O_RDWR if fd_source != "/etc/hostname" else os.O_RDONLY)
            try:
                socket.send_fds(theirs, [b"pty"], [fd])
            finally:
                os.close(fd)
            with pytest.raises(ForeignPty):
                receive_master(ours, sandbox_devpts)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        theirs.send(b"pty")  # no fd at all
        with pytest.raises(ForeignPty):
            receive_master(ours, sandbox_devpts)


def test_devpts_is_found_in_mountinfo_and_a_mount_over_it_hides_it() -> None:
    table = textwrap.dedent(
        """\
        1 0 0:50 / / rw - tmpfs tmpfs rw
        2 1 0:51 / /dev rw - tmpfs tmpfs rw
        3 2 0:52 / /dev/pts rw - devpts devpts rw,mode=620,ptmxmode=666
        """
    )
    assert parse_devpts_device(table) == os.makedev(0, 52)
    assert parse_devpts_device(table + "4 3 0:53 / /dev/pts rw - tmpfs tmpfs rw\n") is None
    assert parse_devpts_device("1 0 0:50 / / rw - tmpfs tmpfs rw\n") is None
    assert devpts_device(os.getpid()) == os.stat("/dev/pts/ptmx").st_dev


async def test_home_symlinks_to_host_files_survive_measure_and_delete(
    runtime: LocalRuntime, root: Path
) -> None:
    await running(runtime, spec(45))
    victim_dir = root / "host-data"
    victim_dir.mkdir(mode=0o700)
    victim = victim_dir / "precious"
    victim.write_bytes(b"x" * 20_000_000)
    before = victim.stat()
    attack = await sh(
        runtime,
        45,
        f"ln -s {victim} ~/file-link && ln -s {victim_dir} ~/dir-link && "
        f"mkdir -p ~/deep && ln -s {victim_dir} ~/deep/again && ln {victim} ~/hard 2>/dev/null;"
        " echo planted",
    )
    assert "planted" in attack.output
    usage = await runtime.storage_usage_mib(45)
    assert usage < 5, "measuring the home followed a symlink to a host file"
    await runtime.remove(45)
    after = victim.stat()
    assert victim.read_bytes() == b"x" * 20_000_000
    assert (after.st_atime_ns, after.st_size) == (before.st_atime_ns, before.st_size)


SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.chdir(os.path.expanduser("~"))
pairs = []
for i in range(3000):
    os.makedirs(f"decoy/{i}", exist_ok=True)
for i in range(50):  # each pair: a directory and a symlink to the host's files
    os.mkdir(f"decoy/a{i}")
    os.symlink(sys.argv[1], f"decoy/b{i}")
    pairs.append((f"decoy/a{i}".encode(), f"decoy/b{i}".encode()))
os.symlink(sys.argv[1], "link")
print("swapping", flush=True)
while True:  # renameat2(RENAME_EXCHANGE): each name is a dir one moment and a symlink the next
    for a, b in pairs:
        libc.syscall(316, -100, a, -100, b, 2)
"""


async def test_measuring_a_home_that_swaps_dirs_for_symlinks_never_counts_host_files(
    runtime: LocalRuntime, root: Path
) -> None:
    """The race behind "root follows tenant symlinks" for storage measurement: a directory seen
    while listing is a symlink to a host directory by the time the walk descends into it. (Old
    code walked by path and followed it: usage jumped by the host directory's size.)"""
    await running(runtime, spec(52))
    host_dir = root / "host-big"
    host_dir.mkdir(mode=0o700)
    (host_dir / "blob").write_bytes(os.urandom(64 * 1024 * 1024))
    swapper = asyncio.ensure_future(
        sh(runtime, 52, f"python3 - {host_dir} <<'EOF'\n{SWAPPER}\nEOF", timeout_s=120.0)
    )
    try:
        for _ in range(400):
            if (await sh(runtime, 52, "test -L ~/link && echo yes")).output.strip() == "yes":
                break
            await asyncio.sleep(0.05)
        readings = [await runtime.storage_usage_mib(52) for _ in range(40)]
        assert max(readings) < 48, f"a measurement counted the host's 64 MiB: {readings}"
    finally:
        swapper.cancel()
        await asyncio.gather(swapper, return_exceptions=True)
    assert (host_dir / "blob").stat().st_size == 64 * 1024 * 1024


# ---- finding 9: no secret in a privileged argv, environment or file ---------------------------


def root_side_leaks(secret: bytes, workspace_uids: set[int]) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid in workspace_uids:
                continue
            for name in ("cmdline", "environ"):
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    if secret in f.read():
                        found.append(f"/proc/{pid}/{name}")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def files_containing(top: Path, secret: bytes) -> list[str]:
    found = []
    for dirpath, _, filenames in os.walk(top):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                with open(path, "rb") as f:
                    if secret in f.read():
                        found.append(path)
            except OSError:
                continue
    return found


async def test_env_secrets_stay_out_of_root_processes_and_files(
    runtime: LocalRuntime, root: Path
) -> None:
    secret = f"planted-{secrets.token_hex(8)}"
    per_call = f"percall-{secrets.token_hex(8)}"
    await running(runtime, spec(46, env={"API_KEY": secret}))
    term = await runtime.open_terminal(46, 80, 24)
    try:
        seen = await run_in_terminal(term, 'echo "key=$API_KEY"')
        assert f"key={secret}" in seen  # the shell has it...
        slow = asyncio.ensure_future(
            sh(runtime, 46, f'sleep 2; echo "$CALL {per_call}"', env={"CALL": per_call})
        )
        await asyncio.sleep(0.5)  # the exec is running now: its helpers are alive
        leaks: list[str] = []
        for needle in (secret, per_call):
            leaks += root_side_leaks(needle.encode(), {UID_BASE + 46})
            leaks += files_containing(root, needle.encode())
        result = await slow
        assert result.output.strip() == f"{per_call} {per_call}"
        assert leaks == []  # ...and no root process or platform file does
    finally:
        await term.close()
    exec_result = await sh(runtime, 46, 'echo "$API_KEY"')
    assert exec_result.output.strip() == secret


async def test_a_sandbox_started_before_the_upgrade_loses_its_recorded_env(
    runtime: LocalRuntime, root: Path
) -> None:
    """An old sandbox.json kept env values; reading it rewrites it without them."""
    await running(runtime, spec(47))
    path = root / "sandboxes" / "ws-47" / "sandbox.json"
    record = json.loads(path.read_text())
    record["env"] = {"OLD": "old-secret-value"}
    path.write_text(json.dumps(record))
    assert (await sh(runtime, 47, "echo ok")).output.strip() == "ok"
    assert b"old-secret-value" not in path.read_bytes()


class _AuthGitHandler(http.server.SimpleHTTPRequestHandler):
    """Dumb-HTTP git that wants Basic credentials and answers slowly, so the clone's processes
    are alive while the test looks at them."""

    password = ""
    seen_auth: list[str] = []

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"bot:{self.password}".encode()).decode()
        got = self.headers.get("Authorization", "")
        self.seen_auth.append(got)
        if got != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        time.sleep(0.3)  # the clone is in flight now
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_git_url_credentials_never_reach_a_command_line(
    runtime: LocalRuntime, root: Path, git_server: str
) -> None:
    """Old code put the whole gitUrl, password included, on the argv of the clone's root helper,
    of bubblewrap and of git itself: readable by every user of the host in /proc/PID/cmdline."""
    password = f"pw-{secrets.token_hex(8)}"
    srv = Path(tempfile.mkdtemp(prefix="hemisphere-authgit-"))
    subprocess.run(
        ["git", "clone", "-q", "--bare", f"{git_server}/repo.git", str(srv / "repo.git")],
        check=True,
    )
    subprocess.run(["git", "update-server-info"], cwd=srv / "repo.git", check=True)
    handler = type("Handler", (_AuthGitHandler,), {"password": password, "seen_auth": []})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(srv))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://bot:{password}@127.0.0.1:{server.server_address[1]}/repo.git"
        provision = asyncio.ensure_future(runtime.provision(spec(53, git_url=url)))
        leaks: list[str] = []
        while not provision.done():
            leaks += [p for p in everyone_s_cmdlines(password.encode()) if p not in leaks]
            leaks += root_side_leaks(password.encode(), {UID_BASE + 53})
            await asyncio.sleep(0.02)
        await provision
        assert handler.seen_auth and any(a.startswith("Basic ") for a in handler.seen_auth)
        assert leaks == []
        await runtime.start(spec(53))
        assert (await sh(runtime, 53, "cat README.md")).output == "hello from git\n"
        assert files_containing(root, password.encode()) == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        shutil.rmtree(srv, ignore_errors=True)


def everyone_s_cmdlines(secret: bytes) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if secret in f.read():
                        found.append(f"/proc/{pid}/cmdline")
            except OSError:
                continue
    return found


# ---- finding 13: defence in depth -------------------------------------------------------------

PROBE = r"""
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    if libc.syscall(nr, *[ctypes.c_long(a) for a in args]) >= 0:
        return "ok"
    return errno.errorcode[ctypes.get_errno()]
for name, nr, args in [
    ("io_uring_setup", 425, (1, 0)), ("io_uring_enter", 426, (0, 0, 0, 0, 0, 0)),
    ("io_uring_register", 427, (0, 0, 0, 0)), ("keyctl", 250, (0, 0)),
    ("add_key", 248, (0, 0, 0, 0, 0)), ("request_key", 249, (0, 0, 0, 0)),
    ("bpf", 321, (0, 0, 0)), ("userfaultfd", 323, (0,)),
    ("perf_event_open", 298, (0, 0, 0, 0, 0)), ("unshare", 272, (0x10000000,)),
    ("unshare_net", 272, (0x40000000,)), ("setns", 308, (0, 0)), ("clone3", 435, (0, 0)),
    ("clone_newuser", 56, (0x10000000 | 17, 0, 0, 0, 0)),
    ("clone_newpid", 56, (0x20000000 | 17, 0, 0, 0, 0)),
]:
    print(name, call(nr, *args))
pid = os.fork()
if pid == 0:
    os._exit(7)
print("fork", os.waitpid(pid, 0)[1] >> 8)
"""

EXPECTED = {
    "io_uring_setup": "EPERM",
    "io_uring_enter": "EPERM",
    "io_uring_register": "EPERM",
    "keyctl": "EPERM",
    "add_key": "EPERM",
    "request_key": "EPERM",
    "bpf": "EPERM",
    "userfaultfd": "EPERM",
    "perf_event_open": "EPERM",
    "unshare": "EPERM",
    "unshare_net": "EPERM",
    "setns": "EPERM",
    "clone3": "ENOSYS",
    "clone_newuser": "EPERM",
    "clone_newpid": "EPERM",
    "fork": "7",
}


async def test_seccomp_denies_the_risky_syscalls_and_ordinary_work_goes_on(
    runtime: LocalRuntime,
) -> None:
    await running(runtime, spec(48))
    probe = await sh(runtime, 48, f"python3 - <<'EOF'\n{PROBE}\nEOF")
    assert probe.exit_code == 0, probe
    assert dict(line.split() for line in probe.output.splitlines()) == EXPECTED
    work = await sh(
        runtime,
        48,
        "set -e; cd ~ && git init -q repo && cd repo && echo hi > f && git add f && "
        "git -c user.email=a@b -c user.name=a commit -qm one && git log --format=%s && "
        "python3 -c 'import subprocess; print(subprocess.run([\"true\"]).returncode)' && "
        "(sleep 0.1 & wait) && grep Seccomp: /proc/self/status",
    )
    assert work.exit_code == 0, work
    assert work.output.split() == ["one", "0", "Seccomp:", "2"]
    term = await runtime.open_terminal(48, 80, 24)
    try:
        assert "2" in await run_in_terminal(term, "grep Seccomp: /proc/self/status")
    finally:
        await term.close()


def test_the_filter_kills_foreign_architectures_and_refuses_unknown_hosts() -> None:
    program = build_filter("x86_64")
    assert len(program) % 8 == 0 and len(program) // 8 < 64
    with pytest.raises(RuntimeError, match="x86_64"):
        build_filter("aarch64")


async def test_host_usr_local_is_not_visible(runtime: LocalRuntime) -> None:
    assert os.listdir("/usr/local")  # the host has something there
    await running(runtime, spec(49))
    look = await sh(runtime, 49, "ls -A /usr/local | wc -l; touch /usr/local/x 2>&1 || echo ro")
    lines = look.output.split("\n")
    assert lines[0].strip() == "0", look
    assert "ro" in look.output


async def test_pid_1_shows_no_host_paths(runtime: LocalRuntime, root: Path) -> None:
    await running(runtime, spec(50))
    seen = await sh(
        runtime, 50, "tr '\\0' '\\n' < /proc/1/cmdline; tr '\\0' '\\n' < /proc/1/environ"
    )
    assert seen.exit_code == 0, seen
    assert seen.output.strip(), "pid 1 has a command line"
    assert str(root) not in seen.output
    assert "homes" not in seen.output and "/tmp/hemisphere" not in seen.output


async def test_no_sandbox_process_holds_a_file_of_the_data_dir(
    runtime: LocalRuntime, root: Path
) -> None:
    """Old code gave bubblewrap the root-owned sandbox.log as stderr, kept open by the sandbox's
    pid 1 and init for their whole life: a tenant ptracing them could write the data dir without
    limit, outside its storage quota."""
    await running(runtime, spec(55))
    fds = await sh(runtime, 55, "for f in /proc/[0-9]*/fd/*; do readlink $f; done 2>/dev/null")
    assert fds.output.strip(), fds
    assert str(root) not in fds.output, fds.output
    log = root / "sandboxes" / "ws-55" / "sandbox.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600  # start-up output is still kept


async def test_two_installations_with_different_uid_bases_do_not_collide(
    root: Path, cgroup_parent: str
) -> None:
    other_root = Path(tempfile.mkdtemp(prefix="hemisphere-rt2-", dir="/tmp"))
    os.chmod(other_root, 0o711)
    one = make_runtime(root, cgroup_parent)
    two = LocalRuntime(
        other_root, uid_base=UID_BASE + 100_000, cgroup_parent=cgroup_parent + "-two"
    )
    try:
        await running(one, spec(1))
        await running(two, spec(1))
        uids = [
            (await sh(rt, 1, "id -u")).output.strip() for rt in (one, two)
        ]  # the same workspace id in both
        assert uids == [str(UID_BASE + 1), str(UID_BASE + 100_001)]
        await one.stop(1)
        assert (await sh(two, 1, "echo still")).output.strip() == "still"
    finally:
        for rt in (one, two):
            for wid in await rt.observe():
                await rt.remove(wid)
        shutil.rmtree(other_root, ignore_errors=True)


def test_default_uid_base_differs_per_data_dir_and_stays_in_range() -> None:
    bases = {default_uid_base(Path(f"/var/lib/hemisphere-{i}")) for i in range(50)}
    assert len(bases) > 45
    assert all(b >= 65536 and b + 2**20 <= 2**31 - 2 for b in bases)
    assert default_uid_base(Path("/a")) == default_uid_base(Path("/a"))
