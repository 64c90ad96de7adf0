"""HTTP fetching for feeds and article pages: polite, bounded, and honest about failures.

Every request has a connect timeout, a total deadline and a body cap counted after
decompression while streaming, so a hostile or broken server can cost at most
`max_body_bytes` of memory and `timeout` seconds, however slowly it sends its status line,
headers or body.

Redirects are followed here, hop by hop, not by httpx, so that every URL is checked before
it is requested. Requests that must not reach private addresses (article links, feeds not
marked `local`) go through a network backend that resolves each host once, refuses the
connection unless every address is public, and connects to exactly the address it checked:
a DNS answer that changes between check and connection (rebinding) cannot get through.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import ssl
import time
import weakref
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable

import httpcore
import httpx

from . import __version__

USER_AGENT = f"monitor/{__version__} (cooperation news monitor; +feeds politely polled)"

# A request extension naming the transport: True for the one that may reach any address.
ALLOW_PRIVATE = "monitor.allow_private"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> IP addresses, in order
AddressPolicy = Callable[[IPAddress], bool]  # may a guarded request connect to this address?


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
    blocked: bool = False  # refused: a hop led to a non-public address
    bad_link: bool = False  # never fetchable as given: not http(s), invalid, or blocked

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


class FetchError(Exception):
    """A fetch that cannot go on; the message says why, for the feed's or item's error."""


class BodyTooLarge(FetchError):
    pass


class BlockedAddress(FetchError):
    pass


class BadURL(FetchError):
    pass


# --- addresses ---------------------------------------------------------------------------

def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, each once, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def is_public_ip(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses (no private, loopback, link-local,
    shared, reserved, multicast or unspecified ones, IPv4-mapped forms included)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_loopback
        or address.is_link_local or address.is_unspecified)


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone is not part of it


# --- the network backend: checked addresses, one deadline per fetch ----------------------

# The monotonic time by which the fetch running in this thread must be over. Set by
# `fetch` around its requests; every connect, TLS handshake, read and write waits at most
# until then, so a server that drips bytes cannot stretch a fetch past its deadline.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "monitor_fetch_deadline", default=None)


def _wait(timeout: float | None, expired: type[Exception]) -> float | None:
    """The per-operation timeout cut to what is left of the fetch's deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("total time limit reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends at the current fetch's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _wait(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _wait(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        # The whole handshake is one wait for the socket (CPython's do_handshake keeps
        # one deadline across its reads), so a dripped handshake ends in time too.
        return _DeadlineStream(self._stream.start_tls(
            ssl_context, server_hostname, _wait(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """Opens TCP connections. With a policy, resolves the host once with `resolver`,
    refuses unless the policy allows every address, and connects only to those addresses."""

    def __init__(self, resolver: Resolver | None = None,
                 policy: AddressPolicy | None = None) -> None:
        self._sockets = httpcore.SyncBackend()
        self._resolver = resolver
        self._policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options=None):
        if self._policy is None:
            return _DeadlineStream(self._sockets.connect_tcp(
                host, port, _wait(timeout, httpcore.ConnectTimeout), local_address,
                socket_options))
        addresses = self._addresses(host, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return _DeadlineStream(self._sockets.connect_tcp(
                    address, port, _wait(timeout, httpcore.ConnectTimeout), local_address,
                    socket_options))
            except httpcore.ConnectError as exc:  # try the next checked address
                error = exc
        raise error or httpcore.ConnectError(f"cannot resolve host {host} (no address)")

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            addresses = (self._resolver or system_resolver)(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(
                f"cannot resolve host {host} (DNS lookup failed: {exc})") from None
        for address in addresses:
            try:
                allowed = self._policy(_ip(address))
            except ValueError:
                allowed = False
            if not allowed:
                shown = host if host == address else f"{host} ({address})"
                raise BlockedAddress(f"refused: {shown} is a private or loopback address")
        return addresses

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    """httpx's transport over our network backend."""

    def __init__(self, backend: _Backend, limits: httpx.Limits,
                 ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # HTTPTransport takes no network backend of its own, so its pool is rebuilt with
        # ours (same settings as httpx's own).
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class _Router(httpx.BaseTransport):
    """Sends each request through the open or the guarded transport, as `fetch` asked
    (separate pools, so a guarded request never reuses an unchecked connection)."""

    def __init__(self, open_: httpx.BaseTransport, guarded: httpx.BaseTransport) -> None:
        self.open, self.guarded = open_, guarded

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.open if request.extensions.get(ALLOW_PRIVATE) else self.guarded
        return transport.handle_request(request)

    def close(self) -> None:
        self.open.close()
        self.guarded.close()


_GUARDED: weakref.WeakSet = weakref.WeakSet()  # clients whose guarded requests are checked


def make_client(limits: FetchLimits | None = None, *, resolver: Resolver | None = None,
                policy: AddressPolicy = is_public_ip, verify=True) -> httpx.Client:
    """One shared client: connection pooling, gzip/deflate, our User-Agent.

    `resolver` and `policy` decide what guarded requests may connect to (the system
    resolver and public addresses only; tests inject their own); `verify` is httpx's.
    """
    limits = limits or FetchLimits()
    pool = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    context = httpx.create_ssl_context(verify=verify, trust_env=False)
    client = httpx.Client(
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate",
                 "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                           "text/xml;q=0.9, */*;q=0.5"},
        timeout=httpx.Timeout(limits.timeout, connect=limits.connect_timeout),
        follow_redirects=False,  # `fetch` follows them, checking each hop
        transport=_Router(_Transport(_Backend(), pool, context),
                          _Transport(_Backend(resolver, policy), pool, context)),
        trust_env=False,
    )
    _GUARDED.add(client)
    return client


# --- URLs ------------------------------------------------------------------------------

def checked_url(url: str, base: httpx.URL | None = None) -> httpx.URL:
    """`url` (resolved against `base`, for a Location header) as httpx will request it, or
    BadURL saying why it cannot be fetched."""
    shown = url if len(url) <= 200 else url[:200] + "…"
    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BadURL(f"invalid URL {shown!r}: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise BadURL(f"cannot fetch {shown!r}: only http and https URLs are fetched")
    if not parsed.host:
        raise BadURL(f"invalid URL {shown!r}: no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise BadURL(f"invalid URL {shown!r}: port {parsed.port} out of range")
    return parsed


# --- fetching --------------------------------------------------------------------------

MAX_RETRY_AFTER = 7 * 24 * 3600.0  # a server asking for more waits a week (the longest interval)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), at most
    MAX_RETRY_AFTER: "Retry-After: 99999999999999" must not overflow the next poll's date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now if now is not None else time.time()
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)


def fetch(client: httpx.Client, url: str, *, etag: str | None = None,
          last_modified: str | None = None, limits: FetchLimits | None = None,
          allow_private: bool = True) -> FetchResult:
    """GET `url`, conditionally if validators are given, following redirects.

    Never raises for a bad URL or network trouble: the result's `error` says what went
    wrong. With `allow_private=False` no hop may reach a non-public address (the client
    must come from `make_client`).
    """
    if not allow_private and client not in _GUARDED:
        raise TypeError("fetch(allow_private=False) needs a client from make_client")
    limits = limits or FetchLimits()
    result = FetchResult(url=url, final_url=url)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    started = time.monotonic()
    token = _deadline.set(started + limits.timeout)
    try:
        _follow(client, result, headers, limits, allow_private)
    except FetchError as exc:
        result.error = str(exc)
        result.blocked = isinstance(exc, BlockedAddress)
        result.bad_link = isinstance(exc, (BadURL, BlockedAddress))
    except httpx.TimeoutException as exc:
        kind = "connect timeout" if isinstance(exc, httpx.ConnectTimeout) else "timeout"
        result.error = f"{kind} after {time.monotonic() - started:.1f} s"
    except httpx.ConnectError as exc:
        result.error = _connect_error(result.final_url, exc)
    except httpx.RemoteProtocolError as exc:
        result.error = f"server broke the HTTP protocol: {exc}"
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except zlib.error as exc:
        result.error = f"corrupt compressed body: {exc}"
    except (OSError, ValueError, OverflowError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        _deadline.reset(token)
    result.elapsed = time.monotonic() - started
    if result.error:
        result.body = None
    return result


def _follow(client: httpx.Client, result: FetchResult, headers: dict, limits: FetchLimits,
            allow_private: bool) -> None:
    """Request `result.url`, then each redirect target, checking every URL before it is
    requested; fill `result` from the last response."""
    target = checked_url(result.url)
    hops: list[int] = []
    while True:
        request = client.build_request("GET", target, headers=headers,
                                       extensions={ALLOW_PRIVATE: allow_private})
        try:
            response = client.send(request, stream=True)
        except BlockedAddress as exc:
            raise BlockedAddress(f"{exc} (redirected from {result.url})" if hops
                                 else str(exc)) from None
        except httpx.InvalidURL as exc:  # httpx reads a Location header before we do
            raise BadURL(f"redirect to an invalid URL: {exc}") from None
        try:
            if response.has_redirect_location:
                hops.append(response.status_code)
                if len(hops) > limits.max_redirects:
                    raise FetchError(f"more than {limits.max_redirects} redirects")
                target = checked_url(response.headers["location"], base=target)
                result.final_url = str(target)
                continue
            result.permanent_redirect = bool(hops) and all(s in (301, 308) for s in hops)
            _read_response(response, result, limits)
            return
        finally:
            response.close()


def _read_response(response: httpx.Response, result: FetchResult,
                   limits: FetchLimits) -> None:
    result.status = response.status_code
    result.headers = {k.lower(): v for k, v in response.headers.items()}
    if result.rate_limited:
        result.retry_after = parse_retry_after(response.headers.get("retry-after"))
    if 200 <= response.status_code < 300:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
            raise BodyTooLarge(
                f"body of {int(declared)} bytes exceeds the limit of {limits.max_body_bytes}")
        result.body = _read_body(response, limits.max_body_bytes, limits.timeout)
    elif response.status_code >= 400:
        result.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _decompressor(encoding: str):
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return "deflate"  # zlib-wrapped or raw: decided on the first bytes
    raise httpx.DecodingError(f"unsupported Content-Encoding {encoding!r}")


def _read_body(response: httpx.Response, cap: int, timeout: float) -> bytes:
    """Stream the body, decompressing in bounded steps so that neither the compressed nor
    the decompressed size can exceed `cap` in memory (a gzip bomb stops at the cap)."""
    decoder = _decompressor(response.headers.get("content-encoding", ""))
    out = bytearray()

    def add(data: bytes) -> None:
        out.extend(data)
        if len(out) > cap:
            raise BodyTooLarge(f"body exceeds the limit of {cap} bytes")

    for raw in response.iter_raw():
        _wait(None, httpx.ReadTimeout)  # the deadline, also between fast small chunks
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
    try:
        parsed = httpx.URL(url)
        host, netloc = parsed.host, parsed.netloc.decode("ascii", "replace")
    except (httpx.InvalidURL, ValueError):
        host = netloc = url
    text = str(exc)
    if text.startswith("cannot resolve host"):
        return text
    if "Name or service not known" in text or "nodename nor servname" in text \
            or "Temporary failure in name resolution" in text:
        return f"cannot resolve host {host} (DNS lookup failed)"
    if "Connection refused" in text:
        return f"connection refused by {netloc}"
    if "certificate" in text.lower() or "SSL" in text:
        return f"TLS error with {netloc}: {text}"
    return f"cannot connect to {netloc}: {text}"


def http_date(moment: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)
