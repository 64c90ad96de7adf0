"""Is an article about cooperation, between whom, and which sentence says so?

Rules find the evidence: cooperation cues (сотрудничество, соглашение, договорились,
совместный...) in sentences that also name parties, and negative cues that mean "not
cooperation" (matches between national teams, sanctions, conflicts, expulsions, acquisitions,
cooperation ended or refused, police operations). The rule counts become features of a
logistic model (weights fitted with scikit-learn by `monitor train cooperation`, stored as
JSON in `models/cooperation.json`) whose output is the calibrated `cooperation_score`.

Parties are actors, not scenery: "Россия и Индия подписали соглашение в Пекине" is about
Russia and India; a place governed by "в/на/из" counts only when a single country acts.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from .nlp import token_offsets

# --- cues (lemmas) -------------------------------------------------------------------------

COOP_NOUNS = {
    "сотрудничество", "соглашение", "меморандум", "партнёрство", "партнерство", "кооперация",
    "взаимодействие", "договорённость", "договоренность", "побратимство", "альянс",
    "консорциум", "соработничество", "сп", "коллаборация",
}
COOP_VERBS = {"сотрудничать", "договориться", "условиться", "кооперироваться",
              "объединиться", "скооперироваться", "посотрудничать"}
SIGN_VERBS = {"подписать", "подписывать", "заключить", "заключать", "парафировать",
              "ратифицировать", "продлить"}
JOINT_ADJ = {"совместный", "двусторонний", "многосторонний", "межправительственный",
             "межрегиональный", "межведомственный", "межгосударственный", "международный",
             "взаимовыгодный"}
DEVELOP_VERBS = {"развивать", "развить", "расширять", "расширить", "укреплять", "укрепить",
                 "наращивать", "нарастить", "углублять", "углубить", "налаживать", "наладить",
                 "обсудить", "обсуждать", "активизировать", "продолжить", "продолжать",
                 "возобновить", "запустить", "реализовать", "реализовывать", "создать",
                 "построить", "строить", "организовать", "провести"}
WEAK_CUES = {"партнёр", "партнер", "проект", "инвестиция", "поставка", "обмен", "визит",
             "переговоры", "форум", "делегация", "товарооборот", "стажировка", "программа",
             "инвестор", "встреча", "связь", "экспорт", "импорт"}

NEGATIVE = {
    "sport": {"матч", "сборная", "обыграть", "проиграть", "чемпионат", "турнир", "гол",
              "забить", "шайба", "тайм", "полуфинал", "четвертьфинал", "плей-офф",
              "соперник", "нападающий", "вратарь", "болельщик", "футболист", "хоккеист",
              "теннисист", "поединок", "ничья", "отборочный", "товарищеский"},
    "sanctions": {"санкция", "эмбарго", "рестрикция", "ограничительный", "антироссийский",
                  "пошлина", "блокада", "запрет", "запретить", "черный", "чёрный"},
    "conflict": {"конфликт", "война", "удар", "обстрел", "атака", "нападение", "вторжение",
                 "столкновение", "боевой", "боевик", "теракт", "противостояние", "эскалация",
                 "агрессия", "провокация", "обвинить", "обвинение", "угроза", "угрожать",
                 "протест", "осудить", "спор", "напряжённость", "напряженность", "кризис"},
    "expulsion": {"выслать", "высылка", "выдворить", "выдворение", "грата", "депортировать",
                  "депортация", "отозвать", "закрыть"},
    "acquisition": {"приобрести", "приобретение", "купить", "покупка", "поглощение",
                    "поглотить", "выкупить", "выкуп", "продать", "продажа", "пакет",
                    "слияние"},
    "ending": {"прекратить", "прекращение", "приостановить", "приостановка", "заморозить",
               "заморозка", "разорвать", "разрыв", "отказаться", "отказ", "денонсировать",
               "денонсация", "выйти", "выход", "аннулировать", "свернуть", "сворачивание",
               "остановить", "отменить", "отмена", "расторгнуть", "расторжение", "сорвать",
               "ухудшение", "ухудшиться"},
    "crime": {"задержать", "задержание", "арестовать", "арест", "подозреваемый",
              "обвиняемый", "уголовный", "преступление", "кража", "похитить", "мошенничество",
              "мошенник", "убийство", "грабёж", "наркотик", "дтп", "полиция", "полицейский",
              "следователь", "злоумышленник", "хищение", "взятка", "коррупция", "суд",
              "приговор", "следствие"},
}
LOCATIVE_PREPS = {"в", "во", "на", "из", "изо", "под", "близ", "около", "возле", "до",
                  "через", "по"}

FEATURES = [
    "title_coop", "coop_sentences", "sign_agreement", "joint", "develop_coop", "coop_verb",
    "max_parties", "two_countries", "weak", "negated",
    "neg_sport", "neg_sanctions", "neg_conflict", "neg_expulsion", "neg_acquisition",
    "neg_ending", "neg_crime", "neg_in_coop_sentence", "share_coop",
]

# Hand weights: the rule baseline, and the model used until one is trained.
RULE_WEIGHTS = {
    "title_coop": 1.5, "coop_sentences": 1.5, "sign_agreement": 1.0, "joint": 0.6,
    "develop_coop": 0.8, "coop_verb": 0.8, "max_parties": 0.6, "two_countries": 0.8,
    "weak": 0.2, "negated": -3.0, "neg_sport": -1.2, "neg_sanctions": -1.2,
    "neg_conflict": -0.8, "neg_expulsion": -1.5, "neg_acquisition": -1.0, "neg_ending": -1.5,
    "neg_crime": -1.2, "neg_in_coop_sentence": -1.0, "share_coop": 1.0,
}
RULE_INTERCEPT = -3.2
MODEL_FILE = "cooperation.json"


def models_dir() -> Path:
    """Where trained models live: $MONITOR_MODELS, else the repository's models/."""
    env = os.environ.get("MONITOR_MODELS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "models"


@dataclass
class CooperationModel:
    weights: dict[str, float]
    intercept: float
    threshold: float = 0.5
    version: str = "rules"

    def score(self, features: dict[str, float]) -> float:
        z = self.intercept + sum(self.weights.get(k, 0.0) * v for k, v in features.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


RULES = CooperationModel(RULE_WEIGHTS, RULE_INTERCEPT, 0.5, "rules")


@lru_cache(maxsize=1)
def load_model() -> CooperationModel:
    """The trained model from models/cooperation.json, or the rule weights if none exists."""
    path = models_dir() / MODEL_FILE
    if not path.exists():
        return RULES
    data = json.loads(path.read_text(encoding="utf-8"))
    return CooperationModel(data["weights"], data["intercept"], data["threshold"],
                            data["version"])


# --- sentences and parties -----------------------------------------------------------------

@dataclass
class SentenceCues:
    span: Span
    coop: int = 0  # strong cooperation cues
    sign_agreement: bool = False
    joint: int = 0
    develop_coop: bool = False
    coop_verb: bool = False
    weak: int = 0
    negated: bool = False
    negative: dict[str, int] = field(default_factory=dict)
    actors: list[dict] = field(default_factory=list)
    places: list[dict] = field(default_factory=list)

    @property
    def is_coop(self) -> bool:
        return (self.coop > 0 or self.joint > 0) and not self.negated

    @property
    def countries(self) -> set[str]:
        return {p["country"] for p in self.actors if p.get("country")}


def _is_location(token: Token) -> bool:
    """Is this mention scenery ("в Токио", "во Владивостоке") rather than an actor?"""
    node = token
    if token.pos_ == "ADJ" and token.head.i != token.i:
        node = token.head
    return any(child.dep_ == "case" and child.lower_ in LOCATIVE_PREPS
               for child in node.children)


def _party(span: Span, is_entity: bool) -> dict | None:
    if is_entity:
        kind, country, canonical = span._.kind, span._.country, span._.canonical
    else:
        kind, country, canonical = span._.gaz_kind, span._.gaz_country, span._.gaz_canonical
    if is_entity and span.label_ == "PER":
        return {"name": span._.normal or span.text, "kind": "person", "country": None}
    if is_entity and (span.label_ == "ORG" and kind != "country"):
        return {"name": canonical if kind == "intl_org" else (span._.normal or span.text),
                "kind": "intl_org" if kind == "intl_org" else "org", "country": country}
    if kind in ("country", "country_adj", "demonym"):
        return {"name": canonical, "kind": "country", "country": country}
    if kind == "capital":
        return {"name": canonical, "kind": "city", "country": country, "capital": True}
    if kind in ("region", "region_adj"):
        return {"name": canonical, "kind": "region", "country": country}
    if kind == "city":
        return {"name": canonical, "kind": "city", "country": country}
    if kind == "intl_org":
        return {"name": canonical, "kind": "intl_org", "country": None}
    return None


def _mentions(doc: Doc, sent: Span) -> list[tuple[Span, bool]]:
    """(span, is_entity) for NER entities and gazetteer matches inside a sentence; an entity
    wins over a match it overlaps, unless the entity is unlinked and the match is not."""
    ents = [e for e in doc.ents if e.start >= sent.start and e.end <= sent.end]
    taken = {i for e in ents if e._.kind for i in range(e.start, e.end)}
    extra = [s for s in doc.spans.get("parties", [])
             if s.start >= sent.start and s.end <= sent.end
             and not any(i in taken for i in range(s.start, s.end))]
    covered = {i for s in extra for i in range(s.start, s.end)}
    ents = [e for e in ents if e._.kind or not any(i in covered for i in range(e.start, e.end))]
    return [(e, True) for e in ents] + [(s, False) for s in extra]


def sentence_cues(doc: Doc, sent: Span) -> SentenceCues:
    cues = SentenceCues(span=sent)
    lemmas = [t.lemma_ for t in sent]
    coop_tokens = []
    for token in sent:
        lemma = token.lemma_
        if lemma in COOP_NOUNS or lemma in COOP_VERBS:
            cues.coop += 1
            coop_tokens.append(token)
            if lemma in COOP_VERBS:
                cues.coop_verb = True
        if lemma in JOINT_ADJ or (token.pos_ == "ADJ" and "-" in token.text
                                   and token.text.count("-") == 1 and lemma.endswith("ий")
                                   and lemma.split("-")[0].endswith("о")):
            cues.joint += 1
        if lemma in WEAK_CUES:
            cues.weak += 1
        for name, words in NEGATIVE.items():
            if lemma in words:
                cues.negative[name] = cues.negative.get(name, 0) + 1
    lemma_set = set(lemmas)
    cues.sign_agreement = bool(lemma_set & SIGN_VERBS) and bool(
        lemma_set & {"соглашение", "меморандум", "договор", "контракт", "протокол"})
    cues.develop_coop = bool(lemma_set & DEVELOP_VERBS) and bool(
        lemma_set & (COOP_NOUNS | {"связь", "проект", "отношение"}))
    # Negation or ending attached to a cooperation cue: "не будут сотрудничать",
    # "приостановили сотрудничество", "отказались от соглашения".
    for token in coop_tokens:
        related = [token.head, *token.children, *token.head.children]
        if any(t.lower_ in ("не", "ни") for t in related) \
                or any(t.lemma_ in NEGATIVE["ending"] for t in related):
            cues.negated = True
    if cues.negative.get("ending") and coop_tokens:
        cues.negated = True
    for mention, is_entity in _mentions(doc, sent):
        party = _party(mention, is_entity)
        if party is None:
            continue
        if party["kind"] in ("city", "region", "country") and _is_location(mention.root):
            cues.places.append(party)
        elif party["kind"] == "city" and not party.get("capital"):
            cues.places.append(party)  # a city acts only in the nominative, as a subject
            if mention.root.dep_ in ("nsubj", "conj") and \
                    "Nom" in mention.root.morph.get("Case"):
                cues.actors.append(party)
        else:
            cues.actors.append(party)
    return cues


# --- the document --------------------------------------------------------------------------

@dataclass
class Cooperation:
    is_cooperation: bool
    score: float
    scope: str | None = None
    countries: list[str] = field(default_factory=list)
    parties: list[dict] = field(default_factory=list)
    evidence: str | None = None


def doc_features(all_cues: list[SentenceCues], title_cues: list[SentenceCues]) -> dict:
    coop_sents = [c for c in all_cues if c.is_coop]
    negative = {}
    for cues in all_cues:
        for name, count in cues.negative.items():
            negative[name] = negative.get(name, 0) + count
    title_negative = {name for c in title_cues for name in c.negative}
    features = {
        "title_coop": float(any(c.is_coop for c in title_cues)),
        "coop_sentences": math.log1p(len(coop_sents)),
        "sign_agreement": float(any(c.sign_agreement for c in all_cues)),
        "joint": math.log1p(sum(c.joint for c in all_cues)),
        "develop_coop": float(any(c.develop_coop for c in coop_sents)),
        "coop_verb": float(any(c.coop_verb for c in coop_sents)),
        "max_parties": min(3, max((len({p["name"] for p in c.actors}) for c in coop_sents),
                                  default=0)),
        "two_countries": float(any(len(c.countries) >= 2 for c in coop_sents)),
        "weak": math.log1p(sum(c.weak for c in all_cues)),
        "negated": float(any(c.negated for c in all_cues) and not coop_sents),
        "neg_in_coop_sentence": float(any(c.negative for c in coop_sents)),
        "share_coop": len(coop_sents) / max(1, len(all_cues)),
    }
    for name in NEGATIVE:
        count = negative.get(name, 0) + (2 if name in title_negative else 0)
        features[f"neg_{name}"] = math.log1p(count)
    return features


def _sentence_text(doc: Doc, sent: Span) -> str:
    start, stop = token_offsets(doc, sent.start, sent.end)
    return doc.user_data["text"][start:stop].strip()


def _unique(parties: list[dict]) -> list[dict]:
    seen, result = set(), []
    for party in parties:
        key = (party["name"], party["kind"])
        if key not in seen:
            seen.add(key)
            result.append({k: party.get(k) for k in ("name", "kind", "country")})
    return result


def detect(doc: Doc, model: CooperationModel | None = None) -> tuple[Cooperation, dict]:
    """The cooperation verdict for a processed Doc, and the features behind it."""
    model = model or load_model()
    text_start = doc.user_data["text_start"]
    starts = doc.user_data["char_starts"]
    all_cues, title_cues = [], []
    for sent in doc.sents:
        cues = sentence_cues(doc, sent)
        all_cues.append(cues)
        if starts[sent.start] < text_start:
            title_cues.append(cues)
    features = doc_features(all_cues, title_cues)
    score = model.score(features)
    result = Cooperation(is_cooperation=score >= model.threshold, score=round(score, 4))
    coop = [c for c in all_cues if c.is_coop]
    if not coop:
        return result, features
    actors = [p for c in coop for p in c.actors]
    countries = {p["country"] for p in actors if p.get("country")}
    if len(countries) <= 1:
        countries |= {p["country"] for c in coop for p in c.places if p.get("country")}
    parties = _unique(actors)
    if not countries and parties:
        countries = {"RU"}  # Russian news naming only organisations: a domestic story
    result.countries = sorted(countries)
    result.parties = parties
    international = len(countries) >= 2 or any(p["kind"] == "intl_org" for p in parties)
    result.scope = "international" if international else "domestic"
    body = [c for c in coop if starts[c.span.start] >= text_start] or coop
    best = max(body, key=lambda c: (c.coop + c.joint + int(c.sign_agreement),
                                    len(c.actors), -c.span.start))
    result.evidence = _sentence_text(doc, best.span)
    return result, features


if not Doc.has_extension("cooperation"):
    Doc.set_extension("cooperation", default=None)
    Doc.set_extension("cooperation_features", default=None)


@Language.factory("cooperation_detector")
def create_cooperation(nlp: Language, name: str):
    """Sets `doc._.cooperation` (a Cooperation) and `doc._.cooperation_features`."""

    def cooperation(doc: Doc) -> Doc:
        doc._.cooperation, doc._.cooperation_features = detect(doc)
        return doc

    return cooperation
