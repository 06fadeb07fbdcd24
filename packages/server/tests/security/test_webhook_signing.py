"""Webhook secrets, signatures (checked against the reference ``standardwebhooks``) and the URL
policy that keeps deliveries off the server's own network."""

from __future__ import annotations

import base64
import ipaddress
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from sference_server.security import webhooks


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert webhooks.new_secret() != secret


def test_signatures_verify_with_the_reference_implementation_and_only_for_the_signed_bytes() -> None:
    secret, body = webhooks.new_secret(), b'{"type":"batch.completed"}'
    headers = webhooks.headers(secret, "0193a000-0000-7000-8000-000000000001", int(time.time()), body)
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"type": "batch.completed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(body, headers)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(url: str) -> None:
    problem = webhooks.url_problem(url, allow_private=False)
    assert problem is not None and "SFERENCE_WEBHOOK_ALLOW_PRIVATE" in problem
    assert webhooks.url_problem(url, allow_private=True) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("https:///path", "no host"),
        ("https://a:b@example.com/", "credentials"),
        ("https://example.com:99999/", "not a valid URL"),
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str, fragment: str) -> None:
    problem = webhooks.url_problem(url, allow_private=True)
    assert problem is not None and fragment in problem


def test_public_addresses_and_names_pass() -> None:
    assert webhooks.url_problem("https://hooks.example.com/x?y=1", allow_private=False) is None
    assert webhooks.url_problem("http://93.184.215.14:8080/", allow_private=False) is None
    assert webhooks.is_public(ipaddress.ip_address("2606:4700::1111"))
    assert not webhooks.is_public(ipaddress.ip_address("224.0.0.1"))


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("64:ff9b::a00:5", "10.0.0.5"),  # NAT64, well-known prefix
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b:1::a00:5", "10.0.0.5"),  # NAT64, local-use prefix
        ("2002:a9fe:a9fe::1", "169.254.169.254"),  # 6to4
        ("::7f00:1", "127.0.0.1"),  # IPv4-compatible
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("2001:0:4136:e378:8000:63bf:f5ff:fffa", "10.0.0.5"),  # Teredo, client 10.0.0.5 (obfuscated)
    ],
)
def test_ipv6_addresses_that_carry_a_private_ipv4_address_are_refused(address: str, inside: str) -> None:
    parsed = ipaddress.IPv6Address(address)
    assert ipaddress.IPv4Address(inside) in webhooks.embedded_ipv4(parsed)
    assert not webhooks.is_public(parsed)
    problem = webhooks.url_problem(f"http://[{address}]/hook", allow_private=False)
    assert problem is not None and "private address" in problem


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_ipv6_addresses_that_carry_a_public_ipv4_address_pass(address: str) -> None:
    parsed = ipaddress.IPv6Address(address)
    assert webhooks.embedded_ipv4(parsed) == (ipaddress.IPv4Address("8.8.8.8"),)
    assert webhooks.is_public(parsed)


def test_the_local_use_nat64_prefix_is_never_public() -> None:
    assert not webhooks.is_public(ipaddress.IPv6Address("64:ff9b:1::808:808"))


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://" + "a" * 64 + ".example.com/hook", "label empty or too long (each dot-separated label is 1 to 63"),
        ("https://hooks..example.com/hook", "label empty or too long"),
        ("https://\N{SNOWMAN}.example.com/hook", "Invalid IDNA hostname"),
    ],
)
def test_host_names_that_cannot_be_looked_up_are_refused(url: str, fragment: str) -> None:
    """The lookup of such a name raises (UnicodeError), so the URL is refused whatever the address rule."""
    for allow_private in (False, True):
        problem = webhooks.url_problem(url, allow_private=allow_private)
        assert problem is not None and fragment in problem, problem
