"""Named entities (PER, LOC, ORG) with correct Russian normal forms, linked to parties.

Normal forms come from the dependency tree: only the words that agree with the span's head
are put in the nominative (keeping their number), so genitive dependents stay as written:
"Министерства земли, инфраструктуры и транспорта" -> "Министерство земли, инфраструктуры и
транспорта", "Российско-Японской рабочей группы" -> "Российско-Японская рабочая группа",
"Нидерландах" -> "Нидерланды", "Ивановых" -> "Ивановы". Plain Natasha gets each of these wrong.

The entities are the NER's spans, never replaced: an ORG followed by a country in the
genitive ("Минстрой" + "России") keeps both spans and the ORG gets the organisation with its
country as its party ("party": "Минстрой России", "country": "RU"). Country names, country
adjectives and demonyms the gazetteer finds where the NER found nothing ("американских",
"российско-японского") are added as linked LOC mentions (adjectives with "kind":
"adjective").

The cooperation detector reads the parties' view of the document (`party_spans`): the NER
spans with each ORG+country pair as one span, as its features were defined and trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from . import morph
from .nlp import token_offsets

# Relations through which a word agrees with its head (and so is inflected with it).
_AGREEING = {"amod", "det", "flat", "flat:name", "flat:foreign", "appos", "compound",
             "nummod", "nmod:gov"}


@dataclass
class Entity:
    """One proper-name mention; offsets index the text it was found in (title or body)."""

    type: str  # PER | LOC | ORG
    text: str
    normal: str
    start: int
    stop: int
    in_title: bool = False
    canonical: str | None = None
    country: str | None = None
    party: str | None = None  # an ORG's organisation with its country: "МИД России"
    kind: str | None = None  # "adjective" for country adjectives and demonyms
    source: str | None = None  # "gazetteer": a mention the NER did not find

    @property
    def stored_name(self) -> str:
        """What the mention names, as the store keeps it: an ORG's party ("МИД России"),
        an adjective's country ("японских" -> "Япония"), else the normal form."""
        if self.party:
            return self.party
        if self.kind == "adjective" and self.canonical:
            return self.canonical
        return self.normal

    def to_json(self) -> dict:
        data = asdict(self)
        if not self.in_title:
            del data["in_title"]
        return {k: v for k, v in data.items() if v is not None}


def _feat(token: Token, name: str) -> str | None:
    values = token.morph.get(name)
    return values[0] if values else None


def _is_word(token: Token) -> bool:
    return token.is_alpha or ("-" in token.text and any(ch.isalpha() for ch in token.text))


def _top_tokens(span: Span) -> list[Token]:
    """Tokens whose syntactic head lies outside the span (the span's top level)."""
    return [t for t in span if _is_word(t)
            and (t.head.i < span.start or t.head.i >= span.end or t.head.i == t.i)]


def _span_root(span: Span) -> Token:
    """The head noun of the span: the first noun at its top level (the parser sometimes
    attaches a span's adjective and noun separately to the outside)."""
    top = _top_tokens(span)
    nouns = [t for t in top if t.pos_ in ("NOUN", "PROPN")]
    if nouns:
        return nouns[0]
    return top[0] if top else span.root


def _agrees(token: Token, root: Token, span: Span, top: list[Token]) -> bool:
    """Is `token` part of the head phrase (inflected together with the root)?"""
    if token.i == root.i:
        return True
    if not _is_word(token):
        return False
    case, root_case = _feat(token, "Case"), _feat(root, "Case")
    if case is not None and root_case is not None and case != root_case:
        return False  # a genitive dependent ("Министерство ... Японии") stays as written
    # Walk up through agreeing relations to the top level of the span.
    node = token
    while node not in top:
        same_case_nmod = node.dep_ == "nmod" and case is not None and case == root_case \
            and root_case != "Gen"  # a genitive nmod is a dependent, not an agreeing word
        if (node.dep_ not in _AGREEING and not same_case_nmod) or node.head.i == node.i:
            return False
        node = node.head
    if root_case == "Gen" and node.i > root.i and node.pos_ in ("NOUN", "ADJ"):
        # a noun or adjective after a genitive head that the parser hung outside the span
        # heads a genitive dependent («Министерства земли, …», «Института космических
        # исследований»: «земли», «космических», «исследований» stay), not agreeing
        return False
    return node.i == root.i or node.i < root.i or case is not None


def _gender(root: Token) -> str | None:
    parse = morph.choose_parse(root.text, root.pos_, _feat(root, "Case"), _feat(root, "Number"))
    return parse.tag.gender if parse is not None else None


def _indeclinable_name(token: Token) -> bool:
    """Person-name tokens that do not decline: Кожемяко, Шевченко, (singular) Черных."""
    if not token.is_alpha:
        return True
    lower = token.lower_
    if lower.endswith(("о", "ко", "енко")) and len(lower) > 3:
        return True
    if lower.endswith(("ых", "их")) and not _plural_surname(token):
        return True
    return False


def _plural_surname(token: Token) -> bool:
    """"Ивановых", "Пушкиных": plural forms of -ов/-ин surnames (unlike Черных, Седых)."""
    lower = token.lower_
    return lower.endswith("ых") and lower[:-2].endswith(("ов", "ев", "ёв", "ин", "ын"))


def normal_form(span: Span) -> str:
    """The span in the nominative, inflecting only the words that agree with its head."""
    doc = span.doc
    text = doc.user_data["text"]
    root = _span_root(span)
    top = _top_tokens(span)
    gender = _gender(root)
    person = span.label_ == "PER"
    pieces = []
    for token in span:
        word = token.text
        case = _feat(token, "Case")
        inflectable = _indeclinable_name(token) is False if person else \
            _agrees(token, root, span, top)
        if person and _plural_surname(token):
            word = word[:-2] + morph.match_case(word[-2:], "ы")  # Ивановых -> Ивановы
        elif inflectable and case != "Nom":
            word = morph.inflect(word, token.pos_, case, _feat(token, "Number"), {"nomn"},
                                 None if person else gender)
        pieces.append(word)
    # Keep the original spacing between tokens.
    result = pieces[0]
    starts = doc.user_data["char_starts"]
    for i in range(span.start + 1, span.end):
        previous_end = starts[i - 1] + len(doc[i - 1].text)
        gap = text[previous_end:starts[i]]
        result += (" " if gap and gap.isspace() else gap) + pieces[i - span.start]
    return result


def _country_of(span: Span) -> str | None:
    return span._.country if span._.kind == "country" else None


PARTY_SPANS = "party_ents"  # doc.spans key of the parties' view


def merge_org_country(doc: Doc) -> None:
    """ "Минстрой" + "России" -> one ORG "Минстрой России" linked to RU, in the parties'
    view (`doc.spans["party_ents"]`, read by `party_spans`); `doc.ents` keep the NER's two
    spans. The country must follow the ORG directly and be in the genitive."""
    ents = list(doc.ents)
    merged: list[Span] = []
    i = 0
    while i < len(ents):
        ent = ents[i]
        nxt = ents[i + 1] if i + 1 < len(ents) else None
        if (ent.label_ == "ORG" and nxt is not None and nxt.label_ == "LOC"
                and nxt.start == ent.end and nxt._.kind == "country"
                and _feat(nxt[0], "Case") in ("Gen", None)
                and not (nxt[0].is_upper is False and _feat(nxt[0], "Case") is None)):
            span = Span(doc, ent.start, nxt.end, label="ORG")
            span._.normal = f"{ent._.normal} {nxt.text}"
            span._.country = nxt._.country
            span._.kind = "org"
            span._.parts = [(ent.start, ent.end, "ORG"), (nxt.start, nxt.end, "LOC")]
            merged.append(span)
            i += 2
            continue
        merged.append(ent)
        i += 1
    doc.spans[PARTY_SPANS] = merged


def party_spans(doc: Doc) -> list[Span]:
    """The parties' view of the entities: `doc.ents` with each ORG+country pair merged
    ("МИД России"), what the cooperation rules and actors read."""
    if PARTY_SPANS in doc.spans:
        return list(doc.spans[PARTY_SPANS])
    return list(doc.ents)


def relabel_known_orgs(doc: Doc) -> None:
    """A PER or LOC span whose whole name is a known organisation ("Минцифры", "Сбер") is
    the NER model misreading a short name: make it an ORG before normal forms and linking.
    (International organisations tagged LOC, like "ЕС", keep their label.)"""
    from .gazetteer import lookup, span_lemmas

    ents, changed = [], False
    for ent in doc.ents:
        entry = lookup(span_lemmas(ent)) if ent.label_ in ("PER", "LOC") else None
        if entry is not None and (entry.kind == "org" or
                                  (entry.kind == "intl_org" and ent.label_ == "PER")):
            ent, changed = Span(doc, ent.start, ent.end, label="ORG"), True
        ents.append(ent)
    if changed:
        doc.set_ents(ents)


def _country_tokens(doc: Doc, found) -> dict[int, str]:
    """Token index -> the country named there: by a country, its capital or adjective
    (gazetteer matches) or by a linked organisation ("МИД Турции")."""
    result = {}
    for m in found:
        if m.kind in ("country", "country_adj", "capital") and m.country:
            for i in range(m.start, m.end):
                result[i] = m.country
    for ent in party_spans(doc):
        if ent.label_ != "PER" and ent._.country and not ent._.country.endswith("?"):
            for i in range(ent.start, ent.end):
                result.setdefault(i, ent._.country)
    return result


@Language.factory("party_linker")
def create_party_linker(nlp: Language, name: str):
    """Normal forms for every NER span, links to canonical parties, ORG+country merges,
    and the countries officials act for."""
    from .actors import link_people
    from .gazetteer import link_entity, matches

    def party_linker(doc: Doc) -> Doc:
        relabel_known_orgs(doc)
        for ent in doc.ents:
            ent._.normal = normal_form(ent)
            link_entity(ent)
        merge_org_country(doc)
        link_people(doc, _country_tokens(doc, matches(doc)))
        return doc

    return party_linker


# Gazetteer kinds added as mentions where the NER found nothing, and the type they get.
MISSED_NAME_TYPES = {"country": "LOC", "capital": "LOC", "city": "LOC", "region": "LOC",
                     "intl_org": "ORG", "org": "ORG"}
ADJECTIVE_KINDS = {"country_adj", "demonym"}


def _parties_of(doc: Doc) -> dict[int, Span]:
    """NER ORG start token -> the merged ORG+country span it heads (parties' view)."""
    return {span._.parts[0][0]: span for span in party_spans(doc)
            if span._.parts and span._.parts[0][2] == "ORG"}


_QUOTES = {"«", "»", '"', "„", "“", "”"}


def _quoted(doc: Doc, start: int, end: int) -> bool:
    return start > 0 and end < len(doc) and doc[start - 1].text in _QUOTES \
        and doc[end].text in _QUOTES


def _gazetteer_mentions(doc: Doc) -> list[tuple[int, int, str, str | None, str, str, str | None]]:
    """(start, end, type, kind, normal, canonical, country) of the gazetteer's country names,
    adjectives and demonyms that no NER span covers (a compound adjective gives one mention
    per country)."""
    from .gazetteer import lookup_name, matches, span_lemmas

    taken = {i for ent in doc.ents for i in range(ent.start, ent.end)}
    result = []
    for m in matches(doc):
        if any(i in taken for i in range(m.start, m.end)) or not m.country:
            continue
        span = doc[m.start:m.end]
        if any(t.pos_ in ("PRON", "DET", "ADP", "CCONJ", "SCONJ", "PART") for t in span):
            continue  # "Тем", "То" at a sentence start are not Того
        if _quoted(doc, m.start, m.end):
            continue  # «Колумбия» is a ship, a shuttle, a company: a name, not the country
        if m.kind in ADJECTIVE_KINDS:
            normal = " ".join(t.lemma_ for t in span)
            result.append((m.start, m.end, "LOC", "adjective", normal, m.canonical, m.country))
        elif m.kind in MISSED_NAME_TYPES:
            found = lookup_name(span_lemmas(span))
            normal = found[1] if found else span.text
            result.append((m.start, m.end, MISSED_NAME_TYPES[m.kind], None, normal,
                           m.canonical, m.country))
    return result


def _inner_country(ent: Span, found) -> str | None:
    """The one country named inside an unlinked name by a dependent word, not its head:
    "Герб Литвы" -> LT, but "Северной Америкой" is not the US."""
    if ent.label_ == "PER":
        return None
    root = _span_root(ent).i
    codes = {m.country for m in found
             if m.kind in ("country", "country_adj") and m.country
             and ent.start <= m.start and m.end <= ent.end and not m.start <= root < m.end}
    return codes.pop() if len(codes) == 1 else None


def _place_after(ent: Span, nxt: Span | None) -> Span | None:
    """The region or city right after an ORG, in the genitive, that the ORG belongs to
    («Администрация» + «Приморского края»), for the mention's party as users see it (the
    detector's parties, `party_spans`, join only an ORG and a country)."""
    if (ent.label_ == "ORG" and nxt is not None and nxt.label_ == "LOC"
            and nxt.start == ent.end and nxt._.kind in ("region", "city", "capital")
            and _feat(nxt[0], "Case") == "Gen"):
        return nxt
    return None


def _closing_quote(ent: Span, normal: str) -> str:
    """The normal form with the closing quote the NER left out of the span («университете
    «МИФИ» is the university «МИФИ», not «МИФИ without its end). The span stays as the NER
    found it: factRuEval's gold spans leave quotes out, and taking the quote in scores lower."""
    doc = ent.doc
    if ent.text.count("«") > ent.text.count("»") and ent.end < len(doc) \
            and doc[ent.end].text == "»" and not normal.endswith("»"):
        return normal + "»"
    return normal


def doc_entities(doc: Doc) -> list[Entity]:
    """Entities of a processed Doc, with offsets into the title or the text: the NER's
    spans (an ORG with its party) and the gazetteer's country mentions the NER missed."""
    title_len = doc.user_data["title_len"]
    text_start = doc.user_data["text_start"]
    combined = doc.user_data["text"]
    parties = _parties_of(doc)
    from .gazetteer import matches

    found = matches(doc)

    def entity(start_token: int, end_token: int, **fields) -> Entity:
        start, stop = token_offsets(doc, start_token, end_token)
        in_title = start < title_len
        shift = 0 if in_title else text_start
        return Entity(text=combined[start:stop], start=start - shift, stop=stop - shift,
                      in_title=in_title, **fields)

    result = []
    ents = list(doc.ents)
    for i, ent in enumerate(ents):
        party = parties.get(ent.start) if ent.label_ == "ORG" else None
        normal = _closing_quote(ent, ent._.normal or ent.text)
        place = _place_after(ent, ents[i + 1] if i + 1 < len(ents) else None)
        countries = [party._.country if party is not None else None, ent._.country,
                     place._.country if place is not None else None]
        if party is not None:
            party_name = party._.normal
        else:  # «Администрация» + «Приморского края», or none
            party_name = f"{normal} {place.text}" if place is not None else None
        result.append(entity(ent.start, ent.end, type=ent.label_, normal=normal,
                             canonical=ent._.canonical, party=party_name,
                             country=next(filter(None, countries), None)
                             or _inner_country(ent, found)))
    for start, end, label, kind, normal, canonical, country in _gazetteer_mentions(doc):
        result.append(entity(start, end, type=label, normal=normal, canonical=canonical,
                             country=country, kind=kind, source="gazetteer"))
    result.sort(key=lambda e: (not e.in_title, e.start, e.stop))
    return result
