"""Workspaces: the team's list (live status, filters), the create form, start/stop/delete, and
the workspace page (terminal, env vars, ports with preview links).

`…/rows`, `…/summary` and `…/ports-list` are fragments the pages poll with htmx to stay live;
without JavaScript the full pages show the same content as of their loading.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hemisphere.console.web.client import ConsoleApi, api_for
from hemisphere.console.web.forms import FormErrors, checked, errors_from_detail, parse_env, text
from hemisphere.console.web.render import STATE_LABELS, render
from hemisphere.console.web.routes_teams import my_role, see_other
from hemisphere.console.web.session import CurrentUser, WebUser, safe_next
from hemisphere.sdk import models as m
from hemisphere.sdk.errors import ApiError

router = APIRouter(include_in_schema=False)

_CREATE_FIELDS = {
    "name": "name",
    "planId": "plan",
    "dataCenterId": "dc",
    "gitUrl": "git_url",
    "env": "env",
    "replicas": "start",
    "restricted": "restricted",
}


def _number(raw: str) -> object:
    """Digits become a number; anything else goes to the API as typed, to be refused there."""
    return int(raw) if raw.isdigit() else raw


def _filtered(items: list[m.Workspace], dc: str, state: str) -> list[m.Workspace]:
    return [
        w
        for w in items
        if (not dc or str(w.dataCenterId) == dc) and (not state or w.state == state)
    ]


async def _list_context(api: ConsoleApi, team_id: int, dc: str, state: str) -> dict[str, Any]:
    plans = {p.id: p for p in await api.plans()}
    datacenters = await api.datacenters()
    items = _filtered(await api.workspaces(team_id), dc, state)
    return {
        "workspaces": items,
        "plans": plans,
        "datacenters": datacenters,
        "dc_names": {d.id: d.name for d in datacenters},
        "filters": {"dc": dc, "state": state},
        "states": STATE_LABELS,
    }


@router.get("/teams/{team_id}")
async def team_workspaces(
    request: Request, team_id: int, user: CurrentUser, dc: str = "", state: str = ""
) -> Response:
    async with api_for(request, user) as api:
        team = await api.team(team_id)
        context = await _list_context(api, team_id, dc, state)
        role = await my_role(api, user, team_id)
    return render(request, "workspaces.html", user, team=team, role=role, **context)


@router.get("/teams/{team_id}/rows")
async def team_workspace_rows(
    request: Request, team_id: int, user: CurrentUser, dc: str = "", state: str = ""
) -> Response:
    async with api_for(request, user) as api:
        team = await api.team(team_id)
        context = await _list_context(api, team_id, dc, state)
    return render(request, "_workspace_rows.html", user, team=team, **context)


# ---- create ---------------------------------------------------------------------------------


async def _new_page(
    request: Request, user: WebUser, api: ConsoleApi, team_id: int, *, status: int = 200,
    errors: FormErrors | None = None, values: dict[str, Any] | None = None,
) -> Response:  # fmt: skip
    team = await api.team(team_id)
    plans = [p for p in await api.plans() if not p.deprecated]
    defaults = {"name": "", "plan": "8", "dc": str(team.defaultDataCenterId), "git_url": "",
                "env": "", "restricted": True, "start": True}  # fmt: skip
    return render(
        request, "workspace_new.html", user, status=status, team=team, plans=plans,
        datacenters=await api.datacenters(), errors=errors or FormErrors(),
        values={**defaults, **(values or {})},
    )  # fmt: skip


@router.get("/teams/{team_id}/workspaces/new")
async def new_workspace(request: Request, team_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        return await _new_page(request, user, api, team_id)


@router.post("/teams/{team_id}/workspaces")
async def create_workspace(request: Request, team_id: int, user: CurrentUser) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "plan": text(form, "plan"),
        "dc": text(form, "dc"),
        "git_url": text(form, "git_url"),
        "env": str(form.get("env") or ""),
        "restricted": checked(form, "restricted"),
        "start": checked(form, "start"),
    }
    async with api_for(request, user) as api:
        pairs, env_problem = parse_env(values["env"])
        if env_problem:
            errors = FormErrors()
            errors.add("env", env_problem)
            return await _new_page(
                request, user, api, team_id, status=400, errors=errors, values=values
            )
        body: dict[str, Any] = {
            "teamId": team_id,
            "name": values["name"],
            "planId": _number(values["plan"]),
            "dataCenterId": _number(values["dc"]),
            "isPrivateRepo": False,
            "replicas": 1 if values["start"] else 0,
            "restricted": values["restricted"],
        }
        if values["git_url"]:
            body["gitUrl"] = values["git_url"]
        if pairs:
            body["env"] = pairs
        try:
            ws = await api.create_workspace(body)
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_from_detail(exc.detail, _CREATE_FIELDS)
            return await _new_page(
                request, user, api, team_id, status=exc.status, errors=errors, values=values
            )
    return see_other(f"/workspaces/{ws.id}?done=workspace-created")


# ---- one workspace --------------------------------------------------------------------------


async def _workspace_page(
    request: Request, user: WebUser, api: ConsoleApi, workspace_id: int, *, status: int = 200,
    errors: FormErrors | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    ws = await api.workspace(workspace_id)
    plans = {p.id: p for p in await api.plans()}
    return render(
        request, "workspace.html", user, status=status, ws=ws, team=await api.team(ws.teamId),
        plan=plans.get(ws.planId), env=await api.env(workspace_id),
        ports=await api.ports(workspace_id), errors=errors or FormErrors(),
        values=values or {}, dc_names={d.id: d.name for d in await api.datacenters()},
    )  # fmt: skip


@router.get("/workspaces/{workspace_id}")
async def workspace(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        return await _workspace_page(request, user, api, workspace_id)


@router.get("/workspaces/{workspace_id}/summary")
async def workspace_summary(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        ws = await api.workspace(workspace_id)
    return render(request, "_workspace_summary.html", user, ws=ws)


@router.get("/workspaces/{workspace_id}/ports-list")
async def workspace_ports(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        ws = await api.workspace(workspace_id)
        ports = await api.ports(workspace_id)
    return render(request, "_ports.html", user, ws=ws, ports=ports)


async def _change(
    request: Request, user: WebUser, workspace_id: int, replicas: int, done: str
) -> Response:
    form = await request.form()
    async with api_for(request, user) as api:
        try:
            await api.update_workspace(workspace_id, {"replicas": replicas})
        except ApiError as exc:
            if exc.status == 404:
                raise
            return render(
                request, "error.html", user, status=exc.status, title="Cannot do that now",
                message=exc.detail or exc.title,
            )  # fmt: skip
    back = safe_next(text(form, "back"), f"/workspaces/{workspace_id}")
    return see_other(f"{back}{'&' if '?' in back else '?'}done={done}")


@router.post("/workspaces/{workspace_id}/start")
async def start(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    return await _change(request, user, workspace_id, 1, "workspace-starting")


@router.post("/workspaces/{workspace_id}/stop")
async def stop(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    return await _change(request, user, workspace_id, 0, "workspace-stopping")


@router.get("/workspaces/{workspace_id}/delete")
async def confirm_delete(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        ws = await api.workspace(workspace_id)
    return render(request, "workspace_delete.html", user, ws=ws)


@router.post("/workspaces/{workspace_id}/delete")
async def delete(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        ws = await api.workspace(workspace_id)
        await api.delete_workspace(workspace_id)
    return see_other(f"/teams/{ws.teamId}?done=workspace-deleted")


@router.post("/workspaces/{workspace_id}/env")
async def set_env(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    form = await request.form()
    values = {"env_name": text(form, "name"), "env_value": str(form.get("value") or "")}
    async with api_for(request, user) as api:
        try:
            await api.set_env(
                workspace_id, [{"name": values["env_name"], "value": values["env_value"]}]
            )
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_from_detail(exc.detail, {"name": "env_name", "value": "env_value"})
            return await _workspace_page(
                request, user, api, workspace_id, status=exc.status, errors=errors, values=values
            )
    return see_other(f"/workspaces/{workspace_id}?done=env-saved#env")


@router.post("/workspaces/{workspace_id}/env/delete")
async def delete_env(request: Request, workspace_id: int, user: CurrentUser) -> Response:
    form = await request.form()
    async with api_for(request, user) as api:
        await api.delete_env(workspace_id, [text(form, "name")])
    return see_other(f"/workspaces/{workspace_id}?done=env-deleted#env")
