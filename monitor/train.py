"""Training the models that live in `models/`: today the cooperation scorer.

The cooperation scorer is a logistic regression over the rule features of `cooperation.py`
(a handful of interpretable numbers, so it generalises from a few hundred labelled items).
Cross-validation gives out-of-fold probabilities, on which the decision threshold is tuned;
the final model is fitted on all data and saved as plain JSON (weights, intercept,
threshold, metrics), never as a pickle.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .cooperation import FEATURES, MODEL_FILE, RULES, detect, load_model
from .nlp import process


def cooperation_features(rows: list[dict], on_item: Callable[[], None] | None = None
                         ) -> np.ndarray:
    matrix = []
    for row in rows:
        _, features = detect(process(row.get("title", ""), row.get("text", "")), RULES)
        matrix.append([features[name] for name in FEATURES])
        if on_item:
            on_item()
    return np.array(matrix, dtype=float)


def _best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    best = (0.5, -1.0)
    for threshold in np.arange(0.2, 0.81, 0.02):
        pred = p >= threshold
        tp = int((pred & (y == 1)).sum())
        fp = int((pred & (y == 0)).sum())
        fn = int((~pred & (y == 1)).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best[1] + 1e-9:
            best = (round(float(threshold), 2), f1)
    return best


def _metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import brier_score_loss

    pred = p >= threshold
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"items": int(len(y)), "positives": int(y.sum()), "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4),
            "brier": round(float(brier_score_loss(y, p)), 4)}


def train_cooperation(sources: dict[str, list[dict]], out_dir: Path, *, seed: int = 13,
                      folds: int = 5, on_item: Callable[[], None] | None = None) -> dict:
    """Fit the cooperation scorer on labelled rows from several sources (our written set,
    real news such as the factRuEval dev stream, analysts' labels) and write
    `out_dir/cooperation.json`. Cross-validation is stratified by label and source; the
    model card reports out-of-fold figures per source, so every figure is on items the
    scoring model did not see."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    rows, source_of = [], []
    for name, source_rows in sources.items():
        rows += source_rows
        source_of += [name] * len(source_rows)
    source_of = np.array(source_of)
    y = np.array([int(bool(row["is_cooperation"])) for row in rows])
    x = cooperation_features(rows, on_item)
    strata = np.array([f"{s}-{label}" for s, label in zip(source_of, y)])
    oof = np.zeros(len(y))
    for train_index, test_index in StratifiedKFold(
            n_splits=folds, shuffle=True, random_state=seed).split(x, strata):
        fold_model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        fold_model.fit(x[train_index], y[train_index])
        oof[test_index] = fold_model.predict_proba(x[test_index])[:, 1]
    threshold, _ = _best_threshold(y, oof)
    model = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    model.fit(x, y)
    digest = hashlib.sha1(json.dumps(
        [[r.get("title", ""), r.get("text", ""), r["is_cooperation"]] for r in rows],
        ensure_ascii=False).encode()).hexdigest()[:8]
    version = f"{datetime.now(timezone.utc):%Y%m%d}-{digest}-{len(rows)}"
    card = {
        "version": version,
        "features": FEATURES,
        "weights": {name: round(float(w), 5) for name, w in zip(FEATURES, model.coef_[0])},
        "intercept": round(float(model.intercept_[0]), 5),
        "threshold": threshold,
        "trained_on": {name: {"items": int((source_of == name).sum()),
                              "cooperation": int(y[source_of == name].sum())}
                       for name in sources},
        "cross_validation": {
            "folds": folds, "seed": seed,
            "all": _metrics(y, oof, threshold),
            **{name: _metrics(y[source_of == name], oof[source_of == name], threshold)
               for name in sources},
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MODEL_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n",
                                      encoding="utf-8")
    load_model.cache_clear()
    return card
