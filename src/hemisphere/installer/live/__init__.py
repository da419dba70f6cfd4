"""Talking to each site's live Kubernetes cluster: apply, diff, status, uninstall.

The renderer (`hemisphere.installer.render`) turns the install spec into manifests per site;
this package puts them into the sites' clusters (server-side apply, field manager
`hemisphere`), phase by phase with readiness waits, and reads them back. Access is plain httpx
against the API server (`client.py`), with exec/port-forward streams over websockets
(`streams.py`) for the Kubernetes workspace runtime.
"""

from hemisphere.installer.live.client import FIELD_MANAGER, KubeClient, Resource
from hemisphere.installer.live.engine import (
    DEFAULT_READY_TIMEOUT_S,
    SiteReport,
    SiteTarget,
    apply_site,
    apply_sites,
    run_sites,
)
from hemisphere.installer.live.errors import (
    ApiError,
    ApiUnavailable,
    Conflict,
    Invalid,
    KubeconfigError,
    LiveError,
    NotFound,
    ReadinessTimeout,
    StreamError,
    UnknownKind,
)
from hemisphere.installer.live.events import Action, Event, EventSink, Step
from hemisphere.installer.live.inspect import SiteDiff, SiteStatus, diff_site, status_site
from hemisphere.installer.live.kubeconfig import ClusterAccess, in_cluster_access, load_kubeconfig
from hemisphere.installer.live.manifests import MANAGED_BY_LABEL, PHASES, SITE_LABEL, ObjRef
from hemisphere.installer.live.uninstall import uninstall_site

__all__ = [
    "DEFAULT_READY_TIMEOUT_S",
    "FIELD_MANAGER",
    "MANAGED_BY_LABEL",
    "PHASES",
    "SITE_LABEL",
    "Action",
    "ApiError",
    "ApiUnavailable",
    "ClusterAccess",
    "Conflict",
    "Event",
    "EventSink",
    "Invalid",
    "KubeClient",
    "KubeconfigError",
    "LiveError",
    "NotFound",
    "ObjRef",
    "ReadinessTimeout",
    "Resource",
    "SiteDiff",
    "SiteReport",
    "SiteStatus",
    "SiteTarget",
    "Step",
    "StreamError",
    "UnknownKind",
    "apply_site",
    "apply_sites",
    "diff_site",
    "in_cluster_access",
    "load_kubeconfig",
    "run_sites",
    "status_site",
    "uninstall_site",
]
