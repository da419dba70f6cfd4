"""The data center's domain API (API §9): a team's custom domains, their DNS records, DNS
verification and workspace connections. Handlers read parse → authorize → query → convert →
write; every change is audited in the same transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import Domain as DomainRow
from hemisphere.identity.principal import Principal
from hemisphere.sdk import models as m
from hemisphere.webapi.audit import audit_event
from hemisphere.webapi.auth import CurrentPrincipal
from hemisphere.webapi.deps import DbSession
from hemisphere.workspaces.domains import (
    CERT_REQUESTED,
    CERT_WAITS_FOR_VERIFICATION,
    NOT_VERIFIED_YET,
    DnsLookup,
    DomainChange,
    DomainService,
    DomainView,
)
from hemisphere.workspaces.service import WorkspaceService

router = APIRouter(prefix="/api/domains/team/{team_id}", tags=["domains"])
_ONE = "/domain/{domain_name}"


def _domains(request: Request) -> DomainService:
    service: WorkspaceService = request.app.state.dc.service
    servers: tuple[str, ...] = getattr(request.app.state, "dns_servers", ())
    return DomainService(service, DnsLookup(servers))


def _number(v: float | None) -> int | float | None:
    """10.0 -> 10, so clients that read these as integers accept them."""
    return int(v) if v is not None and v.is_integer() else v


def domain_out(view: DomainView) -> m.Domain:
    d = view.domain
    if d.verified:
        verification = m.DomainVerificationStatus(verified=True, reason=None)
        certificate = m.CertificateRequestStatus(issued=False, reason=CERT_REQUESTED)
    else:
        verification = m.DomainVerificationStatus(
            verified=False, reason=d.verification_reason or NOT_VERIFIED_YET
        )
        certificate = m.CertificateRequestStatus(issued=False, reason=CERT_WAITS_FOR_VERIFICATION)
    return m.Domain(
        teamId=d.team_id,
        dataCenterId=d.datacenter_id,
        name=d.name,
        workspaces=view.routes,
        certificateRequestStatus=certificate,
        dnsEntries=m.DnsEntries(a=view.dns.a, cname=view.dns.cname, txt=view.dns.txt),
        domainVerificationStatus=verification,
        customConfigRevision=d.config_revision,
        customConfig=m.DomainCustomConfig(
            maxBodySizeMb=_number(d.max_body_size_mb),
            maxConnectionTimeoutS=_number(d.max_connection_timeout_s),
            useRegex=d.use_regex,
        ),
        restricted=d.restricted,
    )


async def _audit(
    s: AsyncSession, request: Request, who: Principal, action: str, d: DomainRow, **detail: object
) -> None:
    await audit_event(s, request, who, action, "domain", d.name, d.team_id, **detail)


@router.get("", response_model=list[m.Domain])
async def list_domains(
    team_id: m.Id, request: Request, who: CurrentPrincipal, s: DbSession
) -> list[m.Domain]:
    return [domain_out(v) for v in await _domains(request).list_for_team(s, who, team_id)]


@router.post(_ONE, response_model=m.Domain)
async def create_domain(
    team_id: m.Id, domain_name: m.Segment, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.Domain:
    domains = _domains(request)
    d = await domains.create(s, who, team_id, domain_name)
    await _audit(s, request, who, "domain.create", d)
    return domain_out(await domains.view(s, d))


@router.get(_ONE, response_model=m.Domain)
async def get_domain(
    team_id: m.Id, domain_name: m.Segment, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.Domain:
    domains = _domains(request)
    return domain_out(await domains.view(s, await domains.get(s, who, team_id, domain_name)))


@router.patch(_ONE, response_model=m.Domain)
async def update_domain(
    team_id: m.Id,
    domain_name: m.Segment,
    body: m.DomainUpdate,
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> m.Domain:
    domains = _domains(request)
    change = DomainChange(
        max_body_size_mb=body.maxBodySizeMb,
        max_connection_timeout_s=body.maxConnectionTimeoutS,
        use_regex=body.useRegex,
        restricted=body.restricted,
    )
    d = await domains.change(s, who, team_id, domain_name, change)
    await _audit(s, request, who, "domain.update", d, **body.model_dump(exclude_none=True))
    return domain_out(await domains.view(s, d))


@router.delete(_ONE)
async def delete_domain(
    team_id: m.Id, domain_name: m.Segment, request: Request, who: CurrentPrincipal, s: DbSession
) -> None:
    d = await _domains(request).delete(s, who, team_id, domain_name)
    await _audit(s, request, who, "domain.delete", d)


@router.post(_ONE + "/verify", response_model=m.DomainVerificationStatus)
async def verify_domain(
    team_id: m.Id, domain_name: m.Segment, request: Request, who: CurrentPrincipal, s: DbSession
) -> m.DomainVerificationStatus:
    d, result = await _domains(request).verify(s, who, team_id, domain_name)
    await _audit(s, request, who, "domain.verify", d, verified=result.verified)
    return m.DomainVerificationStatus(verified=result.verified, reason=result.reason)


@router.put(_ONE + "/workspace-connections", response_model=m.Domain)
async def set_workspace_connections(
    team_id: m.Id,
    domain_name: m.Segment,
    body: Annotated[m.DomainRouting, Body(max_length=100)],
    request: Request,
    who: CurrentPrincipal,
    s: DbSession,
) -> m.Domain:
    domains = _domains(request)
    d = await domains.set_routes(s, who, team_id, domain_name, body)
    await _audit(s, request, who, "domain.connect", d, workspaces=body)
    return domain_out(await domains.view(s, d))
