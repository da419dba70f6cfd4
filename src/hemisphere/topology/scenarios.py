"""The five installation scenarios of the seed, as data.

This is the only module that knows what a scenario name means. Everything else asks an
`InstallSpec` (which reads these rows) a question: where does the database of DC 3 live, who hosts
its control plane, is the installation air-gapped. The pros and cons are the seed's table, word
for word in their titles, so the advisor and the plan can cite them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SCENARIOS",
    "SCENARIO_NAMES",
    "Operator",
    "Point",
    "Scenario",
    "ScenarioName",
    "scenario",
]

ScenarioName = Literal[
    "air-gapped",
    "federated-shared-db",
    "federated-individual-db",
    "central-cp-shared-db",
    "central-cp-individual-db",
]
Operator = Literal["customer", "vendor"]


@dataclass(frozen=True)
class Point:
    """One pro or con of a scenario (a line of the seed's table)."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Scenario:
    """What a scenario means, as facts other code can ask about."""

    name: ScenarioName
    number: str
    title: str
    summary: str
    max_datacenters: int | None
    central_site: bool
    central_operator: Operator | None
    hosted_control_planes: bool
    shared_database: bool
    air_gapped: bool
    pros: tuple[Point, ...]
    cons: tuple[Point, ...]

    def point(self, point_id: str) -> Point:
        for p in (*self.pros, *self.cons):
            if p.id == point_id:
                return p
        raise KeyError(f"{self.name} has no pro or con {point_id!r}")

    def is_pro(self, point_id: str) -> bool:
        return any(p.id == point_id for p in self.pros)


_CEPH_LOCAL = Point(
    "ceph-locality",
    "Data Locality (Ceph)",
    "The distributed file system (Ceph) is always local to each DC.",
)

SCENARIOS: dict[ScenarioName, Scenario] = {
    "air-gapped": Scenario(
        name="air-gapped",
        number="1",
        title="Air-Gapped Installation",
        summary=(
            "Fully disconnected: Kubernetes control plane, Codesphere services, database and "
            "management console run on customer infrastructure in a single Kubernetes cluster; "
            "Ceph storage is local."
        ),
        max_datacenters=1,
        central_site=False,
        central_operator=None,
        hosted_control_planes=False,
        shared_database=True,
        air_gapped=True,
        pros=(
            Point(
                "max-security",
                "Maximum Security & Data Sovereignty",
                "Complete isolation from external networks.",
            ),
            Point(
                "full-control",
                "Full Control",
                "The customer manages all components and infrastructure.",
            ),
            Point(
                "offline",
                "No External Dependencies (Post-Deployment)",
                "Operates fully offline.",
            ),
        ),
        cons=(
            Point(
                "ops-overhead",
                "High Operational Overhead (Relative)",
                "The customer is responsible for all updates, patches and Kubernetes, database "
                "and platform management (the installer simplifies the initial setup).",
            ),
            Point(
                "manual-updates",
                "Manual Updates",
                "New features and patches require manual import and deployment.",
            ),
        ),
    ),
    "federated-shared-db": Scenario(
        name="federated-shared-db",
        number="2A",
        title="Federated Installation (Shared Global DB)",
        summary=(
            "Customer infrastructure in one or more DCs, each with its own Kubernetes control "
            "plane and platform services; a central customer-hosted console and ONE shared "
            "database give unified user management; Ceph is local to each DC."
        ),
        max_datacenters=None,
        central_site=True,
        central_operator="customer",
        hosted_control_planes=False,
        shared_database=True,
        air_gapped=False,
        pros=(
            Point(
                "unified-management",
                "Unified Management",
                "A single console and shared database for users, teams and workspace metadata "
                "across all DCs (customer-hosted).",
            ),
            Point(
                "k8s-control",
                "Customer Control over K8s",
                "Local Kubernetes control planes and workers in each DC.",
            ),
            _CEPH_LOCAL,
            Point(
                "central-view",
                "Centralized View",
                "An easier overview of all federated deployments.",
            ),
        ),
        cons=(
            Point(
                "shared-db-complexity",
                "Shared DB Complexity",
                "The shared database can be a single point of failure or a bottleneck unless "
                "the customer architects it for HA/DR.",
            ),
            Point(
                "data-aggregation",
                "Data Aggregation",
                "Global user, team and workspace metadata in one place may not suit every "
                "sovereignty need unless properly secured.",
            ),
            Point(
                "wan-dependency",
                "WAN Dependency",
                "Unified features need reliable connectivity between the DCs and the central "
                "console and database.",
            ),
        ),
    ),
    "federated-individual-db": Scenario(
        name="federated-individual-db",
        number="2B",
        title="Federated Installation (Individual DC DBs)",
        summary=(
            "Customer infrastructure across DCs, each with its own Kubernetes control plane, "
            "platform services and its OWN database; a central customer-hosted console gives a "
            "unified view by talking to each DC; Ceph is local to each DC."
        ),
        max_datacenters=None,
        central_site=True,
        central_operator="customer",
        hosted_control_planes=False,
        shared_database=False,
        air_gapped=False,
        pros=(
            Point(
                "data-isolation",
                "Enhanced Data Isolation",
                "Each DC has its own customer-managed database, siloing user, team and "
                "workspace metadata per DC.",
            ),
            Point(
                "k8s-db-control",
                "Customer Control over K8s & DBs",
                "Local Kubernetes control planes, workers and databases.",
            ),
            _CEPH_LOCAL,
            Point(
                "aggregated-view",
                "Aggregated View (Optional Console)",
                "The customer-hosted central console gives an overview by querying each DC.",
            ),
            Point(
                "reduced-wan",
                "Reduced WAN Dependency for Core DC Ops",
                "DCs operate independently; the WAN is needed mainly for the central view.",
            ),
        ),
        cons=(
            Point(
                "more-databases",
                "Higher Management Complexity (Relative)",
                "More databases for the customer to manage.",
            ),
            Point(
                "siloed-users",
                "Siloed User Management (Potentially)",
                "Cross-DC user and team operations depend on the console synchronising them.",
            ),
            Point(
                "wan-console",
                "WAN Dependency (for Console)",
                "The central console needs to connect to each DC.",
            ),
        ),
    ),
    "central-cp-shared-db": Scenario(
        name="central-cp-shared-db",
        number="3A",
        title="Managed Control Plane (Shared Global DB)",
        summary=(
            "The customer provides worker nodes and local Ceph per DC; the vendor hosts each DC's "
            "Kubernetes control plane, the central console and ONE shared database."
        ),
        max_datacenters=None,
        central_site=True,
        central_operator="vendor",
        hosted_control_planes=True,
        shared_database=True,
        air_gapped=False,
        pros=(
            Point(
                "simplified-k8s",
                "Simplified K8s Operations",
                "The vendor manages the Kubernetes control plane of every DC.",
            ),
            Point(
                "unified-management",
                "Unified Management (Tenant)",
                "A central console and shared database for the tenant, hosted by the vendor.",
            ),
            Point(
                "worker-control",
                "Customer Control over Workers",
                "The customer manages worker nodes and local Ceph storage.",
            ),
            Point(
                "fast-onboarding",
                "Faster Onboarding",
                "New Kubernetes control planes are set up quickly.",
            ),
        ),
        cons=(
            Point(
                "vendor-dependency",
                "Dependency on Codesphere",
                "Control plane and central console/database availability rely on the vendor.",
            ),
            Point(
                "shared-db-concerns",
                "Shared DB Concerns (Tenant-Level)",
                "The tenant's global metadata is a single point of failure or bottleneck, "
                "managed by the vendor.",
            ),
            Point(
                "internet",
                "Internet Connectivity",
                "A robust connection is required between the DCs and the vendor-hosted services.",
            ),
            Point(
                "metadata-transfer",
                "Data Transfer (Metadata)",
                "Workspace metadata and user/team information reside in the vendor-hosted "
                "database.",
            ),
        ),
    ),
    "central-cp-individual-db": Scenario(
        name="central-cp-individual-db",
        number="3B",
        title="Managed Control Plane (Individual DC DBs - Customer Local)",
        summary=(
            "The customer provides worker nodes, local Ceph and a local database per DC; the "
            "vendor hosts each DC's Kubernetes control plane and the central console, which "
            "aggregates views from each DC."
        ),
        max_datacenters=None,
        central_site=True,
        central_operator="vendor",
        hosted_control_planes=True,
        shared_database=False,
        air_gapped=False,
        pros=(
            Point(
                "simplified-k8s",
                "Simplified K8s Operations",
                "The vendor manages the Kubernetes control planes.",
            ),
            Point(
                "max-metadata-isolation",
                "Maximum Data Isolation (Metadata)",
                "Each DC's database is local and customer-managed.",
            ),
            Point(
                "worker-db-control",
                "Customer Control over Workers & DBs",
                "The customer manages workers, local Ceph and the local databases.",
            ),
            Point(
                "aggregated-view",
                "Aggregated View",
                "The vendor-hosted central console gives an overview.",
            ),
        ),
        cons=(
            Point(
                "vendor-cp-dependency",
                "Dependency on Codesphere for K8s CP",
                "Control plane availability relies on the vendor.",
            ),
            Point(
                "db-responsibility",
                "Customer DB Responsibility (Relative)",
                "The customer is responsible for management and HA/DR of the database in each DC.",
            ),
            Point(
                "internet",
                "Internet Connectivity",
                "A robust connection is required for the managed control planes and the central "
                "console.",
            ),
            Point(
                "console-data-transfer",
                "Data Transfer (For Console View)",
                "The vendor-hosted console's aggregated view needs data/API access to local "
                "services.",
            ),
        ),
    ),
}

SCENARIO_NAMES: tuple[ScenarioName, ...] = tuple(SCENARIOS)


def scenario(name: ScenarioName) -> Scenario:
    """The facts of one scenario."""
    return SCENARIOS[name]
