"""Named entities (PER, LOC, ORG) with Russian normal forms, via Natasha.

Natasha's models ship inside its wheel, so loading needs no network. ORG normal forms use
the dependency tree (hence `parse_syntax`): without it "Министерство иностранных дел"
would come out as "Министерство иностранные дела".
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache

# numpy's own threads only oversubscribe a 2-core machine when several workers run.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@dataclass
class Entity:
    """One proper-name mention; offsets index the text it was found in."""

    type: str  # PER | LOC | ORG
    text: str
    normal: str
    start: int
    stop: int
    in_title: bool = False
    canonical: str | None = None
    country: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        if not self.in_title:
            del data["in_title"]
        return {k: v for k, v in data.items() if v is not None}


@dataclass
class NatashaModels:
    segmenter: object
    morph_vocab: object
    morph_tagger: object
    syntax_parser: object
    ner_tagger: object


_lock = threading.Lock()


@lru_cache(maxsize=1)
def load_models() -> NatashaModels:
    """Load Natasha once per process (about 1.5 s)."""
    from natasha import (MorphVocab, NewsEmbedding, NewsMorphTagger, NewsNERTagger,
                         NewsSyntaxParser, Segmenter)

    emb = NewsEmbedding()
    return NatashaModels(
        segmenter=Segmenter(),
        morph_vocab=MorphVocab(),
        morph_tagger=NewsMorphTagger(emb),
        syntax_parser=NewsSyntaxParser(emb),
        ner_tagger=NewsNERTagger(emb),
    )


def extract_entities(text: str, *, in_title: bool = False) -> list[Entity]:
    """PER/LOC/ORG mentions in `text`, each with its nominative normal form."""
    if not text.strip():
        return []
    from natasha import Doc

    models = load_models()
    doc = Doc(text)
    with _lock:  # the taggers are not documented as thread-safe
        doc.segment(models.segmenter)
        doc.tag_morph(models.morph_tagger)
        doc.parse_syntax(models.syntax_parser)
        doc.tag_ner(models.ner_tagger)
    entities = []
    for span in doc.spans:
        span.normalize(models.morph_vocab)
        entities.append(Entity(type=span.type, text=span.text, normal=span.normal or span.text,
                               start=span.start, stop=span.stop, in_title=in_title))
    return entities
