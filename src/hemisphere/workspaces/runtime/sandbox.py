"""The command lines of the local runtime: pure functions from a workspace to argv lists.

How a workspace process comes to be, measured on this host (ARCHITECTURE.md §7):

* Join the cgroups first: a tiny `sh` writes its own pid into the workspace's cgroup.procs
  files and then `exec`s the rest, so nothing of the workspace ever runs outside its limits.
* The sandbox: `setpriv` drops root to the workspace uid/gid (no supplementary groups, no new
  privileges) BEFORE `bwrap --unshare-all`, so bubblewrap runs unprivileged and builds a user
  namespace mapping only that uid, plus pid/mount/net/ipc/uts/cgroup namespaces. (`bwrap --uid`
  as root does not work here.) `setsid --fork` detaches it from the platform, so a platform crash
  does not take developers' shells with it.
* Entering a running sandbox (exec, terminal): root clears its groups, then `nsenter --all`
  joins the namespaces of the sandbox's init and switches to the workspace uid/gid. An
  unprivileged process cannot do this itself: bwrap nests a second user namespace, and joining the
  ipc/net/mount namespaces needs CAP_SYS_ADMIN in the outer one.
* What the tenant chose never appears on a privileged command line or in a privileged
  environment (issue 10): the workspace's environment and an exec's command travel in a memfd
  read by `inside.py` inside the sandbox, as the workspace user, which also installs the seccomp
  filter (seccomp.py) before the tenant's command runs. (A user-chosen LD_PRELOAD never meets
  root, and `ps` shows no secrets.)
* bubblewrap reads its options from a memfd (`--args`) and binds the home from an fd the platform
  opened (`--bind-fd`, which bwrap checks is still the same directory after mounting): the
  sandbox's pid 1 is bubblewrap, and its /proc/1/cmdline would otherwise show the tenant the
  host's data directory. (bwrap 0.8 still resolves that fd's path as the workspace uid, so the
  directories above a home must stay searchable, o+x: the data directory is 0711, not 0700.)

Inside, the file system is the host's /usr (read-only, with /usr/local masked: whatever the host
installed there is the host's business), a minimal /etc, fresh /tmp, /run, /proc and /dev, and
the workspace's home at `SANDBOX_HOME`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hemisphere.workspaces.git_urls import (
    CREDENTIAL_HELPER,
    GIT_PASSWORD_ENV,
    GIT_USERNAME_ENV,
    split_credentials,
)
from hemisphere.workspaces.runtime.inside import ENV_FILE, launch_argv, payload

SANDBOX_HOME = "/home/user"
SANDBOX_USER = "user"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
"""The whole environment of the privileged helpers (sh, setpriv, nsenter, bwrap)."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Host /etc entries a developer shell needs; everything else of the host's /etc stays outside.
ETC_FROM_HOST = (
    "alternatives",
    "bash.bashrc",
    "bash_completion",
    "bash_completion.d",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "environment",
    "gai.conf",
    "host.conf",
    "inputrc",
    "issue",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "login.defs",
    "lsb-release",
    "magic",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "profile",
    "profile.d",
    "protocols",
    "python3",
    "services",
    "skel",
    "ssl",
    "terminfo",
    "timezone",
    "vim",
)
# Host top-level entries that are symlinks into /usr on merged-/usr systems, directories elsewhere.
_USR_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class SandboxUser:
    """The host identity of one workspace's processes."""

    workspace_id: int
    uid: int
    gid: int

    @property
    def hostname(self) -> str:
        return f"ws-{self.workspace_id}"


def join_cgroups_argv(procs_files: Sequence[Path], then: Sequence[str]) -> list[str]:
    """Run `then` after moving this very process into every listed cgroup."""
    script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "hemisphere-join", *map(str, procs_files), "--", *then]


def drop_to_user_argv(user: SandboxUser) -> list[str]:
    return [
        "setpriv",
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        "--clear-groups",
        "--no-new-privs",
        "--",
    ]


def etc_files(user: SandboxUser) -> dict[str, bytes]:
    """Generated /etc files: the workspace user is `user`, its uid the host uid."""
    return {
        "passwd": (
            f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"{SANDBOX_USER}:x:{user.uid}:{user.gid}:Workspace {user.workspace_id}:"
            f"{SANDBOX_HOME}:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ).encode(),
        "group": f"root:x:0:\n{SANDBOX_USER}:x:{user.gid}:\nnogroup:x:65534:\n".encode(),
        "hostname": f"{user.hostname}\n".encode(),
        "hosts": (
            "127.0.0.1\tlocalhost\n"
            f"127.0.1.1\t{user.hostname}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
        ).encode(),
    }


def system_mounts(host_root: Path = Path("/")) -> list[str]:
    """bwrap arguments for the read-only system: /usr, the /bin-style links, a minimal /etc."""
    # /usr/local holds what the host installed for itself (often the platform's own Python).
    args = ["--ro-bind", "/usr", "/usr", "--perms", "0755", "--tmpfs", "/usr/local"]
    args += ["--remount-ro", "/usr/local"]
    for name in _USR_LINKS:
        host = host_root / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", f"/{name}", f"/{name}"]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FROM_HOST:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _common_bwrap(user: SandboxUser, home: Sequence[str]) -> list[str]:
    """Options shared by the sandbox and the clone; `home` mounts the home at SANDBOX_HOME."""
    return [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",  # no nested user namespaces: less kernel attack surface
        *system_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",  # noqa: S108 - a fresh tmpfs inside the sandbox
        "--perms",
        "1777",
        "--tmpfs",
        "/var/tmp",  # noqa: S108 - a fresh tmpfs inside the sandbox
        "--perms",
        "0755",
        "--tmpfs",
        "/run",
        "--perms",
        "0755",
        "--dir",
        "/home",
        *home,
        "--hostname",
        user.hostname,
        "--chdir",
        SANDBOX_HOME,
        "--clearenv",
        "--setenv",
        "HOME",
        SANDBOX_HOME,
        "--setenv",
        "USER",
        SANDBOX_USER,
        "--setenv",
        "PATH",
        DEFAULT_PATH,
        "--setenv",
        "LANG",
        "C.UTF-8",
    ]


def sandbox_options(
    user: SandboxUser,
    *,
    home_fd: int,
    etc_fds: Mapping[str, int],
    env_fd: int,
    seccomp_fd: int,
    info_fd: int,
) -> list[str]:
    """bubblewrap's options for the long-lived sandbox, to be passed through `--args` (see
    `sandbox_argv`). `home_fd` is an open directory fd of the home; `etc_fds` are readable fds
    holding the generated /etc files; `env_fd` holds `inside.ENV_FILE`; `seccomp_fd` the
    compiled filter. bwrap writes `{"child-pid": ...}` (the host pid of the sandbox's pid 1) to
    `info_fd`."""
    generated: list[str] = []
    for name, fd in sorted(etc_fds.items()):
        generated += ["--perms", "0644", "--ro-bind-data", str(fd), f"/etc/{name}"]
    return [
        *_common_bwrap(user, ["--bind-fd", str(home_fd), SANDBOX_HOME]),
        *generated,
        "--perms",
        "0400",
        "--ro-bind-data",
        str(env_fd),
        ENV_FILE,
        "--seccomp",
        str(seccomp_fd),
        "--info-fd",
        str(info_fd),
    ]


def sandbox_argv(user: SandboxUser, args_fd: int) -> list[str]:
    """The long-lived sandbox, its options read from `args_fd` (NUL-separated
    `sandbox_options`). Its init prints `ready` on stdout once the sandbox is complete and then
    sleeps."""
    return [
        "setsid",
        "--fork",
        *drop_to_user_argv(user),
        "bwrap",
        "--args",
        str(args_fd),
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep infinity >/dev/null",
    ]


_CLONE_SCRIPT = (
    'git clone --quiet -- "$1" "$HOME" && '
    'if [ -n "$2" ]; then git -C "$HOME" checkout --quiet "$2" --; fi'
)


def clone_argv(user: SandboxUser, target: Path, request_fd: int) -> list[str]:
    """`git clone` into `target` (mounted as the home) in a throwaway sandbox that shares the
    host's network (the workspace sandbox has none) but nothing else. What to clone is in
    `request_fd` (a memfd holding `clone_request`): the URL's credentials stay off every argv."""
    return [
        *drop_to_user_argv(user),
        "bwrap",
        *_common_bwrap(user, ["--bind", str(target), SANDBOX_HOME]),
        "--share-net",
        "--die-with-parent",
        "--ro-bind-try",
        "/etc/resolv.conf",
        "/etc/resolv.conf",
        "--ro-bind-try",
        "/etc/hosts",
        "/etc/hosts",
        "--",
        *launch_argv(request_fd),
    ]


def clone_request(
    url: str, ref: str | None, seccomp: bytes, git_config: Mapping[str, str] | None = None
) -> bytes:
    """The `inside.payload` of a clone: the URL without its userinfo on git's command line, the
    user name and password (percent-decoded) in the environment for the credential helper.
    `git_config` are settings for git (workspaces/egress.py pins the checked address)."""
    bare, credentials = split_credentials(url)
    env = {
        "HOME": SANDBOX_HOME,
        "PATH": DEFAULT_PATH,
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        # Only http(s): no ext::, file://, ssh or submodules reaching elsewhere.
        "GIT_ALLOW_PROTOCOL": "http:https",
    }
    config = dict(git_config or {})
    if credentials is not None:
        # Never on a command line, which `ps` shows every user of the host.
        config["credential.helper"] = CREDENTIAL_HELPER
        env |= {GIT_USERNAME_ENV: credentials[0], GIT_PASSWORD_ENV: credentials[1]}
    for i, (key, value) in enumerate(config.items()):
        env |= {f"GIT_CONFIG_KEY_{i}": key, f"GIT_CONFIG_VALUE_{i}": value}
    if config:
        env["GIT_CONFIG_COUNT"] = str(len(config))
    return payload(
        env=env,
        call_env={},
        cwd=SANDBOX_HOME,
        argv=["/bin/sh", "-c", _CLONE_SCRIPT, "hemisphere-clone", bare, ref or ""],
        seccomp=seccomp,
    )


def enter_argv(
    sandbox_pid: int,
    user: SandboxUser,
    then: Sequence[str],
    *,
    controlling_tty: bool = False,
) -> list[str]:
    """Run `then` (an `inside.py` command) inside the running sandbox whose pid 1 is
    `sandbox_pid`, as the workspace user. Root clears its groups and joins the namespaces; it
    switches to the workspace uid before it executes anything inside."""
    ctty = ["setsid", "--ctty", "--wait"] if controlling_tty else []
    return [
        "setpriv",
        "--clear-groups",
        "--no-new-privs",
        "--",
        *ctty,
        "nsenter",
        f"--target={sandbox_pid}",
        "--all",
        f"--setuid={user.uid}",
        f"--setgid={user.gid}",
        "--",
        *then,
    ]


def check_env(env: Mapping[str, str]) -> None:
    """Reject names/values that cannot be an environment variable."""
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"environment variable name {name!r} is invalid: use letters, digits and "
                "underscores, not starting with a digit"
            )
        if "\0" in value:
            raise ValueError(f"environment variable {name} contains a NUL byte")
