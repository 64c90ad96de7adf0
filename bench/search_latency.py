"""Search latency at 200,000 and 1,000,000 items (issue #6; a benchmark, not a test).

Builds databases with the real schema (`store.open_db`) filled with synthetic items whose
words are drawn, Zipf-like, from the lemma vocabulary of real news (factRuEval-2016 if
`../shared` is beside the repo, else the project's own labelled texts), with sectors,
countries, entities and sources in realistic proportions. Then runs `search.search` — the
same function the CLI and web UI call, including item details and snippets — for two-word
queries with a sector filter and reports p50 / p95 / max.

    .venv/bin/python bench/search_latency.py                # 200k and 1M, ~15 min
    .venv/bin/python bench/search_latency.py --sizes 200000 --queries 300
    .venv/bin/python bench/search_latency.py --json          # one JSON line per size

Databases are kept in `bench/.data/` (or `--data DIR`; rebuilt only when missing or with
--rebuild). One item in ten joins the story of an item shortly before it, as near copies do.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import store  # noqa: E402
from monitor.lemmas import lemmatize  # noqa: E402
from monitor.search import SearchQuery, search  # noqa: E402

SECTORS = ["water", "energy", "waste", "transport", "urban", "digital", "finance", "trade",
           "industry", "agriculture", "health", "education", "science", "culture",
           "environment", "defense"]
COUNTRIES = ["RU", "CN", "JP", "IN", "TR", "AE", "BY", "KZ", "UZ", "IR", "EG", "BR", "ZA",
             "VN", "DE", "FR", "US", "KR", "SA", "AM"]
WORDS_PER_TITLE = (6, 12)
WORDS_PER_TEXT = (60, 140)  # an RSS description or lead: ~450-1,000 characters


def vocabulary() -> list[tuple[str, int]]:
    """(lemma, count) from real news, most frequent first."""
    texts: list[str] = []
    factru = ROOT.parent / "shared" / "data" / "factrueval-2016"
    for path in sorted(factru.glob("*/*.txt")):
        texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for path in sorted((ROOT / "models" / "data").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts.append(record.get("title", "") + " " + record.get("text", ""))
    counts = Counter(lemma for text in texts for lemma in lemmatize(text).split())
    return counts.most_common()


def build(path: Path, size: int, vocab: list[tuple[str, int]], seed: int = 1) -> float:
    """Write `size` items into a fresh database at `path`; return seconds taken."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    db = store.open_db(path)
    conn = db.conn
    conn.execute("PRAGMA synchronous=OFF")
    rng = random.Random(seed)
    words = [w for w, _ in vocab]
    cumulative = list(itertools.accumulate(c for _, c in vocab))
    total_weight = cumulative[-1]

    def sample(k: int) -> list[str]:
        return [words[bisect.bisect_left(cumulative, rng.random() * total_weight)]
                for _ in range(k)]

    conn.execute("BEGIN")
    for n in range(40):
        conn.execute("INSERT INTO feeds (id, name, url, config_url) VALUES (?, ?, ?, ?)",
                     [n + 1, f"feed-{n + 1}", f"https://example.org/{n}.rss",
                      f"https://example.org/{n}.rss"])
    entity_names = [" ".join(sample(2)).title() + f" {n}" for n in range(5000)]
    for n, name in enumerate(entity_names):
        conn.execute("INSERT INTO entities (id, type, normal) VALUES (?, ?, ?)",
                     [n + 1, ("PER", "LOC", "ORG")[n % 3], name])
    conn.execute("COMMIT")
    batch = 5000
    story_of = [0] * (size + 1)
    for start in range(0, size, batch):
        items, fts, sources, sectors, countries, entities = [], [], [], [], [], []
        for item_id in range(start + 1, min(size, start + batch) + 1):
            title = " ".join(sample(rng.randint(*WORDS_PER_TITLE)))
            text = " ".join(sample(rng.randint(*WORDS_PER_TEXT)))
            day = 1 + (item_id * 2000) // size  # ~5.5 years, in order of arrival
            published = time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                      time.gmtime(1_600_000_000 + day * 86400 + item_id % 86400))
            cooperation = rng.random() < 0.35
            # one item in ten is a near copy of one of the 50 before it (monitor.stories)
            story_of[item_id] = story_of[max(1, item_id - rng.randint(1, 50))] \
                if item_id > 1 and rng.random() < 0.1 else item_id
            items.append([item_id, f"https://example.org/a/{item_id}", title, text, published,
                          published, str(item_id), published, int(cooperation),
                          rng.random() if cooperation else 0.1,
                          "international" if rng.random() < 0.6 else "domestic",
                          story_of[item_id]])
            fts.append([item_id, title, text])  # synthetic words are already lemmas
            for feed in rng.sample(range(1, 41), 1 if rng.random() < 0.8 else 3):
                sources.append([item_id, feed, published])
            if cooperation:
                for sector in rng.sample(SECTORS, rng.choice((1, 1, 2, 2, 3))):
                    sectors.append([item_id, sector, rng.random()])
                for country in rng.sample(COUNTRIES, 2):
                    countries.append([item_id, country])
            for entity in rng.sample(range(1, 5001), 3):
                entities.append([item_id, entity, "x", 0, 1])
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO items (id, url, title, text, published, first_seen, content_hash, "
            "analysed_at, is_cooperation, cooperation_score, scope, story_id, key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [r + [r[1]] for r in items])
        conn.executemany("INSERT INTO items_fts (rowid, title, text) VALUES (?, ?, ?)", fts)
        conn.executemany("INSERT INTO item_sources (item_id, feed_id, first_seen) "
                         "VALUES (?, ?, ?)", sources)
        conn.executemany("INSERT INTO item_sectors (item_id, sector, score) VALUES (?, ?, ?)",
                         sectors)
        conn.executemany("INSERT INTO item_countries (item_id, country) VALUES (?, ?)",
                         countries)
        conn.executemany("INSERT INTO item_entities (item_id, entity_id, text, start, stop) "
                         "VALUES (?, ?, ?, ?, ?)", entities)
        conn.execute("COMMIT")
        print(f"\r  {min(size, start + batch):,} / {size:,} items", end="", file=sys.stderr)
    print(file=sys.stderr)
    conn.execute("INSERT INTO items_fts(items_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def queries(vocab: list[tuple[str, int]], count: int, seed: int = 2,
            band: tuple[int, int] = (30, 1000)) -> list[SearchQuery]:
    """Two content words each from the frequency ranks in `band` (by default skipping the
    30 most frequent, mostly function words), a sector filter each."""
    from monitor.query import STOP_WORDS  # not searched (#18): a query of them is an error

    rng = random.Random(seed)
    content = [w for w, c in vocab[band[0]:band[1]]
               if len(w) > 3 and w.isalpha() and w not in STOP_WORDS]
    return [SearchQuery(text=" ".join(rng.sample(content, 2)), sectors=[rng.choice(SECTORS)],
                        limit=20) for _ in range(count)]


def measure(path: Path, qs: list[SearchQuery]) -> dict:
    db = store.open_db(path)
    for q in qs[:20]:  # warm the page cache and the lemmatiser
        search(db, q)
    timings, hits = [], []
    for q in qs:
        started = time.perf_counter()
        result = search(db, q)
        timings.append((time.perf_counter() - started) * 1000)
        hits.append(result.total)
    timings.sort()
    return {
        "queries": len(qs),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 1),
        "max_ms": round(timings[-1], 1),
        "median_hits": statistics.median(hits),
        "max_hits": max(hits),
    }


def ensure_db(size: int, data: Path, vocab: list[tuple[str, int]],
              rebuild: bool = False) -> tuple[Path, float | None]:
    """The database of `size` items under `data`, built when missing (or `rebuild`);
    returns its path and the seconds the build took (None when it was already there)."""
    data.mkdir(parents=True, exist_ok=True)
    path = data / f"search-{size}.db"
    if not rebuild and path.exists():
        return path, None
    print(f"building {path} ({len(vocab):,} lemmas of vocabulary)", file=sys.stderr)
    partial = path.with_suffix(".partial")
    seconds = round(build(partial, size, vocab), 1)
    partial.rename(path)  # only a finished build counts
    return path, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON line per size")
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / ".data",
                        help="where the databases are kept (default: bench/.data)")
    args = parser.parse_args()
    vocab = vocabulary()
    qs = queries(vocab, args.queries)
    targets = {200_000: 50, 1_000_000: 150}
    for size in (int(s) for s in args.sizes.split(",")):
        path, build_seconds = ensure_db(size, args.data, vocab, args.rebuild)
        frequent = measure(path, queries(vocab, 100, band=(0, 80)))
        result = {"items": size, **measure(path, qs), "target_p95_ms": targets.get(size),
                  "frequent_words_p95_ms": frequent["p95_ms"],
                  "frequent_words_median_hits": frequent["median_hits"],
                  "db_mib": round(path.stat().st_size / 2**20), "build_s": build_seconds}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{size:>9,} items: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
                  f"max {result['max_ms']} ms over {result['queries']} two-word queries with a "
                  f"sector filter (target p95 < {result['target_p95_ms']} ms); "
                  f"median {result['median_hits']} hits; database {result['db_mib']} MiB; "
                  f"worst case, the most frequent words: p95 {result['frequent_words_p95_ms']} ms, "
                  f"median {result['frequent_words_median_hits']} hits")


if __name__ == "__main__":
    main()
