"""The one program the platform runs INSIDE a sandbox, as the workspace user, before anything of
the tenant's: it turns a request the host wrote into a file descriptor into a process.

Why it exists (issue 10):

* Secrets stay out of argv and out of root's environment. The workspace's environment variables
  and the exec's command reach the sandbox through a memfd (`payload`) instead of
  `env -i NAME=VALUE ...` on the command line of a root process, where `ps` shows them to every
  user of the host for the terminal's whole life.
* The privileged side never resolves a tenant-controlled path. A pty is allocated HERE, by the
  workspace uid, from the sandbox's own devpts (`/dev/pts/ptmx`, the devpts bubblewrap mounted),
  and the master side is passed back to the host over a socket (SCM_RIGHTS). The host only ever
  holds file descriptors, which it checks (`pty.receive_master`); it never opens
  `/proc/PID/root/...`, where a tenant's symlink would lead root anywhere on the host.
* The seccomp filter (seccomp.py) is installed here, before the tenant's command runs: a process
  entered from the host does not inherit the filter of the sandbox's init.

It runs on the sandbox's /usr/bin/python3 (the host's /usr, read-only) with `-I -S`: no
environment, no site packages, nothing of the tenant's home on its import path. It is passed as
`-c PROGRAM`, so it is the same constant text for every workspace; what differs comes from the fd.
A tenant can interfere with it only with its own privileges (it runs as the tenant), so nothing it
sends back is trusted by the host.

ptrace: until the filter is installed, this process runs as the tenant's uid without it, so a
tenant process could attach (or write /proc/PID/mem) and run unfiltered code. Its first statement
makes it non-dumpable, which closes that door for the rest of its life; what is left is the
interpreter's start-up before that statement (milliseconds), and what a tenant wins there is only
an unfiltered process with its own uid in its own sandbox. (ptrace itself stays allowed:
debuggers and strace are ordinary development tools.)
"""

from __future__ import annotations

import marshal
from collections.abc import Mapping, Sequence

PYTHON = "/usr/bin/python3"
ENV_FILE = "/run/hemisphere/env"
"""Inside the sandbox: the workspace's environment (a marshalled dict), written by bubblewrap from a
memfd onto the sandbox's own tmpfs at start. Never a file under the platform's data dir."""
CHDIR_FAILED_EXIT_CODE = 125  # as `env --chdir` reports it
# marshal, not json: it is built into the interpreter, and importing json costs the launcher
# ~5 ms of every exec. Version 2 (no object references) reads the same in every Python 3, so the
# platform's interpreter and the sandbox's /usr/bin/python3 need not be the same version. What
# the launcher unmarshals comes from the host, or from the sandbox's own file: at worst a tenant
# crashes its own launcher.
_MARSHAL_VERSION = 2

PROGRAM = r"""
import ctypes
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0 first: see "ptrace" above
import marshal, os, sys
def fail(message, code=125):
    os.write(2, ("hemisphere: " + message + "\n").encode(errors="replace"))
    os._exit(code)
def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return marshal.loads(b"".join(chunks))
def confine(program):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                           ctypes.c_ulong]
    if libc.prctl(38, 1, None, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        fail("cannot set no_new_privs: " + os.strerror(ctypes.get_errno()), 126)
    if not program:
        return
    buf = ctypes.create_string_buffer(program, len(program))
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    prog = Prog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        fail("cannot install the seccomp filter: " + os.strerror(ctypes.get_errno()), 126)
mode, fd = sys.argv[1], int(sys.argv[2])
if mode == "pty":
    import fcntl, socket, struct
    confine(bytes.fromhex(sys.argv[3]))
    sock = socket.socket(fileno=fd)
    master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlockpt
    socket.send_fds(sock, [b"pty"], [master])
    sys.exit(0)
request = read_all(fd)
env = dict(request["env"])
try:
    with open(request["envFile"], "rb") as f:
        env.update(marshal.loads(f.read()))
except FileNotFoundError:
    pass
env.update(request["callEnv"])
confine(bytes.fromhex(request["seccomp"]))
try:
    os.chdir(request["cwd"])
except OSError as exc:
    fail("cannot change directory to " + request["cwd"] + ": " + exc.strerror)
argv = request["argv"]
try:
    os.execve(argv[0], argv, env)
except OSError as exc:
    fail("cannot run " + argv[0] + ": " + exc.strerror, 127)
"""


def launch_argv(payload_fd: int) -> list[str]:
    """Run the request in `payload_fd` (see `payload`)."""
    return [PYTHON, "-I", "-S", "-c", PROGRAM, "launch", str(payload_fd)]


def pty_argv(socket_fd: int, seccomp: bytes) -> list[str]:
    """Allocate a pty in the sandbox's devpts and send its master over `socket_fd`, under the
    `seccomp` filter (no process of the tenant's uid runs unfiltered longer than it must)."""
    return [PYTHON, "-I", "-S", "-c", PROGRAM, "pty", str(socket_fd), seccomp.hex()]


def payload(
    *,
    env: Mapping[str, str],
    call_env: Mapping[str, str],
    cwd: str,
    argv: Sequence[str],
    seccomp: bytes,
) -> bytes:
    """The request for `launch`: the process gets `env`, overlaid by the workspace's environment
    (ENV_FILE), overlaid by `call_env`; it runs `argv` in `cwd` under the `seccomp` filter."""
    return marshal.dumps(
        {
            "env": dict(env),
            "envFile": ENV_FILE,
            "callEnv": dict(call_env),
            "cwd": cwd,
            "argv": list(argv),
            "seccomp": seccomp.hex(),
        },
        _MARSHAL_VERSION,
    )


def env_file(env: Mapping[str, str]) -> bytes:
    """The content of ENV_FILE."""
    return marshal.dumps(dict(env), _MARSHAL_VERSION)
