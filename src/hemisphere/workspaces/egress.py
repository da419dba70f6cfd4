"""Where a workspace's `git clone` may connect (issue 10 finding 4: SSRF through `gitUrl`).

The clone runs with the host's network, so a `gitUrl` could reach the platform's own services,
the cloud metadata endpoint or anything on the private network, and the clone's error text
told the tenant what answered (a port scanner). The policy here closes that:

* Only `http://` and `https://` URLs with a host name or address (no `file://`, `ext::`, ssh).
* The platform resolves the host itself and checks EVERY address it resolves to; one refused
  address refuses the URL (a name mixing public and internal addresses is refused).
* Refused: loopback, link-local (169.254/16 with cloud metadata, fe80::/10), multicast,
  unspecified, reserved and documentation ranges, this host's own addresses, and private
  ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10 CGNAT, 198.18/15 benchmarking)
  unless `allow_private` (HEMISPHERE_GIT_ALLOW_PRIVATE=true, for installations whose git
  server is internal). Networks in `allow_networks` (HEMISPHERE_GIT_ALLOW_NETWORKS) are allowed
  whatever they are, except multicast/unspecified: an operator's explicit choice (and how the
  tests reach their own git servers).
* git then connects only to the checked address: the clone gets
  `http.curloptResolve=host:port:address` (no second lookup, so DNS rebinding between check
  and connect has nothing to rebind) and `http.followRedirects=false` (a redirect to an
  internal address is not followed).

What the tenant sees never says which rule matched or what answered: `REFUSED` for a URL the
policy refuses and `UNREACHABLE` for every failure of the clone itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

UNREACHABLE = "git clone failed: repository not reachable or not a git repository"
REFUSED = (
    "git URL refused: its host is not an address workspaces may clone from (loopback, "
    "link-local, private and the platform's own addresses are not allowed); use a public "
    "http(s) git server, or ask the operator to allow the network (HEMISPHERE_GIT_ALLOW_*)"
)
_PRIVATE_EXTRA = tuple(
    ipaddress.ip_network(n) for n in ("100.64.0.0/10", "198.18.0.0/15", "fc00::/7")
)


class GitUrlRefused(ValueError):
    """The URL is not one workspaces may clone from; `str()` is safe to show the tenant."""


@dataclass(frozen=True)
class CheckedRemote:
    """A git URL whose host resolved to `address`, which the policy allowed."""

    url: str
    host: str
    port: int
    address: Address

    def git_config(self) -> dict[str, str]:
        """git settings that pin the connection to the checked address."""
        pinned = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        host = self.host.strip("[]")
        return {
            "http.curloptResolve": f"{host}:{self.port}:{pinned}",
            "http.followRedirects": "false",
            "protocol.allow": "never",
            "protocol.http.allow": "always",
            "protocol.https.allow": "always",
        }


@dataclass(frozen=True)
class GitEgressPolicy:
    allow_private: bool = False
    allow_networks: tuple[Network, ...] = field(default=())

    @classmethod
    def of(cls, *, allow_private: bool, allow_networks: Iterable[str]) -> GitEgressPolicy:
        """From configuration; ValueError names the bad network."""
        networks = []
        for raw in allow_networks:
            try:
                networks.append(ipaddress.ip_network(raw, strict=False))
            except ValueError:
                raise ValueError(
                    f"HEMISPHERE_GIT_ALLOW_NETWORKS: {raw!r} is not a CIDR range "
                    "(e.g. 10.20.0.0/16)"
                ) from None
        return cls(allow_private=allow_private, allow_networks=tuple(networks))

    def allows(self, address: Address, own: frozenset[Address] = frozenset()) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_multicast or address.is_unspecified:
            return False
        if any(address in n for n in self.allow_networks if n.version == address.version):
            return True
        if (
            address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address in own
            or (isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None)
        ):
            return False
        private = address.is_private or any(
            address in n for n in _PRIVATE_EXTRA if n.version == address.version
        )
        return not private or self.allow_private

    async def check(self, url: str) -> CheckedRemote:
        """Resolve and check `url`'s host. GitUrlRefused (safe to show) if it may not be
        cloned from, including when the name does not resolve."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GitUrlRefused("git URL is not supported: use an http:// or https:// URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise GitUrlRefused("git URL has an invalid port") from None
        host = parts.hostname
        try:
            infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise GitUrlRefused(UNREACHABLE) from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        own = local_addresses()
        if not addresses or not all(self.allows(a, own) for a in addresses):
            raise GitUrlRefused(REFUSED)
        return CheckedRemote(url=url, host=host, port=port, address=addresses[0])


def local_addresses() -> frozenset[Address]:
    """This host's own addresses (the kernel's local routes and IPv6 interface addresses)."""
    found: set[Address] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for before, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            candidate = before.strip().removeprefix("|-- ").removeprefix("+-- ")
            try:
                found.add(ipaddress.ip_address(candidate))
            except ValueError:
                continue
    try:
        for row in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = row.split()[0]
            found.add(ipaddress.ip_address(":".join(raw[i : i + 4] for i in range(0, 32, 4))))
    except (OSError, ValueError, IndexError):
        pass
    return frozenset(found)
