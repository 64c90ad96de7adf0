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

from spacy.tokens import Doc, Span

WINDOW = 6  # tokens of a role phrase before or after a name


def officials() -> dict:
    from .gazetteer import data_file  # parsed once, shared with the gazetteer

    return data_file("officials.yaml")


@lru_cache(maxsize=1)
def role_lemmas() -> frozenset[str]:
    return frozenset(officials()["roles"])


@lru_cache(maxsize=1)
def known_people() -> dict[str, str]:
    """Name (lower case, "ё" as "е") -> country, for names listed under one country only."""
    from .gazetteer import country_keyed

    seen: dict[str, set[str]] = {}
    for code, names in country_keyed(officials()["people"], "officials.yaml people").items():
        for name in names:
            seen.setdefault(_key(name), set()).add(code)
    return {name: next(iter(codes)) for name, codes in seen.items() if len(codes) == 1}


def _key(name: str) -> str:
    return " ".join(name.lower().replace("ё", "е").split())


def _country_near(doc: Doc, tokens: list[int], countries: dict[int, str]) -> str | None:
    """The country of a role phrase (token indices, nearest the name first), if it has a
    role word and a country: the country nearest the name."""
    if not any(doc[i].lemma_ in role_lemmas() or doc[i].lower_ in role_lemmas()
               for i in tokens):
        return None
    return next((countries[i] for i in tokens if i in countries), None)


def _ends_phrase(token, people: set[int]) -> bool:
    """A role phrase does not reach past punctuation, a verb, a conjunction or another
    person: in "Президент Турции Эрдоган и Путин" the role is Эрдоган's only."""
    return (token.is_punct and token.text not in "-«»\"") or token.pos_ in (
        "VERB", "AUX", "CCONJ") or token.i in people


def _phrase_before(doc: Doc, ent: Span, people: set[int]) -> list[int]:
    tokens, i = [], ent.start - 1
    while i >= max(ent.sent.start, ent.start - WINDOW) and not _ends_phrase(doc[i], people):
        tokens.append(i)
        i -= 1
    return tokens


def _apposition_after(doc: Doc, ent: Span, people: set[int]) -> list[int]:
    """The role phrase after a comma ("Хакан Фидан, глава МИД Турции"): a noun phrase, so
    not a clause or a prepositional phrase ("Асада, в разговоре с президентом ОАЭ")."""
    if ent.end + 1 >= ent.sent.end or doc[ent.end].text != "," or \
            doc[ent.end + 1].pos_ in ("ADP", "SCONJ", "ADV", "PRON", "VERB", "AUX"):
        return []
    tokens, i = [], ent.end + 1
    while i < min(ent.sent.end, ent.end + 1 + WINDOW) and not _ends_phrase(doc[i], people):
        tokens.append(i)
        i += 1
    return tokens


def _surname(ent: Span) -> str:
    return _key((ent._.normal or ent.text).split()[-1])


def link_people(doc: Doc, countries: dict[int, str]) -> None:
    """Give PER entities the country they act for (`ent._.country`). `countries` maps
    token indices to the country a gazetteer match or a linked entity there names."""
    people = [ent for ent in doc.ents if ent.label_ == "PER"]
    person_tokens = {i for ent in people for i in range(ent.start, ent.end)}
    by_role: dict[str, str] = {}
    for ent in people:
        country = (_country_near(doc, _phrase_before(doc, ent, person_tokens), countries)
                   or _country_near(doc, _apposition_after(doc, ent, person_tokens), countries))
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
