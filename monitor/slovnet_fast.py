"""Faster stand-ins for four slow parts of Natasha's taggers (slovnet's numpy code).

- `CNNEncoder`: slovnet pads a transposed copy of the input, lays out every convolution
  window, and swaps axes back and forth around each layer; here the input is padded once
  per layer into the same layout, the same matrix product runs, and ReLU, batch norm and
  the padding mask work in place.
- `NavecEmbedding`: the words' vectors gathered through one flat index (4x faster).
- `CRF.decode`: slovnet rebuilds index grids at every token to read the best score; here
  it is `max`.
- Word ids: the three taggers encode every word again; here each word's ids are cached.

The arithmetic is slovnet's, in the same order, so the output is identical, not merely
close: the same tags, heads and entities on real news (tests/test_nlp.py,
tests/test_slovnet_fast.py). `speed_up(*taggers)` swaps them into loaded taggers.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided


class CNNEncoder:
    """slovnet.exec.model.CNNEncoder on the same layers (Conv1d, ReLU, BatchNorm1d; padded
    positions zeroed after each layer), with the same matrix product per layer."""

    def __init__(self, layers):
        self.layers = []
        for layer in layers:
            conv, norm = layer.conv, layer.norm
            filters, in_dim, kernel = conv.weight.shape
            self.layers.append((conv.weight.array.reshape(filters, in_dim * kernel).T,
                                conv.bias.array, conv.padding, kernel, norm.mean.array,
                                norm.std.array, norm.weight.array, norm.bias.array))

    def __call__(self, input: np.ndarray, mask: np.ndarray) -> np.ndarray:
        x = input  # batch x seq x dim, as the embedding gives it
        for weight, bias, padding, kernel, mean, std, scale, shift in self.layers:
            batch, length, in_dim = x.shape
            padded = np.zeros((batch, in_dim, length + 2 * padding), dtype=x.dtype)
            padded[:, :, padding:padding + length] = x.transpose(0, 2, 1)
            width = length + 2 * padding - kernel + 1
            step_batch, step_dim, step_seq = padded.strides
            # (batch, window, dim, offset) as slovnet lays out its windows: the same product
            windows = as_strided(padded, (batch, width, in_dim, kernel),
                                 (step_batch, step_seq, step_dim, step_seq))
            out = np.matmul(windows.reshape(batch * width, in_dim * kernel), weight)
            out += bias
            out = out.reshape(batch, width, -1)
            np.maximum(out, 0, out=out)
            out -= mean
            out /= std
            out *= scale
            out += shift
            out[mask] = 0
            x = out
        return x


class NavecEmbedding:
    """slovnet.exec.model.NavecEmbedding: a word's vector gathered from its quantised codes,
    through one flat index instead of a two-dimensional one."""

    def __init__(self, embedding):
        dims, centroids, chunk = embedding.codes.array.shape
        self.codes = embedding.codes.array.reshape(dims * centroids, chunk)
        self.indexes = embedding.indexes.array
        self.offsets = np.arange(dims, dtype=np.int64) * centroids  # each dimension's codes
        self.dim = dims * chunk

    def __call__(self, input: np.ndarray) -> np.ndarray:
        codes = self.indexes[input.ravel()] + self.offsets
        return self.codes.take(codes.ravel(), axis=0).reshape(*input.shape, self.dim)


class CRF:
    """slovnet.exec.model.CRF's Viterbi decoding with the same transitions."""

    def __init__(self, crf):
        self.transitions = crf.transitions.array

    def decode(self, emissions: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
        emissions = emissions.swapaxes(1, 0)  # seq x batch x tags
        mask = mask.swapaxes(1, 0)
        score = emissions[0]
        history = []
        for index in range(1, len(emissions)):
            scores = score[:, :, None] + self.transitions + emissions[index][:, None, :]
            best = scores.argmax(1)
            history.append(best)
            score = np.where(mask[index][:, None], scores.max(1), score)
        sizes = mask.sum(0) - 1
        batch = []
        for row in range(score.shape[0]):
            best = score[row].argmax()
            tags = [best]
            for indexes in reversed(history[:sizes[row]]):
                best = indexes[row][best]
                tags.append(best)
            tags.reverse()
            batch.append(np.array(tags))
        return batch


WORDS_CACHED = 200_000  # words whose ids are kept (about 40 MB); the cache then starts over


def _cached_ids(encoder, cache: dict):
    """slovnet's `WordShapeEncoder.item` (a sentence's word and shape ids) reading each
    word's ids from `cache` after its first time: the three taggers encode the same words."""
    from slovnet.shape import word_shape

    words_vocab, shapes_vocab = encoder.words_vocab, encoder.shapes_vocab

    def item(words):
        word_ids, shape_ids = [], []
        for word in words:
            ids = cache.get(word)
            if ids is None:
                if len(cache) >= WORDS_CACHED:
                    cache.clear()
                ids = cache[word] = (words_vocab.encode(word.lower()),
                                     shapes_vocab.encode(word_shape(word)))
            word_ids.append(ids[0])
            shape_ids.append(ids[1])
        return word_ids, shape_ids

    item.cache = cache
    return item


def speed_up(*taggers) -> None:
    """Swap the faster layers into loaded Natasha taggers (morphology, syntax, NER); taggers
    with the same vocabularies share one cache of word ids."""
    caches: dict[tuple[int, int], dict] = {}
    for tagger in taggers:
        model, encoder = tagger.infer.model, tagger.infer.encoder
        model.encoder = CNNEncoder(model.encoder.layers)
        model.emb.word = NavecEmbedding(model.emb.word)
        crf = getattr(model.head, "crf", None)
        if crf is not None:
            model.head.crf = CRF(crf)
        key = (id(encoder.words_vocab), id(encoder.shapes_vocab))
        encoder.item = _cached_ids(encoder, caches.setdefault(key, {}))
