"""The learned cooperation model: is it cooperation, which sentence says so, which countries.

Three linear models, fitted by `train.train_cooperation` on real labelled news:
- the detector: logistic regression over TF-IDF of a document's feature strings
  (`coop_features.document_features`: lemmas, abstracted words, dependency triples, the
  paths between two parties, rule cues) and its mean word vector
  (`coop_features.document_vector`), Platt-calibrated on out-of-fold scores, with a
  threshold chosen on them;
- the evidence model: the same over one sentence's feature strings and mean word vector
  (`coop_features.sentence_vectors`), trained on the labelled evidence sentences against
  the sentences of items that are not cooperation: which sentence says so? Its best
  sentence is the evidence, and its score joins the detector's (with a weight chosen on
  out-of-fold scores) before calibration;
- the country model: logistic regression over `coop_features.COUNTRY_FEATURES` of each
  country named in the document: is it a party of the cooperation or scenery?

Stored as plain arrays in `models/cooperation.skops` (see `modelfiles`), the card with its
figures in `models/cooperation.json`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .coop_features import COUNTRY_FEATURES
from .modelfiles import models_dir, read_arrays, required, write_arrays

MODEL_FILE = "cooperation.skops"
CARD_FILE = "cooperation.json"
LINEAR_PARTS = ("names", "idf", "coef", "intercept", "vector_coef")
PARTS = ({f"{model}_{part}" for model in ("document", "sentence") for part in LINEAR_PARTS}
         | {"sentence_weight", "platt", "threshold", "country_coef", "country_intercept",
            "country_threshold"})


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class LinearTfidf:
    """A logistic regression over TF-IDF of feature strings, computed as scikit-learn's
    TfidfVectorizer (sublinear tf, L2 norm) and LogisticRegression did in training, plus
    optionally a dense vector's columns (`vector_coef`: their coefficients times the scale
    they were trained at; empty when the model reads none). `idf` carries any column scale
    of training (`train.PATH_SCALE`)."""

    names: np.ndarray  # feature strings, in column order
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    vector_coef: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self):
        # feature string -> (idf, coefficient): one lookup per string, plain floats
        self.columns = dict(zip(self.names.tolist(),
                                zip(self.idf.tolist(), self.coef.tolist())))

    def raw(self, grams, vector: np.ndarray | None = None) -> float:
        """The linear score of one text's feature strings (and its vector, when the model
        reads one: then it is required)."""
        dense = 0.0
        if self.vector_coef.size:
            if vector is None:
                raise ValueError("this model reads a vector beside the words: pass it")
            dense = float(self.vector_coef @ vector)
        columns = self.columns
        square, total = 0.0, 0.0
        for gram, n in Counter(grams).items():
            known = columns.get(gram)
            if known is not None:
                value = (1.0 + math.log(n)) * known[0]
                square += value * value
                total += value * known[1]
        return self.intercept + dense + total / (math.sqrt(square) or 1.0)


@dataclass
class CooperationModel:
    document: LinearTfidf
    sentence: LinearTfidf
    sentence_weight: float  # the best sentence's share in the score (0: the document alone)
    platt: np.ndarray  # (a, b): probability = sigmoid(a * raw score + b)
    threshold: float
    country_coef: np.ndarray  # over COUNTRY_FEATURES
    country_intercept: float
    country_threshold: float
    version: str

    def raw(self, sentence_grams: list[list[str]], vector: np.ndarray,
            sentence_scores: list[float] | None = None,
            sentence_vectors: np.ndarray | None = None) -> float:
        """The detector's linear score of a document's feature strings and mean word vector,
        plus the weighted score of the sentence that says so best ("a post about a war
        whose one line is an aid package"), from `sentence_scores` or else from each
        sentence's feature strings and mean word vector (`sentence_vectors`)."""
        document = self.document.raw((g for grams in sentence_grams for g in grams), vector)
        if not self.sentence_weight:
            return document
        if sentence_scores is None:
            sentence_scores = self.sentence_scores(sentence_grams, sentence_vectors)
        return document + self.sentence_weight * max(sentence_scores,
                                                     default=self.sentence.intercept)

    def calibrate(self, raw: float) -> float:
        return _sigmoid(self.platt[0] * raw + self.platt[1])

    def sentence_scores(self, sentence_grams: list[list[str]],
                        sentence_vectors: np.ndarray | None = None) -> list[float]:
        """Each sentence's score as the one that says so (the evidence is the best), from
        its feature strings and its mean word vector (a row of `sentence_vectors`, when the
        evidence model reads them)."""
        if sentence_vectors is None:
            return [self.sentence.raw(grams) for grams in sentence_grams]
        return [self.sentence.raw(grams, vector)
                for grams, vector in zip(sentence_grams, sentence_vectors, strict=True)]

    def score(self, sentence_grams: list[list[str]], vector: np.ndarray,
              sentence_vectors: np.ndarray | None = None) -> tuple[float, list[float]]:
        """Calibrated probability of cooperation, and each sentence's evidence score."""
        sentences = self.sentence_scores(sentence_grams, sentence_vectors)
        return self.calibrate(self.raw(sentence_grams, vector, sentences)), sentences

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
    arrays = {}
    for prefix, linear in (("document", model.document), ("sentence", model.sentence)):
        arrays.update({f"{prefix}_names": linear.names.astype(str),
                       f"{prefix}_idf": linear.idf.astype(np.float64),
                       f"{prefix}_coef": linear.coef.astype(np.float64),
                       f"{prefix}_intercept": np.array(linear.intercept),
                       f"{prefix}_vector_coef": linear.vector_coef.astype(np.float64)})
    write_arrays(out_dir / MODEL_FILE, {
        **arrays, "sentence_weight": np.array(float(model.sentence_weight)),
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
    linear = {prefix: LinearTfidf(parts[f"{prefix}_names"], parts[f"{prefix}_idf"],
                                  parts[f"{prefix}_coef"], float(parts[f"{prefix}_intercept"]),
                                  parts[f"{prefix}_vector_coef"])
              for prefix in ("document", "sentence")}
    return CooperationModel(
        linear["document"], linear["sentence"], float(parts["sentence_weight"]),
        parts["platt"], float(parts["threshold"]),
        parts["country_coef"], float(parts["country_intercept"]),
        float(parts["country_threshold"]), card["version"])
