"""Benchmark: monitor's analysis vs plain Natasha on the same real texts; 1 and 2 workers.

Plain Natasha, loaded as its README shows, runs segment, morph, syntax, NER and
normalisation (what monitor needs from it); monitor runs its whole pipeline: one Natasha
pass, the spaCy document model, lemmas, gazetteer, normal forms, linking, cooperation
detection and sectors. Targets (issues #4, #8): monitor at least 0.8x the speed of plain
Natasha in one process; 2 worker processes at least 1.6x one; `monitor analyze` start-up
to its first output line under 3 s.

    .venv/bin/python bench/analyze_speed.py [--texts DIR] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_texts(directory: Path | None) -> list[str]:
    texts = []
    seed = ROOT.parent / "shared" / "seed" / "seed-article.txt"
    if seed.exists():
        texts.append(seed.read_text(encoding="utf-8"))
    directory = directory or ROOT.parent / "shared" / "data" / "factrueval-2016" / "devset"
    if directory.exists():
        texts += [p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.txt"))]
    if not texts:  # no ../shared: the bundled demo feeds still give real-sized articles
        from monitor.demo import demo_feed_dir
        from monitor.parse import parse_feed

        for path in demo_feed_dir().iterdir():
            texts += [item.text for item in parse_feed(path.read_bytes()).items]
    return texts


@lru_cache(maxsize=1)
def plain_models():
    """Natasha's models as its README loads them (not monitor's: `monitor.nlp` runs their
    slowest layers as `monitor.slovnet_fast`'s equivalents)."""
    from natasha import (MorphVocab, NewsEmbedding, NewsMorphTagger, NewsNERTagger,
                         NewsSyntaxParser, Segmenter)

    emb = NewsEmbedding()
    return (Segmenter(), NewsMorphTagger(emb), NewsSyntaxParser(emb), NewsNERTagger(emb),
            MorphVocab())


def natasha_plain(texts: list[str]) -> None:
    from natasha import Doc

    segmenter, morph_tagger, syntax_parser, ner_tagger, vocab = plain_models()
    for text in texts:
        doc = Doc(text)
        doc.segment(segmenter)
        doc.tag_morph(morph_tagger)
        doc.parse_syntax(syntax_parser)
        doc.tag_ner(ner_tagger)
        for span in doc.spans:
            span.normalize(vocab)


def monitor_full(texts: list[str]) -> None:
    from monitor.analysis import analyse

    for text in texts:
        analyse("", text)


def monitor_workers(texts: list[str], rounds: int = 3) -> tuple[float, float, float]:
    """Items/s of `monitor analyze --workers N`'s process pool with 1 and with 2 workers
    (models loaded once per worker, before the clock starts), order of output kept, and
    the median of the per-round speed-ups. Both pools stay up and rounds alternate, so
    that a shared machine's drifting speed hits both sides alike."""
    import multiprocessing

    from monitor.batch import _worker_init, analyse_line

    lines = [(n, json.dumps({"id": n, "text": t}, ensure_ascii=False))
             for n, t in enumerate(texts * 2)]
    # forkserver: workers start clean, as in `monitor run` (a fork of this process, after
    # the in-process rounds, would inherit its large heap and run slower)
    context = multiprocessing.get_context("forkserver")
    with context.Pool(1, initializer=_worker_init) as one, \
            context.Pool(2, initializer=_worker_init) as two:
        for pool, workers in ((one, 1), (two, 2)):
            list(pool.imap(analyse_line, lines[:workers * 2], chunksize=1))  # warm each
        runs: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(rounds):
            for pool, workers in ((one, 1), (two, 2)):
                started = time.perf_counter()
                list(pool.imap(analyse_line, lines, chunksize=4))
                runs[workers].append(len(lines) / (time.perf_counter() - started))
    speedup = statistics.median(b / a for a, b in zip(runs[1], runs[2]))
    return statistics.median(runs[1]), statistics.median(runs[2]), speedup


def startup_seconds() -> float:
    """`monitor analyze` from process start to its first output line."""
    import subprocess

    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "analyze", "-", "--workers", "1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps({"id": 1, "title": "Россия и Япония будут сотрудничать",
                                 "text": "Стороны подписали соглашение."},
                                ensure_ascii=False) + "\n")
    proc.stdin.flush()
    proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait()
    return elapsed


def startup_figures(runs: int) -> dict:
    """Median and range of several start-ups: one sample on a shared machine varies by
    a second between runs."""
    samples = sorted(startup_seconds() for _ in range(runs))
    return {"startup_to_first_output_s": round(statistics.median(samples), 2),
            "startup_min_s": round(samples[0], 2), "startup_max_s": round(samples[-1], 2),
            "startup_runs": runs}


def timed_pair(texts: list[str], rounds: int) -> tuple[float, float, float, float, float]:
    """Items/s of plain Natasha and of monitor, the median of their per-round ratios, the
    first round's ratio (later rounds find the same words in monitor's caches of
    inflections, lemmas and word ids; a running service meets new texts, but mostly the
    same names), and the median ratio of the CPU time each side used (less moved by other
    work on a shared machine than the clock). Rounds alternate (Natasha, monitor, Natasha,
    ...) so that a shared machine's drifting speed hits both sides alike."""
    natasha_plain(texts[:5])  # warm up: models loaded, caches filled as in a running service
    monitor_full(texts[:5])
    natasha_runs, monitor_runs, natasha_cpu, monitor_cpu = [], [], [], []
    for _ in range(rounds):
        for function, runs, cpu in ((natasha_plain, natasha_runs, natasha_cpu),
                                    (monitor_full, monitor_runs, monitor_cpu)):
            started, started_cpu = time.perf_counter(), time.process_time()
            function(texts)
            runs.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    ratio = statistics.median(n / m for n, m in zip(natasha_runs, monitor_runs))
    return (len(texts) / statistics.median(natasha_runs),
            len(texts) / statistics.median(monitor_runs), ratio,
            natasha_runs[0] / monitor_runs[0],
            statistics.median(n / m for n, m in zip(natasha_cpu, monitor_cpu)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker-rounds", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    texts = load_texts(args.texts)
    chars = sum(map(len, texts))
    natasha, ours, ratio, first, cpu_ratio = timed_pair(texts, args.rounds)
    one_worker, two, speedup = monitor_workers(texts, args.worker_rounds)
    figures = {"texts": len(texts), "mean_chars": round(chars / len(texts)),
               "natasha_items_per_s": round(natasha, 2), "monitor_items_per_s": round(ours, 2),
               "ratio": round(ratio, 3), "ratio_first_round": round(first, 3),
               "ratio_cpu_time": round(cpu_ratio, 3),
               "monitor_1_worker_items_per_s": round(one_worker, 2),
               "monitor_2_workers_items_per_s": round(two, 2),
               "speedup_2_workers": round(speedup, 3),
               **startup_figures(args.startup_runs)}
    for key, value in figures.items():
        print(f"{key:<32}{value}")
    verdict = "PASS" if ratio >= 0.8 and speedup >= 1.6 else "FAIL"
    print(f"{verdict}: monitor at {ratio:.2f}x plain Natasha (target >= 0.8x); "
          f"2 workers at {speedup:.2f}x one (target >= 1.6x)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
