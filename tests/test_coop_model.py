"""The learned cooperation model's arithmetic: the stored arrays score as scikit-learn did
in training, and the best sentence (its words and its mean word vector) joins the
document's score with its weight."""

import dataclasses
import json

import numpy as np
import pytest

from conftest import ROOT
from monitor import coop_model, train

TEXTS = [["россия", "япония", "_r_sign", "соглашение", "соглашение"],
         ["матч", "сборная", "_r_neg_sport", "россия"],
         ["сотрудничать", "_c_", "вода", "очистка", "россия"],
         ["удар", "_r_neg_conflict", "украина", "россия"],
         ["меморандум", "_r_sign", "вуз", "наука"],
         ["погода", "снег", "москва", "снег"]] * 2
LABELS = [1, 0, 1, 0, 1, 0] * 2


def test_stored_arrays_score_as_scikit_learn_did():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    linear = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 4.0, 13)
    vectorizer = TfidfVectorizer(analyzer=train._identity, min_df=train.MIN_DF,
                                 sublinear_tf=True).fit(TEXTS)
    regression = LogisticRegression(C=4.0, class_weight="balanced", max_iter=5000,
                                    random_state=13).fit(vectorizer.transform(TEXTS), LABELS)
    unseen = [["россия", "соглашение", "соглашение", "неизвестное"], ["неизвестное"], []]
    expected = regression.decision_function(vectorizer.transform(unseen))
    assert [linear.raw(g) for g in unseen] == pytest.approx(expected.tolist(), abs=1e-9)
    assert linear.raw([]) == pytest.approx(linear.intercept)


@pytest.mark.parametrize("weight", [train.VECTOR_WEIGHT, train.SENTENCE_VECTOR_WEIGHT],
                         ids=["document", "sentence"])
def test_a_vector_scores_as_scikit_learn_did_on_the_stacked_columns(weight):
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectors = np.random.default_rng(0).normal(size=(len(TEXTS), 5))
    linear = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 4.0, 13, vectors,
                                     weight)
    assert linear.vector_coef.shape == (5,)
    vectorizer = TfidfVectorizer(analyzer=train._identity, min_df=train.MIN_DF,
                                 sublinear_tf=True).fit(TEXTS)

    def stacked(texts, dense):
        return hstack([vectorizer.transform(texts),
                       csr_matrix(dense * weight)]).tocsr()

    regression = LogisticRegression(C=4.0, class_weight="balanced", max_iter=5000,
                                    random_state=13).fit(stacked(TEXTS, vectors), LABELS)
    unseen = [["россия", "соглашение", "неизвестное"], []]
    dense = np.random.default_rng(1).normal(size=(2, 5))
    expected = regression.decision_function(stacked(unseen, dense))
    assert [linear.raw(g, v) for g, v in zip(unseen, dense)] == pytest.approx(
        expected.tolist(), abs=1e-9)
    with pytest.raises(ValueError, match="vector"):
        linear.raw(unseen[0])


def _model(document, sentence, sentence_weight: float) -> coop_model.CooperationModel:
    """A cooperation model of these two regressions: Platt identity, no country model."""
    return coop_model.CooperationModel(document, sentence, sentence_weight,
                                       np.array([1.0, 0.0]), 0.5,
                                       np.zeros(len(coop_model.COUNTRY_FEATURES)), 0.0, 0.5,
                                       "test")


def test_the_best_sentence_joins_the_score_with_its_weight():
    document = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 4.0, 13)
    sentence = train._tfidf_regression(TEXTS[::-1], LABELS[::-1], [1.0] * len(TEXTS), 1.0, 1)
    model = _model(document, sentence, 0.0)
    grams = [["россия", "япония"], ["_r_sign", "соглашение"], ["погода"]]
    alone = document.raw([g for s in grams for g in s])
    assert model.raw(grams, None) == pytest.approx(alone)
    weighted = dataclasses.replace(model, sentence_weight=0.5)
    best = max(sentence.raw(s) for s in grams)
    assert weighted.raw(grams, None) == pytest.approx(alone + 0.5 * best)
    probability, sentences = weighted.score(grams, None)
    assert sentences == pytest.approx([sentence.raw(s) for s in grams])
    assert probability == pytest.approx(1 / (1 + np.exp(-(alone + 0.5 * best))))
    assert weighted.raw([], None) == pytest.approx(
        document.intercept + 0.5 * sentence.intercept)


def test_the_shipped_model_chose_its_sentence_weight_among_those_tried():
    card = json.loads((ROOT / "models" / "cooperation.json").read_text(encoding="utf-8"))
    detector = card["detector"]
    assert detector["sentence_weights_tried"] == list(train.SENTENCE_WEIGHTS)
    assert detector["sentence_weight"] in train.SENTENCE_WEIGHTS
    assert coop_model.load_model().sentence_weight == detector["sentence_weight"]


def test_sentence_vectors_join_the_evidence_score():
    vectors = np.random.default_rng(0).normal(size=(len(TEXTS), 5))
    sentence = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 1.0, 1, vectors,
                                       train.SENTENCE_VECTOR_WEIGHT)
    plain = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 4.0, 13)
    model = _model(plain, sentence, 0.5)
    grams = [["россия", "япония"], ["_r_sign", "соглашение"]]
    rows = np.random.default_rng(1).normal(size=(2, 5))
    scores = model.sentence_scores(grams, rows)
    assert scores == pytest.approx([sentence.raw(g, v) for g, v in zip(grams, rows)])
    assert model.raw(grams, None, sentence_vectors=rows) == pytest.approx(
        plain.raw([g for s in grams for g in s]) + 0.5 * max(scores))
    with pytest.raises(ValueError, match="vector"):
        model.sentence_scores(grams)  # this evidence model reads vectors: pass them
    with pytest.raises(ValueError):
        model.sentence_scores(grams, rows[:1])  # a row per sentence
