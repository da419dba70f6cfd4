"""One way to start a real PostgreSQL 15 server: for the test suite, benchmarks and the lab.

initdb into a directory, run as the `postgres` system user (the server refuses to run as root),
optionally inside a network namespace (the lab's sites) and with password authentication for
connections over TCP (the lab's databases, reached through the WAN proxy like a real one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = ["PG_BIN", "PostgresServer", "free_port"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", *cmd]
    return cmd


class PostgresServer:
    """A PostgreSQL cluster in `root` (data in `root/data`, log in `root/log.txt`).

    `netns` runs the server inside that network namespace (by name, `ip netns`); `listen` are
    the addresses it listens on there. With `password_auth`, TCP connections need a password
    (scram-sha-256); the unix socket in `root` stays `trust` for the administrator.
    """

    def __init__(
        self,
        root: Path,
        *,
        port: int | None = None,
        listen: Sequence[str] = ("127.0.0.1",),
        netns: str | None = None,
        password_auth: bool = False,
    ) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port if port is not None else free_port()
        self.listen = tuple(listen)
        self.netns = netns
        self.password_auth = password_auth
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def socket_url(self) -> str:
        """The administrator's URL over the unix socket (works from any network namespace)."""
        return f"postgresql://postgres@/postgres?host={self.root}&port={self.port}"

    def _in_netns(self, cmd: list[str]) -> list[str]:
        if self.netns is None:
            return cmd
        return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *cmd]

    def start(self) -> None:
        """Initialise the cluster on first start, then start (or restart) the server."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            self._initdb()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={','.join(self.listen)} "
            "-c fsync=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            self._in_netns(_as_postgres([
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log.txt"),
                "-w", "-t", "60", "start", "-o", options,
            ])),
            check=True, capture_output=True,
        )  # fmt: skip

    def _initdb(self) -> None:
        host_auth = "scram-sha-256" if self.password_auth else "trust"
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "--auth-local=trust", f"--auth-host={host_auth}", "-E", "UTF8",
                          "--no-sync"]),
            check=True, capture_output=True,
        )  # fmt: skip
        if self.password_auth:
            # initdb allows TCP from loopback only; the lab's sites connect from the hub.
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 0.0.0.0/0 scram-sha-256\n")

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (`immediate`: like a crash; `fast`: a clean shutdown); idempotent."""
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]),
            check=False,
            capture_output=True,
        )

    def is_running(self) -> bool:
        """Whether the postmaster of this data directory is alive (its pid file says so)."""
        result = subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]),
            check=False,
            capture_output=True,
        )
        return result.returncode == 0

    def ensure_database(self, name: str, owner: str, password: str) -> None:
        """Create role `owner` (login, `password`) and database `name` owned by it; idempotent."""
        with psycopg.connect(self.socket_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(owner), sql.Literal(password)
                )
            )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(owner)
                    )
                )
