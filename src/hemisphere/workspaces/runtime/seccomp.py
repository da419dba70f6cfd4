"""The seccomp filter every workspace process runs under: less kernel for a hostile tenant.

Namespaces, cgroups and a distinct uid already confine a workspace; this filter removes the
kernel interfaces that have been the usual way out of such a box and that development work does
not need: io_uring, the key retention service, eBPF, userfaultfd, perf events, and every way to
make or join a namespace (`unshare`, `setns`, `clone` with a CLONE_NEW* flag). They answer EPERM,
so programs that probe for them fall back as they would on a locked-down host. `clone3` answers
ENOSYS instead: its flags live in a struct a classic BPF filter cannot read, and ENOSYS makes libc
fall back to `clone`, whose flags the filter does check.

The program is classic BPF (`struct sock_filter`), assembled here with `struct` rather than taken
from libseccomp, so the platform needs no extra library. It checks the architecture first: a
syscall made through another ABI (i386 `int 0x80`, x32) would have other numbers, so it kills
the process. bubblewrap installs it for the sandbox's init (`bwrap --seccomp FD`); every process
entered later (exec, terminal) installs it itself before it runs anything of the tenant's (see
`inside.py`): a filter is inherited only from a parent, and those processes come from the host.
"""

from __future__ import annotations

import errno
import platform
import struct

# <linux/filter.h>, <linux/seccomp.h>, <linux/audit.h>
_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K
RET_ALLOW = 0x7FFF0000
RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16  # little-endian: the low 32 bits of args[0] come first

AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
X86_64_DENIED: dict[str, int] = {
    "clone": 56,  # only with CLONE_NEW* flags, see below
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "setns": 308,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "clone3": 435,  # ENOSYS, see the module docstring
}
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
# CLONE_NEWNET. (CLONE_NEWTIME, 0x80, exists only for clone3/unshare: in clone it is signal bits.)
CLONE_NEW_FLAGS = 0x7E020000


def _stmt(code: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _errno(value: int) -> int:
    return _RET_ERRNO | (value & 0xFFFF)


def build_filter(machine: str | None = None) -> bytes:
    """The filter as a `struct sock_filter[]` byte string, for `bwrap --seccomp FD` and
    `prctl(PR_SET_SECCOMP)`. Only x86_64 hosts are supported; others get a clear error."""
    machine = machine or platform.machine()
    if machine != "x86_64":
        raise RuntimeError(
            f"the workspace seccomp filter knows the syscall numbers of x86_64 only, not of "
            f"{machine}; run the local runtime on an x86_64 host"
        )
    plain = sorted(nr for name, nr in X86_64_DENIED.items() if name not in ("clone", "clone3"))
    prog: list[bytes] = [
        _stmt(_BPF_LD_W_ABS, _OFF_ARCH),
        _jump(_BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        _stmt(_BPF_RET_K, RET_KILL_PROCESS),
        _stmt(_BPF_LD_W_ABS, _OFF_NR),
        _jump(_BPF_JGE_K, _X32_SYSCALL_BIT, 0, 1),
        _stmt(_BPF_RET_K, RET_KILL_PROCESS),
    ]
    # Each denied number: "if nr == N, jump to the EPERM return at the end of this block".
    for index, nr in enumerate(plain):
        prog.append(_jump(_BPF_JEQ_K, nr, len(plain) - index + 2, 0))
    prog += [
        _jump(_BPF_JEQ_K, X86_64_DENIED["clone3"], 3, 0),
        _jump(_BPF_JEQ_K, X86_64_DENIED["clone"], 3, 0),
        _stmt(_BPF_RET_K, RET_ALLOW),
        _stmt(_BPF_RET_K, _errno(errno.EPERM)),  # <- the plain denials land here
        _stmt(_BPF_RET_K, _errno(errno.ENOSYS)),  # clone3
        # clone: deny only when args[0] (the flags) asks for a new namespace.
        _stmt(_BPF_LD_W_ABS, _OFF_ARG0_LOW),
        _jump(_BPF_JSET_K, CLONE_NEW_FLAGS, 0, 1),
        _stmt(_BPF_RET_K, _errno(errno.EPERM)),
        _stmt(_BPF_RET_K, RET_ALLOW),
    ]
    return b"".join(prog)
