"""People acting for a state: officials by role or by name (`data/officials.yaml`).

"Глава МИД Турции Хакан Фидан заявил…" makes Фидан a Turkish actor, and every later
"Фидан" in the text too; "Лавров и Ван И договорились" needs no role: both are on the
maintained list. A role is read from the words right before the name (up to the previous
punctuation) or from an apposition right after it ("Хакан Фидан, глава МИД Турции"); the
country is a country, capital or country adjective there, or an organisation's country
("МИД Турции", "Минобороны КНР").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml
from spacy.tokens import Doc, Span

WINDOW = 6  # tokens of a role phrase before or after a name


@lru_cache(maxsize=1)
def officials() -> dict:
    path = resources.files("monitor") / "data" / "officials.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def role_lemmas() -> frozenset[str]:
    return frozenset(officials()["roles"])


@lru_cache(maxsize=1)
def known_people() -> dict[str, str]:
    """Name (lower case, "ё" as "е") -> country, for names listed under one country only."""
    seen: dict[str, set[str]] = {}
    for code, names in officials()["people"].items():
        for name in names:
            seen.setdefault(_key(name), set()).add(code)
    return {name: next(iter(codes)) for name, codes in seen.items() if len(codes) == 1}


def _key(name: str) -> str:
    return " ".join(name.lower().replace("ё", "е").split())


def _country_near(doc: Doc, start: int, stop: int, countries: dict[int, str]) -> str | None:
    """The country of a role phrase doc[start:stop], if it has a role word and a country."""
    tokens = doc[start:stop]
    if not any(t.lemma_ in role_lemmas() or t.lower_ in role_lemmas() for t in tokens):
        return None
    for token in tokens:
        if token.i in countries:
            return countries[token.i]
    return None


def _phrase_before(doc: Doc, ent: Span) -> tuple[int, int]:
    start = ent.start
    while start > max(ent.sent.start, ent.start - WINDOW):
        token = doc[start - 1]
        if (token.is_punct and token.text not in "-«»\"") or token.pos_ in ("VERB", "AUX"):
            break
        start -= 1
    return start, ent.start


def _apposition_after(doc: Doc, ent: Span) -> tuple[int, int]:
    if ent.end >= ent.sent.end or doc[ent.end].text != ",":
        return ent.end, ent.end
    stop = ent.end + 1
    while stop < min(ent.sent.end, ent.end + 1 + WINDOW):
        token = doc[stop]
        if token.is_punct or token.pos_ in ("VERB", "AUX"):
            break
        stop += 1
    return ent.end + 1, stop


def _surname(ent: Span) -> str:
    return _key((ent._.normal or ent.text).split()[-1])


def link_people(doc: Doc, countries: dict[int, str]) -> None:
    """Give PER entities the country they act for (`ent._.country`). `countries` maps
    token indices to the country a gazetteer match or a linked entity there names."""
    people = [ent for ent in doc.ents if ent.label_ == "PER"]
    by_role: dict[str, str] = {}
    for ent in people:
        country = (_country_near(doc, *_phrase_before(doc, ent), countries)
                   or _country_near(doc, *_apposition_after(doc, ent), countries))
        if country:
            ent._.country = country
            by_role[_key(ent._.normal or ent.text)] = country
            by_role.setdefault(_surname(ent), country)
    listed = known_people()
    for ent in people:
        if ent._.country:
            continue
        full = _key(ent._.normal or ent.text)
        ent._.country = (by_role.get(full) or by_role.get(_surname(ent)) or listed.get(full)
                         or (listed.get(_surname(ent)) if " " not in full else None))
