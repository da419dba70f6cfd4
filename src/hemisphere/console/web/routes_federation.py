"""Pages over all data centers (issue 9): one workspace list with search and filters (stale
rows marked), and the installation's picture on the data-centers page.

The console has no install spec, only its registry, so its picture is drawn from the registry
(the same drawing as `hemisphere plan --svg`, topology/picture.py), each DC coloured by health.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hemisphere.console.web.client import api_for
from hemisphere.console.web.render import render
from hemisphere.console.web.session import CurrentUser
from hemisphere.sdk import models as m
from hemisphere.topology.picture import Picture, PictureSite, render_svg

router = APIRouter(include_in_schema=False)

_STATES = ("running", "starting", "stopping", "stopped", "deleting", "failed")


def federation_picture(
    request: Request, items: Sequence[m.DatacenterHealth]
) -> tuple[str | None, str]:
    """The registry as a picture: the console on top, every DC below with its health."""
    if not items:
        return None, ""
    console = PictureSite(
        key="console",
        title="console — central",
        subtitle=request.url.hostname or "",
        central=True,
        components=("management console", "identity · DC registry", "routing · aggregation"),
    )
    sites = [console]
    for d in items:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(d.workspaceCounts.items()))
        sites.append(
            PictureSite(
                key=d.name,
                title=f"{d.name} — data center {d.id}",
                subtitle=f"{d.city}, {d.countryCode}",
                central=False,
                components=(
                    "workspace API · reconciler",
                    f"workspaces: {counts or 'none'}",
                    f"version {d.version}" if d.version else "version not reported",
                ),
                status=d.status,
                carries=("heartbeats · snapshots → console", "workspace routing ← console"),
            )
        )
    picture = Picture(
        title="This installation",
        subtitle="from the console's data-center registry, coloured by each DC's lease",
        sites=tuple(sites),
    )
    return (
        render_svg(picture),
        "Drawn from the registry; `hemisphere plan SPEC --svg FILE` draws the same from the "
        "install spec, with its databases.",
    )


@router.get("/federation/workspaces")
async def all_workspaces(
    request: Request,
    user: CurrentUser,
    dc: str = "",
    team: str = "",
    state: str = "",
    q: str = "",
) -> Response:
    filters = {
        "dc": int(dc) if dc.isdigit() else None,
        "team": int(team) if team.isdigit() else None,
        "state": state if state in _STATES else None,
        "q": q.strip()[:100] or None,
    }
    async with api_for(request, user) as api:
        listed = await api.federated_workspaces(**filters)
        teams = await api.teams()
        dcs = await api.datacenters()
    return render(
        request,
        "federation_workspaces.html",
        user,
        listed=listed,
        teams=teams,
        dcs=dcs,
        states=_STATES,
        filters={k: ("" if v is None else v) for k, v in filters.items()},
        team_names={t.id: t.name for t in teams},
    )
