"""The SSRF guard and robots.txt rules (pure parts)."""

from __future__ import annotations

import pytest

from ingest.robots import parse_robots, robots_url, rules_for_response
from ingest.ssrf import BlockedURL, Guard, check_addresses, check_scheme, is_public_address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("224.0.0.1", False),
        ("not-an-ip", False),
    ],
)
def test_public_addresses(address: str, public: bool):
    assert is_public_address(address) is public


def test_schemes_and_hosts():
    assert check_scheme("https://docs.example.com/x") == ("docs.example.com", 443)
    assert check_scheme("http://docs.example.com:8080/x") == ("docs.example.com", 8080)
    for bad in ("file:///etc/passwd", "ftp://docs.example.com/", "gopher://x/", "http:///nohost"):
        with pytest.raises(BlockedURL):
            check_scheme(bad)
    with pytest.raises(BlockedURL, match="DOCBOT_INGEST_ALLOW_PRIVATE"):
        check_addresses("mixed.example.com", ["93.184.216.34", "10.0.0.5"])


async def test_guard_refuses_loopback_names_and_literals_unless_allowed():
    guard = Guard(allow_private=False)
    for url in (
        "http://127.0.0.1:8000/",
        "http://localhost/docs/",
        "http://[::1]/",
        "http://2130706433/",
    ):
        with pytest.raises(BlockedURL):
            await guard.check(url)
    await Guard(allow_private=True).check("http://127.0.0.1:8000/")
    with pytest.raises(BlockedURL, match="only http and https"):
        await Guard(allow_private=True).check("file:///etc/passwd")


def test_robots_rules():
    rules = parse_robots("User-agent: *\nDisallow: /private/\n")
    assert rules.allowed("https://d.test/docs/", "docbot")
    assert not rules.allowed("https://d.test/private/x", "docbot")
    assert rules_for_response(404, "").allowed("https://d.test/private/x", "docbot")
    unreachable = rules_for_response(503, "")
    assert not unreachable.allowed("https://d.test/docs/", "docbot") and "503" in unreachable.reason
    assert robots_url("https://d.test:8443/a/b?c") == "https://d.test:8443/robots.txt"


async def test_the_connection_resolver_refuses_internal_addresses_too():
    # closes the gap between the guard's check and the connection (DNS rebinding)
    from ingest.ssrf import PublicOnlyResolver

    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(OSError, match="internal address"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


def test_fetch_policy_reads_the_ingest_settings():
    from bot.config import Settings
    from ingest.fetch import FetchPolicy

    settings = Settings.from_env(
        {
            "DOCBOT_INGEST_CONCURRENCY": "4",
            "DOCBOT_INGEST_PER_HOST": "2",
            "DOCBOT_INGEST_ALLOW_PRIVATE": "true",
        },
        env_file=None,
    )
    policy = FetchPolicy.from_settings(settings, timeout_s=3.0)
    assert (policy.concurrency, policy.per_host, policy.allow_private, policy.timeout_s) == (
        4,
        2,
        True,
        3.0,
    )
    assert FetchPolicy.from_settings(Settings()).allow_private is False


def test_urls_in_logs_and_summaries_hide_credentials():
    from ingest.fetch import redact_url

    assert redact_url("https://bob:hunter2@docs.example.com/a?page=2&token=abc123") == (
        "https://docs.example.com/a?page=2&token=***"
    )
    assert redact_url("https://docs.example.com/a/") == "https://docs.example.com/a/"


def test_redact_url_masks_credentials_by_parameter_name_words_only() -> None:
    from ingest.fetch import redact_url

    url = "https://docs.example.com/a?design=docs&keyword=x&X-Amz-Signature=s1&apiKey=k1"
    assert redact_url(url) == (
        "https://docs.example.com/a?design=docs&keyword=x&X-Amz-Signature=***&apiKey=***"
    )
