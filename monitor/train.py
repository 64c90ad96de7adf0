"""Training the models that live in `models/`: the cooperation model and the sector model.

Cooperation (`coop_model`): each labelled item is analysed once (`read_labelled`); the
detector is a logistic regression over TF-IDF of its feature strings, the evidence model
the same over single sentences (the labelled evidence against the sentences of other
items), the country model a logistic regression over each named country's features.
Evaluation follows scikit-learn's habits: folds grouped by story (near copies of one
story from several channels never straddle a split, `story_groups`) and stratified by
source and label; the calibration, the threshold and the evidence the country model
trains on all come from folds inside the training part (`fit_cooperation`), so
`cross_validate` is nested and its figures are out of fold. Models are saved as plain
arrays, never pickles.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .coop_features import (COUNTRY_FEATURES, MEETING_PREFIX, PATH_MAX, PATH_PREFIX,
                            CountryMentions, country_features, country_mentions,
                            document_features, document_vector, sentence_vectors)
from .coop_model import CooperationModel, LinearTfidf, save_model as save_cooperation
from .detector import evidence_sentence, scope_of, select_parties
from .metrics import prf, sector_metrics

# --- cooperation ---------------------------------------------------------------------------

DETECTOR_C = 16.0  # inverse regularisation of the detector (chosen by grouped CV)
SENTENCE_C = 4.0  # of the evidence model (1, 4 and 16 tried by grouped CV)
# the sentence's mean word vector beside its TF-IDF (0, 0.35, 0.7 and 1 tried in an
# exploratory grouped CV of the evidence model alone: how often the sentence picked is the
# labelled evidence of a real cooperation post; figures in the model card)
SENTENCE_VECTOR_WEIGHT = 0.35
# The scale of the document's mean word vector beside its unit TF-IDF row (0.35, 0.5, 0.7,
# 1 and 1.4 tried by grouped CV on real news; 0 leaves it out)
VECTOR_WEIGHT = 0.7
# The detector's columns of the paths between two parties (`coop_features.pair_paths`)
# weigh this much beside the other feature strings (their TF-IDF values scaled before the
# row's L2 norm, so less regularised: 1, 2 and 3 tried by grouped CV on real news)
PATH_SCALE = 2.0
PATH_PREFIXES = (PATH_PREFIX, MEETING_PREFIX)
# The best sentence's weight in the detector's score, chosen among these by the inner folds:
# the best F1 on the real news among the weights that leave the other labelled items (long
# written articles, the factRuEval stream) at least as well judged as the document alone
SENTENCE_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
EVIDENCE_OVERLAP = 0.3  # word Jaccard of a sentence with the labelled evidence to stand for it
COUNTRY_C = 1.0
COUNTRY_THRESHOLD = 0.5
MIN_DF = 2  # a feature string must occur in two training documents
INNER_FOLDS = 4
REAL = ("tg-news", "tg-news-extra", "analysts")  # sources of real news


@dataclass
class LabelledDoc:
    """What training reads of one labelled item (analysed once)."""

    id: str
    source: str  # tg-news | tg-news-extra | written | factrueval | analysts
    subset: str | None
    label: bool
    countries: list[str] | None  # gold countries of a cooperation item
    scope: str | None
    grams: list[list[str]]  # feature strings per sentence
    vector: np.ndarray  # the mean word vector (coop_features.document_vector)
    sentence_vectors: np.ndarray  # a row per sentence (coop_features.sentence_vectors)
    mentions: dict[str, CountryMentions]
    actors: list[list[dict]]  # per sentence, for parties and scope
    rule_coop: list[bool]  # per sentence: do the rules call it cooperation?
    sentences: list[str]
    evidence: str | None  # the labelled evidence sentence, when there is one
    lemmas: str  # search lemmas of the cleaned text, for story groups
    keyword: bool  # what the keyword alert says
    weight: float = 1.0


def read_labelled(rows: list[dict], source: str, on_item: Callable[[], None] | None = None
                  ) -> list[LabelledDoc]:
    """Analyse labelled rows (`title`, `text`, `is_cooperation` or `cooperation` yes/no,
    optional `countries`, `scope`, `subset`); "unsure" rows are left out."""
    from .analysis import prepare
    from .cooperation import read_cues, sentence_text
    from .evaluate import gold_label, keyword_alert
    from .lemmas import lemmatize
    from .nlp import process

    docs = []
    for row in rows:
        label = gold_label(row)
        if label is None:
            if on_item:
                on_item()
            continue
        prepared = prepare(row.get("title", ""), row.get("text", ""))
        doc = process(prepared.title, prepared.text, detect=False)
        all_cues, title_cues = read_cues(doc)
        docs.append(LabelledDoc(
            id=str(row.get("id")), source=source, subset=row.get("subset"), label=bool(label),
            countries=sorted(row["countries"]) if label and row.get("countries") is not None
            else None, scope=row.get("scope") if label else None,
            grams=document_features(doc, all_cues),
            vector=document_vector(doc, len(all_cues)),
            sentence_vectors=sentence_vectors(doc, all_cues),
            mentions=country_mentions(all_cues, len(title_cues)),
            actors=[[{k: p.get(k) for k in ("name", "kind", "country")} for p in c.actors]
                    for c in all_cues],
            rule_coop=[c.is_coop for c in all_cues],
            sentences=[sentence_text(doc, c.span) for c in all_cues],
            evidence=row.get("evidence") or None if label else None,
            lemmas=lemmatize(f"{prepared.title}\n{prepared.text}"),
            keyword=keyword_alert(row.get("title", ""), row.get("text", ""))))
        if on_item:
            on_item()
    return docs


def story_groups(docs: list[LabelledDoc]) -> np.ndarray:
    """A group id per document: near copies of one story share one (`story_groups_of`)."""
    return story_groups_of([d.lemmas for d in docs])


def story_groups_of(lemma_texts: list[str]) -> np.ndarray:
    """A group id per text: near copies of one story (`stories.THRESHOLD` on the MinHash
    of their lemma 3-shingles, as the store finds them) share one."""
    from .stories import THRESHOLD, band_keys, signature, similarity

    parent = list(range(len(lemma_texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    signatures = [signature(text) for text in lemma_texts]
    buckets: dict[int, list[int]] = {}
    for i, sig in enumerate(signatures):
        for key in band_keys(sig) if sig is not None else []:
            buckets.setdefault(key, []).append(i)
    for members in buckets.values():  # a bucket holds a handful: compare every pair
        for a, i in enumerate(members):
            for j in members[a + 1:]:
                if find(i) != find(j) and similarity(signatures[i], signatures[j]) >= THRESHOLD:
                    parent[find(j)] = find(i)
    return np.array([find(i) for i in range(len(lemma_texts))])


_WORDS = re.compile(r"\w+")


def _flat(doc: LabelledDoc) -> list[str]:
    return [g for grams in doc.grams for g in grams]


def _identity(grams: list[str]) -> list[str]:
    return grams


def _tfidf_regression(texts: list[list[str]], labels, weights, c: float, seed: int,
                      vectors: np.ndarray | None = None,
                      vector_weight: float = VECTOR_WEIGHT,
                      scales: dict[str, float] | None = None) -> LinearTfidf:
    """A logistic regression over the TF-IDF of `texts` (and, given, the rows of `vectors`
    times `vector_weight` as further columns). `scales`: feature-string prefix -> factor on
    those columns' TF-IDF values before the row's L2 norm (kept in the idf, so
    `LinearTfidf.raw` scores as trained; a column two prefixes match takes the last)."""
    from scipy.sparse import csr_matrix, diags, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    vectorizer = TfidfVectorizer(analyzer=_identity, min_df=MIN_DF, sublinear_tf=True,
                                 norm=None)
    x = vectorizer.fit_transform(texts)
    names = vectorizer.get_feature_names_out().astype(str)
    scale = np.ones(len(names))
    for prefix, factor in (scales or {}).items():
        scale[np.char.startswith(names, prefix)] = factor
    x = normalize(x @ diags(scale), norm="l2").tocsr()
    width = x.shape[1]
    if vectors is not None:
        x = hstack([x, csr_matrix(vectors * vector_weight)]).tocsr()
    regression = LogisticRegression(C=c, class_weight="balanced", max_iter=5000,
                                    random_state=seed)
    regression.fit(x, labels, sample_weight=weights)
    coef = regression.coef_[0]
    return LinearTfidf(names, vectorizer.idf_ * scale, coef[:width],
                       float(regression.intercept_[0]), coef[width:] * vector_weight)


def _fit_document(docs: list[LabelledDoc], seed: int) -> LinearTfidf:
    """The detector's regression on `docs`."""
    vectors = np.array([d.vector for d in docs]) if VECTOR_WEIGHT else None
    return _tfidf_regression([_flat(d) for d in docs], [d.label for d in docs],
                             [d.weight for d in docs], DETECTOR_C, seed, vectors,
                             scales=dict.fromkeys(PATH_PREFIXES, PATH_SCALE))


def labelled_evidence(doc: LabelledDoc) -> int | None:
    """The sentence of a cooperation item that its labelled evidence is (the most words in
    common, at least EVIDENCE_OVERLAP of them), if any."""
    if not (doc.label and doc.evidence and doc.sentences):
        return None
    gold = set(_WORDS.findall(doc.evidence.lower()))
    overlap = [len(gold & s) / len(gold | s) if gold | s else 0.0
               for s in (set(_WORDS.findall(t.lower())) for t in doc.sentences)]
    best = int(np.argmax(overlap))
    return best if overlap[best] >= EVIDENCE_OVERLAP else None


def _fit_sentence(docs: list[LabelledDoc], seed: int) -> LinearTfidf:
    """The evidence model's regression over a sentence's feature strings and mean word
    vector: the labelled evidence sentences of cooperation items against every sentence of
    the other items (a cooperation item's other sentences may say so too, unlabelled: they
    are left out)."""
    texts, labels, weights, vectors = [], [], [], []
    for doc in docs:
        if doc.label:
            index = labelled_evidence(doc)
            chosen = [index] if index is not None else []
        else:
            chosen = [k for k, grams in enumerate(doc.grams) if grams]
        for k in chosen:
            texts.append(doc.grams[k])
            labels.append(bool(doc.label))
            weights.append(doc.weight)
            vectors.append(doc.sentence_vectors[k])
    return _tfidf_regression(
        texts, labels, weights, SENTENCE_C, seed,
        np.array(vectors) if SENTENCE_VECTOR_WEIGHT else None, SENTENCE_VECTOR_WEIGHT)


def _folds(docs: list[LabelledDoc], groups: np.ndarray, k: int, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold

    strata = [f"{d.source}-{d.label}" for d in docs]
    return StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(
        docs, strata, groups)


def _best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    best = (0.5, -1.0)
    for threshold in np.arange(0.05, 0.951, 0.01):
        f1 = prf(y, p >= threshold)["f1"]
        if f1 > best[1] + 1e-9:
            best = (round(float(threshold), 2), f1)
    return best[0]


def _country_pairs(docs: list[LabelledDoc], evidence: list[int | None]):
    x, y = [], []
    for doc, index in zip(docs, evidence):
        if not doc.label or doc.countries is None:
            continue
        for code, features in country_features(doc.mentions, index).items():
            x.append([features[name] for name in COUNTRY_FEATURES])
            y.append(code in doc.countries)
    return np.array(x), np.array(y)


def fit_cooperation(docs: list[LabelledDoc], groups: np.ndarray, *, seed: int = 13,
                    version: str = "fold") -> CooperationModel:
    """The cooperation model fitted on `docs`. Folds inside `docs` give out-of-fold scores
    of the document and of its best sentence (for the sentence's weight, Platt calibration
    and the threshold: the best F1 on the real news, see SENTENCE_WEIGHTS) and out-of-fold
    evidence sentences (what the country model sees at run time)."""
    from sklearn.linear_model import LogisticRegression

    y = np.array([d.label for d in docs])
    document, sentence = np.zeros(len(docs)), np.zeros(len(docs))
    evidence: list[int | None] = [None] * len(docs)
    for train_index, test_index in _folds(docs, groups, INNER_FOLDS, seed):
        fold = _unfitted([docs[i] for i in train_index], seed)
        for i in test_index:
            document[i] = fold.document.raw(_flat(docs[i]), docs[i].vector)
            scores = fold.sentence_scores(docs[i].grams, docs[i].sentence_vectors)
            sentence[i] = max(scores, default=fold.sentence.intercept)
            evidence[i] = evidence_sentence(scores)
    real = np.array([d.source in REAL for d in docs])
    scored = real if real.any() else np.ones(len(docs), bool)
    others = ~scored  # written articles, the factRuEval stream: they must not get worse

    def judged(weight: float):
        """Platt and the threshold for this weight, and the F1 they give the real news
        and the other items."""
        raw = (document + weight * sentence).reshape(-1, 1)
        platt = LogisticRegression(C=1e4, max_iter=1000).fit(raw, y)
        calibrated = platt.predict_proba(raw)[:, 1]
        threshold = _best_threshold(y[scored], calibrated[scored])
        f1 = prf(y[scored], calibrated[scored] >= threshold)["f1"]
        other = prf(y[others], calibrated[others] >= threshold)["f1"] if others.any() else 0.0
        return f1, other, platt, threshold

    judgements = {weight: judged(weight) for weight in dict.fromkeys((0.0, *SENTENCE_WEIGHTS))}
    floor = judgements[0.0][1]  # the other items as the document alone judges them
    best = None  # (F1 on the real news, weight, Platt, threshold)
    for weight in SENTENCE_WEIGHTS:  # the smallest weight first: it wins ties
        f1, other, platt, threshold = judgements[weight]
        if best is None or (f1 > best[0] + 1e-9 and other >= floor - 1e-9):
            best = (f1, weight, platt, threshold)
    _, weight, platt, threshold = best
    x_country, y_country = _country_pairs(docs, evidence)
    countries = LogisticRegression(C=COUNTRY_C, max_iter=2000).fit(x_country, y_country)
    return dataclasses.replace(
        _unfitted(docs, seed), sentence_weight=weight,
        platt=np.array([platt.coef_[0][0], platt.intercept_[0]]),
        threshold=threshold, country_coef=countries.coef_[0],
        country_intercept=float(countries.intercept_[0]), version=version)


def _unfitted(docs: list[LabelledDoc], seed: int) -> CooperationModel:
    """The detector and the evidence model fitted on `docs` (uncalibrated: Platt identity,
    threshold 0; no country model)."""
    return CooperationModel(_fit_document(docs, seed), _fit_sentence(docs, seed), 0.0,
                            np.array([1.0, 0.0]), 0.0, np.zeros(len(COUNTRY_FEATURES)),
                            0.0, COUNTRY_THRESHOLD, "fold")


@dataclass
class Prediction:
    score: float
    is_cooperation: bool
    countries: list[str]
    scope: str
    evidence: str | None
    # what the country model read and said, per candidate country (for error analysis)
    country_features: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    country_probabilities: dict[str, float] = dataclasses.field(default_factory=dict)


def predict(model: CooperationModel, doc: LabelledDoc) -> Prediction:
    """What `detector.detect` outputs for the document (from its stored features)."""
    score, sentences = model.score(doc.grams, doc.vector, doc.sentence_vectors)
    index = evidence_sentence(sentences)
    features = country_features(doc.mentions, index)
    countries = model.countries(features)
    parties = select_parties(doc.actors, doc.rule_coop, index, countries)
    return Prediction(score, score >= model.threshold, countries, scope_of(countries, parties),
                      doc.sentences[index] if index is not None else None, features,
                      model.country_probabilities(features))


def cross_validate(docs: list[LabelledDoc], groups: np.ndarray, *, seed: int = 13,
                   folds: int = 5, on_fold: Callable[[], None] | None = None
                   ) -> list[Prediction]:
    """Out-of-fold predictions for every document, nested: each outer training part fits
    its own model with `fit_cooperation` (its own calibration and threshold)."""
    predictions: list[Prediction | None] = [None] * len(docs)
    for train_index, test_index in _folds(docs, groups, folds, seed):
        model = fit_cooperation([docs[i] for i in train_index], groups[train_index],
                                   seed=seed)
        for i in test_index:
            predictions[i] = predict(model, docs[i])
        if on_fold:
            on_fold()
    return predictions


def train_cooperation(docs: list[LabelledDoc], out_dir: Path, *, seed: int = 13,
                      folds: int = 5, evaluate: bool = True,
                      on_fold: Callable[[], None] | None = None) -> dict:
    """Fit the cooperation model on every labelled document and write it with its card
    (the nested, grouped cross-validation figures unless `evaluate` is False)."""
    groups = story_groups(docs)
    from .evaluate import cooperation_report

    report = cooperation_report(docs, cross_validate(
        docs, groups, seed=seed, folds=folds, on_fold=on_fold)) if evaluate else None
    probe = fit_cooperation(docs, groups, seed=seed)
    if on_fold:
        on_fold()
    version = _version([[d.id, d.label, d.countries] for d in docs]
                       + [np.round(probe.document.coef, 5).tolist()[:2000],
                          np.round(probe.document.vector_coef, 5).tolist(),
                          np.round(probe.sentence.coef, 5).tolist()[:2000],
                          np.round(probe.sentence.vector_coef, 5).tolist(),
                          np.round(probe.country_coef, 5).tolist(),
                          probe.sentence_weight], len(docs))
    model = dataclasses.replace(probe, version=version)
    card = {
        "version": version,
        "detector": {"features": "TF-IDF of lemma 1-2-grams, abstracted words, dependency "
                                 "triples, dependency paths between two parties and rule "
                                 "cues, and the mean news-embedding vector of the words "
                                 "(coop_features)",
                     "party_path_max": PATH_MAX, "party_path_scale": PATH_SCALE,
                     "vector_weight": VECTOR_WEIGHT,
                     "vocabulary": int(len(model.document.names)), "C": DETECTOR_C,
                     "min_df": MIN_DF,
                     "evidence_model": {
                         "trained_on": "labelled evidence sentences against the sentences "
                                       "of items that are not cooperation",
                         "vocabulary": int(len(model.sentence.names)), "C": SENTENCE_C,
                         "vector_weight": SENTENCE_VECTOR_WEIGHT,
                         "evidence_overlap": EVIDENCE_OVERLAP},
                     "sentence_weight": model.sentence_weight,
                     "sentence_weights_tried": list(SENTENCE_WEIGHTS),
                     "platt": [round(float(v), 5) for v in model.platt],
                     "threshold": model.threshold},
        "country_features": COUNTRY_FEATURES,
        "country_weights": {n: round(float(w), 4)
                            for n, w in zip(COUNTRY_FEATURES, model.country_coef)},
        "country_intercept": round(model.country_intercept, 4),
        "country_threshold": COUNTRY_THRESHOLD,
        "trained_on": {name: {"items": int(c), "cooperation": int(sum(
            d.label for d in docs if d.source == name))}
            for name, c in Counter(d.source for d in docs).items()},
        "stories": int(len(set(groups.tolist()))),
        "cross_validation": {"folds": folds, "seed": seed, "grouped_by": "story",
                             "nested": True, "figures": report} if report else None,
    }
    save_cooperation(model, out_dir, card)
    return card


def read_sources(sources: dict[str, list[dict]], on_item: Callable[[], None] | None = None
                 ) -> list[LabelledDoc]:
    """Every source's rows analysed (`read_labelled`), in order."""
    return [doc for name, rows in sources.items() for doc in read_labelled(rows, name, on_item)]


def cooperation_sources(base: Path, factru: Path | None = None,
                        analysts: list[dict] | None = None) -> dict[str, list[dict]]:
    """The labelled rows training reads, by source: the real posts of models/data/tg-news
    (hand labels and the extra labels), the written set, optionally the factRuEval dev
    stream (texts from `factru`) and analysts' labels."""
    from .evaluate import factru_cooperation_rows, labelled_posts, load_jsonl

    tg = base / "tg-news"
    sources = {
        "tg-news": labelled_posts(tg / "labels.jsonl", tg / "posts.jsonl"),
        "tg-news-extra": labelled_posts(tg / "labels_extra.jsonl", tg / "posts.jsonl"),
        "written": load_jsonl(base / "cooperation.jsonl"),
    }
    if factru:
        sources["factrueval"] = factru_cooperation_rows(
            factru, base / "factrueval_dev_cooperation.jsonl")
    if analysts:
        sources["analysts"] = analysts
    return sources


# --- sectors ----------------------------------------------------------------------------

SECTOR_C = 4.0  # inverse regularisation of each sector's logistic regression
LEXICON_WEIGHT = 10.0  # sample weight of the lexicon pseudo-documents
ANALYST_WEIGHT = 5.0  # an analyst's correction counts as much as five written items
REAL_SECTOR_WEIGHT = 10.0  # a real cooperation post counts as much as ten written items
SECTOR_MIN_DF = 2  # a lemma or bigram of a single text is noise (and 7x the model's size)
REAL_TOPIC_WEIGHT = 3.0  # a real post that is not cooperation, labelled with its news' sectors
# Each sector's word-vector regression (sectors.lemma_vectors) and its share of the raw
# score beside the TF-IDF one (C 0.25, 1, 4 and weights 0.3, 0.6, 1 tried on real posts)
SECTOR_VECTOR_C = 1.0
SECTOR_VECTOR_WEIGHT = 0.6
# Shares of its threshold from which a cooperation item's likeliest sector counts when no
# sector reaches its threshold (`SectorModel.cooperation_floor`; 1 = never), chosen by
# micro-F1 on the real cooperation posts' out-of-fold scores
SECTOR_COOPERATION_FLOORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
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
                 sectors: list[str], documents: np.ndarray):
    """A SectorModel with uncalibrated scores (Platt identity, thresholds 0.5). The
    word-vector regressions read only the rows that are `documents` (not the lexicon's word
    lists)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from .sectors import SectorModel, lemma_vectors

    word = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True,
                           min_df=SECTOR_MIN_DF, lowercase=False, dtype=np.float32)
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
    # sorted here, once: liblinear sorts an unsorted matrix in place, and the threads below
    # would race on the same arrays (`_tfidf` leaves the columns unsorted)
    x.sum_duplicates()
    vectors = lemma_vectors([t for t, d in zip(texts, documents) if d])

    def fit(j: int):
        regression = LogisticRegression(C=SECTOR_C, class_weight="balanced",
                                        solver="liblinear", max_iter=1000, random_state=seed)
        regression.fit(x, y[:, j], sample_weight=weights)
        return regression.coef_[0], regression.intercept_[0]

    def fit_vector(j: int):
        if len(set(y[documents, j].tolist())) < 2:  # no document of the sector: adds nothing
            return np.zeros(vectors.shape[1]), 0.0
        regression = LogisticRegression(C=SECTOR_VECTOR_C, class_weight="balanced",
                                        max_iter=2000)
        regression.fit(vectors, y[documents, j], sample_weight=weights[documents])
        return regression.coef_[0], regression.intercept_[0]

    # one regression per sector; liblinear and lbfgs release the GIL, so threads use every
    # core (neither draws random numbers here, so the threads cannot change the result)
    with ThreadPoolExecutor(max_workers=min(n, os.cpu_count() or 1)) as pool:
        coef, intercept = zip(*pool.map(fit, range(n)))
        vector_coef, vector_intercept = zip(*pool.map(fit_vector, range(n)))
    return dataclasses.replace(
        model, coef=np.array(coef, dtype=np.float32).T, intercept=np.array(intercept),
        vector_coef=(np.array(vector_coef) * SECTOR_VECTOR_WEIGHT).T.astype(np.float32),
        vector_intercept=np.array(vector_intercept) * SECTOR_VECTOR_WEIGHT)


def _best_floor(sectors: list[str], y: np.ndarray, probs: np.ndarray,
                thresholds: np.ndarray) -> float:
    """The cooperation floor (SECTOR_COOPERATION_FLOORS) with the best micro-F1 on these
    cooperation items; the highest floor wins ties (the fewest sectors added)."""
    from .sectors import with_floor

    every = np.ones(len(y), bool)
    scored = [(sector_metrics(sectors, y, with_floor(probs, thresholds, floor, every))
               ["micro_f1"], floor) for floor in SECTOR_COOPERATION_FLOORS]
    return max(scored, key=lambda pair: (round(pair[0], 9), pair[1]))[1]


def _version(trained_on: list, items: int) -> str:
    """A model version: the date, a digest of what the model was fitted on and to (the
    labelled data and the fitted weights, so a change of features changes it even on the
    same data and `monitor reprocess` re-tags stored items), and the number of items."""
    digest = hashlib.sha1(json.dumps(trained_on, ensure_ascii=False).encode()).hexdigest()[:8]
    return f"{datetime.now(timezone.utc):%Y%m%d}-{digest}-{items}"


def real_sector_rows(directory: Path) -> list[dict]:
    """The real posts of models/data/tg-news as sector training rows, each in one of five
    folds by story (near copies share a fold): the cooperation posts with their labelled
    sectors (`source` "real", what the card's real-news figure is measured on) and the other
    posts with the sectors of their main news (`sector_labels.jsonl`, `source` "real_topic";
    its blind second labels of cooperation posts, `check`, are left out)."""
    from .analysis import prepare
    from .evaluate import labelled_posts
    from .lemmas import lemmatize

    rows = [dict(row, source="real", weight=REAL_SECTOR_WEIGHT)
            for labels in ("labels.jsonl", "labels_extra.jsonl")
            for row in labelled_posts(directory / labels, directory / "posts.jsonl")
            if row.get("cooperation") == "yes"]
    topics = directory / "sector_labels.jsonl"
    if topics.exists():
        coop = {r["id"] for r in rows}
        rows += [dict(row, source="real_topic", weight=REAL_TOPIC_WEIGHT)
                 for row in labelled_posts(topics, directory / "posts.jsonl")
                 if not row.get("check") and row["id"] not in coop]
    read = [prepare("", r["text"]) for r in rows]  # as story_groups: footers and markup off
    groups = story_groups_of([lemmatize(f"{p.title}\n{p.text}") for p in read])
    order = {g: i for i, g in enumerate(dict.fromkeys(groups.tolist()))}
    return [{"id": r["id"], "title": "", "text": r["text"], "sectors": r["sectors"],
             "fold": order[g] % 5, "source": r["source"], "weight": r["weight"]}
            for r, g in zip(rows, groups.tolist())]


def train_sectors(written: list[dict], terms: dict[str, list[str]], sectors: list[str],
                  out_dir: Path, *, analyst: list[dict] | None = None,
                  real: list[dict] | None = None, seed: int = 13,
                  on_step: Callable[[str], None] | None = None) -> dict:
    """Fit the sector model and write `out_dir/sectors.skops` and its card.

    `written` rows carry `title`, `text`, `sectors`, `fold` (0-5) and `split`; fold 5 is
    the held-out split, scored once at the end. Cross-validation holds out one fold at a
    time, so no written sentence is ever both trained on and scored (items of a fold share
    sentences, folds do not). Out-of-fold scores calibrate each sector (Platt) and tune its
    threshold. `real` rows (`real_sector_rows`: real posts, with their own folds) join
    the cross-validation; the cooperation posts among them are also scored on their own
    (`real` in the card, with `nested`: each fold judged with the calibration and
    thresholds of the others), the others too (`real_other`). `analyst` rows (`title`,
    `text`, `sectors`) are analysts' corrections: they join every training fold with extra
    weight, never the scoring."""
    from sklearn.linear_model import LogisticRegression

    from .analysis import prepare
    from .sectors import save_model, sector_lemmas, with_floor

    step = on_step or (lambda _name: None)
    analyst = analyst or []
    real = real or []

    def lemma_text(row: dict) -> str:  # what `analyse` gives the classifier
        prepared = prepare(row.get("title", ""), row.get("text", ""))
        return sector_lemmas(prepared.title, prepared.text)

    def labels(rows: list[dict]) -> np.ndarray:
        return np.array([[s in row["sectors"] for s in sectors] for row in rows], dtype=int)

    train_rows = [r for r in written if r.get("split") != "heldout"] + real
    row_w = np.array([r.get("weight", 1.0) for r in train_rows])
    is_real = np.array([r.get("source") == "real" for r in train_rows])
    heldout_rows = [r for r in written if r.get("split") == "heldout"]
    extra_rows = lexicon_documents(terms, seed) + analyst
    extra_texts = [lemma_text(r) for r in extra_rows]
    extra_y = labels(extra_rows)
    extra_w = np.array([LEXICON_WEIGHT] * (len(extra_rows) - len(analyst))
                       + [ANALYST_WEIGHT] * len(analyst))
    extra_documents = np.array([False] * (len(extra_rows) - len(analyst)) + [True] * len(analyst),
                               dtype=bool)
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
                                  np.r_[row_w[train_index], extra_w], seed, sectors,
                                  np.r_[np.ones(len(train_index), bool), extra_documents])
        oof[test_index] = fold_model.raw([texts[i] for i in test_index])[0]
        step(f"fold {f}")

    def calibrate(rows: np.ndarray):
        """Platt per sector and its best-F1 threshold, fitted on the out-of-fold `rows`."""
        platt, thresholds = np.zeros((len(sectors), 2)), np.zeros(len(sectors))
        for j in range(len(sectors)):
            calibrator = LogisticRegression(C=1e4, max_iter=1000).fit(oof[rows][:, [j]],
                                                                      y[rows, j])
            platt[j] = [calibrator.coef_[0][0], calibrator.intercept_[0]]
            probability = calibrator.predict_proba(oof[rows][:, [j]])[:, 1]
            best = (0.5, -1.0)
            for threshold in np.arange(0.1, 0.91, 0.025):
                f1 = prf(y[rows, j], probability >= threshold)["f1"]
                if f1 > best[1] + 1e-9:
                    best = (round(float(threshold), 3), f1)
            thresholds[j] = best[0]
        return platt, thresholds

    def apply(platt: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(oof[rows] * platt[:, 0] + platt[:, 1])))

    everything = np.ones(len(train_rows), bool)
    platt, thresholds = calibrate(everything)
    calibrated = apply(platt, everything)
    written_rows = np.array([r.get("source") not in ("real", "real_topic") for r in train_rows])
    cv = sector_metrics(sectors, y[written_rows], calibrated[written_rows] >= thresholds)
    # The real cooperation posts are cooperation items: their floor is chosen on them
    floor = _best_floor(sectors, y[is_real], calibrated[is_real], thresholds) \
        if is_real.any() else 1.0
    # Nested: each fold's real posts judged with the calibration, thresholds and floor
    # fitted on the others
    nested, nested_plain = np.zeros(y.shape, bool), np.zeros(y.shape, bool)
    nested_floors = []
    for f in fold_ids:
        fold_platt, fold_thresholds = calibrate(folds != f)
        others, this = is_real & (folds != f), folds == f
        fold_floor = _best_floor(sectors, y[others], apply(fold_platt, others),
                                 fold_thresholds) if others.any() else 1.0
        nested_floors.append(fold_floor)
        judged = apply(fold_platt, this)
        nested[this] = with_floor(judged, fold_thresholds, fold_floor, is_real[this])
        nested_plain[this] = judged >= fold_thresholds

    on_real = None
    if is_real.any():
        on_real = sector_metrics(sectors, y[is_real], with_floor(
            calibrated[is_real], thresholds, floor, np.ones(int(is_real.sum()), bool)))
        on_real["nested"] = dict(sector_metrics(sectors, y[is_real], nested[is_real]),
                                 floors=nested_floors)
        for name, decided in (("without_floor", calibrated >= thresholds),
                              ("nested_without_floor", nested_plain)):
            on_real[name] = {k: v for k, v in sector_metrics(
                sectors, y[is_real], decided[is_real]).items() if k != "per_sector"}
    is_topic = np.array([r.get("source") == "real_topic" for r in train_rows])
    on_topics = sector_metrics(sectors, y[is_topic], calibrated[is_topic] >= thresholds) \
        if is_topic.any() else None
    model = _fit_sectors(texts + extra_texts, np.vstack([y, extra_y]),
                         np.r_[row_w, extra_w], seed, sectors,
                         np.r_[np.ones(len(texts), bool), extra_documents])
    step("final model")
    version = _version(
        [[r.get("title", ""), r.get("text", ""), r["sectors"]] for r in written + real + analyst]
        + [terms, np.round(model.intercept, 5).tolist(),
           np.round(model.vector_intercept, 5).tolist(), floor],
        len(written) + len(real) + len(analyst))
    model.platt, model.thresholds, model.version = platt, thresholds, version
    model.cooperation_floor = floor
    heldout = None
    if heldout_rows:
        probs = model.scores([lemma_text(r) for r in heldout_rows])
        heldout = sector_metrics(sectors, labels(heldout_rows), probs >= thresholds)
    card = {
        "version": version,
        "sectors": list(sectors),
        "thresholds": {s: float(t) for s, t in zip(sectors, thresholds)},
        "data": {"written_train": len(train_rows) - len(real),
                 "written_heldout": len(heldout_rows),
                 "real_cooperation_posts": int(is_real.sum()),
                 "real_other_posts": len(real) - int(is_real.sum()),
                 "analyst_labels": len(analyst),
                 "lexicon_terms": sum(len(v) for v in terms.values()),
                 "per_sector_train": {s: int(y[:, j].sum()) for j, s in enumerate(sectors)},
                 "no_sector_train": int((y.sum(axis=1) == 0).sum())},
        "params": {"C": SECTOR_C, "vector_C": SECTOR_VECTOR_C,
                   "vector_weight": SECTOR_VECTOR_WEIGHT, "lexicon_weight": LEXICON_WEIGHT,
                   "analyst_weight": ANALYST_WEIGHT, "real_weight": REAL_SECTOR_WEIGHT,
                   "real_topic_weight": REAL_TOPIC_WEIGHT,
                   "cooperation_floor": floor,
                   "cooperation_floors_tried": list(SECTOR_COOPERATION_FLOORS),
                   "seed": seed},
        "cross_validation": {"folds": len(fold_ids), "of": "the written items", **cv},
        "real": on_real,  # the real cooperation posts alone, out of fold
        "real_other": on_topics,  # the real posts that are not cooperation, out of fold
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
