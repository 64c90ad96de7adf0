"""End-to-end ingest: 200 loopback feeds of 50 new items each, through `monitor run`.

Starts a feed server (its own process) and a real `monitor run --no-web --workers 2`
process, and clocks from the first request to the moment every item is stored and tagged.
Samples the RSS of the service and its worker processes. Then measures the parts on their
own, on the same items: fetching all feeds, parsing them, storing the items, and analysis
with 2 worker processes (`monitor analyze`'s pool), before and after the service run — the
ceiling ingest is compared with (issue #8 target: ingest >= 90 % of it).

    .venv/bin/python bench/ingest.py [--feeds 200] [--items 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def item_texts() -> list[tuple[str, str]]:
    """(title, text) pairs of real news: factRuEval paragraphs, else our held-out items."""
    factru = sorted((ROOT.parent / "shared" / "data" / "factrueval-2016").glob("*/*.txt"))
    pairs = []
    for path in factru:
        paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n")
                      if len(p.strip()) > 200]
        for paragraph in paragraphs:
            pairs.append((paragraph.split(". ")[0][:120], paragraph[:900]))
    if not pairs:
        for line in (ROOT / "models" / "data" / "sectors.jsonl").read_text("utf-8").splitlines():
            row = json.loads(line)
            pairs.append((row["title"], row["text"]))
    return pairs


def feed_body(number: int, per_feed: int, pairs: list) -> bytes:
    items = []
    for i in range(per_feed):
        title, text = pairs[(number * per_feed + i) % len(pairs)]
        items.append(f"<item><title>{escape(title)}</title>"
                     f"<link>https://bench.example/{number}/{i}</link>"
                     f"<description>{escape(text)}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Лента {number}</title>{''.join(items)}</channel></rss>").encode()


def _serve(port_queue, per_feed: int) -> None:
    pairs = item_texts()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = feed_body(int(self.path.strip("/").split(".")[0]), per_feed, pairs)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def tree_rss_mib(pid: int, parts: dict | None = None) -> float:
    """Resident memory of a process and its children, from /proc; `parts` gets each
    process's share by its role (service, resource tracker, forkserver, worker N)."""
    roles = {pid: "service"}
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        for child in children:  # forkserver -> workers
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            roles[child] = "resource tracker" if b"resource_tracker" in command else "forkserver"
            for n, grandchild in enumerate(Path(f"/proc/{child}/task/{child}/children")
                                           .read_text().split(), start=1):
                roles[int(grandchild)] = f"worker {n}"
    except OSError:
        pass
    total = 0
    for p, role in roles.items():
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    if parts is not None:
                        parts[role] = round(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return total / 1024


def run_service(port: int, feeds: int, per_feed: int, tmp: Path) -> dict:
    import sqlite3

    import yaml

    config = tmp / "feeds.yaml"
    config.write_text(yaml.safe_dump({"feeds": [
        {"name": f"feed-{n}", "url": f"http://127.0.0.1:{port}/{n}.xml", "local": True,
         "interval": "1h"} for n in range(feeds)]}), encoding="utf-8")
    db = tmp / "ingest.db"
    expected = feeds * per_feed
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "--db",
                             str(db), "run", "--no-web", "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, stored_at, done, at_peak = 0.0, None, 0, {}
    try:
        while True:
            time.sleep(0.25)
            parts: dict = {}
            rss = tree_rss_mib(proc.pid, parts)
            if rss > peak:
                peak, at_peak = rss, parts
            if not db.exists():
                continue
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    stored, done = conn.execute(
                        "SELECT count(*), count(analysed_at) FROM items").fetchone()
            except sqlite3.OperationalError:
                continue
            if stored >= expected and stored_at is None:
                stored_at = time.perf_counter() - started
            if done >= expected:
                break
            if proc.poll() is not None:
                raise RuntimeError("monitor run exited early")
            if time.perf_counter() - started > 3600:
                raise RuntimeError(f"timed out with {done} of {expected} items analysed")
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"items": expected, "seconds": round(elapsed, 1),
            "items_per_s": round(expected / elapsed, 1),
            "all_stored_after_s": round(stored_at or elapsed, 1),
            "peak_rss_mib_service_2_workers": round(peak),
            "peak_rss_mib_by_process": at_peak}


def parts(port: int, feeds: int, per_feed: int, tmp: Path) -> dict:
    """The pipeline's parts timed on their own, on the same feeds and items (fetching runs
    in the poller's thread pool, so its figure is the wall time of the concurrent fetches,
    their parsing's share removed)."""
    from monitor import store
    from monitor.config import Config, FeedConfig
    from monitor.fetcher import make_client
    from monitor.parse import parse_feed
    from monitor.poller import fetch_feed, limits_from, record_poll

    config = Config(feeds=[FeedConfig(name=f"feed-{n}", url=f"http://127.0.0.1:{port}/{n}.xml",
                                      local=True) for n in range(feeds)])
    limits = limits_from(config)
    client = make_client(limits)
    db = store.open_db(tmp / "parts.db")
    store.sync_feeds(db, config.feeds)
    started = time.perf_counter()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(config.poll.concurrency) as pool:
        results = list(pool.map(lambda f: fetch_feed(client, f, store.feed_by_name(db, f.name),
                                                     limits), config.feeds))
    fetch_and_parse_s = time.perf_counter() - started  # fetch_feed parses too
    started = time.perf_counter()
    for result in results:
        parse_feed(result.fetch.body, result.fetch.headers, base_url=result.fetch.final_url)
    parse_s = time.perf_counter() - started
    fetch_s = max(0.0, fetch_and_parse_s - parse_s / config.poll.concurrency)
    started = time.perf_counter()
    for result in results:
        record_poll(db, result, config)
    store_s = time.perf_counter() - started
    return {"fetch_s": round(fetch_s, 2), "parse_s": round(parse_s, 2),
            "store_s": round(store_s, 2)}


def analysis_items_per_s(sample: int) -> float:
    """Items/s of 2 worker processes analysing the feeds' items (`monitor analyze`'s
    pool): the ceiling ingest is compared with."""
    from monitor.batch import _worker_init, analyse_line

    lines = [(n, json.dumps({"id": n, "title": t, "text": x}, ensure_ascii=False))
             for n, (t, x) in enumerate(item_texts()[:sample])]
    context = multiprocessing.get_context("fork")
    with context.Pool(2, initializer=_worker_init) as pool:
        list(pool.imap(analyse_line, lines[:4], chunksize=1))  # models loaded in both
        started = time.perf_counter()
        count = len(list(pool.imap(analyse_line, lines, chunksize=4)))
        return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--sample", type=int, default=600,
                        help="items for the separate 2-worker analysis measurement")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(queue, args.items), daemon=True)
    server.start()
    port = queue.get(timeout=30)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # the ceiling is measured before and after the service run and averaged: on a
            # shared machine, speed drifts over the minutes between them
            before = analysis_items_per_s(args.sample)
            service = run_service(port, args.feeds, args.items, Path(tmp))
            components = parts(port, args.feeds, args.items, Path(tmp))
            after = analysis_items_per_s(args.sample)
    finally:
        server.terminate()
    analysis = (before + after) / 2
    components.update({
        "analysis_2_workers_items_per_s": round(analysis, 1),
        "analysis_2_workers_before_after": [round(before, 1), round(after, 1)],
        "analysis_s_estimated": round(args.feeds * args.items / analysis, 1)})
    total = sum(components[k] for k in ("fetch_s", "parse_s", "store_s",
                                        "analysis_s_estimated"))
    shares = {f"share_{k.split('_')[0]}": round(components[k] / total, 3)
              for k in ("fetch_s", "parse_s", "store_s", "analysis_s_estimated")}
    ratio = service["items_per_s"] / components["analysis_2_workers_items_per_s"]
    figures = {**service, **components, **shares, "ratio_to_2_worker_analysis": round(ratio, 3),
               "cores": os.cpu_count()}
    for key, value in figures.items():
        print(f"{key:<34}{value}")
    verdict = "PASS" if ratio >= 0.9 else "FAIL"
    print(f"{verdict}: ingest at {ratio:.2f}x the 2-worker analysis throughput (target >= 0.9)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
