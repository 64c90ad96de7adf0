"""The document model: one Natasha pass into a spaCy Doc, and how its models are loaded."""

import pytest

from monitor import nlp

TEXTS = [
    "Минстрой России и Министерство земли, инфраструктуры и транспорта Японии подписали "
    "меморандум. Документ подписал Ирек Файзуллин.",
    "В Нидерландах открылся офис «Газпрома». Представители Российско-Японской рабочей "
    "группы обсудили водоочистку в Санкт-Петербурге.",
]


def test_tokenizer_is_natasha():
    """`nlp(text)` runs the same single Natasha pass as the service (no second tokenizer)."""
    pipeline = nlp.pipeline()
    assert isinstance(pipeline.tokenizer, nlp.NatashaTokenizer)
    doc = pipeline("Министр посетил Москву. Стороны подписали соглашение.")
    assert [t.text for t in doc][:4] == ["Министр", "посетил", "Москву", "."]
    assert [t.lemma_ for t in doc][:3] == ["министр", "посетить", "москва"]
    assert len(list(doc.sents)) == 2
    assert [(e.text, e.label_) for e in doc.ents] == [("Москву", "LOC")]


def _markup(models, text):
    from natasha import Doc

    doc = Doc(text)
    doc.segment(models.segmenter)
    doc.tag_morph(models.morph_tagger)
    doc.parse_syntax(models.syntax_parser)
    doc.tag_ner(models.ner_tagger)
    return ([(t.text, t.pos, t.feats, t.head_id, t.rel) for t in doc.tokens],
            [(s.start, s.stop, s.type) for s in doc.spans])


@pytest.mark.slow
def test_lean_loading_changes_no_output():
    """The taggers loaded on the quantised vectors alone (no word index, no similarity
    tables) and with one shared vocabulary tag, parse and find entities exactly as after
    Natasha's own loading."""
    from natasha import NewsEmbedding, NewsMorphTagger, NewsNERTagger, NewsSyntaxParser, \
        Segmenter

    lean = nlp.natasha_models()
    encoders = [lean.morph_tagger.infer.encoder, lean.syntax_parser.infer.encoder,
                lean.ner_tagger.infer.encoder]
    assert encoders[0].words_vocab is encoders[1].words_vocab is encoders[2].words_vocab
    emb = NewsEmbedding()
    plain = nlp.NatashaModels(Segmenter(), NewsMorphTagger(emb), NewsSyntaxParser(emb),
                              NewsNERTagger(emb))
    assert plain.morph_tagger.infer.encoder.words_vocab is not encoders[0].words_vocab
    for text in TEXTS:
        assert _markup(lean, text) == _markup(plain, text)
    # the same vectors, and slovnet's loader is itself again once loading is over
    vectors = nlp.tagger_embedding()
    assert vectors.meta.id == emb.meta.id
    assert (vectors.pq.codes == emb.pq.codes).all()
    assert (vectors.pq.indexes == emb.pq.indexes).all()
    from slovnet.exec import pack

    assert pack.bytes_vocab.__module__ == "slovnet.exec.pack"


def test_a_sentence_without_end_is_cut_into_pieces():
    """The syntax parser's cost is quadratic in a sentence's length: no sentence reaches it
    longer than MAX_SENTENCE_TOKENS tokens, and no token is lost."""
    from monitor.nlp import MAX_SENTENCE_TOKENS, natasha_models, process
    from monitor.nlp import _segment

    text = " ".join(["слово"] * (2 * MAX_SENTENCE_TOKENS + 7))
    sentences = _segment(text, natasha_models().segmenter)
    assert [len(s) for s in sentences] == [MAX_SENTENCE_TOKENS, MAX_SENTENCE_TOKENS, 7]
    doc = process("", text)
    assert len(doc) == 2 * MAX_SENTENCE_TOKENS + 7 and len(list(doc.sents)) == 3
