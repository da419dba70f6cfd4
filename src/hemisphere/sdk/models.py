"""Wire models of the public API: Codesphere-compatible field names (camelCase) and types.

Shared by the server (response/request schemas), the typed client, the CLI, the UI and the tests.
Request models forbid unknown fields, so a typo is a 400 naming the field instead of a silently
ignored value.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Ids and counts live in INTEGER columns, 32-bit on PostgreSQL; anything larger is refused at
# the edge (a 400 naming the field) instead of overflowing in the database (a 500). The bound is
# also well inside what JavaScript clients read exactly (2^53).
MAX_INT = 2**31 - 1
Id = Annotated[int, Field(ge=0, le=MAX_INT)]
Size = Annotated[int, Field(ge=1, le=MAX_INT)]

# The kernel refuses one argv/environment string longer than MAX_ARG_STRLEN (32 pages, counting
# its NUL) and all of them together beyond ARG_MAX (2 MiB here) with E2BIG. A workspace's env is
# capped at half of that, leaving room for the command and the platform's own variables.
ARG_STRLEN_MAX = 131072 - 1
ENV_TOTAL_MAX_BYTES = 1024 * 1024

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Bidirectional formatting characters: they make a name display as something it is not.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(v: str) -> str | None:
    """Why `v` cannot be stored or passed to a process at all, or None. NUL ends a C string (argv,
    env, PostgreSQL text); a lone surrogate has no UTF-8 encoding."""
    if "\0" in v:
        return "must not contain NUL characters"
    try:
        v.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode (it contains a lone surrogate)"
    return None


def _plain_text(v: str) -> str:
    if (why := text_problem(v)) is not None:
        raise ValueError(why)
    return v


def _display_name(v: str) -> str:
    """Names people read in lists: no control or bidirectional formatting characters."""
    for ch in v:
        if ch in _BIDI:
            raise ValueError(
                f"must not contain the bidirectional control character U+{ord(ch):04X}"
            )
        if unicodedata.category(ch) == "Cc":
            raise ValueError(f"must not contain the control character U+{ord(ch):04X}")
    return v


def _workspace_name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError(
            "must be 1-63 lower-case letters, digits or '-', starting and ending with a letter "
            "or digit (it becomes part of the preview host name)"
        )
    return v


def _env_name(v: str) -> str:
    if not _ENV_NAME.match(v):
        raise ValueError("must start with a letter or '_' and contain only letters, digits and '_'")
    return v


def env_entry_bytes(name: str, value: str) -> int:
    """Bytes `NAME=value` takes in a process's environment (with its terminating NUL)."""
    return len(name.encode()) + len(value.encode()) + 2


def env_total_problem(env: Mapping[str, str]) -> str | None:
    """Why this set of variables cannot be a process's environment, or None."""
    for name, value in env.items():
        if env_entry_bytes(name, value) > ARG_STRLEN_MAX:
            return (
                f"{name}: NAME=value is longer than {ARG_STRLEN_MAX} bytes, the most one "
                "environment entry may hold; store large values in a file instead"
            )
    total = sum(env_entry_bytes(n, v) for n, v in env.items())
    if total > ENV_TOTAL_MAX_BYTES:
        return (
            f"the variables take {total} bytes, more than the {ENV_TOTAL_MAX_BYTES} a workspace's "
            "environment may hold; remove some or store large values in a file"
        )
    return None


def _env_value(v: str) -> str:
    if len(v.encode()) > ARG_STRLEN_MAX - 257:
        raise ValueError(f"must be at most {ARG_STRLEN_MAX - 257} bytes in UTF-8")
    return v


def _exec_env(v: dict[str, str] | None) -> dict[str, str] | None:
    if v is not None and (why := env_total_problem(v)) is not None:
        raise ValueError(why)
    return v


def _argv_string(v: str) -> str:
    if len(v.encode()) > ARG_STRLEN_MAX:
        raise ValueError(f"must be at most {ARG_STRLEN_MAX} bytes in UTF-8 (the kernel's limit)")
    return v


def _git_url(v: str) -> str:
    if not re.match(r"^https?://[^\s]+$", v):
        raise ValueError("must be an http:// or https:// URL")
    try:
        host = urllib.parse.urlsplit(v).hostname
    except ValueError:
        host = None
    if not host:
        raise ValueError("must name a host, as in https://host/repo.git")
    return v


WorkspaceName = Annotated[str, AfterValidator(_workspace_name)]
EnvName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_env_name)]
EnvValue = Annotated[str, Field(max_length=65536), AfterValidator(_env_value)]
GitUrl = Annotated[
    str, Field(max_length=2048), AfterValidator(_display_name), AfterValidator(_git_url)
]
DisplayName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_display_name)]
Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_display_name)]
# Text that must reach a database or a process intact (everything in a Request model is checked
# this way already; bodies that are bare lists or maps use this).
PlainText = Annotated[str, AfterValidator(_plain_text)]
# A free-form path segment (an organization id, a domain name, a git remote): readable text only.
Segment = Annotated[
    str, Field(max_length=1024), AfterValidator(_plain_text), AfterValidator(_display_name)
]


def _check_strings(value: Any, where: str = "") -> None:
    """Raise ValueError naming the first string inside `value` that no store or process accepts.
    Nested request models check themselves."""
    if isinstance(value, str):
        if (why := text_problem(value)) is not None:
            raise ValueError(f"{where}{why}")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_strings(k, f"the key {k!r} ")
            _check_strings(v, f"{k!r}: ")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_strings(v, f"[{i}]: ")


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        # Every string of every request, however nested: a NUL or a lone surrogate would
        # otherwise reach PostgreSQL or execve and come back as a 500.
        _check_strings(value)
        return value


class Response(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# ---- errors ----------------------------------------------------------------------------------


class Problem(Response):
    status: int
    title: str
    detail: str | None = None
    traceId: str


# ---- auth -----------------------------------------------------------------------------------


class LoginRequest(Request):
    email: Email
    password: str = Field(min_length=1, max_length=1024)
    tokenName: Annotated[str, Field(max_length=100), AfterValidator(_display_name)] = "cli"


class TokenCreated(Response):
    id: int
    name: str
    token: str
    userId: int


class TokenCreate(Request):
    name: DisplayName


class TokenInfo(Response):
    id: int
    name: str
    prefix: str
    createdAt: datetime
    lastUsedAt: datetime | None = None


class Me(Response):
    id: int
    email: str
    name: str
    isClusterAdmin: bool


# ---- users (admin) ---------------------------------------------------------------------------


class UserCreate(Request):
    email: Email
    name: Annotated[str, Field(max_length=100), AfterValidator(_display_name)] = ""
    password: str = Field(min_length=8, max_length=1024)
    isClusterAdmin: bool = False


class UserUpdate(Request):
    disabled: bool | None = None
    isClusterAdmin: bool | None = None


class UserInfo(Response):
    id: int
    email: str
    name: str
    isClusterAdmin: bool
    disabled: bool
    createdAt: datetime


# ---- organizations and teams ---------------------------------------------------------------


class Organization(Response):
    id: str
    name: str
    createdAt: datetime


class OrganizationCreate(Request):
    name: DisplayName
    adminEmail: Email


class TeamCreate(Request):
    name: DisplayName
    dc: Id
    organizationId: Annotated[str, Field(max_length=36)] | None = None


class Team(Response):
    id: int
    defaultDataCenterId: int
    name: str
    description: str | None = None
    avatarId: str | None = None
    avatarUrl: str | None = None
    isFirst: bool = False
    organizationId: str | None = None


class ListTeam(Team):
    role: int


class TeamMember(Response):
    userId: int
    teamId: int
    role: int
    pending: bool = False
    createdAt: datetime
    name: str | None = None
    email: str | None = None
    avatarUrl: str | None = None


class MemberAdd(Request):
    userEmail: Email
    role: Id


class RoleUpdate(Request):
    role: Id


# ---- metadata --------------------------------------------------------------------------------


class Datacenter(Response):
    id: int
    name: str
    city: str
    countryCode: str


class PlanCharacteristics(Response):
    id: int
    CPU: float
    GPU: float
    RAM: int
    SSD: int
    TempStorage: int
    onDemand: bool


class WorkspacePlan(Response):
    id: int
    priceUsd: float
    title: str
    deprecated: bool
    maxReplicas: int
    characteristics: PlanCharacteristics


class BaseImage(Response):
    id: str
    name: str
    supportedUntil: datetime


class DatacenterHealth(Response):
    """Extension: a data center with the health the console derives from its heartbeats."""

    id: int
    name: str
    city: str
    countryCode: str
    domain: str
    status: str  # Ready | Unknown | NeverSeen | Cordoned (federation/lease.py)
    lastHeartbeatAt: datetime | None = None
    # Added for the federation registry (issue 9).
    health: str = ""  # the lease alone: Ready | Unknown | NeverSeen
    lastHeartbeatAgeSeconds: float | None = None
    leaseSeconds: float = 10.0
    version: str | None = None
    cordoned: bool = False
    cordonedAt: datetime | None = None
    lastRejectedAt: datetime | None = None
    lastRejectedReason: str | None = None
    url: str = ""  # the DC's API, where the console routes workspace calls
    workspaceCounts: dict[str, int] = Field(default_factory=dict)  # state -> number
    snapshotAt: datetime | None = None
    snapshotAgeSeconds: float | None = None


class Heartbeat(Request):
    healthy: bool = True
    detail: str = Field(default="", max_length=500)
    version: str = Field(default="", max_length=50)


class HeartbeatAck(Response):
    """The console's answer to a heartbeat or snapshot: what the agent should know."""

    cordoned: bool = False
    leaseSeconds: float = 10.0


_WireId = Annotated[int, Field(ge=0, le=2**31 - 1)]


class SnapshotWorkspace(Request):
    """One workspace in a DC's status snapshot: enough for the console's list, nothing secret."""

    id: _WireId
    name: str = Field(max_length=63)
    teamId: _WireId
    state: str = Field(max_length=16)
    planId: _WireId
    updatedAt: datetime | None = None
    # Enough more for the Codesphere list to show the row while the DC cannot be asked.
    replicas: int = Field(default=0, ge=0, le=1000)
    userId: _WireId = 0
    isPrivateRepo: bool = False
    createdAt: datetime | None = None


class DatacenterSnapshot(Request):
    """What a DC's agent pushes every few seconds (PUT /api/datacenters/{id}/snapshot)."""

    counts: dict[Annotated[str, Field(max_length=16)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=16
    )
    workspaces: list[SnapshotWorkspace] = Field(default_factory=list, max_length=100_000)


class FederatedWorkspace(Response):
    """Extension: one row of the console's list over all DCs; stale rows come from the DC's
    last snapshot (the DC could not be asked in time) and say how old they are."""

    id: int
    name: str
    teamId: int
    dataCenterId: int
    dataCenterName: str
    state: str
    planId: int
    updatedAt: datetime | None = None
    stale: bool = False
    staleSeconds: float | None = None


class DatacenterListStatus(Response):
    """How one DC contributed to an aggregated list: live, from its snapshot, or not at all."""

    id: int
    name: str
    source: str  # live | snapshot | none
    stale: bool
    staleSeconds: float | None = None
    error: str | None = None
    count: int = 0


class FederatedWorkspaceList(Response):
    workspaces: list[FederatedWorkspace]
    datacenters: list[DatacenterListStatus]
    partial: bool  # some DC did not answer live


# ---- workspaces ------------------------------------------------------------------------------


class EnvVar(Request):
    name: EnvName
    value: EnvValue


class WorkspaceCreate(Request):
    teamId: Id
    name: WorkspaceName
    planId: Id
    isPrivateRepo: bool
    replicas: int = Field(ge=0, le=1)
    baseImage: str | None = None
    gitUrl: GitUrl | None = None
    gitRef: str | None = Field(default=None, max_length=255)
    initialBranch: str | None = Field(default=None, max_length=255)
    cloneDepth: Size | None = None
    sourceWorkspaceId: Id | None = None
    welcomeMessage: str | None = Field(default=None, max_length=1000)
    vpnConfig: str | None = Field(default=None, max_length=100)
    restricted: bool | None = None
    env: list[EnvVar] | None = Field(default=None, max_length=500)
    storageMib: Size | None = None
    sharedVaultName: str | None = Field(default=None, max_length=255)
    dataCenterId: Id | None = None  # extension: defaults to the team's data center


class WorkspaceUpdate(Request):
    planId: Id | None = None
    baseImage: str | None = Field(default=None, max_length=50)
    name: WorkspaceName | None = None
    replicas: int | None = Field(default=None, ge=0, le=1)
    vpnConfig: str | None = Field(default=None, max_length=100)
    restricted: bool | None = None
    storageMib: Size | None = None
    sharedVaultName: str | None = Field(default=None, max_length=255)


class Workspace(Response):
    id: int
    teamId: int
    name: str
    planId: int
    isPrivateRepo: bool
    replicas: int
    dataCenterId: int
    userId: int
    gitUrl: str | None
    initialBranch: str | None
    sourceWorkspaceId: int | None
    welcomeMessage: str | None
    vpnConfig: str | None
    restricted: bool
    collectTraces: bool = False
    persistentLogs: bool = False
    createdAt: datetime
    baseImage: str | None = None
    devDomain: str | None = None
    # Extensions (not in Codesphere's schema; clients ignore unknown fields).
    state: str = "stopped"
    stateReason: str | None = None
    storageUsedMib: int = 0


class WorkspaceStatus(Response):
    isRunning: bool
    state: str = "stopped"
    reason: str | None = None


class ExecuteRequest(Request):
    command: Annotated[str, Field(min_length=1, max_length=65536), AfterValidator(_argv_string)]
    workingDir: str | None = Field(default=None, max_length=4096)
    env: Annotated[
        dict[EnvName, EnvValue] | None, Field(max_length=500), AfterValidator(_exec_env)
    ] = None


class ExecuteResponse(Response):
    command: str
    workingDir: str
    output: str
    error: str
    exitCode: int
    timedOut: bool = False
    # Hemisphere extension: output or error was cut at the per-stream cap (the rest was dropped).
    truncated: bool = False


class GitHead(Response):
    head: str


class Port(Response):
    port: int
    url: str


# ---- pipeline and logs ------------------------------------------------------------------------


class PipelineStep(Response):
    state: str
    startedAt: datetime | None = None
    finishedAt: datetime | None = None


class ReplicaStatus(Response):
    state: str
    steps: list[PipelineStep]
    replica: str
    server: str
    startedAt: datetime | None = None
    finishedAt: datetime | None = None


class LogEntry(Response):
    timestamp: datetime
    kind: str
    data: str


# ---- audit -----------------------------------------------------------------------------------


class AuditEntry(Response):
    id: int
    at: datetime
    actorUserId: int | None
    actorEmail: str | None
    action: str
    targetType: str
    targetId: str | None
    teamId: int | None
    detail: dict[str, object]
    traceId: str | None


# ---- organization members, cluster admins, team migration ------------------------------------

# Codesphere sends organization roles as strings; "admin"/"member" and 0/1 (the team role values)
# are all accepted, "admin"/"member" is what the server answers.
OrgRoleIn = Annotated[int, Field(strict=True)] | Annotated[str, Field(strict=True, max_length=20)]


class OrgMember(Response):
    userId: int
    organizationId: str
    role: str
    pending: bool = False
    createdAt: datetime
    name: str | None = None
    email: str | None = None
    avatarUrl: str | None = None


class OrgMemberAdd(Request):
    email: Email
    role: OrgRoleIn


class OrgRoleUpdate(Request):
    role: OrgRoleIn


class ClusterAdminAdd(Request):
    email: Email


class TeamMigrate(Request):
    organizationId: str | None = Field(default=None, max_length=36)
    force: bool = False


# ---- domains ---------------------------------------------------------------------------------

RoutePath = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_plain_text)]
# Path prefix (or regular expression, with useRegex) -> the workspaces serving it.
DomainRouting = dict[
    RoutePath, Annotated[list[Annotated[Id, Field(strict=True)]], Field(max_length=50)]
]


class CertificateRequestStatus(Response):
    issued: bool
    reason: str | None


class DnsEntries(Response):
    a: str
    cname: str
    txt: str


class DomainVerificationStatus(Response):
    verified: bool
    reason: str | None


class DomainCustomConfig(Response):
    maxBodySizeMb: int | float | None = None
    maxConnectionTimeoutS: int | float | None = None
    useRegex: bool | None = None


class Domain(Response):
    teamId: int
    dataCenterId: int
    name: str
    workspaces: dict[str, list[int]]
    certificateRequestStatus: CertificateRequestStatus
    dnsEntries: DnsEntries
    domainVerificationStatus: DomainVerificationStatus
    customConfigRevision: int | None = None
    customConfig: DomainCustomConfig | None = None
    restricted: bool | None = None


class DomainUpdate(Request):
    maxBodySizeMb: float | None = Field(default=None, gt=0, le=10240)
    maxConnectionTimeoutS: float | None = Field(default=None, gt=0, le=86400)
    useRegex: bool | None = None
    restricted: bool | None = None


# ---- landscape -------------------------------------------------------------------------------

# Service name -> replica count, e.g. {"web": 2}.
LandscapeScale = dict[
    Annotated[str, Field(min_length=1, max_length=63), AfterValidator(_plain_text)],
    Annotated[int, Field(strict=True, ge=0, le=MAX_INT)],
]
