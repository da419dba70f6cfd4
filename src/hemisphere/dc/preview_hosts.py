"""Preview host names: `{port}-{name}-{id}.{preview domain}`.

Workspace names are unique per team, not per data center, so the name alone cannot say which
workspace a host means; the id can. The name stays in the host so people can read their URLs,
and it must match the workspace's current name (a renamed workspace's old links stop working
instead of silently pointing somewhere). One DNS label holds at most 63 characters, so a long
name is shortened in the label; the id always survives whole.

Pure functions: `dc/api.py` (devDomain, ports list) and the preview proxy share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LABEL = 63
_LABEL = re.compile(r"^([0-9]{1,5})-([a-z0-9][a-z0-9-]*?)-([0-9]{1,12})$")


@dataclass(frozen=True)
class PreviewAddress:
    """What a preview host name points at."""

    port: int
    workspace_id: int
    label: str  # the first DNS label, as written


def preview_label(port: int, name: str, workspace_id: int) -> str:
    head, tail = f"{port}-", f"-{workspace_id}"
    room = MAX_LABEL - len(head) - len(tail)
    return head + name[:room].rstrip("-") + tail


def preview_host(port: int, name: str, workspace_id: int, preview_domain: str) -> str:
    return f"{preview_label(port, name, workspace_id)}.{preview_domain}"


def split_host(host: str, preview_domain: str) -> str | None:
    """The first label of `host` when `host` is directly below `preview_domain`, else None.

    Both may carry a port (`localhost:8080`); the comparison is case-insensitive, as DNS is."""
    host = host.strip().lower().rstrip(".")
    suffix = "." + preview_domain.strip().lower().rstrip(".")
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    if not label or "." in label:
        return None
    return label


def parse_preview_host(host: str, preview_domain: str) -> PreviewAddress | None:
    """Where `host` points, or None when it is not a well-formed preview host of this domain."""
    label = split_host(host, preview_domain)
    if label is None:
        return None
    match = _LABEL.match(label)
    if match is None:
        return None
    port = int(match.group(1))
    if not 0 < port < 65536:
        return None
    return PreviewAddress(port=port, workspace_id=int(match.group(3)), label=label)
