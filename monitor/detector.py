"""The cooperation verdict of a document: score, evidence, countries, parties, scope.

The rules (`cooperation.read_cues`) find cues and actors sentence by sentence; the learned
model (`coop_model`) turns the document's features into a calibrated score, picks the
sentence that carries most of it as the evidence, and decides which of the countries named
are parties. Registered as the spaCy component `cooperation_detector`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from spacy.language import Language
from spacy.tokens import Doc

from .coop_features import (country_features, country_mentions, document_features,
                            document_vector, sentence_vectors)
from .coop_model import CooperationModel, load_model
from .cooperation import read_cues, sentence_text, unique_parties


@dataclass
class Cooperation:
    is_cooperation: bool
    score: float
    scope: str | None = None
    countries: list[str] = field(default_factory=list)
    parties: list[dict] = field(default_factory=list)
    evidence: str | None = None


def evidence_sentence(scores: list[float]) -> int | None:
    """The sentence that best says so, by the evidence model (ties: the earlier one)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i)) if scores else None


def select_parties(actors: list[list[dict]], rule_coop: list[bool], evidence: int | None,
                   countries: list[str]) -> list[dict]:
    """The item's parties: the actors (`actors[i]`: sentence i's) of the evidence sentence
    and of the sentences the rules call cooperation, when they belong to one of the item's
    countries (or to none; people only for a state); a Cyrillic organisation guessed Russian
    ("RU?") is Russian when RU is among them."""
    parties = []
    for index, sentence in enumerate(actors):
        if index != evidence and not rule_coop[index]:
            continue
        for party in sentence:
            country = party.get("country")
            if country and country.endswith("?"):
                country = "RU" if "RU" in countries else None
            if party["kind"] == "person" and country is None:
                continue  # a person is a party only when acting for a state
            if country is None or country in countries:
                parties.append(dict(party, country=country))
    return unique_parties(parties)


def scope_of(countries: list[str], parties: list[dict]) -> str:
    """International when parties of two countries or an international organisation
    cooperate (the guideline's rule), else domestic."""
    international = len(countries) >= 2 or any(p["kind"] == "intl_org" for p in parties)
    return "international" if international else "domestic"


def detect(doc: Doc, model: CooperationModel | None = None) -> Cooperation:
    """The cooperation verdict for a processed Doc (countries, parties and scope are filled
    in whatever the verdict, so they can be scored on every labelled item)."""
    model = model or load_model()
    all_cues, title_cues = read_cues(doc)
    score, sentences = model.score(document_features(doc, all_cues),
                                   document_vector(doc, len(all_cues)),
                                   sentence_vectors(doc, all_cues))
    evidence = evidence_sentence(sentences)
    countries = model.countries(country_features(country_mentions(all_cues, len(title_cues)),
                                                 evidence))
    parties = select_parties([c.actors for c in all_cues], [c.is_coop for c in all_cues],
                             evidence, countries)
    return Cooperation(
        is_cooperation=score >= model.threshold, score=round(score, 4),
        scope=scope_of(countries, parties), countries=countries,
        parties=parties,
        evidence=sentence_text(doc, all_cues[evidence].span) if evidence is not None else None)


if not Doc.has_extension("cooperation"):
    Doc.set_extension("cooperation", default=None)


@Language.factory("cooperation_detector")
def create_cooperation(nlp: Language, name: str):
    """Sets `doc._.cooperation` (a Cooperation)."""

    def cooperation(doc: Doc) -> Doc:
        doc._.cooperation = detect(doc)
        return doc

    return cooperation
