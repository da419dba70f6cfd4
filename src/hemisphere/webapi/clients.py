"""Which client a request comes from, trusting `X-Forwarded-For` only from configured proxies.

uvicorn's own proxy-header handling trusts loopback by default, so any local process (and anything
a same-host reverse proxy passes through unfiltered) could claim any address and get a fresh
login-throttle budget per request. The servers run with it off (`proxy_headers=False`) and the
address is resolved here instead: the TCP peer, unless the peer is in
`HEMISPHERE_TRUSTED_PROXIES` (a CIDR list, empty by default); then the right-most address of
`X-Forwarded-For` that is not itself a trusted proxy (the left part is whatever the client wrote).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    """'10.0.0.0/8', '127.0.0.1' → networks; raises ValueError naming the bad entry."""
    out = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{cidr!r} is not an address or CIDR range") from None
    return tuple(out)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(conn: HTTPConnection) -> str:
    """The client's address for throttling and audit (HTTP requests and WebSockets alike)."""
    peer = conn.client.host if conn.client else "unknown"
    proxies: tuple[Network, ...] = getattr(conn.app.state, "trusted_proxies", ())
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for v in conn.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if hop and not _trusted(hop, proxies):
            return hop
    return peer
