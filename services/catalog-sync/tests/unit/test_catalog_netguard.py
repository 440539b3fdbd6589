"""Image URLs may not reach into our own network (catalog_sync.netguard)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from catalog_sync.netguard import address_refusal, refusal


@pytest.mark.parametrize(
    "ip",
    ["169.254.169.254", "100.100.100.200", "fd00:ec2::254", "fe80::1", "0.0.0.0", "224.0.0.1",
     "::ffff:169.254.169.254"],
)  # fmt: skip
def test_metadata_and_link_local_are_always_refused(ip: str) -> None:
    assert address_refusal(ipaddress.ip_address(ip), allow_private=True) is not None


@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "192.168.0.10", "172.16.5.5", "::1"])
def test_private_networks_only_when_allowed(ip: str) -> None:
    address = ipaddress.ip_address(ip)
    assert address_refusal(address, allow_private=False) is not None
    assert address_refusal(address, allow_private=True) is None


def test_public_addresses_pass() -> None:
    for ip in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"):
        assert address_refusal(ipaddress.ip_address(ip), allow_private=False) is None


async def test_a_url_is_judged_by_what_its_host_resolves_to() -> None:
    # "localhost" resolves (here, and in any sane resolver) to loopback only.
    why = await refusal(httpx.URL("http://localhost:8190/mug.jpg"), allow_private=False)
    assert why is not None and "localhost" in why
    assert await refusal(httpx.URL("http://localhost:8190/mug.jpg"), allow_private=True) is None
    why = await refusal(httpx.URL("http://169.254.169.254/latest/meta-data/"), allow_private=True)
    assert why is not None and "metadata" in why
    why = await refusal(httpx.URL("http://no-such-host.invalid/x.jpg"), allow_private=True)
    assert why is not None and "does not resolve" in why
