"""Search lemmas: every word reduced to pymorphy3's most likely lemma, out of context.

Documents and queries go through the same function, so «водоочистку», «водоочистки» and
«водоочистка» all become «водоочистка», and «японскими компаниями» finds «японских
компаний». Context-free on purpose: the query has no context, and both sides must agree.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .morph import parses

WORD = re.compile(r"[0-9A-Za-zА-Яа-яЁё]+(?:-[0-9A-Za-zА-Яа-яЁё]+)*")


@lru_cache(maxsize=300_000)
def search_lemma(word: str) -> str:
    lower = word.lower().replace("ё", "е")
    if not re.search("[а-я]", lower):
        return lower
    if "-" in lower:
        head, _, tail = lower.rpartition("-")
        return f"{head}-{search_lemma(tail)}"
    found = parses(lower)
    return found[0].normal_form.replace("ё", "е") if found else lower


def words(text: str) -> list[re.Match]:
    return list(WORD.finditer(text or ""))


def lemmatize(text: str) -> str:
    """Space-separated search lemmas of `text` (hyphenated words kept whole and split)."""
    out = []
    for match in WORD.finditer(text or ""):
        lemma = search_lemma(match.group())
        out.append(lemma)
        if "-" in lemma:
            out.extend(part for part in lemma.split("-") if part)
    return " ".join(out)
