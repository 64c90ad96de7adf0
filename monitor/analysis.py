"""`analyse(title, text) -> Analysis`: the one NLP entry point the rest of monitor calls.

Today it finds named entities; the cooperation detector (issue #4) and the sector
classifier (issue #5) fill the remaining fields, which stay empty (None / []) until then
rather than pretending.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .entities import Entity, extract_entities

MODEL_VERSION = "ner-natasha-1.6"


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
    model_version: str = MODEL_VERSION

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
    entities = extract_entities(title, in_title=True) + extract_entities(text)
    return Analysis(entities=entities)
