"""Teams and their members: list and create teams; add members, change roles, remove members
(team admins only: the API enforces it, the pages only hide controls that would fail)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hemisphere.console.web.client import ConsoleApi, api_for
from hemisphere.console.web.forms import FormErrors, errors_from_detail, text
from hemisphere.console.web.render import render
from hemisphere.console.web.session import CurrentUser, WebUser
from hemisphere.sdk.errors import ApiError

router = APIRouter(include_in_schema=False)


def see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


async def my_role(api: ConsoleApi, user: WebUser, team_id: int) -> int | None:
    """0 admin, 1 member, None when not a member (cluster admins count as admins)."""
    for t in await api.teams():
        if t.id == team_id:
            return t.role
    return 0 if user.is_admin else None


async def _teams_page(
    request: Request, user: WebUser, api: ConsoleApi, *, status: int = 200,
    errors: FormErrors | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    return render(
        request, "teams.html", user, status=status, teams=await api.teams(),
        datacenters=await api.datacenters(), errors=errors or FormErrors(), values=values or {},
    )  # fmt: skip


@router.get("/teams")
async def teams(request: Request, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        return await _teams_page(request, user, api)


@router.post("/teams")
async def create_team(request: Request, user: CurrentUser) -> Response:
    form = await request.form()
    values = {"name": text(form, "name"), "dc": text(form, "dc")}
    async with api_for(request, user) as api:
        try:
            dc: object = int(values["dc"]) if values["dc"].isdigit() else values["dc"]
            team = await api.create_team({"name": values["name"], "dc": dc})
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_from_detail(exc.detail, {"name": "name", "dc": "dc"})
            return await _teams_page(
                request, user, api, status=exc.status, errors=errors, values=values
            )
    return see_other(f"/teams/{team.id}?done=team-created")


async def _members_page(
    request: Request, user: WebUser, api: ConsoleApi, team_id: int, *, status: int = 200,
    errors: FormErrors | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    team = await api.team(team_id)
    return render(
        request, "members.html", user, status=status, team=team,
        members=await api.members(team_id), role=await my_role(api, user, team_id),
        errors=errors or FormErrors(), values=values or {},
    )  # fmt: skip


@router.get("/teams/{team_id}/members")
async def members(request: Request, team_id: int, user: CurrentUser) -> Response:
    async with api_for(request, user) as api:
        return await _members_page(request, user, api, team_id)


@router.post("/teams/{team_id}/members")
async def add_member(request: Request, team_id: int, user: CurrentUser) -> Response:
    form = await request.form()
    values = {"email": text(form, "email"), "role": text(form, "role") or "1"}
    async with api_for(request, user) as api:
        try:
            role: object = int(values["role"]) if values["role"].isdigit() else values["role"]
            await api.add_member(team_id, {"userEmail": values["email"], "role": role})
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_from_detail(exc.detail, {"userEmail": "email", "role": "role"})
            return await _members_page(
                request, user, api, team_id, status=exc.status, errors=errors, values=values
            )
    return see_other(f"/teams/{team_id}/members?done=member-added")


@router.post("/teams/{team_id}/members/{user_id}/role")
async def change_role(request: Request, team_id: int, user_id: int, user: CurrentUser) -> Response:
    form = await request.form()
    raw = text(form, "role")
    async with api_for(request, user) as api:
        try:
            await api.set_role(team_id, user_id, int(raw) if raw.isdigit() else raw)
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_from_detail(exc.detail, {})
            return await _members_page(
                request, user, api, team_id, status=exc.status, errors=errors
            )
    return see_other(f"/teams/{team_id}/members?done=role-changed")


@router.post("/teams/{team_id}/members/{user_id}/remove")
async def remove_member(
    request: Request, team_id: int, user_id: int, user: CurrentUser
) -> Response:
    async with api_for(request, user) as api:
        try:
            await api.remove_member(team_id, user_id)
        except ApiError as exc:
            if exc.status == 404:
                raise
            errors = errors_from_detail(exc.detail, {})
            return await _members_page(
                request, user, api, team_id, status=exc.status, errors=errors
            )
    if user_id == user.principal.user_id:
        return see_other("/teams?done=member-removed")
    return see_other(f"/teams/{team_id}/members?done=member-removed")
