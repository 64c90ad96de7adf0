"""The HTTP client against a real server on 127.0.0.1."""

import gzip
import time
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from monitor import __version__
from monitor.fetcher import FetchLimits, fetch, http_date, make_client, parse_retry_after


@pytest.fixture
def client():
    with make_client() as c:
        yield c


def test_user_agent_names_the_service_and_version(feed_server, client):
    url = feed_server.add("/f", b"<rss/>")
    fetch(client, url)
    agent = feed_server.requests_to("/f")[0].headers["user-agent"]
    assert agent.startswith(f"monitor/{__version__}")


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
])
def test_compressed_bodies_are_decoded(feed_server, client, encoding, compress):
    body = ("<rss>" + "Новости " * 1000 + "</rss>").encode()
    url = feed_server.add("/z", compress(body), headers={"Content-Encoding": encoding})
    result = fetch(client, url)
    assert result.ok and result.body == body


def test_oversized_body_is_refused(feed_server, client):
    url = feed_server.add("/big", b"x" * (3 * 1024 * 1024))
    result = fetch(client, url, limits=FetchLimits(max_body_bytes=1024 * 1024))
    assert not result.ok and result.body is None
    assert "exceeds the limit of 1048576" in result.error


def test_oversized_body_without_content_length_is_cut_while_streaming(feed_server, client):
    def chunked(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"y" * 65536
        try:
            for _ in range(64):  # 4 MiB in all
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    url = feed_server.add("/stream", handler=chunked)
    result = fetch(client, url, limits=FetchLimits(max_body_bytes=1024 * 1024))
    assert result.body is None and "exceeds the limit" in result.error


def test_gzip_bomb_stops_at_the_cap(feed_server, client):
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024))  # 200 MiB of zeros, ~200 KB on the wire
    assert len(bomb) < 1024 * 1024
    url = feed_server.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    result = fetch(client, url, limits=FetchLimits(max_body_bytes=2 * 1024 * 1024))
    assert result.body is None and "exceeds the limit of 2097152" in result.error


def test_stalled_server_times_out(feed_server, client):
    def stall(handler):
        time.sleep(3)

    url = feed_server.add("/stall", handler=stall)
    limits = FetchLimits(timeout=0.5, connect_timeout=0.5)
    with make_client(limits) as quick:
        result = fetch(quick, url, limits=limits)
    assert result.status == 0 and "timeout" in result.error
    assert result.elapsed < 2.5


def test_dripping_server_hits_the_total_deadline(feed_server):
    def drip(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"<")
                handler.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    url = feed_server.add("/drip", handler=drip)
    limits = FetchLimits(timeout=1.0)
    with make_client(limits) as quick:
        result = fetch(quick, url, limits=limits)
    assert "timeout" in result.error and result.elapsed < 3


def test_conditional_headers_are_sent(feed_server, client):
    url = feed_server.add("/c", status=304)
    result = fetch(client, url, etag='"abc"', last_modified="Tue, 24 Nov 2026 08:00:00 GMT")
    headers = feed_server.requests_to("/c")[0].headers
    assert headers["if-none-match"] == '"abc"'
    assert headers["if-modified-since"] == "Tue, 24 Nov 2026 08:00:00 GMT"
    assert result.not_modified and result.body is None and result.error is None


@pytest.mark.parametrize("status,permanent", [(301, True), (308, True), (302, False),
                                              (307, False)])
def test_redirects_are_followed_and_classified(feed_server, client, status, permanent):
    target = feed_server.add("/new", b"<rss/>")
    old = feed_server.add("/old", status=status, headers={"Location": target})
    result = fetch(client, old)
    assert result.ok and result.final_url == target
    assert result.permanent_redirect is permanent


def test_redirect_loop_is_an_error(feed_server, client):
    feed_server.add("/a", status=302, headers={"Location": feed_server.url("/b")})
    feed_server.add("/b", status=302, headers={"Location": feed_server.url("/a")})
    assert "redirects" in fetch(client, feed_server.url("/a")).error


def test_private_addresses_are_refused_unless_allowed(feed_server, client):
    url = feed_server.add("/page", b"<html/>")
    refused = fetch(client, url, allow_private=False)
    assert "private or loopback" in refused.error and not feed_server.requests_to("/page")
    assert fetch(client, url, allow_private=True).ok


@pytest.mark.parametrize("location,reason", [
    ("http://::1:80/x", "invalid url"), ("javascript:alert(1)", "redirect to an invalid url"),
    ("file:///etc/passwd", "only http and https"), ("http://x.ru:70000/", "out of range"),
])
def test_redirect_to_an_unusable_url_is_an_error(feed_server, client, location, reason):
    url = feed_server.add("/r", status=302, headers={"Location": location})
    result = fetch(client, url)
    assert result.body is None and reason in result.error.lower()


def test_a_guarded_fetch_needs_a_guarded_client(feed_server):
    import httpx

    with httpx.Client() as plain, pytest.raises(TypeError):
        fetch(plain, feed_server.add("/f", b"<rss/>"), allow_private=False)
    assert feed_server.requests == []


def test_connection_refused_is_said_plainly(client):
    result = fetch(client, "http://127.0.0.1:9/feed")
    assert result.error == "connection refused by 127.0.0.1:9"


def test_retry_after_forms():
    assert parse_retry_after("120") == 120
    now = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    later = http_date(now + timedelta(minutes=5))
    assert parse_retry_after(later, now=now.timestamp()) == 300
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("99999999999999") == 7 * 24 * 3600  # capped: no overflow
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=now.timestamp()) \
        == 7 * 24 * 3600
    assert parse_retry_after(None) is None


# --- the address guard: every hop, and the address actually connected to ---------------
#
# Tests stay on loopback: 127.0.0.2 plays a public web site (the injected policy allows
# exactly that address), 127.0.0.1 plays the internal network the guard must protect, and
# an injected resolver plays DNS for made-up host names.

PUBLIC = "127.0.0.2"


def only_public(address) -> bool:
    return str(address) == PUBLIC


class FakeDNS:
    """A resolver answering from a table (a list of answers: one per call, the last one
    kept); IP literals stand for themselves, other names do not exist."""

    def __init__(self, table: dict):
        self.table, self.calls = table, []

    def __call__(self, host: str, port: int) -> list[str]:
        import ipaddress
        import socket

        if host not in self.table:
            try:
                return [str(ipaddress.ip_address(host))]
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        self.calls.append(host)
        answer = self.table[host]
        if answer and isinstance(answer[0], list):  # successive answers: a rebinding DNS
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer


@pytest.fixture
def public_server():
    from feedserver import FeedServer

    server = FeedServer(PUBLIC)
    yield server
    server.close()


def guarded_client(resolver=None, limits=None):
    return make_client(limits, resolver=resolver, policy=only_public)


def test_redirect_to_a_private_address_is_refused_before_it_is_requested(public_server,
                                                                         feed_server):
    secret = feed_server.add("/secret", b"internal")
    start = public_server.add("/go", status=302, headers={"Location": secret})
    with guarded_client() as client:
        result = fetch(client, start, allow_private=False)
    assert result.body is None and "private or loopback" in result.error
    assert "redirected from" in result.error
    assert feed_server.requests == []  # the internal server saw nothing at all


def test_public_private_public_chain_is_refused(public_server, feed_server):
    end = public_server.add("/end", b"<rss/>")
    middle = feed_server.add("/middle", status=302, headers={"Location": end})
    start = public_server.add("/start", status=301, headers={"Location": middle})
    with guarded_client() as client:
        result = fetch(client, start, allow_private=False)
    assert "private or loopback" in result.error
    assert feed_server.requests == [] and not public_server.requests_to("/end")


def test_redirect_to_a_name_that_resolves_privately_is_refused(public_server, feed_server):
    feed_server.add("/admin", b"internal")
    start = public_server.add("/go", status=307, headers={
        "Location": f"http://intranet.test:{feed_server.port}/admin"})
    dns = FakeDNS({"intranet.test": ["127.0.0.1"]})
    with guarded_client(dns) as client:
        result = fetch(client, start, allow_private=False)
    assert "intranet.test (127.0.0.1) is a private or loopback address" in result.error
    assert feed_server.requests == []


def test_public_redirects_are_still_followed(public_server):
    end = public_server.add("/end", b"<rss/>")
    start = public_server.add("/start", status=308, headers={"Location": "/end"})
    with guarded_client() as client:
        result = fetch(client, start, allow_private=False)
    assert result.ok and result.final_url == end and result.permanent_redirect


def same_port_servers():
    """A 'public' and a 'private' server on one port, as one host name would reach them
    before and after a DNS answer changes."""
    from feedserver import FeedServer

    for _ in range(20):
        public = FeedServer(PUBLIC)
        try:
            return public, FeedServer("127.0.0.1", port=public.port)
        except OSError:  # that port is taken on 127.0.0.1: try another
            public.close()
    pytest.skip("no port free on both loopback addresses")


def test_dns_rebinding_cannot_reach_the_private_address():
    public, private = same_port_servers()
    try:
        public.add("/page", b"public page")
        private.add("/page", b"internal page")
        url = f"http://news.test:{public.port}/page"
        # Public when checked, private when asked again: a rebinding DNS server.
        dns = FakeDNS({"news.test": [[PUBLIC], ["127.0.0.1"]]})
        with guarded_client(dns) as client:
            first = fetch(client, url, allow_private=False)
        assert first.ok and first.body == b"public page"
        assert dns.calls == ["news.test"]  # resolved once, connected to what was checked
        assert public.requests_to("/page")[0].headers["host"] == f"news.test:{public.port}"
        with guarded_client(dns) as client:  # a new connection gets the private answer
            second = fetch(client, url, allow_private=False)
        assert second.body is None and "news.test (127.0.0.1)" in second.error
        assert private.requests == []
    finally:
        public.close()
        private.close()


def test_one_private_address_among_public_ones_refuses_the_host(public_server, feed_server):
    public_server.add("/page", b"public page")
    dns = FakeDNS({"mixed.test": [PUBLIC, "127.0.0.1"]})
    with guarded_client(dns) as client:
        result = fetch(client, f"http://mixed.test:{public_server.port}/page",
                       allow_private=False)
    assert "private or loopback" in result.error and public_server.requests == []


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]",
                                  "localhost", "[::1]", "0.0.0.0"])
def test_disguised_loopback_addresses_are_refused(feed_server, client, host):
    feed_server.add("/page", b"internal")
    result = fetch(client, f"http://{host}:{feed_server.port}/page", allow_private=False)
    assert "private or loopback" in result.error and feed_server.requests == []


@pytest.mark.parametrize("address,public", [
    ("93.184.216.34", True), ("2a00:1450:4010:c05::65", True),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("100.64.0.1", False), ("169.254.169.254", False), ("127.0.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("255.255.255.255", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:10.0.0.1", False),
    ("2001:db8::1", False), ("ff02::1", False),
])
def test_public_address_policy(address, public):
    import ipaddress

    from monitor.fetcher import is_public_ip

    assert is_public_ip(ipaddress.ip_address(address)) is public


def _tls_context(tmp_path, name: str):
    """A server context with a self-signed certificate for `name`, and a client context
    that trusts it."""
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    return server, ssl.create_default_context(cafile=str(cert_path))


def test_https_to_the_checked_address_verifies_the_host_name(tmp_path):
    from feedserver import FeedServer

    server_tls, client_tls = _tls_context(tmp_path, "news.test")
    server = FeedServer(PUBLIC, tls=server_tls)
    try:
        server.add("/feed", b"<rss/>")
        dns = FakeDNS({"news.test": [PUBLIC], "other.test": [PUBLIC]})
        with make_client(resolver=dns, policy=only_public, verify=client_tls) as client:
            good = fetch(client, f"https://news.test:{server.port}/feed", allow_private=False)
            wrong = fetch(client, f"https://other.test:{server.port}/feed",
                          allow_private=False)
        assert good.ok and good.body == b"<rss/>"  # SNI and certificate check by name
        assert server.requests[0].headers["host"] == f"news.test:{server.port}"
        assert good.body is not None and "TLS error with other.test" in wrong.error
        assert len(server.requests) == 1
    finally:
        server.close()


# --- one deadline for the whole fetch, headers included -----------------------------------

@pytest.fixture
def dripper():
    """dripper(data) -> the address of a raw TCP server on 127.0.0.1 that answers each
    connection with `data` one byte every 0.5 s (at most 40 bytes, then it hangs up)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    threads = []

    def serve(data: bytes):
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                for byte in data[:40]:
                    if stop.wait(0.5):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:  # the client gave up, as it should
                        break

    def start(data: bytes) -> str:
        threads.append(threading.Thread(target=serve, args=(data,), daemon=True))
        threads[-1].start()
        return f"127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)
    listener.close()


@pytest.mark.parametrize("allow_private", [True, False])
def test_dripped_status_line_and_headers_hit_the_total_deadline(dripper, allow_private):
    address = dripper(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n<rss/>")
    limits = FetchLimits(timeout=2.0, connect_timeout=1.0)
    started = time.monotonic()
    with make_client(limits, policy=lambda address: True) as quick:
        result = fetch(quick, f"http://{address}/feed", limits=limits,
                       allow_private=allow_private)
    assert result.status == 0 and result.error.startswith("timeout after 2.")
    assert time.monotonic() - started < 4  # 40 dripped bytes would take 20 s


def test_dripped_tls_handshake_hits_the_total_deadline(dripper):
    address = dripper(b"\x16\x03\x03\x00\x40" + b"\x02" * 64)  # a ServerHello, slowly
    limits = FetchLimits(timeout=2.0, connect_timeout=10.0)
    started = time.monotonic()
    with make_client(limits) as quick:
        result = fetch(quick, f"https://{address}/feed", limits=limits)
    assert result.status == 0 and "timeout after 2." in result.error
    assert time.monotonic() - started < 4
