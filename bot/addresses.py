"""Which network addresses are public: the one judgement `bot validate` and the guarded fetch of pictures share."""

from __future__ import annotations

import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Refused whatever this Python's ipaddress tables say (they changed between 3.11 and 3.13): private, shared (CGNAT),
# loopback, link-local (cloud metadata), protocol, documentation and benchmark ranges, multicast, reserved;
# for IPv6 also the old IPv4-compatible, translated, 6to4 and Teredo forms that carry an IPv4 address inside.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
    "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"))


def _inner(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and is routed to (IPv4-mapped, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF) if address in _NAT64 else None


def public_address(address: Address) -> bool:
    """Whether `address` is on the public internet; an IPv4 address carried in IPv6 is judged as itself, so
    ::ffff:169.254.169.254 is the metadata service it names."""
    inner = _inner(address)
    if inner is not None:
        return public_address(inner)
    if not address.is_global or address.is_private or address.is_loopback or address.is_link_local \
            or address.is_multicast or address.is_reserved or address.is_unspecified:
        return False
    return not any(address in network for network in _NOT_PUBLIC if network.version == address.version)


def shown(host: str, address: Address) -> str:
    """A refused address as a person recognises it: 169.254.169.254, or pictures.example (10.0.0.7)."""
    plain = str(_inner(address) or address).split("%")[0]
    return plain if host in (plain, str(address)) else f"{host} ({plain})"


def literal_private(host: str) -> str | None:
    """How to show `host` when it is, by itself, this machine or a non-public address: `localhost` (and its
    subdomains) or an IP address in any spelling a resolver accepts (0177.0.0.1, 0x7f.1, 127.1, [::ffff:7f00:1]).
    None for any other name: looking names up is the fetch's job, at the time of the fetch."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return name
    try:
        address: Address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        try:
            # The legacy forms getaddrinfo reads as IPv4 without asking DNS: octal, hex, fewer than four parts.
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    return None if public_address(address) else shown(host, address)
