"""Metrics, structured logs and the audit trail."""
