"""What a text means, as one vector: the mean of Natasha's news embedding over its words.

The embedding (navec, 300 dimensions, trained on Russian news) ships in Natasha's wheel and
is already loaded for the taggers; words are looked up through the morphology tagger's
vocabulary, which is the embedding's. The cooperation detector and the sector classifier
read a text's mean vector beside their TF-IDF features, so a word too rare in the labelled
news still counts through its neighbours («зенитные комплексы» near «вооружение»).
Importing this module loads nothing: the taggers load on the first lookup.
"""

from __future__ import annotations

import threading
from itertools import repeat

import numpy as np

VECTOR_SIZE = 300  # dimensions of Natasha's news embedding
NOT_MET, UNKNOWN, NO_ROOM = -2, -1, -3  # what `VectorRows.rows` says of a word beside a row


def lookup(word: str) -> np.ndarray | None:
    """The embedding's vector of one lowercased word, None when it does not know it."""
    from .nlp import natasha_models

    infer = natasha_models().morph_tagger.infer
    vocab, embedding = infer.encoder.words_vocab, infer.model.emb.word
    index = vocab.item_ids.get(word)
    if index is None:
        return None
    return embedding(np.array([index]))[0]  # slovnet's NavecEmbedding or slovnet_fast's


class VectorRows:
    """The vectors of the words met so far, one row each of a preallocated matrix: a
    text's vectors are one gather of rows (~0.05 ms for 200 words, where the quantised
    lookup takes ~0.4 ms). The first `capacity` known words get rows; unknown words are
    remembered up to `4 * capacity`; the rest are looked up each time they occur."""

    def __init__(self, capacity: int = 30_000):  # ~36 MB, touched only as it fills
        self.capacity, self.used = capacity, 0
        self.rows: dict[str, int] = {}  # word -> row, or UNKNOWN / NO_ROOM
        self.matrix = np.zeros((capacity, VECTOR_SIZE), dtype=np.float32)
        self.lock = threading.Lock()  # one writer; readers only see rows already written

    def __call__(self, words: list[str]) -> np.ndarray:
        """The known words' vectors, in order (rows of an array)."""
        rows = self._rows_of(words)
        if (rows == NOT_MET).any():
            with self.lock:
                for word, row in zip(words, rows.tolist()):
                    if row == NOT_MET:
                        self._add(word)
            rows = self._rows_of(words)
        if (rows < UNKNOWN).any():  # no room (or not remembered): looked up one by one
            vectors = [v for v in map(self._vector, words, rows.tolist()) if v is not None]
            return np.array(vectors, dtype=np.float32).reshape(len(vectors), VECTOR_SIZE)
        return self.matrix[rows[rows >= 0]]

    def _rows_of(self, words: list[str]) -> np.ndarray:
        return np.fromiter(map(self.rows.get, words, repeat(NOT_MET)), dtype=np.int64,
                           count=len(words))

    def _vector(self, word: str, row: int) -> np.ndarray | None:
        if row >= 0:
            return self.matrix[row]
        return None if row == UNKNOWN else lookup(word)

    def _add(self, word: str) -> None:
        """Look one word up and remember the answer (called under the lock). A row is
        written before the word points to it, so a reader never gathers an empty row."""
        if word in self.rows:
            return
        vector = lookup(word)
        if vector is not None and self.used < self.capacity:
            self.matrix[self.used] = vector
            self.rows[word] = self.used
            self.used += 1
        elif len(self.rows) < 4 * self.capacity:
            self.rows[word] = UNKNOWN if vector is None else NO_ROOM


_rows = VectorRows()


def word_vectors(words: list[str], lowercase: bool = True) -> np.ndarray:
    """The embedding's vector of each of `words` it knows, lowercased (unless they are
    already), as the rows of an array; unknown words are left out."""
    return _rows([w.lower() for w in words] if lowercase else words)


def mean_word_vector(words: list[str], lowercase: bool = True) -> np.ndarray:
    """The mean of the words' vectors, unit length (zeros when none is known)."""
    vectors = word_vectors(words, lowercase)
    if not len(vectors):
        return np.zeros(VECTOR_SIZE)
    mean = vectors.sum(axis=0).astype(np.float64)  # the norm divides the count out
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else mean
