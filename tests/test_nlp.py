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


def _real_texts() -> list[str]:
    """The repository's real news: every 40th Telegram post of models/data/tg-news, the
    posts of tests/data/tg-news and the NEREL articles of tests/data/nerel."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    lines = (root / "models" / "data" / "tg-news" / "posts.jsonl").read_text("utf-8").splitlines()
    lines += (root / "tests" / "data" / "tg-news" / "posts.jsonl").read_text("utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines[::40]]
    return texts + [p.read_text("utf-8") for p in sorted((root / "tests" / "data" / "nerel").glob("*.txt"))]


@pytest.mark.slow
def test_lean_loading_changes_no_output():
    """The taggers loaded on the quantised vectors alone (no word index, no similarity
    tables), with one shared vocabulary and with slovnet_fast's layers tag, parse and find
    entities exactly as after Natasha's own loading, on real news."""
    from natasha import NewsEmbedding, NewsMorphTagger, NewsNERTagger, NewsSyntaxParser, \
        Segmenter

    from monitor import slovnet_fast

    lean = nlp.natasha_models()
    assert isinstance(lean.syntax_parser.infer.model.encoder, slovnet_fast.CNNEncoder)
    assert isinstance(lean.ner_tagger.infer.model.head.crf, slovnet_fast.CRF)
    encoders = [lean.morph_tagger.infer.encoder, lean.syntax_parser.infer.encoder,
                lean.ner_tagger.infer.encoder]
    assert encoders[0].words_vocab is encoders[1].words_vocab is encoders[2].words_vocab
    emb = NewsEmbedding()
    plain = nlp.NatashaModels(Segmenter(), NewsMorphTagger(emb), NewsSyntaxParser(emb),
                              NewsNERTagger(emb))
    assert plain.morph_tagger.infer.encoder.words_vocab is not encoders[0].words_vocab
    texts = TEXTS + _real_texts()
    assert len(texts) > 200
    for text in texts:
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


def test_tags_read_past_natashas_records_are_natashas():
    """make_doc reads the taggers' decoded predictions directly (`_by_length`); they are
    what Natasha's own `tagger.map` gives: POS, features, heads and relations."""
    models = nlp.natasha_models()
    words = [[token.text for token in sent]
             for text in TEXTS + _real_texts()[:40] for sent in nlp._segment(text, models.segmenter)]
    assert len(words) > 100
    tags = nlp._by_length(models.morph_tagger.infer, words)
    parses = nlp._by_length(models.syntax_parser.infer, words)
    for sentence, morph, syntax, tag_list, (_, heads, rels) in zip(
            words, models.morph_tagger.map(words), models.syntax_parser.map(words), tags, parses):
        ours = [nlp._morph_tag(tag) for tag in tag_list]
        assert [(pos, case, number) for pos, _, case, number in ours] == [
            (t.pos, t.feats.get("Case"), t.feats.get("Number")) for t in morph.tokens]
        assert [m for _, m, _, _ in ours] == [
            "|".join(f"{k}={v}" for k, v in sorted(t.feats.items())) for t in morph.tokens]
        assert (heads, rels) == ([t.head_id for t in syntax.tokens], [t.rel for t in syntax.tokens])
        assert len(heads) == len(sentence)
