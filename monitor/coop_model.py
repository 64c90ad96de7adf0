"""The learned cooperation model: is it cooperation, which sentence says so, which countries.

Two linear models, fitted by `train.train_cooperation` on real labelled news:
- the detector: logistic regression over TF-IDF of a document's feature strings
  (`coop_features.document_features`: lemmas, abstracted words, dependency triples, rule
  cues), Platt-calibrated on out-of-fold scores, with a threshold chosen on them. Each
  sentence's share of the linear score says which one carries it (the evidence);
- the country model: logistic regression over `coop_features.COUNTRY_FEATURES` of each
  country named in the document: is it a party of the cooperation or scenery?

Stored as plain arrays in `models/cooperation.skops` (see `modelfiles`), the card with its
figures in `models/cooperation.json`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .coop_features import COUNTRY_FEATURES
from .modelfiles import models_dir, read_arrays, required, write_arrays

MODEL_FILE = "cooperation.skops"
CARD_FILE = "cooperation.json"
PARTS = {"names", "idf", "coef", "intercept", "platt", "threshold", "country_coef",
         "country_intercept", "country_threshold"}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class CooperationModel:
    names: np.ndarray  # feature strings, in column order
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    platt: np.ndarray  # (a, b): probability = sigmoid(a * raw + b)
    threshold: float
    country_coef: np.ndarray  # over COUNTRY_FEATURES
    country_intercept: float
    country_threshold: float
    version: str

    def __post_init__(self):
        self.columns = {name: i for i, name in enumerate(self.names.tolist())}

    def _tfidf(self, counts: Counter) -> dict[int, float]:
        """Column -> TF-IDF value from a document's column counts (sublinear tf, L2 norm:
        what scikit-learn's TfidfVectorizer computed in training)."""
        idf = self.idf
        values = {c: (1.0 + math.log(n)) * idf[c] for c, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
        return {c: v / norm for c, v in values.items()}

    def raw(self, sentence_grams: list[list[str]]) -> tuple[float, list[float]]:
        """The document's linear score and each sentence's share of it (a feature found in
        several sentences counts for each)."""
        columns = self.columns
        per_sentence = [{columns[g] for g in grams if g in columns} for grams in sentence_grams]
        counts = Counter(columns[g] for grams in sentence_grams for g in grams if g in columns)
        coef = self.coef
        weight = {c: v * coef[c] for c, v in self._tfidf(counts).items()}
        shares = [sum(weight[c] for c in found) for found in per_sentence]
        return self.intercept + sum(weight.values()), shares

    def calibrate(self, raw: float) -> float:
        return _sigmoid(self.platt[0] * raw + self.platt[1])

    def score(self, sentence_grams: list[list[str]]) -> tuple[float, list[float]]:
        """Calibrated probability of cooperation, and each sentence's share of the score."""
        raw, shares = self.raw(sentence_grams)
        return self.calibrate(raw), shares

    def country_probabilities(self, features: dict[str, dict[str, float]]) -> dict[str, float]:
        return {code: _sigmoid(self.country_intercept + sum(
            w * f[name] for w, name in zip(self.country_coef, COUNTRY_FEATURES)))
            for code, f in features.items()}

    def countries(self, features: dict[str, dict[str, float]]) -> list[str]:
        """The countries whose parties cooperate: those the country model accepts, else the
        likeliest one that the text names (none when it names none: "Интерпол и ФИФА")."""
        probabilities = self.country_probabilities(features)
        chosen = {c for c, p in probabilities.items() if p >= self.country_threshold}
        named = [c for c, f in features.items() if f["actor"] or f["place"] or f["ru_implied"]]
        if not chosen and named:
            chosen = {max(named, key=probabilities.get)}
        return sorted(chosen)


def save_model(model: CooperationModel, out_dir: Path, card: dict) -> None:
    write_arrays(out_dir / MODEL_FILE, {
        "names": model.names.astype(str), "idf": model.idf.astype(np.float64),
        "coef": model.coef.astype(np.float64), "intercept": np.array(model.intercept),
        "platt": np.asarray(model.platt, dtype=np.float64),
        "threshold": np.array(model.threshold),
        "country_coef": model.country_coef.astype(np.float64),
        "country_intercept": np.array(model.country_intercept),
        "country_threshold": np.array(model.country_threshold)})
    (out_dir / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n",
                                     encoding="utf-8")
    load_model.cache_clear()


@lru_cache(maxsize=1)
def load_model() -> CooperationModel:
    """The installed model (`MissingModelError` naming the file when there is none)."""
    directory = models_dir()
    path = required(directory / MODEL_FILE, "the cooperation model")
    card = json.loads(required(directory / CARD_FILE, "the cooperation model's card")
                      .read_text(encoding="utf-8"))
    parts = read_arrays(path, PARTS)
    if card.get("country_features") != COUNTRY_FEATURES:
        raise ValueError(f"{path}: trained on other country features; retrain it")
    return CooperationModel(
        parts["names"], parts["idf"], parts["coef"], float(parts["intercept"]), parts["platt"],
        float(parts["threshold"]), parts["country_coef"], float(parts["country_intercept"]),
        float(parts["country_threshold"]), card["version"])
