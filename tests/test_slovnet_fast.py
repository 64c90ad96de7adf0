"""slovnet_fast's layers give exactly what slovnet's own give, padding and masks included."""

import numpy as np
import pytest
from slovnet.exec.model import CRF as SlovnetCRF
from slovnet.exec.model import CNNEncoder as SlovnetEncoder

from monitor import slovnet_fast


@pytest.fixture(scope="module")
def plain_taggers():
    """Natasha's taggers as its own loader makes them (slovnet's layers)."""
    from natasha import NewsEmbedding, NewsMorphTagger, NewsNERTagger, NewsSyntaxParser

    emb = NewsEmbedding()
    return NewsMorphTagger(emb), NewsSyntaxParser(emb), NewsNERTagger(emb)


@pytest.mark.parametrize("batch, length, padded", [(1, 1, 0), (1, 37, 0), (8, 23, 11), (3, 150, 149)])
def test_the_encoder_equals_slovnets(plain_taggers, batch, length, padded):
    rng = np.random.default_rng(length)
    for tagger in plain_taggers:
        encoder = tagger.infer.model.encoder
        assert isinstance(encoder, SlovnetEncoder)
        input = rng.standard_normal((batch, length, 330)).astype(np.float32)
        mask = np.zeros((batch, length), dtype=bool)
        mask[-1, length - padded:] = True  # the batch's last sentence is the shortest
        ours = slovnet_fast.CNNEncoder(encoder.layers)(input, mask)
        expected = encoder(input.copy(), mask)
        assert ours.shape == expected.shape
        assert np.array_equal(ours, expected)
        assert not ours[mask].any()


@pytest.mark.parametrize("lengths", [[1], [40], [12, 7, 1], [30, 30]])
def test_the_crf_decodes_as_slovnets(plain_taggers, lengths):
    crf = plain_taggers[2].infer.model.head.crf
    assert isinstance(crf, SlovnetCRF)
    tags = crf.transitions.array.shape[0]
    rng = np.random.default_rng(sum(lengths))
    emissions = rng.standard_normal((len(lengths), max(lengths), tags)).astype(np.float32)
    mask = np.arange(max(lengths))[None, :] < np.array(lengths)[:, None]
    ours = slovnet_fast.CRF(crf).decode(emissions, mask)
    expected = crf.decode(emissions, mask)
    assert [len(path) for path in ours] == lengths
    assert all(np.array_equal(a, b) for a, b in zip(ours, expected))


def test_word_ids_are_cached_and_the_cache_starts_over_when_full(plain_taggers, monkeypatch):
    from natasha import NewsEmbedding, NewsMorphTagger

    tagger = NewsMorphTagger(NewsEmbedding())
    words = ["Москва", "и", "Токио", "подписали", "соглашение", ".", "Москва", "XYZ-123"]
    expected = tagger.infer.encoder.item(words)
    monkeypatch.setattr(slovnet_fast, "WORDS_CACHED", 4)
    slovnet_fast.speed_up(tagger)
    item = tagger.infer.encoder.item
    assert item(words) == expected
    assert 0 < len(item.cache) <= 4  # started over when full
    assert item(words) == expected
    item.cache["Москва"] = (1, 2)  # a cached word's ids are read from the cache
    assert item(["Москва"]) == ([1], [2])


def test_the_word_vectors_equal_slovnets(plain_taggers):
    rng = np.random.default_rng(7)
    for tagger in plain_taggers:
        embedding = tagger.infer.model.emb.word
        ids = rng.integers(0, embedding.indexes.array.shape[0], size=(3, 17))
        ours = slovnet_fast.NavecEmbedding(embedding)(ids)
        assert ours.dtype == np.float32
        assert np.array_equal(ours, embedding(ids))
