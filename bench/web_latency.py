"""Web search latency through HTTP at 200,000 and 1,000,000 items (issue #18; a benchmark,
not a test).

Starts a real `monitor serve` process on 127.0.0.1 over the databases of
`bench/search_latency.py` (built there when missing) and times what a user waits for:

- the search page (`/?q=…&sector=…`: facets, total and the first page of stories) for
  two-word queries with a sector filter (targets: p95 < 300 ms at 200k, < 800 ms at 1M);
- the search page for the most frequent words that are searched (stop words are not):
  target < 2 s at 1M for the most frequent one; then the same page again and the next page
  (the server keeps a read-only connection's answers while the database is unchanged);
- a 10,000-row CSV export (`/search.csv?…&limit=10000`): time to its first byte (target
  < 1 s) and to its last.

    .venv/bin/python bench/web_latency.py --sizes 200000            # ~2 min once built
    .venv/bin/python bench/web_latency.py --sizes 200000,1000000   # databases kept in bench/.data/
    .venv/bin/python bench/web_latency.py --json                      # one JSON line per size

Each request is timed from sending to the last byte read (httpx, one connection kept
alive), after a warm-up; the server's time zone is the default (Europe/Moscow).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import search_latency  # noqa: E402

from monitor.query import STOP_WORDS  # noqa: E402

TARGETS = {200_000: {"p95_ms": 300}, 1_000_000: {"p95_ms": 800, "frequent_ms": 2000}}
CSV_ROWS = 10_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`monitor serve` over a database, as a subprocess (it migrates the schema first)."""

    def __init__(self, db: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--db", str(db), "serve",
             "--port", str(self.port)],
            cwd=str(db.parent), env=dict(os.environ, PYTHONPATH=str(ROOT)),  # no feeds.yaml
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 600  # a first start migrates a big database
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("monitor serve exited: " + (self.proc.stdout.read() or ""))
            try:
                httpx.get(self.base + "/-/versions.json", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.close()
        raise SystemExit("monitor serve did not answer")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def timed_get(client: httpx.Client, url: str, params: dict) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(url, params=params)
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} {params}: HTTP {response.status_code}: {response.text[:300]}")
    return elapsed, response


def percentiles(timings: list[float]) -> dict:
    timings = sorted(timings)
    return {"p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 1),
            "max_ms": round(timings[-1], 1)}


def content_words(vocab: list[tuple[str, int]]) -> list[str]:
    """The vocabulary's words that a query searches, most frequent first."""
    return [w for w, _ in vocab if w not in STOP_WORDS and len(w) > 1 and w.isalpha()]


def stories(client: httpx.Client, base: str, word: str) -> int:
    return client.get(base + "/search.json", params={"q": word, "limit": 1}).json()["total"]


def csv_word(client: httpx.Client, base: str, words: list[str]) -> str:
    """A word with at least CSV_ROWS stories but as few as can be found among the
    frequent words (so the export is about CSV_ROWS rows of one real query)."""
    best = None
    for word in words[:400:5]:
        total = stories(client, base, word)
        if total >= CSV_ROWS and (best is None or total < best[1]):
            best = (word, total)
    if best is None:
        raise SystemExit(f"no word with {CSV_ROWS} stories")
    return best[0]


def csv_export(client: httpx.Client, base: str, word: str) -> dict:
    params = {"q": word, "limit": CSV_ROWS}
    started = time.perf_counter()
    first = None
    rows = 0
    with client.stream("GET", base + "/search.csv", params=params) as response:
        for chunk in response.iter_bytes():
            if first is None and chunk:
                first = (time.perf_counter() - started) * 1000
            rows += chunk.count(b"\n")
    total = (time.perf_counter() - started) * 1000
    return {"word": word, "first_byte_ms": round(first or total, 1),
            "last_byte_ms": round(total, 1), "lines": rows}


def measure(db: Path, vocab: list[tuple[str, int]], queries: int, frequent: int) -> dict:
    server = Server(db)
    try:
        client = httpx.Client(timeout=120)
        qs = search_latency.queries(vocab, queries)
        # warm the page cache, the lemmatiser and the templates with other queries (the
        # server keeps its answers: a query asked again would be answered from them)
        for q in search_latency.queries(vocab, 10, seed=99):
            timed_get(client, server.base + "/", {"q": q.text, "sector": q.sectors[0]})
        timings, hits = [], []
        for q in qs:
            elapsed, response = timed_get(client, server.base + "/",
                                          {"q": q.text, "sector": q.sectors[0]})
            timings.append(elapsed)
        for q in qs[:50]:
            hits.append(client.get(server.base + "/search.json", params={
                "q": q.text, "sector": q.sectors[0], "limit": 1}).json()["total"])
        words = content_words(vocab)
        frequent_rows = []
        for word in words[:frequent]:
            # the first time counted; then the same page again and the next page, answered
            # from what the server kept
            cold = timed_get(client, server.base + "/", {"q": word})[0]
            again = timed_get(client, server.base + "/", {"q": word})[0]
            page2 = timed_get(client, server.base + "/", {"q": word, "offset": 20})[0]
            frequent_rows.append({"word": word, "stories": stories(client, server.base, word),
                                  "cold_ms": round(cold, 1), "again_ms": round(again, 1),
                                  "next_page_ms": round(page2, 1)})
        browse = [timed_get(client, server.base + "/", {})[0] for _ in range(2)]
        export = csv_export(client, server.base, csv_word(client, server.base, words))
        export_again = csv_export(client, server.base, export["word"])
        return {"queries": len(qs), **percentiles(timings),
                "median_stories": statistics.median(hits),
                "frequent": frequent_rows,
                "most_frequent_ms": frequent_rows[0]["cold_ms"] if frequent_rows else None,
                "home_page_ms": round(browse[0], 1), "home_page_again_ms": round(browse[1], 1),
                "csv": min(export, export_again, key=lambda e: e["first_byte_ms"])}
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--frequent", type=int, default=5,
                        help="how many of the most frequent words to time (3 runs each)")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data",
                        help="where search_latency.py's databases are kept")
    parser.add_argument("--json", action="store_true", help="one JSON line per size")
    args = parser.parse_args()
    vocab = search_latency.vocabulary()
    for size in (int(s) for s in args.sizes.split(",")):
        path, _ = search_latency.ensure_db(size, args.data, vocab)
        result = {"items": size, **measure(path, vocab, args.queries, args.frequent),
                  "targets": TARGETS.get(size), "load_average": os.getloadavg()[0]}
        if args.json:
            print(json.dumps(result, ensure_ascii=False), flush=True)
            continue
        csv_result = result["csv"]
        print(f"{size:>9,} items: search page p50 {result['p50_ms']} ms, p95 "
              f"{result['p95_ms']} ms, max {result['max_ms']} ms over {result['queries']} "
              f"two-word queries with a sector filter (median {result['median_stories']} "
              f"stories); most frequent words: "
              + ", ".join(f"{r['word']} {r['cold_ms']} ms ({r['stories']:,} stories; again "
                          f"{r['again_ms']} ms, next page {r['next_page_ms']} ms)"
                          for r in result["frequent"])
              + f"; home page {result['home_page_ms']} ms (again "
              f"{result['home_page_again_ms']} ms); CSV of {CSV_ROWS:,} rows "
              f"({csv_result['word']}): first byte {csv_result['first_byte_ms']} ms, last "
              f"{csv_result['last_byte_ms']} ms; load average {result['load_average']:.1f}",
              flush=True)


if __name__ == "__main__":
    main()
