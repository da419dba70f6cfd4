"""Persistent per-workspace storage for host runtimes: the `WorkspaceStorage` Protocol (base.py)
and its backends (`image`: a loop-mounted ext4 image per workspace, size enforced by the kernel;
`local`: a directory per workspace on this host, for hosts without loop devices)."""
