"""Run every benchmark and write BENCHMARKS.md (figures, targets, machine, date) and
bench/throughput.svg (a chart of throughput).

    .venv/bin/python bench/run_all.py            # everything, about 30 minutes
    .venv/bin/python bench/run_all.py --quick    # search at 200k only, about 12 minutes

Each benchmark is a script of its own in bench/ (run them alone for details); this one
runs them one after another, so they do not compete for the two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def run(script: str, *args: str) -> dict | list:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        json_args = ["--json"] if script == "search_latency.py" else ["--json", str(out)]
        command = [sys.executable, str(BENCH / script), *args,
                   *([] if script == "sector_speed.py" else json_args)]
        print(f"running {' '.join(command[1:])}", file=sys.stderr, flush=True)
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if script in ("search_latency.py", "sector_speed.py"):
            return [json.loads(line) for line in done.stdout.splitlines()
                    if line.startswith("{")]
        if not out.exists():
            raise RuntimeError(f"{script} failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(out.read_text(encoding="utf-8"))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def chart(bars: list[tuple[str, float]], path: Path) -> None:
    """A horizontal bar chart of items/s as plain SVG."""
    width, left, bar, gap = 640, 250, 26, 12
    top = max(value for _, value in bars) or 1
    height = 40 + len(bars) * (bar + gap)
    rows = []
    for n, (label, value) in enumerate(bars):
        y = 30 + n * (bar + gap)
        length = (width - left - 70) * value / top
        rows.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end">{label}</text>'
                    f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar}" '
                    f'fill="#1f4e79"/><text x="{left + length + 6:.1f}" y="{y + 18}">'
                    f'{value:,.1f}</text>')
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="Arial, sans-serif" font-size="13">'
        f'<text x="10" y="18" font-weight="bold">Throughput, items/s (2 cores)</text>'
        + "".join(rows) + "</svg>\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="search at 200k items only")
    args = parser.parse_args()
    analysis = run("analyze_speed.py")
    ingest = run("ingest.py")
    poll = run("poll_cycle.py", "--feeds", "1000", "--cycles", "3")
    sectors = run("sector_speed.py")[0]
    search = run("search_latency.py", "--sizes", "200000" if args.quick else "200000,1000000")
    one, two = analysis["monitor_items_per_s"], analysis["monitor_2_workers_items_per_s"]
    rows = [
        ("Analysis, one process, vs plain Natasha (same texts, same run)",
         f"{one} vs {analysis['natasha_items_per_s']} items/s = {analysis['ratio']}x",
         ">= 0.8x", analysis["ratio"] >= 0.8),
        ("Analysis, 2 worker processes vs 1 (`monitor analyze --workers`' pool)",
         f"{two} vs {analysis['monitor_1_worker_items_per_s']} items/s = "
         f"{analysis['speedup_2_workers']}x",
         ">= 1.6x", analysis["speedup_2_workers"] >= 1.6),
        ("`monitor analyze` start-up to first output line",
         f"{analysis['startup_to_first_output_s']} s (median of {analysis['startup_runs']}; "
         f"{analysis['startup_min_s']}–{analysis['startup_max_s']} s)", "< 3 s",
         analysis["startup_to_first_output_s"] < 3),
        (f"Ingest end to end: {ingest['items']:,} items from 200 loopback feeds, `monitor run "
         "--workers 2`", f"{ingest['items_per_s']} items/s = {ingest['ratio_to_2_worker_analysis']}x "
         f"the 2-worker analysis ({ingest['analysis_2_workers_items_per_s']} items/s on the same items, "
         "mean of a run before and one after)",
         ">= 0.9x", ingest["ratio_to_2_worker_analysis"] >= 0.9),
        ("Ingest: share of time in fetch / parse / store / analysis",
         f"{ingest['share_fetch']:.1%} / {ingest['share_parse']:.1%} / "
         f"{ingest['share_store']:.1%} / {ingest['share_analysis']:.1%}", "", None),
        ("Peak RSS of `monitor run` with 2 workers during ingest",
         f"{ingest['peak_rss_mib_service_2_workers']} MiB", "< 1024 MiB",
         ingest["peak_rss_mib_service_2_workers"] < 1024),
        ("Poll cycle, 1,000 loopback feeds all answering 304", f"{poll['cycle_304_median_s']} s",
         "< 10 s", poll["cycle_304_median_s"] < 10),
        ("Sector classification alone, given lemmas, one core", f"{sectors['items_per_s']} items/s",
         ">= 1,000", sectors["items_per_s"] >= 1000),
    ]
    for result in search:
        rows.append((f"Search p95, two words + a sector filter, {result['items']:,} items",
                     f"{result['p95_ms']} ms (p50 {result['p50_ms']} ms)",
                     f"< {result['target_p95_ms']} ms",
                     result["p95_ms"] < (result["target_p95_ms"] or float("inf"))))
    now = datetime.now(timezone.utc)
    lines = [
        "# Benchmarks", "",
        f"Written by `bench/run_all.py` on {now:%Y-%m-%d %H:%M} UTC.", "",
        f"Machine: {machine()}.", "",
        f"Analysis texts: {analysis['texts']} real news texts (mean {analysis['mean_chars']} "
        "characters: the seed article and factRuEval-2016 when `../shared` is present).", "",
        "| benchmark | figure | target | met |", "| --- | --- | --- | --- |",
    ]
    for name, figure, target, met in rows:
        lines.append(f"| {name} | {figure} | {target} | "
                     f"{'' if met is None else ('yes' if met else '**no**')} |")
    lines += ["", "![Throughput](bench/throughput.svg)", "",
              "Each figure comes from a script in `bench/` that can be run alone: "
              "`analyze_speed.py`, `ingest.py`, `poll_cycle.py`, `sector_speed.py`, "
              "`search_latency.py`.", ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines), encoding="utf-8")
    chart([("plain Natasha, 1 process", analysis["natasha_items_per_s"]),
           ("monitor analysis, 1 process", one),
           ("monitor analysis, 2 workers", two),
           ("ingest end to end, 2 workers", ingest["items_per_s"])],
          BENCH / "throughput.svg")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
