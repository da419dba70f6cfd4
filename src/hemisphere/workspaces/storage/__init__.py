"""Persistent per-workspace storage for host runtimes: the `WorkspaceStorage` Protocol (base.py)
and its backends (`local`: a directory per workspace on this host)."""
