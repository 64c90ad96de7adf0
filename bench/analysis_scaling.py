"""Benchmark: analysis time per character as texts grow, up to the cap and past it.

Texts of 1k, 5k, 20k, 50k and 100k characters, and 1M and 10M (cut to
monitor.limits.MAX_ANALYSIS_CHARS before analysis, as every caller does), are built from
real Russian news sentences (the bundled demo feeds and the written cooperation items,
shuffled into paragraphs). Each size runs in a fresh process, which reports the seconds per
1,000 characters of the original and of the analysed text and its peak RSS. Flat seconds
per 1,000 analysed characters up to the cap means analysis is linear there.

A second shape, "run-on", is the same text without sentence punctuation: one sentence of
the whole text, which no news article is but a hostile feed can be. It shows what grows
worse than linearly, and `--profile` names the functions (cProfile, two sizes compared).

    .venv/bin/python bench/analysis_scaling.py [--shapes news,run-on] [--json out.json]
    .venv/bin/python bench/analysis_scaling.py --profile run-on --sizes 20000,50000
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # newstext: the texts the size tests use

SIZES = [1_000, 5_000, 20_000, 50_000, 100_000, 1_000_000, 10_000_000]
RUN_ON_SIZES = [1_000, 5_000, 20_000, 50_000, 100_000]


def build(chars: int, shape: str = "news", seed: int = 0) -> str:
    """`chars` characters of news prose (`tests/newstext.py`, which the size tests use too),
    one paragraph of 3-6 sentences per line; "run-on": without sentence ends or breaks."""
    from newstext import news_text

    return news_text(chars, seed, run_on=shape == "run-on")


def measure_one(chars: int, shape: str, min_seconds: float = 3.0) -> dict:
    """Time `analyse` on one text the way the service calls it (cut first), repeated until
    `min_seconds` have passed; the median round."""
    from monitor.analysis import analyse
    from monitor.limits import cut_title_and_text

    original = build(chars, shape)
    analyse("Заголовок", build(2_000))  # models loaded, caches warm
    rounds = []
    while sum(rounds) < min_seconds or len(rounds) < 3:
        started = time.perf_counter()
        title, text, cut = cut_title_and_text("Заголовок", original)
        analyse(title, text)
        rounds.append(time.perf_counter() - started)
        if len(rounds) >= 50 or (rounds[0] > 20):
            break
    seconds = sorted(rounds)[len(rounds) // 2]
    return {"shape": shape, "chars": chars, "analysed_chars": len(text), "cut": cut,
            "rounds": len(rounds), "seconds": round(seconds, 4),
            "s_per_1k_chars": round(seconds / chars * 1000, 5),
            "s_per_1k_analysed": round(seconds / max(len(text), 1) * 1000, 5),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def _short(path: str) -> str:
    """A profiled file as package/module.py (site-packages and the repository dropped)."""
    parts = Path(path).parts
    return "/".join(parts[-3:]) if "site-packages" in parts else "/".join(parts[-2:])


def profile(shape: str, sizes: list[int], top: int = 12) -> None:
    """cProfile analyse() at two sizes; print the functions whose own time grew most
    faster than the text (ratio of growth to the size ratio)."""
    from monitor.analysis import analyse

    analyse("Заголовок", build(2_000))
    stats = []
    for chars in sizes[:2]:
        profiler = cProfile.Profile()
        text = build(chars, shape)
        profiler.enable()
        analyse("Заголовок", text)
        profiler.disable()
        stats.append({f"{_short(k[0])}:{k[1]}({k[2]})": v[2]
                      for k, v in pstats.Stats(profiler).stats.items()})
        buffer = io.StringIO()
        pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
        print(f"--- {shape}, {chars:,} characters, by own time ---")
        print("\n".join(buffer.getvalue().splitlines()[-top - 2:]))
    small, large = stats
    ratio = sizes[1] / sizes[0]
    # excess: own time beyond what linear growth from the smaller size would give
    grown = sorted(((large[name] - ratio * small.get(name, 0.0), name) for name in large),
                   reverse=True)
    print(f"--- own time beyond linear growth ({ratio:.1f}x the text), by excess seconds ---")
    for excess, name in grown[:top]:
        before, after = small.get(name, 0.0), large[name]
        factor = after / before / ratio if before > 1e-4 else float("inf")
        print(f"{excess:7.3f} s excess  {before:7.3f} s -> {after:7.3f} s  "
              f"({factor:5.1f}x linear)  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="news,run-on")
    parser.add_argument("--sizes", default=None, help="comma-separated character counts")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--one", nargs=2, metavar=("SHAPE", "CHARS"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", metavar="SHAPE", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    if args.one:
        print(json.dumps(measure_one(int(args.one[1]), args.one[0])))
        return 0
    if args.profile:
        profile(args.profile, sizes or [20_000, 50_000])
        return 0
    results = []
    print(f"{'shape':<8} {'chars':>11} {'analysed':>9} {'seconds':>8} {'s/1k chars':>11} "
          f"{'s/1k analysed':>14} {'peak RSS':>9}")
    for shape in args.shapes.split(","):
        for chars in sizes or (SIZES if shape == "news" else RUN_ON_SIZES):
            done = subprocess.run([sys.executable, __file__, "--one", shape, str(chars)],
                                  capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                print(f"{shape:<8} {chars:>11,} failed: {done.stderr[-300:]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(row)
            print(f"{shape:<8} {chars:>11,} {row['analysed_chars']:>9,} {row['seconds']:>8.3f} "
                  f"{row['s_per_1k_chars']:>11.4f} {row['s_per_1k_analysed']:>14.4f} "
                  f"{row['peak_rss_mb']:>6} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
