"""Cooperation detector, out of fold, over several reshuffles of the folds (issue #4).

One 5-fold split moves the stream's recall by 0.083 per item (12 positives), so this repeats
the training command's cross-validation (same features, model and threshold rule as
`monitor train cooperation`) with several seeds and reports, per subset, the mean and the
range: the short written items, the written whole articles (`coop-lp*`, `coop-ln*`) and the
factRuEval-2016 dev stream (when ../shared is beside the repository).

"nested" repeats it with the threshold chosen inside each training part (by an inner
cross-validation), so no item's score picks the threshold that judges it. The training
command's figures pick one threshold on all out-of-fold scores, which flatters a little.

    .venv/bin/python bench/cooperation_cv.py --seeds 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from monitor.evaluate import factru_cooperation_rows, load_jsonl  # noqa: E402
from monitor.train import (  # noqa: E402
    _best_threshold, _prf, cooperation_features, cooperation_oof, cooperation_regression)

FACTRU = ROOT.parent / "shared" / "data" / "factrueval-2016" / "devset"


def subsets() -> tuple[list[dict], np.ndarray, np.ndarray]:
    """All rows, their subset name and their training source (what CV stratifies on)."""
    written = load_jsonl(ROOT / "models" / "data" / "cooperation.jsonl")
    rows = list(written)
    subset = ["articles" if r["id"].startswith(("coop-lp", "coop-ln")) else "short"
              for r in written]
    if FACTRU.is_dir():
        stream = factru_cooperation_rows(
            FACTRU, ROOT / "models" / "data" / "factrueval_dev_cooperation.jsonl")
        rows += stream
        subset += ["stream"] * len(stream)
    subset = np.array(subset)
    source = np.where(subset == "stream", "factrueval_dev", "written")
    return rows, subset, source


def nested(x: np.ndarray, y: np.ndarray, strata: np.ndarray, seed: int) -> np.ndarray:
    """Decisions with the threshold picked on the training part's own out-of-fold scores."""
    from sklearn.model_selection import StratifiedKFold

    decided = np.zeros(len(y), dtype=bool)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, strata):
        threshold, _ = _best_threshold(y[train],
                                       cooperation_oof(x[train], y[train], strata[train], seed))
        model = cooperation_regression().fit(x[train], y[train])
        decided[test] = model.predict_proba(x[test])[:, 1] >= threshold
    return decided


def prf(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    figures = _prf(y, pred)
    return figures["precision"], figures["recall"], figures["f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="reshuffles, seeds 13, 1, 2, ...")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows, subset, source = subsets()
    y = np.array([int(bool(r["is_cooperation"])) for r in rows])
    x = cooperation_features(rows)
    strata = np.array([f"{s}-{label}" for s, label in zip(source, y)])
    seeds = [13, *range(1, args.seeds)][:args.seeds]
    names = list(dict.fromkeys(subset))
    figures = {name: [] for name in names + [f"{n} nested" for n in names]}
    thresholds = []
    for seed in seeds:
        oof = cooperation_oof(x, y, strata, seed)
        threshold, _ = _best_threshold(y, oof)
        thresholds.append(threshold)
        decided = nested(x, y, strata, seed)
        for name in names:
            mask = subset == name
            figures[name].append(prf(y[mask], oof[mask] >= threshold))
            figures[f"{name} nested"].append(prf(y[mask], decided[mask]))
    print(f"seeds {seeds}; thresholds {thresholds}")
    report = {"seeds": seeds, "thresholds": thresholds}
    for name, values in figures.items():
        mask = subset == name.removesuffix(" nested")
        a = np.array(values)
        line = {"items": int(mask.sum()), "positives": int(y[mask].sum())}
        for i, metric in enumerate(("precision", "recall", "f1")):
            line[metric] = {"mean": round(float(a[:, i].mean()), 3),
                            "min": round(float(a[:, i].min()), 3),
                            "max": round(float(a[:, i].max()), 3)}
        report[name] = line
        print(f"{name:16s} {line['items']:4d} items ({line['positives']} cooperation): "
              + ", ".join(f"{m} {line[m]['mean']:.3f} ({line[m]['min']:.3f}-{line[m]['max']:.3f})"
                          for m in ("precision", "recall", "f1")))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
