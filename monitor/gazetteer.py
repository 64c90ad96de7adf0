"""Canonical parties: countries, Russian regions, cities, international organisations.

Country names come from pycountry's Russian translations; everyday names, adjectives,
compound-adjective prefixes, demonyms and capitals from `data/countries.yaml`; Russian
federal subjects from `data/regions_ru.yaml`; foreign regions and cities from
`data/places.yaml`; international organisations from `data/intl_orgs.yaml`; organisations
and state institutions ("Пентагон", "Госдеп") from `data/orgs.yaml` and
`data/officials.yaml`.

Matching runs on lemmas (spaCy `PhraseMatcher(attr="LEMMA")`), so "Японии", "японских
компаний" and "японцы" all find Japan. Each pattern is added under every lemma pymorphy3
might give its words, so the matcher agrees with whatever parse the tagger chose. Those
lemmas are precomputed in `data/lemma_variants.json` (start-up time); a test keeps the file
equal to what pymorphy3 gives, and `write_lemma_table()` regenerates it.
"""

from __future__ import annotations

import gettext
import itertools
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from . import morph

# Kinds of gazetteer entries; the first group are names that can stand as a party.
NAME_KINDS = {"country", "capital", "region", "city", "intl_org", "org"}
ADJ_KINDS = {"country_adj", "region_adj", "demonym"}


@dataclass(frozen=True)
class Match:
    """A gazetteer match in a Doc (token offsets). Kept in `doc.user_data["gazetteer"]`:
    spaCy span extensions are keyed by character offsets, and a compound adjective such as
    "российско-японского" is two matches over the same characters."""

    start: int
    end: int
    kind: str
    country: str | None
    canonical: str


def matches(doc: Doc) -> list[Match]:
    return doc.user_data.get("gazetteer", [])


@dataclass(frozen=True)
class Entry:
    kind: str  # country | country_adj | demonym | capital | region | region_adj | city | intl_org
    canonical: str  # the party's canonical name (Россия, Приморский край, ООН)
    country: str | None  # ISO 3166-1 alpha-2 (None for international organisations)
    code: str | None = None  # ISO 3166-2 for Russian regions


@lru_cache(maxsize=None)
def data_file(name: str):
    """A YAML file of `monitor/data/`, parsed once per process (callers only read it)."""
    text = (resources.files("monitor") / "data" / name).read_text(encoding="utf-8")
    # libyaml's loader when PyYAML has it: 7x faster, and this is on the start-up path
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def country_keyed(mapping: dict, source: str) -> dict:
    """`mapping` after checking that every key is an ISO code: unquoted, YAML reads NO
    (Norway) as the boolean False and ON as True."""
    bad = [k for k in mapping if not (isinstance(k, str) and len(k) == 2 and k.isupper())]
    if bad:
        raise ValueError(f"{source}: keys must be two-letter country codes (quote NO, ON…), "
                         f"not {bad}")
    return mapping


def _clean(name: str) -> str:
    return name.replace("\u0301", "").replace("ё", "е").strip()


@lru_cache(maxsize=1)
def entries() -> dict[str, list[Entry]]:
    """Every surface name -> the entries it may denote (most specific first)."""
    import pycountry

    table: dict[str, list[Entry]] = {}

    def add(name: str, entry: Entry) -> None:
        if name:
            bucket = table.setdefault(name.strip(), [])
            if entry not in bucket:
                bucket.append(entry)

    ru = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["ru"])
    extra = country_keyed(data_file("countries.yaml"), "countries.yaml")
    # ISO countries with pycountry's Russian names, then the states countries.yaml adds
    # (historical and partly recognised: SU, AB, OS, XK) under their own names
    states = [(c.alpha_2, c) for c in pycountry.countries]
    known = {code for code, _ in states}
    states += [(code, None) for code in extra if code not in known]
    for code, country in states:
        info = extra.get(code) or {}
        if country is not None:
            short = _clean(ru.gettext(getattr(country, "common_name", None) or country.name))
            names = {short, _clean(ru.gettext(country.name))}
            if getattr(country, "official_name", None):
                names.add(_clean(ru.gettext(country.official_name)))
        else:
            short, names = info["name"], set()
        canonical = info.get("name") or short
        names.add(canonical)
        names.update(info.get("aliases", []))
        for name in names:
            if re.search("[а-яА-Я]", name) or name in info.get("aliases", []):
                add(name, Entry("country", canonical, code))
        for adj in info.get("adj", []):
            add(adj, Entry("country_adj", canonical, code))
        for demonym in info.get("demonym", []):
            add(demonym, Entry("demonym", canonical, code))
        for capital in info.get("capital", []):
            add(capital, Entry("capital", capital, code))

    for region in data_file("regions_ru.yaml"):
        entry = Entry("region", region["name"], "RU", region["code"])
        add(region["name"], entry)
        for alias in region.get("aliases", []):
            add(alias, entry)
        for adj in region.get("adj", []) or []:
            add(adj, Entry("region_adj", region["name"], "RU", region["code"]))

    for code, kinds in country_keyed(data_file("places.yaml"), "places.yaml").items():
        for kind, names in kinds.items():
            for name in names:
                add(name, Entry("city" if kind == "city" else "region", name, code))

    for code, names in country_keyed(data_file("orgs.yaml"), "orgs.yaml").items():
        for name in names:
            add(name, Entry("org", name, code))
    # places and bodies named for their state: "на Даунинг-стрит", "Пентагон передаст"
    officials = data_file("officials.yaml")
    for code, names in country_keyed(officials["seats"], "officials.yaml seats").items():
        for name in names:
            add(name, Entry("capital", name, code))
    for code, names in country_keyed(officials["institutions"],
                                     "officials.yaml institutions").items():
        for name in names:
            add(name, Entry("org", name, code))

    for org in data_file("intl_orgs.yaml"):
        entry = Entry("intl_org", org["name"], None)
        add(org["name"], entry)
        for alias in org.get("aliases", []):
            add(alias, entry)
    return table


@lru_cache(maxsize=1)
def prefixes() -> dict[str, str]:
    """First parts of compound adjectives: "российско" -> RU, "франко" -> FR."""
    result = {}
    for code, info in country_keyed(data_file("countries.yaml"), "countries.yaml").items():
        for prefix in (info or {}).get("prefix", []):
            result[prefix] = code
        for adj in (info or {}).get("adj", []):
            if adj.endswith(("ский", "цкий")):
                result[adj[:-2] + "о"] = code  # российский -> российско
    return result


@lru_cache(maxsize=1)
def adjective_countries() -> dict[str, str]:
    return {name: entry.country for name, bucket in entries().items() for entry in bucket
            if entry.kind == "country_adj"}


def _words(name: str) -> list[str]:
    from razdel import tokenize

    return [token.text for token in tokenize(name)]


def _lemma_table_path():
    return resources.files("monitor") / "data" / "lemma_variants.json"


def compute_lemma_table() -> dict[str, list[str]]:
    """Every word of every gazetteer name -> the lemmas pymorphy3 gives it out of context."""
    words = {word for name in entries() for word in _words(name)}
    return {word: sorted(morph.lemma_variants(word)) for word in sorted(words)}


def write_lemma_table() -> None:
    """Regenerate `data/lemma_variants.json` after editing the gazetteer data:
    `python -c "from monitor import gazetteer; gazetteer.write_lemma_table()"`."""
    path = _lemma_table_path()
    table = compute_lemma_table()
    # one word per line, so that a diff shows what changed
    lines = [f"{json.dumps(word, ensure_ascii=False)}: {json.dumps(lemmas, ensure_ascii=False)}"
             for word, lemmas in table.items()]
    with open(str(path), "w", encoding="utf-8") as out:
        out.write("{\n" + ",\n".join(lines) + "\n}\n")


@lru_cache(maxsize=1)
def _lemma_table() -> dict[str, list[str]]:
    # Precomputed because asking pymorphy3 for ~3,000 words cost 0.3 s of every start-up.
    path = _lemma_table_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _variants(word: str) -> list[str]:
    """Lemma variants in a fixed order (a word missing from the table is asked of pymorphy3)."""
    found = _lemma_table().get(word)
    return found if found is not None else sorted(morph.lemma_variants(word))


@lru_cache(maxsize=1)
def name_patterns() -> dict[str, tuple[list[str], list[tuple[str, ...]]]]:
    """Every name -> (its words, up to 16 combinations of their lemma variants)."""
    result = {}
    for name in entries():
        words = _words(name)
        combos = list(itertools.islice(itertools.product(*map(_variants, words)), 16))
        result[name] = (words, combos)
    return result


_ORDER = ["country", "intl_org", "org", "region", "capital", "city", "country_adj",
          "region_adj", "demonym"]


@lru_cache(maxsize=1)
def lemma_index() -> dict[str, list[tuple[Entry, str]]]:
    """Space-joined lemmas -> (entry, the name as written in the data), for linking NER
    spans under any lemma variant."""
    index: dict[str, list[tuple[Entry, str]]] = {}
    patterns = name_patterns()
    for name, bucket in entries().items():
        for combo in patterns[name][1]:
            key = " ".join(combo).replace("ё", "е")
            for entry in bucket:
                pairs = index.setdefault(key, [])
                same = [i for i, (e, _) in enumerate(pairs) if e == entry]
                if not same:
                    pairs.append((entry, name))
                elif "ё" in name and "ё" not in pairs[same[0]][1]:
                    pairs[same[0]] = (entry, name)  # prefer the spelling with ё
    return index


def lookup_name(lemmas: str) -> tuple[Entry, str] | None:
    """The best (entry, nominative name) for a lemma string, names of parties first."""
    bucket = lemma_index().get(lemmas.replace("ё", "е"))
    if not bucket:
        return None
    return min(bucket, key=lambda pair: _ORDER.index(pair[0].kind))


def lookup(lemmas: str) -> Entry | None:
    found = lookup_name(lemmas)
    return found[0] if found else None


def span_lemmas(span: Span) -> str:
    return " ".join(token.lemma_ for token in span if not token.is_punct or token.text == "-")


def build_matcher(nlp: Language) -> tuple[PhraseMatcher, dict[str, Entry]]:
    """A PhraseMatcher on LEMMA with one pattern per lemma variant of every name."""
    matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
    # Pattern Docs live in a bare Vocab: the matcher compares lemma hashes only, and
    # Russian's lexical attributes (like_num, shape...) for ~3,000 words cost start-up time.
    patterns_vocab = Vocab()
    labels: dict[str, Entry] = {}
    names = name_patterns()
    for name, bucket in entries().items():
        words, combos = names[name]
        entry = min(bucket, key=lambda e: _ORDER.index(e.kind))
        label = f"{entry.kind}|{entry.country or ''}|{entry.code or ''}|{entry.canonical}"
        labels[label] = entry
        matcher.add(label, [Doc(patterns_vocab, words=words, lemmas=list(combo))
                            for combo in combos])
    return matcher, labels


def _is_name_like(span: Span) -> bool:
    first = span[0].text
    return first[:1].isupper() or first.isupper() or not first[:1].isalpha()


@Language.factory("gazetteer")
def create_gazetteer(nlp: Language, name: str):
    """Find countries, regions, cities, international organisations, country adjectives and
    demonyms by lemma; results go to `doc.spans["parties"]` with kind/country/canonical."""
    matcher, labels = build_matcher(nlp)
    prefix_map = prefixes()
    adjectives = adjective_countries()

    def gazetteer(doc: Doc) -> Doc:
        found = []
        for match_id, start, end in matcher(doc):
            entry = labels[nlp.vocab.strings[match_id]]
            span = Span(doc, start, end, label=entry.kind)
            if entry.kind in NAME_KINDS and not _is_name_like(span):
                continue  # "мир", "союз" in lower case are words, not names
            found.append((span, entry))
        by_bounds = {(s.start, s.end): e for s, e in found}
        result = []
        for span in filter_spans([s for s, _ in found]):
            entry = by_bounds[(span.start, span.end)]
            country, canonical = entry.country, entry.canonical
            if entry.kind == "country":  # "Конго": DR Congo or Congo, by the words around
                chosen = resolve_shared(doc, span_lemmas(span), country)
                if chosen != country:
                    country, canonical = chosen, country_names().get(chosen, canonical)
            result.append(Match(span.start, span.end, entry.kind, country, canonical))
        covered = {i for m in result for i in range(m.start, m.end)}
        # Compound adjectives: "российско-японского" -> RU and JP.
        for token in doc:
            if token.i in covered or "-" not in token.text:
                continue
            parts = token.lemma_.split("-")
            codes = [prefix_map.get(part) for part in parts[:-1]]
            codes.append(adjectives.get(parts[-1]))
            if len(parts) >= 2 and all(codes):
                for code in dict.fromkeys(codes):
                    result.append(Match(token.i, token.i + 1, "country_adj", code,
                                        country_names().get(code, code)))
        result.sort(key=lambda m: (m.start, m.end))
        doc.user_data["gazetteer"] = result
        doc.spans["parties"] = [Span(doc, m.start, m.end, label=m.kind) for m in result]
        return doc

    return gazetteer


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """ISO code -> canonical Russian name (Россия, Япония, США)."""
    return {entry.country: entry.canonical for bucket in entries().values()
            for entry in bucket if entry.kind == "country"}


@lru_cache(maxsize=1)
def shared_names() -> dict[str, dict[str, frozenset[str]]]:
    """Lemmas of a name two countries share -> {code: the lemmas that point to it}:
    "конго" -> CD with Киншаса, ДРК, "Демократическая…"; CG with Браззавиль. The name's
    own country (pycountry's) is the first code and wins a tie."""
    extra = country_keyed(data_file("countries.yaml"), "countries.yaml")
    result: dict[str, dict[str, frozenset[str]]] = {}

    def cues(code: str) -> frozenset[str]:
        words = (extra.get(code) or {}).get("context", [])
        return frozenset({w.lower() for w in words} | {morph.lemma(w) for w in words})

    for code, info in extra.items():
        for name in (info or {}).get("shared", []):
            key = " ".join(morph.lemma(w) for w in _words(name)).replace("ё", "е")
            owners = [e.country for e in entries().get(name, []) if e.kind == "country"]
            choices = result.setdefault(key, {})
            for owner in owners:
                choices.setdefault(owner, cues(owner))
            choices[code] = cues(code)
    return result


def resolve_shared(doc: Doc, lemmas: str, code: str | None) -> str | None:
    """The country a shared name ("Конго") names in this document: the one whose cue
    words occur most often around it (a tie keeps `code`)."""
    choices = shared_names().get(lemmas.replace("ё", "е").lower())
    if not choices or code not in choices:
        return code
    words = doc.user_data.get("_cue_words")
    if words is None:
        words = doc.user_data["_cue_words"] = [w for t in doc for w in (t.lower_, t.lemma_.lower())]
    counts = {c: sum(w in cue for w in words) for c, cue in choices.items()}
    best = max(counts.values())
    return code if counts[code] == best else next(c for c, n in counts.items() if n == best)


@lru_cache(maxsize=1)
def _latin_names() -> list[tuple[re.Pattern, str]]:
    import pycountry

    patterns = []
    for country in pycountry.countries:
        for name in {country.name, getattr(country, "common_name", country.name)}:
            if len(name) > 3 and "," not in name:
                patterns.append((re.compile(rf"\b{re.escape(name)}\b"), country.alpha_2))
    patterns.append((re.compile(r"\b(Russia|Russian)\b"), "RU"))
    patterns.append((re.compile(r"\b(American|USA)\b"), "US"))
    return patterns


def latin_country(name: str) -> str | None:
    """The country named in an organisation's Latin name ("Bank of China" -> CN)."""
    if not re.search("[A-Za-z]", name):
        return None
    for pattern, code in _latin_names():
        if pattern.search(name):
            return code
    return None


def link_entity(ent: Span) -> None:
    """Give a NER span its canonical party (kind, canonical name, country) when known."""
    if ent.label_ == "PER":
        ent._.kind = "person"
        return
    found = lookup_name(span_lemmas(ent))
    entry = found[0] if found else None
    if found and found[0].kind in NAME_KINDS and ent.label_ != "PER":
        # The gazetteer's name is the nominative: "Объединённых Арабских Эмиратах" ->
        # "Объединённые Арабские Эмираты", whatever the parser made of the phrase.
        ent._.normal = found[1]
    if entry is None and ent._.normal:
        entry = lookup(" ".join(morph.lemma(w) for w in _words(ent._.normal)))
    if entry is None and ent.label_ == "ORG":
        code = latin_country(ent.text)
        if code:  # "China Eastern", "Bank of East Asia"... "Industrial Bank of China"
            ent._.kind, ent._.country = "org", code
            return
    if entry is None:
        # "Министерство ... Японии", "правительства Приморского края", "Университет Нагои":
        # not the party itself, but the country it belongs to is still worth knowing.
        if ent.label_ == "ORG":
            for token in ent:
                part = lookup(token.lemma_)
                if part and part.kind in ("country", "country_adj", "capital", "city", "region",
                                          "region_adj") and part.country:
                    ent._.country = part.country
                    ent._.kind = "org"
                    return
        ent._.kind = {"ORG": "org", "PER": "person", "LOC": None}[ent.label_]
        return
    if entry.kind in ("country_adj", "demonym", "region_adj"):
        return
    if entry.kind == "org":
        if ent.label_ == "ORG":
            ent._.kind, ent._.country = "org", entry.country
        return
    if ent.label_ == "ORG" and entry.kind not in ("intl_org", "country"):
        return
    ent._.kind = entry.kind
    ent._.canonical = entry.canonical
    ent._.country = entry.country
    if entry.kind == "country":
        chosen = resolve_shared(ent.doc, span_lemmas(ent), entry.country)
        if chosen != entry.country:
            ent._.country, ent._.canonical = chosen, country_names()[chosen]
            ent._.normal = ent._.canonical if ent._.normal == entry.canonical else ent._.normal
