"""Refuse to fetch private, loopback and other internal addresses (SSRF guard).

A docs source is configured by an admin, but it can be changed from chat
(`/docbot reingest`) and a crawl follows links and redirects found on pages, so
every URL ingest fetches is checked: scheme http(s) only, and every address its
host name resolves to must be a public one, unless
`Settings.ingest_allow_private` (DOCBOT_INGEST_ALLOW_PRIVATE) says otherwise
(tests on loopback, docs hosted inside the company network).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

ALLOWED_SCHEMES = ("http", "https")


class BlockedURL(ValueError):
    """The URL may not be fetched. The message says why, without any secret."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_scheme(url: str) -> tuple[str, int]:
    """The (host, port) of an http(s) URL; BlockedURL for anything else."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise BlockedURL(f"only http and https URLs can be fetched, got {parts.scheme or 'none'!r}")
    from ingest.fetch import redact_url  # not at the top: ingest.fetch imports this module

    host = parts.hostname
    if not host:
        raise BlockedURL(f"URL has no host: {redact_url(url)!r}")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise BlockedURL(f"URL has an invalid port: {redact_url(url)!r}") from None
    return host, port


def check_addresses(host: str, addresses: list[str]) -> None:
    """BlockedURL unless every resolved address is public (a host with one internal
    address is refused: the connection could go to either)."""
    if not addresses:
        raise BlockedURL(f"host {host!r} did not resolve")
    for address in addresses:
        if not is_public_address(address):
            raise BlockedURL(
                f"refusing to fetch {host!r}: it resolves to a private or loopback address "
                f"({address}); set DOCBOT_INGEST_ALLOW_PRIVATE=true to allow internal hosts"
            )


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BlockedURL(f"host {host!r} did not resolve: {exc.strerror or exc}") from None
    return sorted({str(info[4][0]) for info in infos})


class Guard:
    """Checks URLs, caching the verdict per host for the life of one scrape."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._verdicts: dict[tuple[str, int], str] = {}  # "" when allowed, else the reason

    async def check(self, url: str) -> None:
        host, port = check_scheme(url)
        if self.allow_private:
            return
        key = (host.lower(), port)
        if key not in self._verdicts:
            try:
                check_addresses(host, await resolve(host, port))
                self._verdicts[key] = ""
            except BlockedURL as exc:
                self._verdicts[key] = str(exc)
        reason = self._verdicts[key]
        if reason:
            raise BlockedURL(reason)


class PublicOnlyResolver(ThreadedResolver):
    """An aiohttp resolver that never hands out an internal address.

    `Guard.check` gives the clear message up front; this closes the gap where a
    name resolves to a public address at check time and to an internal one when
    the connection is made (DNS rebinding).
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        for result in results:
            if not is_public_address(result["host"]):
                raise OSError(f"refusing to connect to {host!r}: internal address")
        return results
