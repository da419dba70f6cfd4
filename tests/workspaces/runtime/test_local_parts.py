"""The local runtime's pure parts (argv building, /proc parsing, limits) and its directory
storage, one function at a time."""

from __future__ import annotations

import marshal
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hemisphere.workspaces.runtime.base import RuntimePermanentError
from hemisphere.workspaces.runtime.cgroups import CgroupLimits
from hemisphere.workspaces.runtime.inside import launch_argv, payload
from hemisphere.workspaces.runtime.procfs import (
    is_same_process,
    parse_listening_ports,
    parse_stat,
    read_stat,
)
from hemisphere.workspaces.runtime.sandbox import (
    SandboxUser,
    check_env,
    enter_argv,
    etc_files,
    join_cgroups_argv,
)
from hemisphere.workspaces.storage.errors import StorageLayoutError
from hemisphere.workspaces.storage.local import LocalDirectoryStorage

# ---- /proc -----------------------------------------------------------------------------------


def test_parse_stat_survives_hostile_command_names() -> None:
    # Fields 3.. after the name: state, ppid, pgrp, session, then up to start time (field 22).
    after_name = ["R", "1", "77", "99", *["0"] * 15, "123456", "0", "0"]
    line = "4242 (evil) S 1 2 3 (x) " + " ".join(after_name) + "\n"
    st = parse_stat(line)  # the name "evil) S 1 2 3 (x" must not shift the fields after it
    assert (st.pid, st.state, st.session, st.start_ticks) == (4242, "R", 99, 123456)


def test_read_stat_of_this_process() -> None:
    st = read_stat(os.getpid())
    assert st is not None and st.alive and st.pid == os.getpid()
    assert is_same_process(os.getpid(), st.start_ticks)
    assert not is_same_process(os.getpid(), st.start_ticks + 1)
    assert read_stat(2**22 + 1) is None  # above pid_max


TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 1 1 0 100 0
   1: 0100007F:1F40 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000 1000 0 2 1 0 20 4
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000    0 0 3 1 0 100 0
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue
   0: 00000000000000000000000000000000:2382 00000000000000000000000000000000:0000 0A 0:0 0
"""


def test_listening_ports_are_the_listen_rows_only() -> None:
    assert parse_listening_ports(TCP) == {8000, 22}  # the ESTABLISHED row is not a listener
    assert parse_listening_ports(TCP6) == {9090}
    assert parse_listening_ports(TCP.splitlines()[0]) == set()


# ---- limits and command lines ----------------------------------------------------------------


def test_limits_from_a_plan() -> None:
    limits = CgroupLimits.of(memory_mib=512, cpu_millis=1500, pids_max=256)
    assert limits == CgroupLimits(512 * 1024 * 1024, 150_000, 256)
    with pytest.raises(RuntimePermanentError, match="memory 4 MiB"):
        CgroupLimits.of(memory_mib=4, cpu_millis=1000, pids_max=256)


def test_cgroups_are_joined_before_anything_runs() -> None:
    argv = join_cgroups_argv([Path("/cg/a/cgroup.procs"), Path("/cg/b/cgroup.procs")], ["true"])
    assert argv[:3] == ["/bin/sh", "-c", argv[2]]
    assert argv[4:] == ["/cg/a/cgroup.procs", "/cg/b/cgroup.procs", "--", "true"]


def test_user_env_never_reaches_a_privileged_argv() -> None:
    user = SandboxUser(5, 200_005, 200_005)
    request = payload(
        env={"HOME": "/home/user"},
        call_env={"LD_PRELOAD": "/home/user/evil.so", "A": "s3cret"},
        cwd="/home/user",
        argv=["/bin/bash", "-c", "echo s3cret"],
        seccomp=b"",
    )
    argv = enter_argv(42, user, launch_argv(9))
    assert not any("s3cret" in a or "LD_PRELOAD" in a for a in argv)  # it travels in the fd
    assert marshal.loads(request)["callEnv"]["LD_PRELOAD"] == "/home/user/evil.so"
    assert argv[: argv.index("nsenter")] == ["setpriv", "--clear-groups", "--no-new-privs", "--"]
    assert "--setuid=200005" in argv and "--target=42" in argv
    assert argv[argv.index("--", argv.index("nsenter")) + 1 :] == launch_argv(9)


def test_env_names_are_checked() -> None:
    check_env({"GOOD_1": "any value = fine"})
    for bad in ("1X", "A-B", "A=B", ""):
        with pytest.raises(ValueError, match="invalid"):
            check_env({bad: "x"})
    with pytest.raises(ValueError, match="NUL"):
        check_env({"A": "x\0y"})


def test_generated_etc_names_the_workspace_user() -> None:
    files = etc_files(SandboxUser(9, 200_009, 200_009))
    assert b"user:x:200009:200009:" in files["passwd"]
    assert files["hostname"] == b"ws-9\n"
    assert b"ws-9" in files["hosts"]


# ---- directory storage -----------------------------------------------------------------------


@pytest.fixture
def storage_root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hemisphere-st-", dir="/tmp"))
    os.chmod(path, 0o711)
    yield path / "homes"
    shutil.rmtree(path, ignore_errors=True)


def test_storage_below_a_closed_directory_is_refused(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(StorageLayoutError, match=f"lies below {closed} .*mode 0700"):
        LocalDirectoryStorage(closed / "homes")


async def test_storage_create_is_atomic_and_idempotent(storage_root: Path) -> None:
    storage = LocalDirectoryStorage(storage_root)

    async def broken(target: Path) -> None:
        (target / "half").write_text("x")
        raise RuntimeError("clone died")

    with pytest.raises(RuntimeError, match="clone died"):
        await storage.create(3, 200_003, 200_003, broken)
    assert not storage.exists(3)
    assert list(storage_root.iterdir()) == []

    async def fill(target: Path) -> None:
        (target / "file").write_text("content")

    assert await storage.create(3, 200_003, 200_003, fill)
    assert not await storage.create(3, 200_003, 200_003, fill)
    home = storage.home(3)
    assert (home / "file").read_text() == "content"
    assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (200_003, 0o700)
    assert storage.workspace_ids() == {3}

    await storage.destroy(3)
    await storage.destroy(3)
    assert storage.workspace_ids() == set()
    assert list(storage_root.iterdir()) == []


async def test_storage_leftovers_are_seen_and_discarded(storage_root: Path) -> None:
    storage = LocalDirectoryStorage(storage_root)
    (storage_root / ".trash-ws-4-00ff").mkdir()
    (storage_root / "unrelated").mkdir()
    assert storage.workspace_ids() == {4}
    assert storage.has_leftovers(4) and not storage.exists(4)
    await storage.discard_leftovers(4)
    assert storage.workspace_ids() == set()
    assert (storage_root / "unrelated").exists()


async def test_storage_usage_counts_blocks_and_hard_links_once(storage_root: Path) -> None:
    storage = LocalDirectoryStorage(storage_root)

    async def fill(target: Path) -> None:
        (target / "data").write_bytes(os.urandom(3 * 1024 * 1024))
        os.link(target / "data", target / "same-data")
        (target / "sparse").touch()
        os.truncate(target / "sparse", 1 << 30)  # 1 GiB apparent, nothing allocated

    await storage.create(5, 200_005, 200_005, fill)
    used = await storage.usage_bytes(5)
    assert 3 * 1024 * 1024 <= used < 4 * 1024 * 1024
    assert await storage.usage_bytes(6) == 0
