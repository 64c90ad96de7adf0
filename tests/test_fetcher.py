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


def test_connection_refused_is_said_plainly(client):
    result = fetch(client, "http://127.0.0.1:9/feed")
    assert result.error == "connection refused by 127.0.0.1:9"


def test_retry_after_forms():
    assert parse_retry_after("120") == 120
    now = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    later = http_date(now + timedelta(minutes=5))
    assert parse_retry_after(later, now=now.timestamp()) == 300
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
