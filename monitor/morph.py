"""Lemmas and inflection with pymorphy3, guided by Natasha's part-of-speech tags.

pymorphy3 alone cannot tell "Японии" (genitive) from "Японии" (dative); Natasha's tagger can.
We pick the pymorphy3 parse that agrees with Natasha's tag, and use it both to lemmatise and
to inflect names back to the nominative.
"""

from __future__ import annotations

from functools import lru_cache

import pymorphy3

# Universal POS (Natasha) -> pymorphy3 POS tags that may realise it.
_UPOS = {
    "NOUN": {"NOUN"}, "PROPN": {"NOUN"}, "ADJ": {"ADJF", "ADJS", "PRTF", "COMP"},
    "VERB": {"VERB", "INFN", "PRTF", "PRTS", "GRND"}, "AUX": {"VERB", "INFN"},
    "ADV": {"ADVB", "COMP", "PRED"}, "NUM": {"NUMR"}, "PRON": {"NPRO"},
    "DET": {"ADJF", "NPRO"}, "ADP": {"PREP"}, "CCONJ": {"CONJ"}, "SCONJ": {"CONJ"},
    "PART": {"PRCL"},
}
CASES = {"Nom": "nomn", "Gen": "gent", "Dat": "datv", "Acc": "accs", "Ins": "ablt",
         "Loc": "loct"}
_NUMBERS = {"Sing": "sing", "Plur": "plur"}


@lru_cache(maxsize=1)
def analyzer() -> pymorphy3.MorphAnalyzer:
    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=300_000)
def parses(word: str) -> tuple:
    """pymorphy3's parses of a word, cached: the tagger-guided lemmas, the search lemmas
    and the sector classifier's input all ask for the same words."""
    return tuple(analyzer().parse(word.lower()))


@lru_cache(maxsize=200_000)
def choose_parse(word: str, upos: str | None = None, case: str | None = None,
                 number: str | None = None):
    """The pymorphy3 parse of `word` that best agrees with the tagger's POS, case, number."""
    parses_ = parses(word)
    if not parses_:
        return None
    wanted_pos = _UPOS.get(upos or "", set())
    wanted_case = CASES.get(case or "")
    wanted_number = _NUMBERS.get(number or "")

    def score(item):
        index, parse = item
        tag = parse.tag
        points = 0
        if wanted_pos and tag.POS in wanted_pos:
            points += 4
        if upos == "PROPN" and ({"Name", "Surn", "Patr", "Geox", "Orgn"} & tag.grammemes):
            points += 2
        if wanted_case and (tag.case == wanted_case
                            or (wanted_case == "gent" and tag.case == "gen2")
                            or (wanted_case == "loct" and tag.case == "loc2")):
            points += 2
        if wanted_number and tag.number == wanted_number:
            points += 1
        return (points, -index)

    return max(enumerate(parses_), key=score)[1]


@lru_cache(maxsize=200_000)
def lemma(word: str, upos: str | None = None, case: str | None = None,
          number: str | None = None) -> str:
    """Lower-case lemma of a word in context (the tagger's POS/case/number)."""
    if not any(ch.isalpha() for ch in word):
        return word.lower()
    if "-" in word and not word.startswith("-"):
        # Hyphenated compounds: "российско-японского" -> "российско-японский".
        head, _, tail = word.rpartition("-")
        return f"{head.lower()}-{lemma(tail, upos, case, number)}"
    parse = choose_parse(word, upos, case, number)
    return parse.normal_form if parse else word.lower()


@lru_cache(maxsize=50_000)
def lemma_variants(word: str) -> frozenset[str]:
    """Every lemma pymorphy3 considers for a word out of context (for gazetteer patterns)."""
    if "-" in word and not word.startswith("-"):
        head, _, tail = word.rpartition("-")
        return frozenset(f"{head.lower()}-{v}" for v in lemma_variants(tail))
    return frozenset(p.normal_form for p in analyzer().parse(word)) or frozenset([word.lower()])


def match_case(template: str, word: str) -> str:
    """Give `word` the capitalisation pattern of `template` (ТАСС, Москва, москва)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def inflect(word: str, upos: str | None, case: str | None, number: str | None,
            target: set[str], gender: str | None = None) -> str:
    """`word` (as tagged in context) inflected to the grammemes in `target`; the word itself
    when pymorphy3 cannot (indeclinable, unknown, or an abbreviation)."""
    return _inflect(word, upos, case, number, frozenset(target), gender)


@lru_cache(maxsize=100_000)
def _inflect(word: str, upos: str | None, case: str | None, number: str | None,
             target: frozenset[str], gender: str | None) -> str:
    if "-" in word and not word.startswith("-") and not word.endswith("-"):
        head, _, tail = word.rpartition("-")
        return f"{head}-{_inflect(tail, upos, case, number, target, gender)}"
    if word.isupper() and len(word) > 1:
        return word  # abbreviations: МИД, ООН, РЖД
    parse = choose_parse(word, upos, case, number)
    if parse is None or "Fixd" in parse.tag.grammemes:
        return word
    if word[-1:].lower() in "иоуеюэ" and not analyzer().word_is_known(word.lower()):
        return word  # unknown foreign names in a vowel do not decline: Тоттори, Сочи
    wanted = set(target)
    if gender and parse.tag.POS in ("ADJF", "PRTF") and "plur" not in wanted \
            and parse.tag.number != "plur":
        wanted.add(gender)
    inflected = parse.inflect(wanted) or parse.inflect(set(target))
    if inflected is None:
        return word
    return match_case(word, inflected.word)
