"""HTTP fetching for feeds and article pages: polite, bounded, and honest about failures.

Every request has a connect timeout, a total deadline and a body cap counted after
decompression while streaming, so a hostile or broken server can cost at most
`max_body_bytes` of memory and `timeout` seconds.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import zlib
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from urllib.parse import urlsplit

import httpx

from . import __version__

USER_AGENT = f"monitor/{__version__} (cooperation news monitor; +feeds politely polled)"


@dataclass
class FetchLimits:
    connect_timeout: float = 10.0
    timeout: float = 20.0
    max_body_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5


@dataclass
class FetchResult:
    """What one GET produced. `status` is 0 when no HTTP response arrived."""

    url: str  # the URL asked for
    final_url: str
    status: int = 0
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    error: str | None = None
    permanent_redirect: bool = False  # every hop was 301/308: the feed has moved
    retry_after: float | None = None  # seconds, from Retry-After
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.body is not None and self.error is None

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def rate_limited(self) -> bool:
        return self.status in (429, 503)

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


class BodyTooLarge(Exception):
    pass


class BlockedAddress(Exception):
    pass


def make_client(limits: FetchLimits | None = None) -> httpx.Client:
    """One shared client: connection pooling, gzip/deflate, our User-Agent."""
    limits = limits or FetchLimits()
    return httpx.Client(
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
                 "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                           "text/xml;q=0.9, */*;q=0.5"},
        timeout=httpx.Timeout(limits.timeout, connect=limits.connect_timeout),
        follow_redirects=True,
        max_redirects=limits.max_redirects,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        trust_env=False,
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now if now is not None else time.time()
    return max(0.0, when.timestamp() - now)


def is_public_address(host: str) -> bool:
    """False when the host resolves to a private, loopback, link-local or reserved address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return True  # let the request itself fail with a clear DNS error
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (address.is_private or address.is_loopback or address.is_link_local
                or address.is_reserved or address.is_multicast or address.is_unspecified):
            return False
    return True


def fetch(client: httpx.Client, url: str, *, etag: str | None = None,
          last_modified: str | None = None, limits: FetchLimits | None = None,
          allow_private: bool = True) -> FetchResult:
    """GET `url`, conditionally if validators are given. Never raises for network trouble."""
    limits = limits or FetchLimits()
    result = FetchResult(url=url, final_url=url)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    started = time.monotonic()
    deadline = started + limits.timeout
    try:
        if not allow_private:
            host = urlsplit(url).hostname or ""
            if not is_public_address(host):
                raise BlockedAddress(f"refused: {host} is a private or loopback address")
        with client.stream("GET", url, headers=headers) as response:
            result.status = response.status_code
            result.final_url = str(response.url)
            result.headers = {k.lower(): v for k, v in response.headers.items()}
            result.permanent_redirect = bool(response.history) and all(
                r.status_code in (301, 308) for r in response.history
            )
            if not allow_private and response.history:
                host = response.url.host
                if not is_public_address(host):
                    raise BlockedAddress(f"refused: redirected to private address {host}")
            if result.rate_limited:
                result.retry_after = parse_retry_after(response.headers.get("retry-after"))
            if response.status_code == 200 or 200 <= response.status_code < 300:
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
                    raise BodyTooLarge(
                        f"body of {int(declared)} bytes exceeds the limit of "
                        f"{limits.max_body_bytes}"
                    )
                result.body = _read_body(response, limits.max_body_bytes, deadline,
                                         limits.timeout)
            elif response.status_code >= 400:
                result.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    except BodyTooLarge as exc:
        result.error = str(exc)
    except BlockedAddress as exc:
        result.error = str(exc)
    except httpx.TimeoutException as exc:
        kind = "connect timeout" if isinstance(exc, httpx.ConnectTimeout) else "timeout"
        result.error = f"{kind} after {time.monotonic() - started:.1f} s"
    except httpx.TooManyRedirects:
        result.error = f"more than {limits.max_redirects} redirects"
    except httpx.ConnectError as exc:
        result.error = _connect_error(url, exc)
    except httpx.RemoteProtocolError as exc:
        result.error = f"server broke the HTTP protocol: {exc}"
    except httpx.HTTPError as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except zlib.error as exc:
        result.error = f"corrupt compressed body: {exc}"
    except (OSError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.elapsed = time.monotonic() - started
    if result.error:
        result.body = None
    return result


def _decompressor(encoding: str):
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return "deflate"  # zlib-wrapped or raw: decided on the first bytes
    raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r}")


def _read_body(response: httpx.Response, cap: int, deadline: float, timeout: float) -> bytes:
    """Stream the body, decompressing in bounded steps so that neither the compressed nor
    the decompressed size can exceed `cap` in memory (a gzip bomb stops at the cap)."""
    decoder = _decompressor(response.headers.get("content-encoding", ""))
    out = bytearray()

    def add(data: bytes) -> None:
        out.extend(data)
        if len(out) > cap:
            raise BodyTooLarge(f"body exceeds the limit of {cap} bytes")

    for raw in response.iter_raw():
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(f"total time over {timeout:g} s")
        if decoder is None:
            add(raw)
            continue
        if decoder == "deflate":
            decoder = zlib.decompressobj(zlib.MAX_WBITS if raw[:1] == b"\x78" else -zlib.MAX_WBITS)
        data = raw
        while data:
            add(decoder.decompress(data, cap - len(out) + 1))
            data = decoder.unconsumed_tail
    if decoder is not None and not isinstance(decoder, str):
        add(decoder.flush())
    return bytes(out)


def _connect_error(url: str, exc: Exception) -> str:
    host = urlsplit(url).netloc
    text = str(exc)
    if "Name or service not known" in text or "nodename nor servname" in text \
            or "Temporary failure in name resolution" in text:
        return f"cannot resolve host {urlsplit(url).hostname} (DNS lookup failed)"
    if "Connection refused" in text:
        return f"connection refused by {host}"
    if "certificate" in text.lower() or "SSL" in text:
        return f"TLS error with {host}: {text}"
    return f"cannot connect to {host}: {text}"


def http_date(moment: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)
