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


def test_scaled_columns_score_as_trained_and_weigh_more():
    """A prefix's columns scaled before the row's norm (the party paths, PATH_SCALE): the
    stored arrays score as scikit-learn did on the scaled rows, and the scaled word weighs
    more in a row than unscaled."""
    from scipy.sparse import diags
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    scales = {"_r_": 3.0}
    linear = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 4.0, 13,
                                     scales=scales)
    plain = train._tfidf_regression(TEXTS, LABELS, [1.0] * len(TEXTS), 4.0, 13)
    vectorizer = TfidfVectorizer(analyzer=train._identity, min_df=train.MIN_DF,
                                 sublinear_tf=True, norm=None).fit(TEXTS)
    names = vectorizer.get_feature_names_out()
    scale = diags([3.0 if n.startswith("_r_") else 1.0 for n in names])

    def rows(texts):
        return normalize(vectorizer.transform(texts) @ scale)

    regression = LogisticRegression(C=4.0, class_weight="balanced", max_iter=5000,
                                    random_state=13).fit(rows(TEXTS), LABELS)
    unseen = [["россия", "_r_sign", "неизвестное"], ["_r_neg_sport", "вода"], []]
    expected = regression.decision_function(rows(unseen))
    assert [linear.raw(g) for g in unseen] == pytest.approx(expected.tolist(), abs=1e-9)
    sign = list(names).index("_r_sign")
    assert linear.idf[sign] == pytest.approx(3 * plain.idf[sign])
    # the cue moves the score of a text more than before
    with_cue, without = ["россия", "_r_sign"], ["россия"]
    assert linear.raw(with_cue) - linear.raw(without) > \
        plain.raw(with_cue) - plain.raw(without) > 0


def test_the_detector_weighs_the_paths_between_parties_by_path_scale():
    """Both kinds of `pair_paths` strings (the path and its meeting lemma) are scaled, the
    other words are not."""
    from monitor.coop_features import MEETING_PREFIX, PATH_PREFIX

    path, meeting = f"{PATH_PREFIX}c:nsubj^поставить^iobj:c", f"{MEETING_PREFIX}поставить"
    docs = [train.LabelledDoc(
        id=str(i), source="tg-news", subset=None, label=bool(label), countries=None,
        scope=None, grams=[grams + ([path, meeting] if label else [])],
        vector=np.zeros(300), sentence_vectors=np.zeros((1, 300)), mentions={}, actors=[[]],
        rule_coop=[False], sentences=[" ".join(grams)], evidence=None, lemmas="",
        keyword=False) for i, (grams, label) in enumerate(zip(TEXTS, LABELS))]
    detector = train._fit_document(docs, 13)
    plain = train._tfidf_regression([d.grams[0] for d in docs], LABELS, [1.0] * len(docs),
                                    train.DETECTOR_C, 13)
    names = detector.names.tolist()
    assert train.PATH_SCALE != 1.0
    for scaled in (path, meeting):
        column = names.index(scaled)
        assert detector.idf[column] == pytest.approx(train.PATH_SCALE * plain.idf[column])
    word = names.index("россия")
    assert detector.idf[word] == pytest.approx(plain.idf[word])


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
