"""SSRF rules: webhooks reach public addresses only, unless private ones are allowed."""

from __future__ import annotations

import ipaddress

import pytest

from engine.webhooks.safety import UnsafeDestination, refusal, resolve

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("169.254.169.254", "metadata"),
    ("10.0.0.1", "private"),
    ("192.168.1.20", "private"),
    ("172.16.0.5", "private"),
    ("100.64.0.1", "private"),
    ("169.254.1.1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, not to bind
    ("240.0.0.1", "reserved"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_internal_addresses_are_refused_by_default(address: str, why: str):
    reason = refusal(ipaddress.ip_address(address), allow_private=False)
    assert reason is not None
    assert why in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str):
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "::1", "192.168.1.20"])
def test_the_setting_lets_private_addresses_through(address: str):
    assert refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", ["169.254.169.254", "224.0.0.1", "0.0.0.0"])  # noqa: S104
def test_metadata_multicast_and_unspecified_stay_refused_even_then(address: str):
    assert refusal(ipaddress.ip_address(address), allow_private=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/crm",
        "http://localhost:9000/",
        "http://[::1]/",
        "ftp://example.jp/file",
        "http://user:pass@example.jp/",
    ],
)
def test_resolve_refuses_urls_that_reach_inside(url: str):
    with pytest.raises(UnsafeDestination) as refused:
        resolve(url, allow_private=False)
    assert refused.value.code == "unsafe_destination"


def test_resolve_pins_the_checked_address_and_keeps_the_host_for_host_and_sni():
    destination = resolve("http://localhost:8080/hooks/受信?x=1", allow_private=True)
    assert (
        destination.address == ipaddress.ip_address("127.0.0.1") or destination.address.version == 6
    )
    assert destination.host == "localhost"
    assert destination.host_header == "localhost:8080"
    assert destination.url.endswith(":8080/hooks/受信?x=1")
    assert "localhost" not in destination.url
