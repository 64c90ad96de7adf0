"""Cooperation on real labelled news: nested cross-validation grouped by story, beside the
keyword alert, repeated over several reshuffles of the folds.

Reads models/data/ (the real posts of tg-news with the hand labels and the extra labels,
the written set and, with --factru, the factRuEval dev stream), analyses each item once,
then for each seed runs `train.cross_validate`: every outer training part fits its own
model, calibration and threshold. Prints per subset precision, recall, F1, exact country
sets and scope, mean and range over the seeds. With --errors, writes the first seed's
out-of-fold country output for every true cooperation item (JSON lines: gold and predicted
countries, the evidence, each candidate country's features and probability), to read the
country errors by cause.

    .venv/bin/python bench/cooperation_real.py --factru ../shared/data/factrueval-2016/devset
    .venv/bin/python bench/cooperation_real.py --seeds 13 --errors country-errors.jsonl \
        --factru ../shared/data/factrueval-2016/devset
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from monitor import train
from monitor.evaluate import cooperation_report
from monitor.modelfiles import training_data_dir


def write_errors(path: Path, docs: list, predictions: list) -> None:
    """One JSON line per true cooperation item with gold countries: what the country
    model read (per candidate country) and said, the wrong ones marked."""
    with path.open("w", encoding="utf-8") as out:
        for doc, pred in zip(docs, predictions):
            if not doc.label or doc.countries is None:
                continue
            index = doc.sentences.index(pred.evidence) if pred.evidence in doc.sentences \
                else None
            row = {
                "id": doc.id, "source": doc.source, "subset": doc.subset,
                "right": pred.countries == doc.countries, "flagged": pred.is_cooperation,
                "score": round(pred.score, 3), "gold": doc.countries,
                "predicted": pred.countries, "gold_scope": doc.scope, "scope": pred.scope,
                "text": " ".join(doc.sentences)[:400], "evidence": pred.evidence,
                "gold_evidence": doc.evidence,
                "evidence_actors": doc.actors[index] if index is not None else [],
                "candidates": {code: {"p": round(pred.country_probabilities[code], 3),
                                      **{k: round(v, 3) for k, v in features.items() if v}}
                               for code, features in pred.country_features.items()},
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factru", type=Path, default=None)
    parser.add_argument("--seeds", default="13,1,2,3,4", help="comma-separated fold seeds")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--errors", type=Path, default=None,
                        help="write the first seed's country output on true items here")
    args = parser.parse_args()
    started = time.monotonic()
    docs = train.read_sources(train.cooperation_sources(training_data_dir(), args.factru))
    groups = train.story_groups(docs)
    print(f"{len(docs)} labelled items ({sum(d.label for d in docs)} cooperation), "
          f"{len(set(groups.tolist()))} stories, analysed in {time.monotonic() - started:.0f} s")
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        predictions = train.cross_validate(docs, groups, seed=seed)
        if args.errors and not runs:
            write_errors(args.errors, docs, predictions)
        runs.append(cooperation_report(docs, predictions))
    figures = {}
    for name in runs[0]:
        row = {}
        for key, pick in [("precision", lambda r: r["monitor"]["precision"]),
                          ("recall", lambda r: r["monitor"]["recall"]),
                          ("f1", lambda r: r["monitor"]["f1"]),
                          ("keyword_f1", lambda r: r["keyword_alert"]["f1"]),
                          ("keyword_precision", lambda r: r["keyword_alert"]["precision"]),
                          ("exact_countries", lambda r: r.get("exact_countries")),
                          ("exact_countries_flagged", lambda r: r.get("exact_countries_flagged")),
                          ("scope", lambda r: r.get("scope")),
                          ("scope_flagged", lambda r: r.get("scope_flagged")),
                          ("scope_majority", lambda r: r.get("scope_majority")),
                          ("evidence", lambda r: r.get("evidence"))]:
            values = [pick(run[name]) for run in runs if pick(run[name]) is not None]
            if values:
                row[key] = {"mean": round(float(np.mean(values)), 3),
                            "min": round(float(min(values)), 3),
                            "max": round(float(max(values)), 3)}
        row["items"], row["cooperation"] = runs[0][name]["items"], runs[0][name]["cooperation"]
        figures[name] = row
    def mean(row: dict, key: str) -> float:
        return row.get(key, {}).get("mean", float("nan"))

    print(f"{'subset':<32} {'items':>5} {'coop':>4}  {'P':>5} {'R':>5} {'F1':>5} {'(range)':>13}"
          f"  {'kw F1':>5}  countries (flagged)  scope (flagged, majority)  evidence")
    for name, row in figures.items():
        f1 = row["f1"]
        print(f"{name:<32} {row['items']:>5} {row['cooperation']:>4}  "
              f"{row['precision']['mean']:>5.3f} {row['recall']['mean']:>5.3f} "
              f"{f1['mean']:>5.3f} ({f1['min']:.3f}-{f1['max']:.3f})  "
              f"{row['keyword_f1']['mean']:>5.3f}  "
              f"{mean(row, 'exact_countries'):>9.3f} ({mean(row, 'exact_countries_flagged'):.3f})"
              f"  {mean(row, 'scope'):>5.3f} ({mean(row, 'scope_flagged'):.3f}, "
              f"{mean(row, 'scope_majority'):.3f})  {mean(row, 'evidence'):>8.3f}")
    print(f"({len(runs)} reshuffles of 5 grouped folds, nested; "
          f"{time.monotonic() - started:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
