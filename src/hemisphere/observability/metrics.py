"""Prometheus metrics, one registry per process (served at /metrics).

/metrics says how many workspaces, requests and errors a platform has: fine on a private network,
a reconnaissance aid on the internet. With `HEMISPHERE_METRICS_TOKEN` set, a scrape must present
it as `Authorization: Bearer <token>` (`scrape_allowed`); without it /metrics stays open, as
Prometheus expects by default.
"""

from __future__ import annotations

import hmac

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


def scrape_allowed(authorization: str | None, token: str) -> bool:
    """Whether a request with this Authorization header may read /metrics when the configured
    token is `token` ("" = no token configured: everyone may). Constant-time comparison."""
    if not token:
        return True
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "hemisphere_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "hemisphere_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORKSPACES = Gauge(
    "hemisphere_workspaces",
    "Workspaces of this data center by state (updated every reconcile pass).",
    ["datacenter", "state"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "hemisphere_reconcile_errors_total",
    "Reconciler actions that failed, by kind of action.",
    ["action"],
    registry=REGISTRY,
)
# The identity change feed at a replica DC (federation/replica.py).
FEED_APPLIED = Counter(
    "hemisphere_feed_entries_applied_total",
    "Identity feed entries applied to this DC's replica.",
    registry=REGISTRY,
)
FEED_REJECTED = Counter(
    "hemisphere_feed_entries_rejected_total",
    "Identity feed entries refused and not applied, by reason (signature, gap, malformed).",
    ["reason"],
    registry=REGISTRY,
)
FEED_CURSOR = Gauge(
    "hemisphere_feed_cursor",
    "The last identity feed sequence number applied at this DC.",
    registry=REGISTRY,
)
FEED_LAG = Gauge(
    "hemisphere_feed_lag_entries",
    "Entries the console has that this DC has not applied yet (as of the last fetch).",
    registry=REGISTRY,
)
