"""What the learned cooperation detector reads of a document.

Per sentence, a bag of feature strings: lemmas and their bigrams; the same words with
countries and people abstracted ("передать _c_dat" fits every recipient country);
dependency triples ("передать>obl>_c_"); the dependency path between each two parties
("_pp_c:nsubj^поставить^iobj:c": who does what to whom, `pair_paths`); and the rule cues of
`cooperation.py` as tokens ("_r_sign", "_r_neg_conflict"), so what the rules know is
learned from real labels, not weighted by hand. Per document and per sentence, the mean
news-embedding vector of its words (`document_vector`, `sentence_vectors`): what it is
about beyond the exact words seen in training. Per country named in the document, a few
numbers that say whether it is a party of the cooperation or scenery
(`country_candidates`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from spacy import symbols
from spacy.tokens import Doc

from .cooperation import SentenceCues
from .gazetteer import matches
from .wordvectors import VECTOR_SIZE, mean_word_vector

COUNTRY_KINDS = {"country", "capital"}
ADJECTIVE_KINDS = {"country_adj", "demonym"}
HEADS = {symbols.VERB, symbols.NOUN}  # triples are read off content heads only


def _is_word(text: str) -> bool:
    return text.isalpha() or any(ch.isalpha() for ch in text)  # most tokens: the first


def cue_tokens(cues: SentenceCues) -> list[str]:
    """The sentence's rule cues as feature strings."""
    flags = {
        "coop": cues.coop, "sign": cues.sign_agreement, "joint": cues.joint,
        "develop": cues.develop_coop, "pair": cues.pair, "neg": cues.negated,
        "link": cues.link, "cross": cues.cross_border, "jsubj": cues.joint_subjects,
        "implied": cues.implied_pair, "p2": cues.parties >= 2,
        "c2": len(cues.countries) >= 2, "iscoop": cues.is_coop,
    }
    return [f"_r_{name}" for name, on in flags.items() if on] + \
        [f"_r_neg_{name}" for name in cues.negative]


def mention_kinds(doc: Doc) -> dict[int, str]:
    """Token index -> "country" / "adjective" / "person" where a mention abstracts."""
    kinds: dict[int, str] = {}
    for m in matches(doc):
        kind = "country" if m.kind in COUNTRY_KINDS else \
            "adjective" if m.kind in ADJECTIVE_KINDS else None
        if kind:
            for i in range(m.start, m.end):
                kinds[i] = kind
    for ent in doc.ents:
        if ent.label_ == "PER":
            for i in range(ent.start, ent.end):
                kinds.setdefault(i, "person")
    return kinds


def sentence_features(cues: SentenceCues, kinds: dict[int, str], words: "DocWords",
                      parties: Sequence[tuple[int, str]]) -> list[str]:
    """The feature strings of one sentence (with repeats: counts matter)."""
    sent = cues.span
    index = [i for i in range(sent.start, sent.end) if words.is_word[i]]
    lemmas = [words.lemma[i] for i in index]
    abstract = [words.abstract(i, kinds.get(i)) for i in index]
    out = lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:])]
    out += [a for a in abstract if a[0] == "_"]
    out += [f"{a} {b}" for a, b in zip(abstract, abstract[1:]) if a[0] == "_" or b[0] == "_"]
    for i in index:
        head = words.head[i]
        if words.dep[i] in ("punct", "ROOT") or words.pos[head] not in HEADS:
            continue
        kind = kinds.get(i)
        child = "_c_" if kind == "country" else "_cadj_" if kind == "adjective" \
            else words.lemma[i]
        out.append(f"{words.lemma[head]}>{words.dep[i]}>{child}")
    out += pair_paths(sent.start, sent.end, parties, words)
    return out + cue_tokens(cues)


PATH_MAX = 3  # dependency edges between two parties for their link to count (3, 4, 6 tried)
PATH_PREFIX, MEETING_PREFIX = "_pp_", "_pm_"  # the feature strings of `pair_paths`
MENTION_LETTERS = {"country": "c", "adjective": "a", "person": "p", "PER": "p", "ORG": "o"}


def party_mentions(doc: Doc, kinds: dict[int, str], heads: list[int]
                   ) -> list[tuple[int, str]]:
    """One token per mention of a possible party (a country, a country adjective, a person,
    an organisation, another place), the one whose head lies outside the mention, with a
    letter for its kind; in text order."""
    letters: dict[int, str] = {}
    starts = {sent.start for sent in doc.sents}  # a mention never runs on past these
    for ent in doc.ents:
        starts.add(ent.start)
        for k in range(ent.start, ent.end):
            letters[k] = MENTION_LETTERS.get(ent.label_, "l")
    for k, kind in kinds.items():
        letters[k] = MENTION_LETTERS[kind]
    mentions, i, n = [], 0, len(doc)
    while i < n:
        letter = letters.get(i)
        if letter is None:
            i += 1
            continue
        j = i
        while j + 1 < n and letters.get(j + 1) == letter and j + 1 not in starts:
            j += 1
        root = next((k for k in range(i, j + 1) if not i <= heads[k] <= j), i)
        mentions.append((root, letter))
        i = j + 1
    return mentions


def pair_paths(start: int, end: int, parties: Sequence[tuple[int, str]], words: "DocWords"
               ) -> list[str]:
    """How each two parties of a sentence are linked in its dependency tree, within
    PATH_MAX edges: the relations from the first party up to where the paths meet, the
    lemma there, and the relations down to the second party (joined by "/"):
    "_pp_c:nsubj^поставить^iobj:c" for «Норвегия поставила Украине…», the letters being the
    parties' kinds (`MENTION_LETTERS`); and that lemma alone ("_pm_поставить"). Conjuncts
    meet where they act together («Москва и Пекин подписали»: "_pp_l:conj^подписать^:c").
    Who does what to whom, which the bag of words misses."""
    inside = [(i, letter) for i, letter in parties if start <= i < end]
    chains = [_chain(i, start, end, words) for i, _ in inside]
    out = []
    for a in range(len(inside)):
        for b in range(a + 1, len(inside)):
            chain_a, chain_b = chains[a], chains[b]
            common = next((k for k in chain_a if k in chain_b), None)
            if common is None:
                continue
            up, down = chain_a.index(common), chain_b.index(common)
            if not 0 < up + down <= PATH_MAX:
                continue
            left = "/".join(words.dep[k] for k in chain_a[:up])
            right = "/".join(words.dep[k] for k in reversed(chain_b[:down]))
            if {d for d in f"{left}/{right}".split("/") if d} == {"conj"}:
                # conjuncts («Россия, Китай и Индия подписали»): they meet where they act
                # together, the head of the first conjunct, never at a party's own name
                top = words.head[common]
                lemma = words.lemma[top] if top != common and start <= top < end else "_"
                left, right = "conj", ""
            elif common in (chain_a[0], chain_b[0]):
                lemma = "_"  # one party governs the other («МИД России»)
            else:
                lemma = words.lemma[common]
            out.append(f"{PATH_PREFIX}{inside[a][1]}:{left}^{lemma}^{right}:{inside[b][1]}")
            if lemma != "_":
                out.append(f"{MEETING_PREFIX}{lemma}")
    return out


def _chain(i: int, start: int, end: int, words: "DocWords") -> list[int]:
    """Token `i` and its heads towards the sentence's root, at most PATH_MAX of them (a
    pair meeting further up is too far apart to count)."""
    chain = [i]
    while len(chain) <= PATH_MAX:
        head = words.head[chain[-1]]
        if head == chain[-1] or not start <= head < end:
            break
        chain.append(head)
    return chain


class DocWords:
    """The token attributes the features read, taken from the Doc in one array (reading
    them token by token from spaCy cost more than the rest of the features)."""

    def __init__(self, doc: Doc):
        from spacy.attrs import DEP, HEAD, LEMMA, ORTH, POS

        self.doc = doc
        strings = doc.vocab.strings
        array = doc.to_array([ORTH, LEMMA, DEP, POS, HEAD])
        cache: dict[int, str] = {}

        def text(key: int) -> str:
            found = cache.get(key)
            if found is None:
                found = cache[key] = strings[key]
            return found

        self.lemma = [text(int(key)).lower() for key in array[:, 1]]
        self.is_word = [_is_word(text(int(key))) for key in array[:, 0]]
        self.dep = [text(int(key)) for key in array[:, 2]]
        self.pos = [int(key) for key in array[:, 3]]
        self.head = [i + int(offset) for i, offset in enumerate(array[:, 4].astype(np.int64))]

    def abstract(self, i: int, kind: str | None) -> str:
        if kind == "country":
            case = self.doc[i].morph.get("Case")
            return "_c_" + (case[0].lower() if case else "")
        if kind == "adjective":
            return "_cadj_"
        if kind == "person":
            return "_per_"
        return self.lemma[i]


def document_features(doc: Doc, all_cues: list[SentenceCues]) -> list[list[str]]:
    kinds, words = mention_kinds(doc), DocWords(doc)
    parties = party_mentions(doc, kinds, words.head)
    return [sentence_features(cues, kinds, words, parties) for cues in all_cues]


VECTOR_FULL_SENTENCES = 8  # a longer text's mean vector fades (by 8 / its sentences)


def document_vector(doc: Doc, sentences: int) -> np.ndarray:
    """The mean of Natasha's news-embedding vectors of the document's words (title and
    text), unit length up to VECTOR_FULL_SENTENCES `sentences` and shorter beyond; zeros
    when it knows none. Words too rare in the labelled news for the TF-IDF features still
    land near their synonyms («зенитные комплексы», «вооружение»). In a long article the
    mean of every word says little of its point: the vector helped posts and hurt the
    long factRuEval articles until it faded with length."""
    vector = mean_word_vector([text for text in _token_texts(doc) if _is_word(text)])
    return vector * min(1.0, VECTOR_FULL_SENTENCES / max(1, sentences))


def sentence_vectors(doc: Doc, all_cues: list[SentenceCues]) -> np.ndarray:
    """Each sentence's unit mean word vector, as rows (zeros for a sentence of unknown
    words): what the evidence model reads of a sentence beyond its exact words."""
    texts = _token_texts(doc)
    rows = [mean_word_vector([t for t in texts[c.span.start:c.span.end] if _is_word(t)])
            for c in all_cues]
    return np.array(rows).reshape(len(rows), VECTOR_SIZE)


def _token_texts(doc: Doc) -> list[str]:
    from spacy.attrs import ORTH

    return list(map(doc.vocab.strings.__getitem__, doc.to_array(ORTH).tolist()))


# --- countries -----------------------------------------------------------------------------

COUNTRY_FEATURES = [
    "actor", "place", "actor_coop", "actor_evidence", "place_evidence", "title", "lead",
    "subject", "dative", "via_person", "via_org", "via_adjective", "via_name",
    "only_adjective", "share", "top", "countries", "evidence_countries", "ru", "ru_implied",
    "opposed", "conflict", "speaker", "evidence_side", "scenery",
]


@dataclass
class CountryMentions:
    """How one country is named in a document: counts over all sentences, and the
    sentences where it is an actor or a place (the evidence sentence is chosen later)."""

    counts: Counter = field(default_factory=Counter)
    actor_sentences: set[int] = field(default_factory=set)
    place_sentences: set[int] = field(default_factory=set)
    # sentences where it acts other than as the other side or the speaker, and where it is
    # named as the other side or as the speaker
    plain_sentences: set[int] = field(default_factory=set)
    opposed_sentences: set[int] = field(default_factory=set)
    speaker_sentences: set[int] = field(default_factory=set)


def country_mentions(all_cues: list[SentenceCues], title_count: int
                     ) -> dict[str, CountryMentions]:
    """Every country a party or a place of the document belongs to. RU is always there: in
    Russian news a Russian party often goes unnamed ("Минобороны", "российские военные");
    organisations guessed Russian by their Cyrillic name count as `ru_implied`."""
    found: dict[str, CountryMentions] = {}
    implied_ru = False
    for index, cues in enumerate(all_cues):
        for role, parties in (("actor", cues.actors), ("place", cues.places)):
            for party in parties:
                code = party.get("country")
                if not code:
                    continue
                if code.endswith("?"):
                    implied_ru = True
                    continue
                mention = found.setdefault(code, CountryMentions())
                c = mention.counts
                c[role] += 1
                (mention.actor_sentences if role == "actor" else
                 mention.place_sentences).add(index)
                if role == "actor" and cues.is_coop:
                    c["actor_coop"] += 1
                if index < title_count:
                    c["title"] = 1
                if index <= title_count:
                    c["lead"] = 1
                if party.get("dep") in ("nsubj", "nsubj:pass") or (
                        party.get("dep") == "conj" and role == "actor"):
                    c["subject"] = 1
                if party.get("opposed"):
                    c["opposed"] += 1
                    mention.opposed_sentences.add(index)
                if party.get("speaker"):
                    c["speaker"] += 1
                    mention.speaker_sentences.add(index)
                if role == "actor" and not party.get("opposed") and not party.get("speaker"):
                    mention.plain_sentences.add(index)
                if "conflict" in cues.negative or "sanctions" in cues.negative:
                    c["conflict"] += 1
                if party.get("case") == "Dat":
                    c["dative"] = 1
                via = party.get("via", "")
                c["via_person" if via == "person" else "via_org" if via == "org"
                  else "via_adjective" if via in ADJECTIVE_KINDS else "via_name"] += 1
    found.setdefault("RU", CountryMentions()).counts["ru_implied"] = int(implied_ru)
    return found


def country_features(found: dict[str, CountryMentions], evidence: int | None
                     ) -> dict[str, dict[str, float]]:
    """COUNTRY_FEATURES of each country, given the evidence sentence's index."""
    def mentions(m: CountryMentions) -> int:
        return m.counts["actor"] + m.counts["place"]

    total = sum(map(mentions, found.values())) or 1
    top = max(found, key=lambda code: mentions(found[code]))
    in_evidence = sum(evidence in m.actor_sentences | m.place_sentences for m in found.values())
    acting = sum(evidence in m.plain_sentences for m in found.values())
    result = {}
    for code, m in found.items():
        c = m.counts
        result[code] = {
            "actor": math.log1p(c["actor"]), "place": math.log1p(c["place"]),
            "actor_coop": math.log1p(c["actor_coop"]),
            "actor_evidence": float(evidence in m.actor_sentences),
            "place_evidence": float(evidence in m.place_sentences),
            "title": float(c["title"]), "lead": float(c["lead"]),
            "subject": float(c["subject"]), "dative": float(c["dative"]),
            "via_person": float(c["via_person"] > 0), "via_org": float(c["via_org"] > 0),
            "via_adjective": float(c["via_adjective"] > 0),
            "via_name": float(c["via_name"] > 0),
            "only_adjective": float(0 < mentions(m) == c["via_adjective"]),
            "share": mentions(m) / total, "top": float(code == top and mentions(m) > 0),
            "countries": math.log1p(len(found)),
            "evidence_countries": math.log1p(in_evidence), "ru": float(code == "RU"),
            "ru_implied": float(c["ru_implied"]),
            "opposed": c["opposed"] / (mentions(m) or 1),
            "conflict": c["conflict"] / (mentions(m) or 1),
            "speaker": c["speaker"] / (mentions(m) or 1),
            # named in the evidence sentence only as the other side or as the speaker
            "evidence_side": float(evidence in m.opposed_sentences | m.speaker_sentences
                                   and evidence not in m.plain_sentences),
            # the guideline: a place counts only when a single country acts
            "scenery": float(c["actor"] == 0 and c["place"] > 0
                             and acting - (evidence in m.plain_sentences) >= 2),
        }
    return result
