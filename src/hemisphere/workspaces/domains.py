"""Custom domains of a team (API §9): claim a host name, prove it points at this data center,
and route path prefixes of it to the team's workspaces.

A domain belongs to the data center whose API created it (the one whose ingress serves it), so it
can only route to workspaces of that data center. Team members read domains; team admins change
them. Verification is two real DNS lookups (issue 10: pointing a name at us is not owning it):
`_hemisphere-challenge.<domain>` must carry the domain's TXT token (dnsEntries.txt), looked up with
dnspython, and the domain must resolve to an address of the data center's host (a CNAME to it or
an A record with its address). Lookups go to HEMISPHERE_DNS_SERVERS when set, else to the system's
resolver; the data center's own host name is always resolved by the system (/etc/hosts included).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hemisphere.db.models import Datacenter, Domain, DomainRoute, Workspace
from hemisphere.identity.errors import Forbidden
from hemisphere.identity.principal import Principal, TeamRole
from hemisphere.workspaces.errors import (
    InvalidWorkspaceInput,
    WorkspaceConflict,
    WorkspaceNotFound,
)
from hemisphere.workspaces.service import WorkspaceService
from hemisphere.workspaces.states import State

MAX_NAME = 253
RESOLVE_TIMEOUT_S = 5.0
NOT_VERIFIED_YET = "not verified yet: create the records in dnsEntries, then POST .../verify"
CERT_WAITS_FOR_VERIFICATION = (
    "certificates are issued by the ingress (cert-manager) once the domain is verified"
)
CERT_REQUESTED = (
    "the domain is verified; the ingress (cert-manager) issues the certificate, and this data "
    "center has no report of an issued one"
)
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class DnsRecords:
    a: str
    cname: str
    txt: str


@dataclass(frozen=True)
class Verification:
    verified: bool
    reason: str | None


@dataclass(frozen=True)
class DomainChange:
    max_body_size_mb: float | None = None
    max_connection_timeout_s: float | None = None
    use_regex: bool | None = None
    restricted: bool | None = None


@dataclass(frozen=True)
class DomainView:
    """A domain with what its wire form needs besides the row."""

    domain: Domain
    routes: dict[str, list[int]]
    dns: DnsRecords


def check_domain_name(name: str) -> str:
    """RFC 1123 host name, lower-case, at most 253 characters; raises InvalidWorkspaceInput."""
    problem = None
    labels = name.split(".")
    if not name or len(name) > MAX_NAME:
        problem = f"must be 1-{MAX_NAME} characters long"
    elif name != name.lower():
        problem = f"must be lower-case ({name.lower()!r})"
    elif any(not _LABEL.match(label) for label in labels):
        problem = (
            "must be dot-separated labels of 1-63 letters, digits or '-', each starting and "
            "ending with a letter or digit (no wildcards, no trailing dot)"
        )
    elif labels[-1].isdigit():
        problem = "must be a host name, not an IP address (the last label cannot be numeric)"
    if problem:
        raise InvalidWorkspaceInput(f"{name!r} {problem}", field="domainName")
    return name


def dc_host(dc_domain: str) -> str:
    """The data center's host name without a port ('localhost:8080' -> 'localhost')."""
    return (urlsplit(f"//{dc_domain}").hostname or dc_domain).lower()


class ResolveError(Exception):
    pass


async def resolve(host: str, timeout_s: float = RESOLVE_TIMEOUT_S) -> list[str]:
    """The host's addresses from the system resolver (/etc/hosts, DNS), sorted, IPv4 first."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), timeout_s
        )
    except socket.gaierror as exc:
        raise ResolveError(exc.strerror or str(exc)) from exc
    except TimeoutError as exc:
        raise ResolveError(f"no answer within {timeout_s:g} s") from exc
    except (OSError, UnicodeError) as exc:
        raise ResolveError(str(exc)) from exc
    addrs = {str(info[4][0]) for info in infos}
    return sorted(addrs, key=lambda a: (":" in a, a))


CHALLENGE_LABEL = "_hemisphere-challenge"


def _nameserver(spec: str) -> dns.nameserver.Do53Nameserver:
    """'10.0.0.53', '127.0.0.1:5353' or '[::1]:5353'."""
    host, port = spec, 53
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif spec.count(":") == 1:
        host, _, p = spec.partition(":")
        port = int(p)
    return dns.nameserver.Do53Nameserver(host, port)


class DnsLookup:
    """TXT and address lookups for verification, against `servers` or the system resolver."""

    def __init__(self, servers: Sequence[str] = (), timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        self.servers = tuple(servers)
        self._resolver = dns.asyncresolver.Resolver(configure=not self.servers)
        if self.servers:
            self._resolver.nameservers = [_nameserver(s) for s in self.servers]
        self._resolver.lifetime = timeout_s

    async def txt(self, name: str) -> list[str]:
        try:
            answer = await self._resolver.resolve(name, "TXT", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as exc:
            raise ResolveError(str(exc) or type(exc).__name__) from exc
        return [b"".join(r.strings).decode(errors="replace") for r in answer]

    async def addresses(self, host: str) -> list[str]:
        if not self.servers:
            return await resolve(host)
        found: set[str] = set()
        failure = "no A or AAAA record"
        for kind in ("A", "AAAA"):
            try:
                answer = await self._resolver.resolve(host, kind, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except dns.exception.DNSException as exc:  # one family failing is not fatal
                failure = str(exc) or type(exc).__name__
                continue
            found.update(r.address for r in answer)
        if not found:
            raise ResolveError(failure)
        return sorted(found, key=lambda a: (":" in a, a))


async def verify_dns(name: str, target: str, token: str, lookup: DnsLookup) -> Verification:
    """Does `name` carry our TXT token and resolve to an address of `target`?"""
    challenge = f"{CHALLENGE_LABEL}.{name}"
    try:
        values = await lookup.txt(challenge)
    except ResolveError as exc:
        return Verification(False, f"the TXT record {challenge} could not be read ({exc})")
    if token not in values:
        found = f"found {', '.join(repr(v[:80]) for v in values)}" if values else "none found"
        return Verification(
            False,
            f"create a TXT record {challenge} with the value in dnsEntries.txt ({found}), "
            "then verify again",
        )
    try:
        addrs = await lookup.addresses(name)
    except ResolveError as exc:
        return Verification(
            False,
            f"{name} does not resolve ({exc}); create a CNAME record {name} -> {target} "
            "(or an A record with the address in dnsEntries.a), then verify again",
        )
    try:
        dc_addrs = await resolve(target)
    except ResolveError as exc:
        return Verification(
            False,
            f"this data center's host {target} does not resolve ({exc}); "
            "ask the operator to publish it in DNS",
        )
    if set(addrs) & set(dc_addrs):
        return Verification(True, None)
    return Verification(
        False,
        f"{name} resolves to {', '.join(addrs)} but this data center's host {target} to "
        f"{', '.join(dc_addrs)}; point a CNAME record at {target}",
    )


class DomainService:
    """Domain use cases bound to one data center; authorization through the IdentityReader."""

    def __init__(self, workspaces: WorkspaceService, dns_lookup: DnsLookup | None = None) -> None:
        self.workspaces = workspaces
        self.dns = dns_lookup or DnsLookup()
        self.identity = workspaces.identity
        self.datacenter_id = workspaces.datacenter_id

    # ---- reads --------------------------------------------------------------------------

    async def list_for_team(
        self, s: AsyncSession, caller: Principal, team_id: int
    ) -> list[DomainView]:
        await self.workspaces.require_member(caller, team_id)
        rows = (
            await s.scalars(
                select(Domain)
                .where(Domain.team_id == team_id, Domain.datacenter_id == self.datacenter_id)
                .order_by(Domain.name)
            )
        ).all()
        if not rows:
            return []
        host, address = await self._dc_address(s)
        return [
            DomainView(d, await self._routes(s, d), DnsRecords(address, host, d.verification_token))
            for d in rows
        ]

    async def get(self, s: AsyncSession, caller: Principal, team_id: int, name: str) -> Domain:
        await self.workspaces.require_member(caller, team_id)
        return await self._find(s, team_id, name)

    async def view(self, s: AsyncSession, domain: Domain) -> DomainView:
        host, address = await self._dc_address(s)
        return DomainView(
            domain,
            await self._routes(s, domain),
            DnsRecords(address, host, domain.verification_token),
        )

    # ---- writes (team admins) -----------------------------------------------------------

    async def create(self, s: AsyncSession, caller: Principal, team_id: int, name: str) -> Domain:
        await self._require_admin(caller, team_id)
        check_domain_name(name)
        host = dc_host(await self._dc_domain(s))
        if name.endswith(f".{host}"):
            raise InvalidWorkspaceInput(
                f"{name!r} is under this data center's own domain {host}, whose host names are "
                "workspace preview URLs; use a domain of your own",
                field="domainName",
            )
        if await s.scalar(select(Domain.id).where(Domain.name == name)) is not None:
            raise WorkspaceConflict(f"the domain {name} is already claimed", field="domainName")
        domain = Domain(
            name=name,
            team_id=team_id,
            datacenter_id=self.datacenter_id,
            verification_token=f"hemisphere-verification={secrets.token_urlsafe(24)}",
            restricted=True,
        )
        s.add(domain)
        try:
            await s.flush()
        except IntegrityError as exc:
            raise WorkspaceConflict(
                f"the domain {name} was claimed at the same time (or team {team_id} is gone)",
                field="domainName",
            ) from exc
        return domain

    async def change(
        self, s: AsyncSession, caller: Principal, team_id: int, name: str, change: DomainChange
    ) -> Domain:
        domain = await self._admin_domain(s, caller, team_id, name)
        if change.use_regex is not None and change.use_regex != bool(domain.use_regex):
            self._check_paths(list((await self._routes(s, domain)).keys()), change.use_regex)
        before = _config(domain)
        if change.max_body_size_mb is not None:
            domain.max_body_size_mb = change.max_body_size_mb
        if change.max_connection_timeout_s is not None:
            domain.max_connection_timeout_s = change.max_connection_timeout_s
        if change.use_regex is not None:
            domain.use_regex = change.use_regex
        if change.restricted is not None:
            domain.restricted = change.restricted
        if _config(domain) != before:
            domain.config_revision += 1
        await s.flush()
        return domain

    async def delete(self, s: AsyncSession, caller: Principal, team_id: int, name: str) -> Domain:
        domain = await self._admin_domain(s, caller, team_id, name)
        await s.delete(domain)
        await s.flush()
        return domain

    async def set_routes(
        self,
        s: AsyncSession,
        caller: Principal,
        team_id: int,
        name: str,
        routes: Mapping[str, Sequence[int]],
    ) -> Domain:
        """Replace the domain's path -> workspaces map; a path with no workspaces is dropped."""
        domain = await self._admin_domain(s, caller, team_id, name)
        self._check_paths(list(routes), bool(domain.use_regex))
        wanted = sorted({wid for ids in routes.values() for wid in ids})
        found = {
            w.id: w
            for w in (await s.scalars(select(Workspace).where(Workspace.id.in_(wanted)))).all()
        }
        for path, ids in routes.items():
            if len(set(ids)) != len(ids):
                raise InvalidWorkspaceInput(f"path {path!r} lists a workspace twice")
            for wid in ids:
                ws = found.get(wid)
                if (
                    ws is None
                    or ws.team_id != team_id
                    or ws.datacenter_id != self.datacenter_id
                    or ws.state == State.DELETING
                ):
                    raise InvalidWorkspaceInput(
                        f"workspace {wid} (path {path!r}) is not a workspace of team {team_id} in "
                        f"this data center; list them at /api/workspaces/team/{team_id}"
                    )
        await s.execute(delete(DomainRoute).where(DomainRoute.domain_id == domain.id))
        for path, ids in routes.items():
            for wid in ids:
                s.add(DomainRoute(domain_id=domain.id, path=path, workspace_id=wid))
        await s.flush()
        return domain

    async def verify(
        self, s: AsyncSession, caller: Principal, team_id: int, name: str
    ) -> tuple[Domain, Verification]:
        domain = await self.get(s, caller, team_id, name)
        target = dc_host(await self._dc_domain(s))
        # Only reads so far, so waiting for DNS (at most RESOLVE_TIMEOUT_S per name) locks nothing.
        result = await verify_dns(domain.name, target, domain.verification_token, self.dns)
        domain.verified, domain.verification_reason = result.verified, result.reason
        if result.verified:
            domain.verified_at = datetime.now(UTC)
        await s.flush()
        return domain, result

    # ---- helpers ------------------------------------------------------------------------

    async def _require_admin(self, caller: Principal, team_id: int) -> None:
        await self.workspaces.require_member(caller, team_id)
        if caller.is_cluster_admin:
            return
        if await self.identity.team_role(caller.user_id, team_id) != TeamRole.ADMIN:
            raise Forbidden("only team admins can change the team's domains")

    async def _admin_domain(
        self, s: AsyncSession, caller: Principal, team_id: int, name: str
    ) -> Domain:
        await self._require_admin(caller, team_id)
        return await self._find(s, team_id, name)

    async def _find(self, s: AsyncSession, team_id: int, name: str) -> Domain:
        domain = await s.scalar(
            select(Domain).where(
                Domain.name == name,
                Domain.team_id == team_id,
                Domain.datacenter_id == self.datacenter_id,
            )
        )
        if domain is None:
            raise WorkspaceNotFound(f"team {team_id} has no domain {name!r} in this data center")
        return domain

    async def _routes(self, s: AsyncSession, domain: Domain) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        rows = await s.scalars(
            select(DomainRoute)
            .where(DomainRoute.domain_id == domain.id)
            .order_by(DomainRoute.path, DomainRoute.workspace_id)
        )
        for r in rows:
            out.setdefault(r.path, []).append(r.workspace_id)
        return out

    async def _dc_domain(self, s: AsyncSession) -> str:
        dc = await s.get(Datacenter, self.datacenter_id)
        if dc is None:
            raise WorkspaceNotFound(f"data center {self.datacenter_id} is not registered")
        return dc.domain

    async def _dc_address(self, s: AsyncSession) -> tuple[str, str]:
        """(host, first address or '') of this data center, for the DNS records to create."""
        host = dc_host(await self._dc_domain(s))
        try:  # every read shows it, so a broken resolver must not stall reads for long
            addrs = await resolve(host, timeout_s=2.0)
        except ResolveError:
            return host, ""
        return host, addrs[0]

    @staticmethod
    def _check_paths(paths: Sequence[str], use_regex: bool) -> None:
        for path in paths:
            if use_regex:
                try:
                    re.compile(path)
                except re.error as exc:
                    raise InvalidWorkspaceInput(
                        f"path {path!r} is not a valid regular expression ({exc})"
                    ) from None
            elif not path.startswith("/") or any(c.isspace() or ord(c) < 32 for c in path):
                raise InvalidWorkspaceInput(
                    f"path {path!r} must start with '/' and contain no spaces "
                    "(set useRegex to route by regular expression)"
                )


def _config(d: Domain) -> tuple[object, ...]:
    return (d.max_body_size_mb, d.max_connection_timeout_s, d.use_regex, d.restricted)
