"""The document model: one spaCy `Doc` per article, built from a single Natasha pass.

Natasha segments the title and the text once; its morphology tagger, syntax parser and NER
model run on those same tokens (batched together), and the result becomes a spaCy Doc made
with `spacy.blank("ru")`'s vocabulary: tokens, lemmas (pymorphy3, guided by Natasha's tags),
POS, morphology, dependencies and sentences. Later steps are registered spaCy pipeline
components working on that Doc: Natasha's NER spans (`natasha_ner`), gazetteer matches
(`gazetteer`), normal forms and linking (`party_linker`), cooperation (`cooperation_detector`, in
`detector`).

The title and the text share one Doc: the text starts at `doc.user_data["text_start"]`.
"""

from __future__ import annotations

import gzip
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

os.environ.setdefault("OMP_NUM_THREADS", "1")  # numpy threads only oversubscribe 2 cores

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from . import morph

SEPARATOR = "\n\n"  # between title and text in the combined Doc

# Attributes of entity spans (doc.ents). spaCy keys span extension values by character
# offsets only, so gazetteer matches keep theirs elsewhere (gazetteer.matches).
for _name in ("normal", "canonical", "country", "kind", "parts"):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=None)


@dataclass
class NatashaModels:
    segmenter: object
    morph_tagger: object
    syntax_parser: object
    ner_tagger: object


@lru_cache(maxsize=1)
def natasha_models() -> NatashaModels:
    """Natasha's models ship inside its wheel: loading needs no network (about 0.5 s). Their
    slowest layers run as `slovnet_fast`'s faster equivalents."""
    from natasha import NewsMorphTagger, NewsNERTagger, NewsSyntaxParser, Segmenter

    from .slovnet_fast import speed_up

    emb = tagger_embedding()
    with _shared_vocabularies():
        models = NatashaModels(Segmenter(), NewsMorphTagger(emb), NewsSyntaxParser(emb),
                               NewsNERTagger(emb))
    speed_up(models.morph_tagger, models.syntax_parser, models.ner_tagger)
    return models


@dataclass
class TaggerEmbedding:
    """What Natasha's taggers read of its news embedding (slovnet's InjectNavecVisitor):
    the embedding's id and its quantised vectors."""

    meta: object
    pq: object


def tagger_embedding() -> TaggerEmbedding:
    """The news embedding without what only word lookups and similarity use: navec's own
    loader (`NewsEmbedding()`) also indexes its 250,000 words and precomputes a norm per
    word and products of centroids, 0.4 s of every start-up."""
    from natasha.data import NEWS_EMBEDDING
    from navec.meta import Meta
    from navec.navec import META, PQ_
    from navec.pq import PQ
    from navec.tar import Tar

    class QuantisedVectors(PQ):
        def precompute(self):  # the similarity tables
            pass

    with Tar(NEWS_EMBEDDING) as tar:
        meta = Meta.from_file(tar.load(META))
        Meta.check_protocol(meta.protocol)
        return TaggerEmbedding(meta, QuantisedVectors.from_file(tar.load(PQ_)))


@contextmanager
def _shared_vocabularies():
    """The morphology, syntax and NER packs each carry the same 250,000-word vocabulary;
    slovnet would split it and index it three times (0.3 s). While loading, identical
    vocabularies are built once and shared (the taggers only read them). Skipped when the
    installed slovnet has no `bytes_vocab`."""
    try:
        from slovnet.exec import pack

        original = pack.bytes_vocab
    except (ImportError, AttributeError):
        yield
        return
    shared: dict[bytes, object] = {}

    def bytes_vocab(data: bytes):
        content = gzip.decompress(data)
        if content not in shared:
            shared[content] = original(data)
        return shared[content]

    pack.bytes_vocab = bytes_vocab
    try:
        yield
    finally:
        pack.bytes_vocab = original


_lock = threading.Lock()


MAX_SENTENCE_TOKENS = 150  # longer "sentences" (lists, text without full stops) are split


def _segment(text: str, segmenter) -> list[list]:
    """Sentences as lists of razdel tokens (with offsets), one segmentation pass. A sentence
    longer than MAX_SENTENCE_TOKENS is cut into pieces: the syntax parser scores every pair
    of a sentence's tokens, so a text without full stops would cost time and memory
    quadratic in its length."""
    if not text.strip():
        return []
    tokens = list(segmenter.tokenize(text))
    sents = list(segmenter.sentenize(text))
    result, i = [], 0
    for sent in sents:
        group = []
        while i < len(tokens) and tokens[i].start < sent.stop:
            if tokens[i].start >= sent.start:
                group.append(tokens[i])
            i += 1
        for start in range(0, len(group), MAX_SENTENCE_TOKENS):
            result.append(group[start:start + MAX_SENTENCE_TOKENS])
    return result


def _ner_spans(tagger, sequences: list[list]) -> list[list[tuple[int, int, str]]]:
    """Run Natasha's NER model on already segmented token sequences (one per part, as
    Natasha does on a whole text) and return (first token, last token + 1, type) spans."""
    infer = tagger.infer
    result = []
    for seq in sequences:
        if not seq:
            result.append([])
            continue
        # One sequence per batch: in a batch, the title would be padded to the text's
        # length and the model would run on twice the tokens.
        words = [token.text for token in seq]
        tags = next(iter(infer.decoder(infer.process(infer.encoder([words])))))
        spans, start, kind = [], None, None
        for index, tag in enumerate(list(tags) + ["O"]):
            prefix, _, label = tag.partition("-")
            if start is not None and (prefix != "I" or label != kind):
                spans.append((start, index, kind))
                start = None
            if prefix == "B" or (prefix == "I" and start is None):
                start, kind = index, label
        result.append(spans)
    return result


def _by_length(infer, sentences: list[list[str]]) -> list:
    """What a slovnet tagger's `infer` decodes for each sentence (morphology: tag strings;
    syntax: (ids, head ids, relations)), in the original order, the sentences batched
    shortest first: batches of 8 are padded to their longest sentence, and batches of
    similar lengths spend ~10% less time on padding. Natasha's `tagger.map` gives the same
    predictions wrapped in records, which cost more than the models' arithmetic saves."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    results = [None] * len(sentences)
    decoded = infer.decoder(infer.process(infer.encoder([sentences[i] for i in order])))
    for index, result in zip(order, decoded):
        results[index] = result
    return results


@lru_cache(maxsize=4096)
def _morph_string(feats: tuple) -> str:
    """Natasha's features as spaCy's morph string ("Case=Gen|Number=Sing")."""
    return "|".join(f"{k}={v}" for k, v in feats)


@lru_cache(maxsize=4096)
def _morph_tag(tag: str) -> tuple[str, str, str | None, str | None]:
    """A morphology tag ("NOUN|Case=Gen|Number=Sing") as (POS, spaCy's morph string, case,
    number)."""
    from slovnet.conll import parse_conll_tag

    pos, feats = parse_conll_tag(tag)
    return (pos, _morph_string(tuple(sorted(feats.items()))), feats.get("Case"),
            feats.get("Number"))


def _valid_tree(heads: list[int]) -> list[int]:
    """Repair a sentence's 1-based head list (0 = root) into a tree: one root, no cycles.
    Natasha's parser occasionally returns several roots or a loop; spaCy needs a tree."""
    n = len(heads)
    heads = [h if 0 <= h <= n and h != i + 1 else 0 for i, h in enumerate(heads)]
    roots = [i for i, h in enumerate(heads) if h == 0]
    root = roots[0] if roots else 0
    heads[root] = 0
    for i in roots[1:]:
        heads[i] = root + 1
    for i in range(n):
        seen, node = set(), i
        while heads[node] != 0:
            if node in seen:
                heads[i] = root + 1  # a loop: hang this token on the root
                break
            seen.add(node)
            node = heads[node] - 1
    return heads


def make_doc(nlp: Language, title: str, text: str) -> Doc:
    """Tokenise, tag and parse title and text with one Natasha pass; return the spaCy Doc
    (without NER, which the `natasha_ner` component adds)."""
    models = natasha_models()
    parts = [title, text]
    sentences = [_segment(part, models.segmenter) for part in parts]
    flat = [sent for part in sentences for sent in part]
    words = [[token.text for token in sent] for sent in flat]
    with _lock:  # Natasha's models are not documented as thread-safe
        morphs = _by_length(models.morph_tagger.infer, words)
        syntax = _by_length(models.syntax_parser.infer, words)

    combined = title + SEPARATOR + text
    offsets = [0, len(title) + len(SEPARATOR)]
    doc_words, spaces, pos, morph_strings, lemmas, heads, deps, sent_starts = \
        [], [], [], [], [], [], [], []
    char_starts = []
    sent_index = 0
    for part_index, part_sents in enumerate(sentences):
        base = offsets[part_index]
        for sent in part_sents:
            tags = morphs[sent_index]
            _, head_ids, rels = syntax[sent_index]
            first = len(doc_words)
            sent_heads = _valid_tree([int(h) for h in head_ids[:len(sent)]])
            for i, token in enumerate(sent):
                tag_pos, morph_string, case, number = _morph_tag(tags[i])
                start = base + token.start
                doc_words.append(token.text)
                char_starts.append(start)
                pos.append(tag_pos)
                morph_strings.append(morph_string)
                lemmas.append(morph.lemma(token.text, tag_pos, case, number))
                head = sent_heads[i]
                heads.append(first + head - 1 if head > 0 else first + i)
                deps.append(rels[i] if head > 0 else "ROOT")
                sent_starts.append(i == 0)
            sent_index += 1
    for i, start in enumerate(char_starts):
        end = start + len(doc_words[i])
        following = char_starts[i + 1] if i + 1 < len(char_starts) else len(combined)
        spaces.append(following > end and combined[end] == " " and following == end + 1)
    doc = Doc(nlp.vocab, words=doc_words, spaces=spaces, pos=pos or None,
              morphs=morph_strings or None, lemmas=lemmas or None,
              heads=heads or None, deps=deps or None, sent_starts=sent_starts or None)
    doc.user_data["text"] = combined
    doc.user_data["char_starts"] = char_starts
    doc.user_data["title_len"] = len(title)
    doc.user_data["text_start"] = offsets[1]
    doc.user_data["part_tokens"] = [sum(len(s) for s in sentences[0]),
                                    sum(len(s) for s in sentences[1])]
    doc.user_data["part_sentences"] = sentences
    return doc


def token_offsets(doc: Doc, start: int, stop: int) -> tuple[int, int]:
    """Character offsets (into the combined title + text) of doc[start:stop]."""
    starts = doc.user_data["char_starts"]
    return starts[start], starts[stop - 1] + len(doc[stop - 1].text)


@Language.factory("natasha_ner")
def create_natasha_ner(nlp: Language, name: str):
    """Natasha's NER model as a pipeline component: sets `doc.ents` (PER, LOC, ORG)."""

    def natasha_ner(doc: Doc) -> Doc:
        models = natasha_models()
        sentences = doc.user_data["part_sentences"]
        # Title and text as one sequence, as plain Natasha reads a whole text: a headline
        # alone ("Робосекс", "…словно царь Иоанн Грозный») lacks the context its words get
        # from the text. A span never crosses from the title into the text.
        sequence = [token for part in sentences for sent in part for token in sent]
        with _lock:
            [spans] = _ner_spans(models.ner_tagger, [sequence])
        title_tokens = doc.user_data["part_tokens"][0]
        ents = []
        for start, stop, label in spans:
            if start < title_tokens < stop:
                ents.append(Span(doc, start, title_tokens, label=label))
                start = title_tokens
            ents.append(Span(doc, start, stop, label=label))
        doc.set_ents(ents)
        return doc

    return natasha_ner


class NatashaTokenizer:
    """spaCy's tokenizer slot filled by Natasha: `nlp.make_doc(text)` segments, tags and
    parses with the same single pass as `make_doc`, and spaCy does not build a second,
    rule-based Russian tokenizer that nothing would use."""

    def __init__(self, nlp: Language):
        self.nlp = nlp

    def __call__(self, text: str) -> Doc:
        return make_doc(self.nlp, "", text)


@spacy.registry.tokenizers("monitor.natasha_tokenizer.v1")
def _natasha_tokenizer():
    return NatashaTokenizer


@lru_cache(maxsize=1)
def pipeline() -> Language:
    """spacy.blank("ru") with this project's components, built once per process."""
    from . import detector, entities, gazetteer  # noqa: F401  (register components)

    nlp = spacy.blank("ru", config={
        "nlp": {"tokenizer": {"@tokenizers": "monitor.natasha_tokenizer.v1"}}})
    nlp.add_pipe("natasha_ner")
    nlp.add_pipe("gazetteer")
    nlp.add_pipe("party_linker")
    nlp.add_pipe("cooperation_detector")
    return nlp


def process(title: str, text: str, *, detect: bool = True) -> Doc:
    """The full document model for one article (`detect=False`: without the cooperation
    verdict, which needs a trained model; what training reads)."""
    nlp = pipeline()
    doc = make_doc(nlp, title, text)
    for name, component in nlp.pipeline:
        if detect or name != "cooperation_detector":
            doc = component(doc)
    return doc
