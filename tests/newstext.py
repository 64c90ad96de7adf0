"""Long real-looking Russian news texts for size tests: sentences of the bundled demo feeds
and the written cooperation items, shuffled into paragraphs of 3-6 sentences."""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    from monitor.demo import demo_feed_dir
    from monitor.parse import parse_feed

    texts = [item.text for path in sorted(demo_feed_dir().iterdir())
             for item in parse_feed(path.read_bytes()).items]
    for line in (ROOT / "models" / "data" / "cooperation.jsonl").read_text("utf-8").splitlines():
        texts.append(json.loads(line)["text"])
    found = {s.strip() for text in texts for s in re.split(r"(?<=[.!?])\s+", text)}
    return tuple(sorted(s for s in found if len(s) > 30))


def news_text(chars: int, seed: int = 0, *, run_on: bool = False) -> str:
    """About `chars` characters of news prose, paragraphs one per line; `run_on`: the same
    without sentence ends or line breaks (one endless sentence, as a hostile feed may send).
    Also what bench/analysis_scaling.py analyses."""
    rng, pool = random.Random(seed), sentences()
    paragraphs, size = [], 0
    while size < chars:
        paragraph = " ".join(rng.choice(pool) for _ in range(rng.randint(3, 6)))
        paragraphs.append(paragraph)
        size += len(paragraph) + 1
    text = "\n".join(paragraphs)
    if run_on:
        text = re.sub(r"[.!?…;]", "", text).replace("\n", " ")
    return text[:chars]
