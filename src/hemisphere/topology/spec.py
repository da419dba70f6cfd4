"""The install spec and the questions the rest of Hemisphere asks it.

Code outside `topology/` never compares scenario names: it asks `spec.database_for(dc_id)`,
`spec.control_plane_host_for(dc_id)`, `spec.is_air_gapped`, `spec.console_site` and so on. The
answers come from the scenario's row in `scenarios.py` plus the sites the spec declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hemisphere.topology.errors import TopologyError, UnknownSiteError
from hemisphere.topology.fields import DnsLabel, Version
from hemisphere.topology.scenarios import SCENARIOS, Operator, Scenario, ScenarioName
from hemisphere.topology.sites import (
    CentralSite,
    CloudNativePGDatabase,
    Database,
    Datacenter,
    ExternalDatabase,
    Site,
)

__all__ = ["NAMESPACE", "ControlPlaneHost", "DatabaseAssignment", "Endpoint", "InstallSpec"]

NAMESPACE = "codesphere"
"""The namespace every Hemisphere object lives in, on every site."""

_IN_CLUSTER_DB_NAME = "codesphere"
_IN_CLUSTER_DB_USER = "codesphere"
_CNPG_CLUSTER = "hemisphere-db"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class DatabaseAssignment:
    """A database of the installation: where it lives and who connects to it.

    `key` names it in the vault and in manifests: "shared" (one database for console and every
    DC), "console" (the console's own, identity and DC registry), or "dc-<id>" (one DC's own).
    """

    key: str
    config: CloudNativePGDatabase | ExternalDatabase
    site: str | None
    users: tuple[str, ...]
    shared: bool

    @property
    def in_cluster(self) -> bool:
        return isinstance(self.config, CloudNativePGDatabase)

    @property
    def cluster_name(self) -> str:
        """Name of the CloudNativePG `Cluster` object (in-cluster databases)."""
        return _CNPG_CLUSTER

    @property
    def dbname(self) -> str:
        return (
            self.config.dbname if isinstance(self.config, ExternalDatabase) else _IN_CLUSTER_DB_NAME
        )

    @property
    def user(self) -> str:
        return (
            self.config.user if isinstance(self.config, ExternalDatabase) else _IN_CLUSTER_DB_USER
        )

    @property
    def sslmode(self) -> str:
        return self.config.sslmode if isinstance(self.config, ExternalDatabase) else "require"

    def endpoint_for(self, site_name: str) -> Endpoint:
        """Host and port a service on `site_name` uses to reach this database."""
        if isinstance(self.config, ExternalDatabase):
            return Endpoint(self.config.host, self.config.port)
        if site_name == self.site:
            return Endpoint(f"{_CNPG_CLUSTER}-rw.{NAMESPACE}.svc", 5432)
        if self.config.expose is None:
            raise TopologyError(
                f"database {self.key!r} lives on site {self.site!r} and is not exposed, "
                f"so site {site_name!r} cannot reach it"
            )
        return Endpoint(self.config.expose.host, self.config.expose.port)

    def crosses_wan_for(self, site_name: str) -> bool:
        """Whether `site_name` reaches this database over a link leaving its own site."""
        return self.site != site_name


@dataclass(frozen=True)
class ControlPlaneHost:
    """Where a DC's Kubernetes control plane runs and who operates it."""

    site: str
    hosted: bool
    provider: Literal["customer", "k0smotron", "kamaji"]
    operator: Operator


class InstallSpec(BaseModel):
    """One installation of Hemisphere: a scenario, its sites, and the platform version."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="Hemisphere install spec")

    version: Version = Field(description="platform version to install, e.g. 1.67.0")
    scenario: ScenarioName = Field(description="one of the five installation scenarios")
    name: DnsLabel = Field(description="name of this installation")
    central: CentralSite | None = Field(
        default=None, description="central site (management console); absent when air-gapped"
    )
    datacenters: tuple[Datacenter, ...] = Field(min_length=1)

    # --- the scenario's facts -------------------------------------------------------------

    @property
    def scenario_info(self) -> Scenario:
        return SCENARIOS[self.scenario]

    @property
    def is_air_gapped(self) -> bool:
        return self.scenario_info.air_gapped

    @property
    def shares_database(self) -> bool:
        """One database for the console and every DC (else one per DC plus the console's)."""
        return self.scenario_info.shared_database

    @property
    def hosts_control_planes(self) -> bool:
        """Whether the central site hosts the DCs' Kubernetes control planes."""
        return self.scenario_info.hosted_control_planes

    # --- sites ------------------------------------------------------------------------------

    @property
    def sites(self) -> tuple[Site, ...]:
        """Every cluster the installer talks to: the central site first, then the DCs."""
        head: tuple[Site, ...] = (self.central,) if self.central is not None else ()
        return head + self.datacenters

    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        raise UnknownSiteError(f"no site named {name!r}; sites are {', '.join(self.site_names)}")

    @property
    def datacenter_ids(self) -> tuple[int, ...]:
        return tuple(dc.id for dc in self.datacenters)

    def datacenter(self, dc_id: int) -> Datacenter:
        for dc in self.datacenters:
            if dc.id == dc_id:
                return dc
        known = ", ".join(str(i) for i in self.datacenter_ids)
        raise UnknownSiteError(f"no data center with id {dc_id}; ids are {known}")

    def operator_of(self, site_name: str) -> Operator:
        """Who runs the site's infrastructure: the customer, or the vendor (central, 3A/3B)."""
        site = self.site(site_name)
        if isinstance(site, CentralSite) and self.scenario_info.central_operator is not None:
            return self.scenario_info.central_operator
        return "customer"

    # --- console --------------------------------------------------------------------------

    @property
    def console_site(self) -> str:
        """The site running the management console."""
        if self.central is not None:
            return self.central.name
        return self.datacenters[0].name

    @property
    def console_host(self) -> str:
        if self.central is not None:
            return self.central.domain
        return f"console.{self.datacenters[0].domain}"

    @property
    def console_url(self) -> str:
        return f"https://{self.console_host}"

    # --- databases ------------------------------------------------------------------------

    def _shared_database(self) -> DatabaseAssignment:
        users = tuple(dict.fromkeys((self.console_site, *(dc.name for dc in self.datacenters))))
        if self.central is not None:
            return DatabaseAssignment(
                "shared",
                self.central.database,
                self._host_site(self.central.database, self.central.name),
                users,
                shared=True,
            )
        dc = self.datacenters[0]
        return DatabaseAssignment(
            "shared", self._declared(dc), self._host_site(self._declared(dc), dc.name), users, True
        )

    @staticmethod
    def _host_site(db: Database, site: str) -> str | None:
        return site if isinstance(db, CloudNativePGDatabase) else None

    @staticmethod
    def _declared(dc: Datacenter) -> CloudNativePGDatabase | ExternalDatabase:
        if dc.database is None:
            raise TopologyError(f"data center {dc.name!r} declares no database")
        return dc.database

    def database_for(self, dc_id: int) -> DatabaseAssignment:
        """The database the services of DC `dc_id` read and write."""
        dc = self.datacenter(dc_id)
        if self.shares_database:
            return self._shared_database()
        db = self._declared(dc)
        return DatabaseAssignment(
            f"dc-{dc.id}", db, self._host_site(db, dc.name), (dc.name,), False
        )

    @property
    def console_database(self) -> DatabaseAssignment:
        """The database of the management console (identity, DC registry, snapshots)."""
        if self.shares_database:
            return self._shared_database()
        if self.central is None:
            raise TopologyError("an individual-database installation needs a central site")
        db = self.central.database
        return DatabaseAssignment(
            "console", db, self._host_site(db, self.central.name), (self.central.name,), False
        )

    def database_of_site(self, site_name: str) -> DatabaseAssignment:
        """The database the Hemisphere services on `site_name` connect to."""
        site = self.site(site_name)
        if isinstance(site, Datacenter):
            return self.database_for(site.id)
        return self.console_database

    @property
    def databases(self) -> tuple[DatabaseAssignment, ...]:
        """Every distinct database, the console's first."""
        found = {self.console_database.key: self.console_database}
        for dc in self.datacenters:
            db = self.database_for(dc.id)
            found.setdefault(db.key, db)
        return tuple(found.values())

    # --- control planes -------------------------------------------------------------------

    def control_plane_host_for(self, dc_id: int) -> ControlPlaneHost:
        """Where the Kubernetes control plane of DC `dc_id` runs."""
        dc = self.datacenter(dc_id)
        if self.hosts_control_planes:
            if self.central is None or self.central.control_planes is None:
                raise TopologyError("hosted control planes need central.control_planes")
            return ControlPlaneHost(
                site=self.central.name,
                hosted=True,
                provider=self.central.control_planes.provider,
                operator=self.operator_of(self.central.name),
            )
        return ControlPlaneHost(
            site=dc.name, hosted=False, provider="customer", operator="customer"
        )

    def hosted_control_planes_on(self, site_name: str) -> tuple[Datacenter, ...]:
        """The DCs whose control planes the cluster of `site_name` hosts."""
        hosts = {dc.id: self.control_plane_host_for(dc.id) for dc in self.datacenters}
        return tuple(
            dc for dc in self.datacenters if hosts[dc.id].hosted and hosts[dc.id].site == site_name
        )
