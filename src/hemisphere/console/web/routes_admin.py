"""Pages for cluster admins: users, data centers with health (heartbeat leases), plans, the
audit log. All from the API, which answers 404 to non-admins (shown as the not-found page)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hemisphere.console.web.client import ConsoleApi, api_for
from hemisphere.console.web.forms import FormErrors, checked, errors_from_detail
from hemisphere.console.web.forms import text as field
from hemisphere.console.web.render import render
from hemisphere.console.web.routes_federation import federation_picture
from hemisphere.console.web.routes_teams import see_other
from hemisphere.console.web.session import CurrentUser, WebUser
from hemisphere.federation.lease import DEFAULT_LEASE
from hemisphere.sdk.errors import ApiError, NotFound

router = APIRouter(include_in_schema=False)

_USER_ACTIONS = {
    "disable": {"disabled": True},
    "enable": {"disabled": False},
    "make-admin": {"isClusterAdmin": True},
    "drop-admin": {"isClusterAdmin": False},
}


def _require_admin(user: WebUser) -> None:
    if not user.is_admin:
        raise NotFound(404, "Not Found", "no such page")


@router.get("/admin")
async def admin(user: CurrentUser) -> Response:
    _require_admin(user)
    return see_other("/admin/users")


async def _users_page(
    request: Request, user: WebUser, api: ConsoleApi, *, status: int = 200,
    errors: FormErrors | None = None, values: dict[str, object] | None = None,
) -> Response:  # fmt: skip
    return render(
        request, "admin_users.html", user, status=status, users=await api.users(),
        errors=errors or FormErrors(), values=values or {},
    )  # fmt: skip


@router.get("/admin/users")
async def users(request: Request, user: CurrentUser) -> Response:
    _require_admin(user)
    async with api_for(request, user) as api:
        return await _users_page(request, user, api)


@router.post("/admin/users")
async def create_user(request: Request, user: CurrentUser) -> Response:
    _require_admin(user)
    form = await request.form()
    values: dict[str, object] = {
        "email": field(form, "email"),
        "name": field(form, "name"),
        "admin": checked(form, "admin"),
    }
    body = {**values, "password": str(form.get("password") or "")}
    body["isClusterAdmin"] = body.pop("admin")
    async with api_for(request, user) as api:
        try:
            await api.create_user(body)
        except ApiError as exc:
            errors = errors_from_detail(
                exc.detail,
                {"email": "email", "name": "name", "password": "password",
                 "isClusterAdmin": "admin"},
            )  # fmt: skip
            return await _users_page(
                request, user, api, status=exc.status, errors=errors, values=values
            )
    return see_other("/admin/users?done=user-created")


@router.post("/admin/users/{user_id}")
async def update_user(request: Request, user_id: int, user: CurrentUser) -> Response:
    _require_admin(user)
    form = await request.form()
    change = _USER_ACTIONS.get(field(form, "action"))
    async with api_for(request, user) as api:
        try:
            if change is None:
                raise ApiError(400, "Bad Request", "unknown action; reload the page")
            await api.update_user(user_id, dict(change))
        except ApiError as exc:
            if exc.status == 404:
                raise
            return await _users_page(
                request, user, api, status=exc.status, errors=errors_from_detail(exc.detail, {})
            )
    return see_other("/admin/users?done=user-updated")


@router.get("/admin/datacenters")
async def datacenters(request: Request, user: CurrentUser) -> Response:
    _require_admin(user)
    async with api_for(request, user) as api:
        items = await api.datacenter_health()
    picture, caption = federation_picture(request, items)
    return render(
        request, "admin_datacenters.html", user, datacenters=items,
        now=datetime.now(UTC), lease_s=int(DEFAULT_LEASE.total_seconds()),
        picture=picture, picture_caption=caption,
    )  # fmt: skip


@router.post("/admin/datacenters/{datacenter_id}/{action}")
async def cordon(request: Request, datacenter_id: int, action: str, user: CurrentUser) -> Response:
    """The Cordon / Uncordon buttons (the API audits the change)."""
    _require_admin(user)
    if action not in ("cordon", "uncordon"):
        raise NotFound(404, "Not Found", "no such page")
    async with api_for(request, user) as api:
        await api.cordon(datacenter_id, action == "cordon")
    return see_other(f"/admin/datacenters?done=datacenter-{action}ed")


@router.get("/admin/plans")
async def plans(request: Request, user: CurrentUser) -> Response:
    _require_admin(user)
    async with api_for(request, user) as api:
        items = await api.plans()
    return render(request, "admin_plans.html", user, plans=items)


@router.get("/admin/audit")
async def audit(request: Request, user: CurrentUser, before: int | None = None) -> Response:
    _require_admin(user)
    async with api_for(request, user) as api:
        entries = await api.audit(100, before)
    older = entries[-1].id if len(entries) == 100 else None
    return render(request, "admin_audit.html", user, entries=entries, older=older)
