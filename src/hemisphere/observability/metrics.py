"""Prometheus metrics, one registry per process (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
