"""Image URLs come from the merchant's catalogue: they must not reach into our own network.

A product file can name any URL as a picture, and catalog-sync downloads it (to hash and
upload it to TikTok). Without a check that is a server-side request forgery: a URL naming
the cloud's instance metadata service (169.254.169.254) or an internal host would be fetched
from inside. `refusal` resolves a URL's host and says why it may not be fetched, or None:

- always refused: link-local addresses (the metadata services of AWS, GCP and Azure live at
  169.254.169.254, Alibaba's at 100.100.100.200, AWS's IPv6 one at fd00:ec2::254), the
  unspecified and multicast addresses;
- refused unless `allow_private` (`TTS_IMAGE_ALLOW_PRIVATE_HOSTS`): loopback and private
  networks (RFC 1918, unique-local IPv6) — a local stack's image server lives there, a
  production deployment should not allow them (docs/operations.md).

Every address the name resolves to is checked, and every redirect hop is checked again. The
connection itself resolves the name once more, so a DNS answer that changes between the
check and the connection (rebinding) is not covered; a deployment that must exclude it too
should also deny egress to internal networks at the network layer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

_ALWAYS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "100.100.100.200/32",
        "224.0.0.0/4",
        "::/128",
        "fe80::/10",
        "fd00:ec2::254/128",
        "ff00::/8",
    )
)


def address_refusal(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool
) -> str | None:
    """Why `ip` may not be fetched from, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in _ALWAYS):
        return "a link-local, metadata or multicast address"
    if not allow_private and (ip.is_loopback or ip.is_private or ip.is_reserved):
        return "a loopback or private address"
    return None


async def refusal(url: httpx.URL, allow_private: bool) -> str | None:
    """Why `url`'s host may not be fetched from, or None (module docstring)."""
    host = url.host
    if not host:
        return "the URL names no host"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError):
            return f"the host {host} does not resolve"
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for ip in addresses:
        why = address_refusal(ip, allow_private)
        if why is not None:
            return f"the host {host} is {why} ({ip}); only public hosts are downloaded"
    return None
