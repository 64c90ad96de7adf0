"""A real HTTP(S) server on a loopback address (127.0.0.1 unless told) whose routes tests
script: status, headers, body, or a handler function for misbehaviour (stalls, redirects,
drips). Records every request."""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    handler: Callable | None = None  # handler(request_handler) does everything itself


@dataclass
class Request:
    path: str
    headers: dict


class FeedServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.host, self.scheme = host, "https" if tls else "http"
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.requests.append(Request(self.path, {k.lower(): v for k, v in
                                                           self.headers.items()}))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.handler:
                    route.handler(self)
                    return
                self.send_response(route.status)
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args):
                pass

        class QuietServer(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

            def handle_error(self, request, client_address):
                pass  # clients that hang up on purpose (size caps, timeouts) are expected

        self.httpd = QuietServer((host, port), Handler)
        if tls:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, body: bytes | str = b"", status: int = 200,
            headers: dict | None = None, handler: Callable | None = None) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.routes[path] = Route(body=body, status=status, headers=dict(headers or {}),
                                  handler=handler)
        return self.url(path)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def rss(items: list[dict], *, encoding: str = "utf-8", title: str = "Тестовая лента",
        extra_ns: str = "") -> bytes:
    """An RSS 2.0 document from dicts with title, link, guid, description, pubDate..."""
    from xml.sax.saxutils import escape

    parts = [f'<?xml version="1.0" encoding="{encoding}"?>',
             f'<rss version="2.0"{extra_ns}><channel><title>{escape(title)}</title>'
             "<link>http://example.invalid/</link><description>t</description>"]
    for item in items:
        parts.append("<item>")
        for key, value in item.items():
            parts.append(f"<{key}>{escape(str(value))}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode(encoding)
