"""`monitor demo`: the whole service offline, on sample feeds served from 127.0.0.1.

The sample feeds in `demo_feeds/` were written by the monitor team for this purpose (one
carries the seed article, one is windows-1251, one is Atom); they are not real news.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Iterator

from .config import Config, FeedConfig

DEMO_FEEDS = [
    ("Демо: федеральное агентство", "federal.xml", ["federal"]),
    ("Демо: Приморские вести", "regional-cp1251.xml", ["regional"]),
    ("Демо: пресс-служба министерства", "ministry.atom", ["ministry"]),
]


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                      ".xml": "application/rss+xml", ".atom": "application/atom+xml"}

    def log_message(self, format, *args):  # keep the demo's output readable
        pass


def demo_feed_dir() -> Path:
    return Path(str(resources.files("monitor") / "demo_feeds"))


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve a directory over HTTP on 127.0.0.1 (a free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def demo_config(base_url: str, database: str | None = None) -> Config:
    """A config whose feeds are the bundled samples under `base_url`."""
    feeds = [FeedConfig(name=name, url=f"{base_url}/{file}", tags=tags, local=True,
                        interval=60)
             for name, file, tags in DEMO_FEEDS]
    return Config(feeds=feeds, database=database)
