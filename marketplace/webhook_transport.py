"""Posting a webhook without becoming a proxy into our own network (SSRF).

A URL is refused unless it is https (http only when WEBHOOKS_ALLOW_LOOPBACK is on, for tests and
`make run`) and every address its host resolves to is public: private, loopback, link-local,
multicast, reserved, unspecified and other non-global addresses are refused (loopback alone is
allowed when WEBHOOKS_ALLOW_LOOPBACK is on). The check runs at registration, before each
delivery and at each redirect hop; the connection then goes to the very address that was
checked (the TLS name and the Host header stay the URL's), so a DNS answer that changes between
the check and the connection (rebinding) cannot reach an inner address.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
EXCERPT_BYTES = 500


class UrlForbidden(Exception):
    """The URL may not receive webhooks; `str()` says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (the TLS name and Host header)
    port: int
    path: str  # path and query
    address: str  # the checked IP address we connect to


@dataclass(frozen=True)
class PostResult:
    status_code: int | None  # None when nothing was answered
    error: str  # why it failed before an answer, or ""
    excerpt: str
    duration_ms: int
    url: str  # the last URL posted to (after redirects)

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return bool(settings.WEBHOOKS_ALLOW_LOOPBACK)
    forbidden = (
        ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )
    return not forbidden


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL's shape; raises UrlForbidden."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlForbidden(f"not a valid URL: {exc}") from exc
    allowed_schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_LOOPBACK else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UrlForbidden("webhook URLs must use https")
    if not parts.hostname:
        raise UrlForbidden("the URL has no host")
    if parts.username or parts.password:
        raise UrlForbidden("credentials in the URL are not accepted")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def resolve(url: str) -> Target:
    """Check the URL and every address its host resolves to; the first address is the one to use."""
    scheme, host, port, path = check_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlForbidden(f"the host {host} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UrlForbidden(f"the host {host} does not resolve")
    refused = [address for address in addresses if not _address_allowed(address)]
    if refused:
        raise UrlForbidden(f"the host {host} resolves to a non-public address ({refused[0]})")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _pool(target: Target, timeout: float) -> urllib3.HTTPConnectionPool:
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limits,
            retries=False,
            maxsize=1,
            ssl_context=_tls_context(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=limits, retries=False, maxsize=1)


def post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST `body` to `url`, following up to WEBHOOK_MAX_REDIRECTS redirects (each hop checked
    like the first, the same body posted again); never raises for network trouble."""
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    started = time.monotonic()

    def result(status_code: int | None, error: str = "", excerpt: str = "") -> PostResult:
        duration = int((time.monotonic() - started) * 1000)
        return PostResult(status_code, error[:200], excerpt[:EXCERPT_BYTES], duration, url)

    for _hop in range(settings.WEBHOOK_MAX_REDIRECTS + 1):
        try:
            target = resolve(url)
        except UrlForbidden as exc:
            return result(None, f"url_forbidden: {exc}")
        pool = _pool(target, timeout)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "Host": _host_header(target)},
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            excerpt = response.read(EXCERPT_BYTES, decode_content=False)
            response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            return result(None, f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            return result(None, f"{type(exc).__name__}: {exc}")
        finally:
            pool.close()
        text = excerpt.decode("utf-8", errors="replace")
        location = response.headers.get("Location")
        if response.status in REDIRECT_CODES and location:
            url = urljoin(url, location)
            continue
        return result(response.status, "", text)
    return result(None, "too many redirects")
