"""Sector classification speed given lemmas (issue #5: >= 1,000 items/s on one core).

Lemmatises real texts first (factRuEval-2016 if ../shared is beside the repo, else the
held-out split of models/data/sectors.jsonl), then times `SectorModel.classify` alone,
terms included, in one process.

    .venv/bin/python bench/sector_speed.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.sectors import load_model, sector_lemmas  # noqa: E402


def texts() -> tuple[list[str], str]:
    factru = sorted((ROOT.parent / "shared" / "data" / "factrueval-2016").glob("*/*.txt"))
    if factru:
        return [p.read_text(encoding="utf-8") for p in factru], "factRuEval-2016 dev"
    rows = [json.loads(line) for line in
            (ROOT / "models" / "data" / "sectors.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["title"] + "\n" + r["text"] for r in rows if r["split"] == "heldout"], \
        "held-out written items"


def main() -> None:
    raw, source = texts()
    lemmas = [sector_lemmas("", text) for text in raw]
    model = load_model()
    model.classify(lemmas[:10])  # warm the per-word caches a running service would have
    repeats, best = max(1, 2000 // len(lemmas)), float("inf")
    batch = lemmas * repeats
    for _ in range(3):
        started = time.perf_counter()
        model.classify(batch)
        best = min(best, time.perf_counter() - started)
    chars = sum(map(len, raw)) / len(raw)
    print(json.dumps({"items_per_s": round(len(batch) / best), "items": len(batch),
                      "mean_chars": round(chars), "source": source,
                      "model": model.version}))


if __name__ == "__main__":
    main()
