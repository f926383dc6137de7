"""Where a webhook may go: public addresses only, checked on the address actually connected to.

Journey authors and operators type webhook URLs, so a URL may point inside the network
(a database, the cloud metadata service). The host is resolved here, every address it
resolves to is checked, and the request is then sent to that checked address (the URL's
host kept in ``Host`` and in TLS SNI), so a DNS answer that changes between the check and
the connection cannot slip past.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from engine.errors import NurtureError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Cloud metadata services: refused even when private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class UnsafeDestination(NurtureError):
    """Raised when a webhook URL resolves to an address webhooks may not reach."""

    code = "unsafe_destination"


class UnresolvableHost(NurtureError):
    """Raised when a webhook host does not resolve (may be temporary: the call is retried)."""

    code = "unresolvable_host"


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked URL: ``url`` names the address to connect to; ``host`` goes in Host and SNI."""

    url: str
    host: str
    host_header: str
    address: IPAddress


def refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Return why webhooks may not reach ``address``, or None when they may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_unspecified:
        return f"{address} is an unspecified address"
    private: str | None = None
    if address.is_loopback:
        private = f"{address} is a loopback address"
    elif address.is_link_local:
        private = f"{address} is a link-local address"
    elif address.is_reserved:
        return f"{address} is a reserved address"
    elif address.is_private or not address.is_global:
        private = f"{address} is a private address"
    return None if allow_private else private


def resolve(url: str, *, allow_private: bool) -> Destination:
    """Resolve ``url``'s host and return where to connect.

    Raises UnsafeDestination when any address of the host is refused (or the URL is not
    http(s)), and UnresolvableHost when the name does not resolve.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise UnsafeDestination(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise UnsafeDestination("webhook URLs may not carry a user name or password")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _addresses(host, port)
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise UnsafeDestination(f"{host} refused: {reason}")
    address = addresses[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    return Destination(url=pinned, host=host, host_header=host_header, address=address)


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvableHost(f"{host} does not resolve: {error}") from None
    found: list[IPAddress] = []
    for info in infos:
        # The scope of a link-local IPv6 address (fe80::1%eth0) is not part of the address.
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnresolvableHost(f"{host} has no address")
    return found
