"""A text's mean word vector: Natasha's news embedding, looked up through the tagger."""

import numpy as np
import pytest

from monitor import nlp, wordvectors
from monitor.coop_features import document_vector, sentence_vectors
from monitor.cooperation import read_cues


def test_word_vectors_are_natashas_news_embedding():
    """The words' vectors are those of Natasha's news embedding (navec), lowercased;
    words it does not know are left out."""
    from natasha import NewsEmbedding

    emb = NewsEmbedding()
    vectors = wordvectors.word_vectors(["Сотрудничество", "zzqxвыдумка", "партнёрство"])
    assert vectors.shape == (2, wordvectors.VECTOR_SIZE)
    assert np.allclose(vectors[0], emb["сотрудничество"])
    assert np.allclose(vectors[1], emb["партнёрство"])
    assert wordvectors.word_vectors(["zzqxвыдумка"]).shape == (0, wordvectors.VECTOR_SIZE)
    assert wordvectors.word_vectors([]).shape == (0, wordvectors.VECTOR_SIZE)


def test_a_full_row_cache_gives_the_same_vectors():
    """Past its capacity the cache looks words up each time; the vectors do not change,
    whichever path they take, and unknown words never take a row."""
    words = ["россия", "zzqx", "япония", "вода", "очистка", "zzqx", "энергетика", "россия"]
    full = wordvectors.VectorRows(capacity=100)
    small = wordvectors.VectorRows(capacity=3)
    expected = full(words)
    assert expected.shape == (6, wordvectors.VECTOR_SIZE)
    for _ in range(2):  # the first call fills the rows, the second reads them
        assert np.array_equal(small(words), expected)
    assert small.used == 3 and small.rows["zzqx"] == wordvectors.UNKNOWN
    assert small.rows["энергетика"] == wordvectors.NO_ROOM


def test_a_document_vector_is_a_unit_mean_that_puts_synonyms_near():
    def vector(text, sentences=1):
        return document_vector(nlp.process("", text, detect=False), sentences)

    aid = vector("Норвегия поставила Украине зенитные комплексы.")
    arms = vector("Германия передала Киеву системы ПВО и вооружение.")
    football = vector("Сборная Бразилии разгромила Аргентину в матче.")
    assert np.linalg.norm(aid) == pytest.approx(1.0)
    assert aid @ arms > aid @ football
    assert not vector("12345 !!!").any()  # no word it knows: zeros, not NaN
    # a long text's mean fades with its length
    assert np.linalg.norm(vector("Норвегия поставила Украине зенитные комплексы.", 16)) \
        == pytest.approx(0.5)


def test_each_sentence_gets_the_unit_mean_of_its_own_words():
    doc = nlp.process("Россия и Япония будут сотрудничать",
                      "Стороны подписали меморандум. 12345 !!! Погода была тёплой.",
                      detect=False)
    all_cues, _ = read_cues(doc)
    assert [c.span.text for c in all_cues] == [
        "Россия и Япония будут сотрудничать", "Стороны подписали меморандум.", "12345 !!!",
        "Погода была тёплой."]
    rows = sentence_vectors(doc, all_cues)
    assert rows.shape == (4, wordvectors.VECTOR_SIZE)
    assert np.allclose(rows[1], wordvectors.mean_word_vector(
        ["Стороны", "подписали", "меморандум"]))
    assert np.linalg.norm(rows[0]) == pytest.approx(1.0)
    assert not rows[2].any()  # "12345 !!!": no word, a row of zeros, not NaN
    assert rows[1] @ rows[0] > rows[3] @ rows[0]  # signing is nearer cooperating than weather
