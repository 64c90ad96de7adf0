"""`analyse(title, text) -> Analysis`: the one NLP entry point the rest of monitor calls.

It builds the spaCy document model (`nlp.process`), then reads off the entities with normal
forms and links, the cooperation verdict with its parties, countries and evidence, and the
sectors with the lemmas that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import markup, sectors
from .coop_model import load_model
from .entities import Entity, doc_entities
from .nlp import process


def model_version() -> str:
    """Names every model that tagged an item (stored with it; `monitor reprocess` re-tags
    items whose version differs)."""
    return f"ner-natasha-1.6+coop-{load_model().version}+sectors-{sectors.model_version()}"


@dataclass
class Analysis:
    entities: list[Entity] = field(default_factory=list)
    is_cooperation: bool | None = None
    cooperation_score: float | None = None
    scope: str | None = None  # international | domestic
    countries: list[str] = field(default_factory=list)
    parties: list[dict] = field(default_factory=list)
    evidence: str | None = None
    sectors: list[dict] = field(default_factory=list)
    model_version: str = ""
    doc: object = field(default=None, repr=False, compare=False)  # the spaCy Doc

    def to_json(self) -> dict:
        return {
            "entities": [e.to_json() for e in self.entities],
            "is_cooperation": self.is_cooperation,
            "cooperation_score": self.cooperation_score,
            "scope": self.scope,
            "countries": self.countries,
            "parties": self.parties,
            "evidence": self.evidence,
            "sectors": self.sectors,
            "model_version": self.model_version,
        }


@dataclass
class Prepared:
    """What the NLP reads of a stored article: title and text without markup (a text
    without a title gives its first line as the headline), and the way back to the stored
    offsets."""

    title: str
    text: str
    _title: markup.Cleaned
    _text: markup.Cleaned
    _headline_from_text: bool
    _body_start: int  # where `text` starts in the cleaned stored text

    def stored(self, in_title: bool, start: int, stop: int) -> tuple[bool, int, int]:
        """(in_title, start, stop) in the stored title or text of a span of `title` or
        `text`."""
        if in_title and not self._headline_from_text:
            return (True, *self._title.original(start, stop))
        shift = 0 if in_title else self._body_start
        return (False, *self._text.original(start + shift, stop + shift))


def prepare(title: str, text: str) -> Prepared:
    """Clean the stored title and text for analysis (`markup.clean`)."""
    cleaned_title, cleaned_text = markup.clean(title or ""), markup.clean(text or "")
    if cleaned_title.text.strip():
        # a feed entry without a title gets its first line as one (parse.py) and keeps the
        # line in its text: read it once
        headline, body_start = markup.split_headline(cleaned_text)
        if headline != cleaned_title.text.strip():
            body_start = 0
        return Prepared(cleaned_title.text, cleaned_text.text[body_start:], cleaned_title,
                        cleaned_text, False, body_start)
    headline, body_start = markup.split_headline(cleaned_text)
    return Prepared(headline, cleaned_text.text[body_start:], cleaned_title, cleaned_text,
                    bool(headline), body_start)


def _stored_entities(entities: list[Entity], prepared: Prepared) -> list[Entity]:
    """Entities with offsets into the stored title and text (their `text` stays as read:
    "Минстрой России" where the stored text says "Минстрой **России**")."""
    for entity in entities:
        entity.in_title, entity.start, entity.stop = prepared.stored(
            entity.in_title, entity.start, entity.stop)
    return entities


def analyse(title: str, text: str, *, cooperation: bool | None = None) -> Analysis:
    """Analyse one stored article. Offsets index the stored title (`in_title`) or text,
    whatever markup `prepare` removed. `cooperation`: an analyst's verdict, when known, which
    the sector decision (the cooperation floor) reads instead of the detector's."""
    title, text = title or "", text or ""
    prepared = prepare(title, text)
    doc = process(prepared.title, prepared.text)
    coop = doc._.cooperation
    reports_cooperation = coop.is_cooperation if cooperation is None else cooperation
    return Analysis(
        entities=_stored_entities(doc_entities(doc), prepared),
        is_cooperation=coop.is_cooperation,
        cooperation_score=coop.score,
        scope=coop.scope if coop.is_cooperation else None,
        countries=coop.countries if coop.is_cooperation else [],
        parties=coop.parties if coop.is_cooperation else [],
        evidence=coop.evidence if coop.is_cooperation else None,
        sectors=sectors.classify(prepared.title, prepared.text, reports_cooperation),
        model_version=model_version(),
        doc=doc,
    )
