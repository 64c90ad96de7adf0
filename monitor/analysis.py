"""`analyse(title, text) -> Analysis`: the one NLP entry point the rest of monitor calls.

It builds the spaCy document model (`nlp.process`), then reads off the entities with normal
forms and links, the cooperation verdict with its parties, countries and evidence, and the
sectors with the lemmas that made them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import sectors
from .cooperation import load_model
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


def analyse(title: str, text: str) -> Analysis:
    """Analyse one article. Title entities carry in_title=True and offsets into the title."""
    doc = process(title or "", text or "")
    coop = doc._.cooperation
    return Analysis(
        entities=doc_entities(doc),
        is_cooperation=coop.is_cooperation,
        cooperation_score=coop.score,
        scope=coop.scope if coop.is_cooperation else None,
        countries=coop.countries if coop.is_cooperation else [],
        parties=coop.parties if coop.is_cooperation else [],
        evidence=coop.evidence if coop.is_cooperation else None,
        sectors=sectors.classify(title or "", text or ""),
        model_version=model_version(),
        doc=doc,
    )
