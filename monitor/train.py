"""Training the models that live in `models/`: today the cooperation scorer.

The cooperation scorer is a logistic regression over the rule features of `cooperation.py`
(a handful of interpretable numbers, so it generalises from a few hundred labelled items).
Cross-validation gives out-of-fold probabilities, on which the decision threshold is tuned;
the final model is fitted on all data and saved as plain JSON (weights, intercept,
threshold, metrics), never as a pickle.
"""

from __future__ import annotations

import dataclasses
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

    m = _prf(y, p >= threshold)
    return {"items": int(len(y)), "positives": int(y.sum()), "precision": m["precision"],
            "recall": m["recall"], "f1": m["f1"],
            "brier": round(float(brier_score_loss(y, p)), 4)}


def cooperation_regression():
    """The cooperation scorer's logistic regression, unfitted."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")


def cooperation_oof(x: np.ndarray, y: np.ndarray, strata: np.ndarray, seed: int,
                    folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of `cooperation_regression` (folds stratified by `strata`)."""
    from sklearn.model_selection import StratifiedKFold

    oof = np.zeros(len(y))
    for train_index, test_index in StratifiedKFold(
            n_splits=folds, shuffle=True, random_state=seed).split(x, strata):
        fold_model = cooperation_regression().fit(x[train_index], y[train_index])
        oof[test_index] = fold_model.predict_proba(x[test_index])[:, 1]
    return oof


def train_cooperation(sources: dict[str, list[dict]], out_dir: Path, *, seed: int = 13,
                      folds: int = 5, on_item: Callable[[], None] | None = None) -> dict:
    """Fit the cooperation scorer on labelled rows from several sources (our written set,
    real news such as the factRuEval dev stream, analysts' labels) and write
    `out_dir/cooperation.json`. Cross-validation is stratified by label and source; the
    model card reports out-of-fold figures per source, so every figure is on items the
    scoring model did not see."""
    rows, source_of = [], []
    for name, source_rows in sources.items():
        rows += source_rows
        source_of += [name] * len(source_rows)
    source_of = np.array(source_of)
    y = np.array([int(bool(row["is_cooperation"])) for row in rows])
    x = cooperation_features(rows, on_item)
    strata = np.array([f"{s}-{label}" for s, label in zip(source_of, y)])
    oof = cooperation_oof(x, y, strata, seed, folds)
    threshold, _ = _best_threshold(y, oof)
    model = cooperation_regression().fit(x, y)
    version = _version(
        [[r.get("title", ""), r.get("text", ""), r["is_cooperation"]] for r in rows]
        + [np.round(model.coef_[0], 5).tolist(), round(float(model.intercept_[0]), 5)],
        len(rows))
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


# --- sectors ----------------------------------------------------------------------------

SECTOR_C = 4.0  # inverse regularisation of each sector's logistic regression
LEXICON_WEIGHT = 10.0  # sample weight of the lexicon pseudo-documents
ANALYST_WEIGHT = 5.0  # an analyst's correction counts as much as five written items
LEXICON_DOCS = 40  # pseudo-documents per sector, besides one per term


def lexicon_documents(terms: dict[str, list[str]], seed: int) -> list[dict]:
    """Each sector's hand-written vocabulary as short labelled pseudo-documents: one per
    term and `LEXICON_DOCS` random bags of six terms."""
    import random

    rng = random.Random(seed)
    docs = []
    for sector, words in terms.items():
        for word in words:
            docs.append({"text": word, "sectors": [sector]})
        for _ in range(LEXICON_DOCS):
            docs.append({"text": ", ".join(rng.sample(words, min(6, len(words)))),
                         "sectors": [sector]})
    return docs


def _fit_sectors(texts: list[str], y: np.ndarray, weights: np.ndarray, seed: int,
                 sectors: list[str]):
    """A SectorModel with uncalibrated scores (Platt identity, thresholds 0.5)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from .sectors import SectorModel

    word = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True,
                           lowercase=False, dtype=np.float32)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2,
                           sublinear_tf=True, max_features=80_000, lowercase=False,
                           dtype=np.float32)
    word.fit(texts)
    char.fit(texts)
    n = y.shape[1]
    model = SectorModel(word, char, np.zeros((0, n)), np.zeros(n), np.tile([1.0, 0.0], (n, 1)),
                        np.full(n, 0.5), list(sectors), "fold")
    doc_word, doc_char, *_ = model.matrices(texts)  # the features classification will see
    x = hstack([doc_word, doc_char], format="csr")
    coef, intercept = [], []
    for j in range(n):
        regression = LogisticRegression(C=SECTOR_C, class_weight="balanced",
                                        solver="liblinear", max_iter=1000, random_state=seed)
        regression.fit(x, y[:, j], sample_weight=weights)
        coef.append(regression.coef_[0])
        intercept.append(regression.intercept_[0])
    return dataclasses.replace(model, coef=np.array(coef, dtype=np.float32).T,
                               intercept=np.array(intercept))


def _version(trained_on: list, items: int) -> str:
    """A model version: the date, a digest of what the model was fitted on and to (the
    labelled data and the fitted weights, so a change of features changes it even on the
    same data and `monitor reprocess` re-tags stored items), and the number of items."""
    digest = hashlib.sha1(json.dumps(trained_on, ensure_ascii=False).encode()).hexdigest()[:8]
    return f"{datetime.now(timezone.utc):%Y%m%d}-{digest}-{items}"


def _prf(y: np.ndarray, pred: np.ndarray) -> dict:
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": int(y.sum())}


def sector_metrics(sectors: list[str], y: np.ndarray, pred: np.ndarray) -> dict:
    """Per-sector precision/recall/F1 and their micro and macro averages."""
    per = {s: _prf(y[:, j], pred[:, j]) for j, s in enumerate(sectors)}
    micro = _prf(y.ravel(), pred.ravel())
    return {"per_sector": per, "micro_f1": micro["f1"], "micro_precision": micro["precision"],
            "micro_recall": micro["recall"],
            "macro_f1": round(float(np.mean([m["f1"] for m in per.values()])), 4),
            "items": int(len(y))}


def train_sectors(written: list[dict], terms: dict[str, list[str]], sectors: list[str],
                  out_dir: Path, *, analyst: list[dict] | None = None, seed: int = 13,
                  on_step: Callable[[str], None] | None = None) -> dict:
    """Fit the sector model and write `out_dir/sectors.skops` and its card.

    `written` rows carry `title`, `text`, `sectors`, `fold` (0-5) and `split`; fold 5 is
    the held-out split, scored once at the end. Cross-validation holds out one fold at a
    time, so no written sentence is ever both trained on and scored (items of a fold share
    sentences, folds do not). Out-of-fold scores calibrate each sector (Platt) and tune its
    threshold. `analyst` rows (`title`, `text`, `sectors`) are analysts' corrections: they
    join every training fold with extra weight, never the scoring."""
    from sklearn.linear_model import LogisticRegression

    from .sectors import save_model, sector_lemmas

    step = on_step or (lambda _name: None)
    analyst = analyst or []

    def lemma_text(row: dict) -> str:
        return sector_lemmas(row.get("title", ""), row.get("text", ""))

    def labels(rows: list[dict]) -> np.ndarray:
        return np.array([[s in row["sectors"] for s in sectors] for row in rows], dtype=int)

    train_rows = [r for r in written if r.get("split") != "heldout"]
    heldout_rows = [r for r in written if r.get("split") == "heldout"]
    extra_rows = lexicon_documents(terms, seed) + analyst
    extra_texts = [lemma_text(r) for r in extra_rows]
    extra_y = labels(extra_rows)
    extra_w = np.array([LEXICON_WEIGHT] * (len(extra_rows) - len(analyst))
                       + [ANALYST_WEIGHT] * len(analyst))
    texts = [lemma_text(r) for r in train_rows]
    y = labels(train_rows)
    folds = np.array([r.get("fold", 0) for r in train_rows])
    step("lemmas")

    oof = np.zeros(y.shape)
    fold_ids = sorted(set(folds.tolist()))
    for f in fold_ids:
        train_index, test_index = np.where(folds != f)[0], np.where(folds == f)[0]
        fold_model = _fit_sectors([texts[i] for i in train_index] + extra_texts,
                                  np.vstack([y[train_index], extra_y]),
                                  np.r_[np.ones(len(train_index)), extra_w], seed, sectors)
        oof[test_index] = fold_model.raw([texts[i] for i in test_index])[0]
        step(f"fold {f}")

    platt = np.zeros((len(sectors), 2))
    thresholds = np.zeros(len(sectors))
    calibrated = np.zeros(y.shape)
    for j in range(len(sectors)):
        calibrator = LogisticRegression(C=1e4, max_iter=1000).fit(oof[:, [j]], y[:, j])
        platt[j] = [calibrator.coef_[0][0], calibrator.intercept_[0]]
        calibrated[:, j] = calibrator.predict_proba(oof[:, [j]])[:, 1]
        best = (0.5, -1.0)
        for threshold in np.arange(0.1, 0.91, 0.025):
            f1 = _prf(y[:, j], calibrated[:, j] >= threshold)["f1"]
            if f1 > best[1] + 1e-9:
                best = (round(float(threshold), 3), f1)
        thresholds[j] = best[0]
    cv = sector_metrics(sectors, y, calibrated >= thresholds)

    model = _fit_sectors(texts + extra_texts, np.vstack([y, extra_y]),
                         np.r_[np.ones(len(texts)), extra_w], seed, sectors)
    step("final model")
    version = _version(
        [[r.get("title", ""), r.get("text", ""), r["sectors"]] for r in written + analyst]
        + [terms, np.round(model.intercept, 5).tolist()], len(written) + len(analyst))
    model.platt, model.thresholds, model.version = platt, thresholds, version
    heldout = None
    if heldout_rows:
        probs = model.scores([lemma_text(r) for r in heldout_rows])
        heldout = sector_metrics(sectors, labels(heldout_rows), probs >= thresholds)
    card = {
        "version": version,
        "sectors": list(sectors),
        "thresholds": {s: float(t) for s, t in zip(sectors, thresholds)},
        "data": {"written_train": len(train_rows), "written_heldout": len(heldout_rows),
                 "analyst_labels": len(analyst),
                 "lexicon_terms": sum(len(v) for v in terms.values()),
                 "per_sector_train": {s: int(y[:, j].sum()) for j, s in enumerate(sectors)},
                 "no_sector_train": int((y.sum(axis=1) == 0).sum())},
        "params": {"C": SECTOR_C, "lexicon_weight": LEXICON_WEIGHT,
                   "analyst_weight": ANALYST_WEIGHT, "seed": seed},
        "cross_validation": {"folds": len(fold_ids), **cv},
        "heldout": heldout,
    }
    save_model(model, out_dir, card)
    return card


def load_sector_lexicon(path: Path) -> dict[str, list[str]]:
    """The hand-written vocabulary per sector, plus each sector's own Russian name."""
    import yaml

    from .sectors import taxonomy

    terms = yaml.safe_load(path.read_text(encoding="utf-8"))
    for sector in taxonomy():
        terms.setdefault(sector["id"], []).append(sector["ru"])
    return terms
