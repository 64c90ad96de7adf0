"""Benchmark: one poll cycle over N loopback feeds that all answer 304 Not Modified.

Target (issue #3): 1,000 feeds in under 10 s on 2 cores. The feed server runs in its own
process so it does not share the poller's interpreter lock.

    .venv/bin/python bench/poll_cycle.py [--feeds 1000] [--cycles 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _serve(port_queue, items_per_feed: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            number = self.path.strip("/").split(".")[0]
            etag = f'"v-{number}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            items = "".join(
                f"<item><title>Новость {number}-{i}</title>"
                f"<link>https://bench.example/{number}/{i}</link>"
                f"<description>Текст новости {number}-{i}.</description></item>"
                for i in range(items_per_feed))
            body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                    f"<title>Лента {number}</title>{items}</channel></rss>").encode()
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--items", type=int, default=5, help="items per feed on the first poll")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from monitor import store
    from monitor.config import Config, FeedConfig, PollConfig
    from monitor.poller import poll_feeds

    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(queue, args.items), daemon=True)
    server.start()
    port = queue.get(timeout=10)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = store.open_db(Path(tmp) / "bench.db")
            config = Config(poll=PollConfig(), feeds=[
                FeedConfig(name=f"feed-{n}", url=f"http://127.0.0.1:{port}/{n}.xml", local=True)
                for n in range(args.feeds)])
            store.sync_feeds(db, config.feeds)

            started = time.perf_counter()
            first = poll_feeds(db, config, config.feeds)
            first_seconds = time.perf_counter() - started
            assert all(s.status == "ok" for s in first), "first cycle had failures"

            cycles = []
            for _ in range(args.cycles):
                started = time.perf_counter()
                summaries = poll_feeds(db, config, config.feeds)
                cycles.append(time.perf_counter() - started)
                statuses = {s.status for s in summaries}
                assert statuses == {"not_modified"}, f"expected only 304s, got {statuses}"
            items = store.count_items(db)
    finally:
        server.terminate()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "feeds": args.feeds,
        "first_cycle_s": round(first_seconds, 2),
        "items_stored": items,
        "cycle_304_median_s": round(statistics.median(cycles), 2),
        "cycle_304_best_s": round(min(cycles), 2),
        "feeds_per_s_304": round(args.feeds / statistics.median(cycles)),
        "peak_rss_mib": round(peak_mib, 1),
        "concurrency": PollConfig().concurrency,
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    target = 10.0
    verdict = "PASS" if statistics.median(cycles) < target else "FAIL"
    print(f"{verdict}: {args.feeds} unchanged feeds in {statistics.median(cycles):.2f} s "
          f"(target < {target:g} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
