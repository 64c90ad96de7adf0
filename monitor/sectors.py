"""Sector tags: a multi-label linear classifier over lemmas, with the words that made it.

Input is the article's search lemmas (`lemmas.lemmatize`, the same lemmas search indexes,
context-free so training needs no parser). Features: TF-IDF of lemma unigrams and bigrams
plus character 3-5-grams inside words (they carry unseen compounds such as «водоочистной»
to «водоочистка»). One logistic regression per sector, stacked into one weight matrix so
classifying is a sparse matrix product; each sector's raw score is calibrated by Platt
scaling fitted on out-of-fold scores, and compared with a threshold tuned by
cross-validation. `terms` are the lemmas whose weight × TF-IDF pushed a sector's score most.
A second regression per sector reads the text's unit mean word vector (Natasha's news
embedding of its lemmas): it adds what the words mean to which words they are, so a post
about «зенитные комплексы» leans to defence although the TF-IDF never met the phrase.

The taxonomy is `models/sectors.yaml` (IDs are stable API). The model lives in
`models/sectors.skops` (plain arrays, see `modelfiles`) and its card in
`models/sectors.json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from .lemmas import lemmatize
from .modelfiles import models_dir, read_arrays, required, write_arrays
from .wordvectors import VECTOR_SIZE, mean_word_vector

SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+|[,;:]\s+| — ")  # sentences and clauses
MODEL_FILE = "sectors.skops"
CARD_FILE = "sectors.json"
TAXONOMY_FILE = "sectors.yaml"


@lru_cache(maxsize=1)
def taxonomy() -> list[dict]:
    """The sectors: `id`, `ru`, `en`, `covers`, in the taxonomy's order."""
    path = required(models_dir() / TAXONOMY_FILE, "the sector taxonomy")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def sector_ids() -> list[str]:
    return [s["id"] for s in taxonomy()]


def sector_names(lang: str = "ru") -> dict[str, str]:
    return {s["id"]: s[lang] for s in taxonomy()}


@dataclass
class Features:
    """A fitted TF-IDF vocabulary: what classification needs of a TfidfVectorizer, stored as
    plain arrays (a vectorizer's vocabulary dict takes seconds to load with skops)."""

    names: np.ndarray  # feature names in column order
    idf_: np.ndarray
    ngram_range: tuple[int, int]

    def __post_init__(self):
        self.vocabulary_ = {name: i for i, name in enumerate(self.names.tolist())}

    @classmethod
    def of(cls, vectorizer) -> "Features":
        return cls(vectorizer.get_feature_names_out().astype(str),
                   vectorizer.idf_.astype(np.float64), tuple(vectorizer.ngram_range))

    def get_feature_names_out(self) -> np.ndarray:
        return self.names


@dataclass
class SectorModel:
    word: Features  # TF-IDF of lemma 1-2-grams
    char: Features  # TF-IDF of char_wb 3-5-grams
    coef: np.ndarray  # (features, sectors)
    intercept: np.ndarray  # (sectors,)
    platt: np.ndarray  # (sectors, 2): calibrated = sigmoid(a * raw + b)
    thresholds: np.ndarray  # (sectors,)
    sectors: list[str]
    version: str
    # the word-vector regressions, times their weight in the raw score: (dimensions, sectors)
    # and (sectors,); zero columns add nothing
    vector_coef: np.ndarray | None = None
    vector_intercept: np.ndarray | None = None
    # A cooperation item is about something: when no sector reaches its threshold, its
    # likeliest (by score over threshold) still counts from this share of its threshold
    # (1: never; chosen on real cooperation posts, out of fold, by `train_sectors`)
    cooperation_floor: float = 1.0

    def __post_init__(self):
        self._grams: dict[str, np.ndarray] = {}
        # Row-major, so the word and char halves are views scipy can use as they are: its
        # sparse @ dense copies a column-major matrix on every call, which cost more than
        # the product itself.
        self.coef = np.ascontiguousarray(self.coef)

    def raw(self, lemma_texts: list[str]):
        """Raw scores (texts x sectors): the larger of the whole text's and its best
        sentence's TF-IDF score, so a sector named once in a long article still counts,
        plus the word-vector score of the whole text; the same for each text's first line
        (the headline); and the word-feature matrix of the whole texts (for `terms`)."""
        doc_word, doc_char, sent_word, sent_char, owner = self.matrices(lemma_texts)
        best = self._linear(doc_word, doc_char)
        lead = np.full(best.shape, -np.inf)
        if len(owner):
            units = self._linear(sent_word, sent_char)
            np.maximum.at(best, owner, units)
            first = np.unique(owner, return_index=True)
            lead[first[0]] = units[first[1]]
        if self.vector_coef is not None:
            # what the whole text means joins its score and its headline's alike, so both
            # meet the same thresholds: among the sectors the text passes, the headline's
            # TF-IDF words decide which it is about (the headline's own mean vector, a few
            # general words, pulled the seed article's «водоочистка» below its threshold)
            meaning = lemma_vectors(lemma_texts) @ self.vector_coef + self.vector_intercept
            best += meaning
            lead += meaning
        return best, lead, doc_word

    def matrices(self, lemma_texts: list[str]):
        """TF-IDF rows of each text and of each of its sentences (lines), for the word and
        the char features. Equal to the fitted vectorizers' own transform, except that word
        bigrams never span two sentences; computed from per-word caches, because
        scikit-learn's analyzers dominate the classification time otherwise."""
        word_vocab = self.word.vocabulary_
        word_columns: list[int] = []
        word_counts: list[int] = []  # word features per unit
        char_arrays: list[np.ndarray] = []
        char_counts: list[int] = []
        owner: list[int] = []  # the text of each unit
        lookup, grams, char_columns = word_vocab.get, self._grams.get, self._char_columns
        for i, text in enumerate(lemma_texts):
            for unit in text.split("\n"):
                tokens = unit.split()
                if not tokens:
                    continue
                found = [c for c in map(lookup, tokens) if c is not None]
                found += [c for c in map(lookup, map(" ".join, zip(tokens, tokens[1:])))
                          if c is not None]
                word_columns += found
                word_counts.append(len(found))
                chars = [c if (c := grams(t)) is not None else char_columns(t) for t in tokens]
                char_arrays += chars
                char_counts.append(sum(map(len, chars)))
                owner.append(i)
        owner_array = np.array(owner, dtype=np.int64)
        texts = len(lemma_texts)
        word_units = np.repeat(np.arange(len(owner)), word_counts)
        char_units = np.repeat(np.arange(len(owner)), char_counts)
        word_cols = np.array(word_columns, dtype=np.int64)
        char_cols = (np.concatenate(char_arrays) if char_arrays
                     else np.zeros(0, dtype=np.int64))
        unit_word = _counts(word_units, word_cols, len(owner), len(self.word.idf_))
        unit_char = _counts(char_units, char_cols, len(owner), len(self.char.idf_))
        # a text's counts are the sum of its units' (one sparse product, no second build)
        from scipy.sparse import csr_matrix

        texts_of = csr_matrix((np.ones(len(owner), dtype=np.float32),
                               (owner_array, np.arange(len(owner)))), shape=(texts, len(owner)))
        return (_tfidf(texts_of @ unit_word, self.word.idf_),
                _tfidf(texts_of @ unit_char, self.char.idf_),
                _tfidf(unit_word, self.word.idf_), _tfidf(unit_char, self.char.idf_),
                owner_array)

    def _char_columns(self, word: str) -> np.ndarray:
        columns = self._grams.get(word)
        if columns is None:
            vocabulary = self.char.vocabulary_
            low, high = self.char.ngram_range
            columns = np.array([vocabulary[g] for g in _char_wb_ngrams(word, low, high)
                                if g in vocabulary], dtype=np.int64)
            if len(self._grams) < 500_000:
                self._grams[word] = columns
        return columns

    def scores(self, lemma_texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, one row per text, one column per sector."""
        return self.calibrate(self.raw(lemma_texts)[0])

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(raw * self.platt[:, 0] + self.platt[:, 1])))

    def classify(self, lemma_texts: list[str], *, terms: int = 5,
                 cooperation: list[bool] | None = None) -> list[list[dict]]:
        """Per text (sentences separated by newlines), `[{"id", "score", "terms"}]` above
        threshold, best first: the sectors the headline (the first line) is about before
        the others ("…в сфере водоочистки" puts water first even when the article says more
        about energy), each group by score. A text that reports cooperation (`cooperation`,
        per text) keeps its likeliest sector down to `cooperation_floor` of its threshold
        (that tag says `"floor": True`)."""
        if not lemma_texts:
            return []
        raw, lead, x_word = self.raw(lemma_texts)
        probs = self.calibrate(raw)
        passed = self.decide(probs, cooperation)
        in_lead = self.calibrate(lead) >= self.thresholds
        names = self.word.get_feature_names_out() if terms else None
        result = []
        for row, p in enumerate(probs):
            tags = []
            for j in np.lexsort((-raw[row], -np.round(p, 4), ~in_lead[row])):
                if not passed[row, j]:
                    continue
                tag = {"id": self.sectors[j], "score": round(float(p[j]), 4)}
                if p[j] < self.thresholds[j]:
                    tag["floor"] = True  # under its threshold: kept for a cooperation item
                if terms:
                    tag["terms"] = self._terms(x_word, row, j, names, terms)
                tags.append(tag)
            result.append(tags)
        return result

    def decide(self, probs: np.ndarray, cooperation: list[bool] | None = None) -> np.ndarray:
        """Which sectors each text has (texts x sectors): those at their threshold, and for
        a cooperation text with none, the likeliest when it reaches the floor."""
        return with_floor(probs, self.thresholds, self.cooperation_floor,
                          np.zeros(len(probs), bool) if cooperation is None
                          else np.asarray(cooperation, bool))

    def _linear(self, x_word, x_char) -> np.ndarray:
        split = len(self.word.idf_)
        return np.asarray(x_word @ self.coef[:split]) + np.asarray(x_char @ self.coef[split:]) \
            + self.intercept

    def _terms(self, x_word, row: int, sector: int, names, count: int) -> list[str]:
        start, stop = x_word.indptr[row], x_word.indptr[row + 1]
        columns = x_word.indices[start:stop]
        contributions = x_word.data[start:stop] * self.coef[columns, sector]
        order = np.argsort(-contributions)
        return [str(names[columns[i]]) for i in order[:count] if contributions[i] > 0]


def _counts(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int):
    """A CSR matrix of occurrence counts from (row, column) pairs, duplicates summed."""
    from scipy.sparse import csr_matrix

    matrix = csr_matrix((np.ones(len(columns), dtype=np.float32), (rows, columns)),
                        shape=(n_rows, n_columns))
    matrix.sum_duplicates()
    return matrix


def _tfidf(counts, idf: np.ndarray):
    """TF-IDF rows from a count matrix without duplicate entries (`_counts`' or a product
    of CSR matrices, whose columns come unsorted: sorting them was a sixth of the
    classification time): sublinear tf times idf, L2-normalised rows, as
    TfidfVectorizer(sublinear_tf=True) computes them (a new matrix; `counts` is kept)."""
    matrix = counts.tocsr(copy=True)
    lengths = np.diff(matrix.indptr)
    data = (1.0 + np.log(matrix.data)) * idf[matrix.indices]
    norms = np.sqrt(np.bincount(np.repeat(np.arange(matrix.shape[0]), lengths),
                                weights=data * data, minlength=matrix.shape[0]))
    norms[norms == 0] = 1.0
    matrix.data = (data / np.repeat(norms, lengths)).astype(np.float32)
    return matrix


def _char_wb_ngrams(word: str, low: int, high: int) -> list[str]:
    """scikit-learn's char_wb n-grams of one word (padded with spaces)."""
    padded = f" {word} "
    grams = []
    for n in range(low, high + 1):
        if len(padded) < n:
            continue
        grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


def lemma_vectors(lemma_texts: list[str]) -> np.ndarray:
    """The unit mean word vector of each text's lemmas (texts x dimensions)."""
    vectors = [mean_word_vector(text.split(), lowercase=False)  # lemmas are lowercase
               for text in lemma_texts]
    return np.array(vectors, dtype=np.float32).reshape(len(lemma_texts), VECTOR_SIZE)


def with_floor(probs: np.ndarray, thresholds: np.ndarray, floor: float,
               rows: np.ndarray) -> np.ndarray:
    """Sectors at their threshold, plus, in the `rows` with none, the sector of the
    highest score over threshold when that reaches `floor`."""
    passed = probs >= thresholds
    ratio = probs / thresholds
    best = np.argmax(ratio, axis=1)
    index = np.arange(len(probs))
    add = rows & (ratio[index, best] >= floor) & ~passed.any(axis=1)
    passed[index[add], best[add]] = True
    return passed


PARTS = {"word_names", "word_idf", "word_ngrams", "char_names", "char_idf", "char_ngrams",
         "coef", "intercept", "platt", "thresholds", "vector_coef", "vector_intercept",
         "cooperation_floor"}


def save_model(model: SectorModel, out_dir: Path, card: dict) -> None:
    word, char = Features.of(model.word), Features.of(model.char)
    write_arrays(out_dir / MODEL_FILE, {
        "word_names": word.names, "word_idf": word.idf_,
        "word_ngrams": np.array(word.ngram_range), "char_names": char.names,
        "char_idf": char.idf_, "char_ngrams": np.array(char.ngram_range),
        "coef": model.coef, "intercept": model.intercept, "platt": model.platt,
        "thresholds": model.thresholds, "vector_coef": model.vector_coef,
        "vector_intercept": model.vector_intercept,
        "cooperation_floor": np.array(float(model.cooperation_floor))})
    (out_dir / CARD_FILE).write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n",
                                     encoding="utf-8")
    load_model.cache_clear()


@lru_cache(maxsize=1)
def load_model() -> SectorModel:
    """The trained model (`MissingModelError` when it is not installed: items are never
    tagged by a guess)."""
    directory = models_dir()
    path = required(directory / MODEL_FILE, "the sector model")
    card_path = required(directory / CARD_FILE, "the sector model's card")
    parts = read_arrays(path, PARTS)
    card = json.loads(card_path.read_text(encoding="utf-8"))
    word = Features(parts["word_names"], parts["word_idf"], tuple(parts["word_ngrams"].tolist()))
    char = Features(parts["char_names"], parts["char_idf"], tuple(parts["char_ngrams"].tolist()))
    return SectorModel(word, char, parts["coef"], parts["intercept"], parts["platt"],
                       parts["thresholds"], card["sectors"], card["version"],
                       parts["vector_coef"], parts["vector_intercept"],
                       float(parts["cooperation_floor"]))


def model_version() -> str:
    return load_model().version


def sector_lemmas(title: str, text: str) -> str:
    """The classifier's input: search lemmas of the title and of each sentence of the text,
    one sentence per line."""
    parts = [title or ""] + SENTENCE_END.split(text or "")
    return "\n".join(line for line in (lemmatize(p) for p in parts) if line)


def classify(title: str, text: str, cooperation: bool = False) -> list[dict]:
    """Sectors of one article, best first (`cooperation`: it reports cooperation, so it
    is about some sector; see `SectorModel.cooperation_floor`)."""
    return load_model().classify([sector_lemmas(title, text)], cooperation=[cooperation])[0]
