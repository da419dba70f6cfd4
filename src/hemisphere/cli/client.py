"""Client commands over the REST API: login, tokens, users, teams, workspaces, exec.

The URL and token come from --url/--token, else HEMISPHERE_URL/HEMISPHERE_TOKEN (or Codesphere's
CS_API/CS_TOKEN), else the file `hemisphere login` wrote (~/.config/hemisphere/credentials.json).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hemisphere.cli.apps import command_group
from hemisphere.sdk import HemisphereClient, HemisphereError
from hemisphere.sdk import models as m

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _credentials_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "hemisphere" / "credentials.json"


def _saved() -> dict[str, str]:
    try:
        data = json.loads(_credentials_file().read_text())
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


Url = Annotated[str | None, typer.Option("--url", help="Base URL, e.g. http://localhost:8080")]
Token = Annotated[str | None, typer.Option("--token", help="API token (hsp_...)")]


@contextmanager
def _client(url: str | None, token: str | None) -> Iterator[HemisphereClient]:
    saved = _saved()
    url = url or os.environ.get("HEMISPHERE_URL") or os.environ.get("CS_API") or saved.get("url")
    token = (
        token
        or os.environ.get("HEMISPHERE_TOKEN")
        or os.environ.get("CS_TOKEN")
        or saved.get("token")
    )
    if not url or not token:
        err.print(
            "error: no API URL or token. Run 'hemisphere login --url http://localhost:8080', "
            "or set HEMISPHERE_URL and HEMISPHERE_TOKEN."
        )
        raise typer.Exit(2)
    with HemisphereClient(url, token) as c:
        try:
            yield c
        except HemisphereError as exc:
            err.print(f"error: {exc}")
            raise typer.Exit(1) from None


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*(("" if v is None else str(v)) for v in r))
    out.print(t)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    result = {}
    for v in values:
        if "=" not in v:
            err.print(f"error: {option} {v!r}: expected NAME=VALUE")
            raise typer.Exit(2)
        k, _, val = v.partition("=")
        result[k] = val
    return result


def register(app: typer.Typer) -> None:
    @app.command()
    def login(
        url: Annotated[str, typer.Option("--url", help="Base URL")] = "http://localhost:8080",
        email: Annotated[str, typer.Option(prompt=True)] = "",
        password: Annotated[str, typer.Option(prompt=True, hide_input=True)] = "",
    ) -> None:
        """Log in and store an API token for later commands (file mode 0600)."""
        with HemisphereClient(url) as c:
            try:
                created = c.login(email, password, "cli")
            except HemisphereError as exc:
                err.print(f"error: {exc}")
                raise typer.Exit(1) from None
        path = _credentials_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"url": url, "token": created.token}, f)
        out.print(f"Logged in as {email}; token saved to {path}")

    token_app = command_group(help="API tokens.")
    app.add_typer(token_app, name="token")

    @token_app.command("create")
    def token_create(name: str, url: Url = None, token: Token = None) -> None:
        """Create a personal API token (shown once)."""
        with _client(url, token) as c:
            created = c.create_token(name)
        out.print(created.token)

    @token_app.command("list")
    def token_list(url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            rows = [[t.id, t.name, t.prefix + "…", t.createdAt] for t in c.list_tokens()]
        _table("API tokens", ["id", "name", "prefix", "created"], rows)

    users = command_group(help="Users (cluster admins).")
    app.add_typer(users, name="users")

    @users.command("create")
    def users_create(
        email: str,
        password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
        name: str = "",
        admin: bool = False,
        url: Url = None,
        token: Token = None,
    ) -> None:
        with _client(url, token) as c:
            u = c.create_user(email, password, name, admin=admin)
        out.print(f"created user {u.id} {u.email}")

    @users.command("list")
    def users_list(url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            rows = [[u.id, u.email, u.name, u.isClusterAdmin, u.disabled] for u in c.list_users()]
        _table("Users", ["id", "email", "name", "admin", "disabled"], rows)

    teams = command_group(help="Teams and members.")
    app.add_typer(teams, name="teams")

    @teams.command("list")
    def teams_list(url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            rows = [
                [t.id, t.name, "admin" if t.role == 0 else "member", t.defaultDataCenterId]
                for t in c.list_teams()
            ]
        _table("Teams", ["id", "name", "your role", "data center"], rows)

    @teams.command("create")
    def teams_create(name: str, dc: int = 1, url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            t = c.create_team(name, dc)
        out.print(f"created team {t.id} {t.name}")

    @teams.command("add-member")
    def teams_add_member(
        team: int, email: str, admin: bool = False, url: Url = None, token: Token = None
    ) -> None:
        with _client(url, token) as c:
            c.add_member(team, email, 0 if admin else 1)
        out.print(f"added {email} to team {team}")

    @teams.command("members")
    def teams_members(team: int, url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            rows = [
                [mb.userId, mb.email, "admin" if mb.role == 0 else "member"]
                for mb in c.list_members(team)
            ]
        _table(f"Members of team {team}", ["user", "email", "role"], rows)

    ws = command_group(help="Workspaces.")
    app.add_typer(ws, name="ws")

    @ws.command("list")
    def ws_list(
        team: Annotated[int, typer.Option("--team")], url: Url = None, token: Token = None
    ) -> None:
        with _client(url, token) as c:
            rows = [[w.id, w.name, w.state, w.planId, w.devDomain] for w in c.list_workspaces(team)]
        _table(f"Workspaces of team {team}", ["id", "name", "state", "plan", "dev domain"], rows)

    @ws.command("create")
    def ws_create(
        name: str,
        team: Annotated[int, typer.Option("--team")],
        plan: int = 8,
        git: Annotated[str | None, typer.Option("--git", help="http(s) URL to clone")] = None,
        env: Annotated[list[str] | None, typer.Option("--env", help="NAME=VALUE")] = None,
        stopped: Annotated[bool, typer.Option(help="Create without starting")] = False,
        wait: Annotated[bool, typer.Option(help="Wait until running")] = True,
        url: Url = None,
        token: Token = None,
    ) -> None:
        with _client(url, token) as c:
            created = c.create_workspace(
                m.WorkspaceCreate(
                    teamId=team,
                    name=name,
                    planId=plan,
                    isPrivateRepo=False,
                    replicas=0 if stopped else 1,
                    gitUrl=git,
                    env=[m.EnvVar(name=k, value=v) for k, v in _pairs(env or [], "--env").items()],
                )
            )
            out.print(f"created workspace {created.id} {created.name}")
            if wait and not stopped:
                _wait(c, created.id, lambda st: st.isRunning)

    @ws.command("start")
    def ws_start(workspace: int, wait: bool = True, url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            c.start_workspace(workspace)
            if wait:
                _wait(c, workspace, lambda st: st.isRunning)

    @ws.command("stop")
    def ws_stop(workspace: int, wait: bool = True, url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            c.stop_workspace(workspace)
            if wait:
                _wait(c, workspace, lambda st: st.state == "stopped")

    @ws.command("delete")
    def ws_delete(
        workspace: int,
        yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
        url: Url = None,
        token: Token = None,
    ) -> None:
        if not yes:
            typer.confirm(f"Delete workspace {workspace} and all its files?", abort=True)
        with _client(url, token) as c:
            c.delete_workspace(workspace)
        out.print(f"workspace {workspace} is being deleted")

    @ws.command("status")
    def ws_status(workspace: int, url: Url = None, token: Token = None) -> None:
        with _client(url, token) as c:
            st = c.workspace_status(workspace)
        out.print(f"{st.state}" + (f" ({st.reason})" if st.reason else ""))

    @ws.command("exec")
    def ws_exec(
        workspace: int,
        command: Annotated[list[str], typer.Argument(help="Command (run with bash -c)")],
        workdir: Annotated[str | None, typer.Option("--workdir")] = None,
        env: Annotated[list[str] | None, typer.Option("--env", help="NAME=VALUE")] = None,
        url: Url = None,
        token: Token = None,
    ) -> None:
        """Run a command in the workspace; prints stdout, stderr, exits with its code."""
        with _client(url, token) as c:
            res = c.execute(
                workspace, " ".join(command), working_dir=workdir, env=_pairs(env or [], "--env")
            )
        if res.output:
            out.print(res.output, end="", markup=False)
        if res.error:
            err.print(res.error, end="", markup=False)
        raise typer.Exit(res.exitCode)

    @ws.command("env")
    def ws_env(
        workspace: int,
        set_: Annotated[list[str] | None, typer.Option("--set", help="NAME=VALUE")] = None,
        unset: Annotated[list[str] | None, typer.Option("--unset", help="NAME")] = None,
        url: Url = None,
        token: Token = None,
    ) -> None:
        """Show env vars, or set/unset some."""
        with _client(url, token) as c:
            if set_:
                c.set_env(workspace, _pairs(set_, "--set"))
            if unset:
                c.delete_env(workspace, unset)
            rows = [[e.name, e.value] for e in c.get_env(workspace)]
        _table(f"Env vars of workspace {workspace}", ["name", "value"], rows)


def _wait(
    c: HemisphereClient,
    workspace: int,
    done: Callable[[m.WorkspaceStatus], bool],
    timeout_s: float = 120.0,
) -> None:
    deadline = time.monotonic() + timeout_s
    with err.status(f"waiting for workspace {workspace}…") as status:
        while True:
            st = c.workspace_status(workspace)
            status.update(f"workspace {workspace}: {st.state}")
            if done(st):
                out.print(f"workspace {workspace} is {st.state}")
                return
            if st.state == "failed":
                err.print(f"error: workspace {workspace} failed: {st.reason}")
                raise typer.Exit(1)
            if time.monotonic() > deadline:
                err.print(f"error: workspace {workspace} still {st.state} after {timeout_s:g} s")
                raise typer.Exit(1)
            time.sleep(0.3)
