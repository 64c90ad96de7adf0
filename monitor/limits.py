"""How much of an article is analysed: the one cap every caller of the analysis applies.

Analysis time and memory grow with the text (a 10 MB description once ran for minutes at
8.5 GB), and a feed may legitimately carry up to the 15 MiB body cap. So the service, `monitor
analyze` and `monitor reprocess` analyse at most MAX_ANALYSIS_CHARS of the text (and
MAX_TITLE_CHARS of the title), cut at a paragraph or sentence end near the cap. The cut
text is a prefix of the original, so entity offsets stay valid for the whole stored text.
"""

from __future__ import annotations

import re

MAX_ANALYSIS_CHARS = 100_000  # about 40 printed pages; news articles are 1-10 thousand
MAX_TITLE_CHARS = 1_000
# A cut may fall this far before the cap to end at a paragraph, else at a sentence.
_SLACK = 0.1

_SENTENCE_END = re.compile(r"[.!?…][»\"”')\]]*\s")


def cut_for_analysis(text: str, limit: int = MAX_ANALYSIS_CHARS) -> tuple[str, bool]:
    """`(text, False)` when it fits, else `(prefix, True)`: the prefix ends at the last
    paragraph break, else the last sentence end, in the final 10 % before `limit`; failing
    both, at the last space before `limit`, or at `limit` itself."""
    if len(text) <= limit:
        return text, False
    window = text[:limit + 1]  # a break right at the cap still counts
    floor = int(limit * (1 - _SLACK))
    paragraph = window.rfind("\n", floor)
    if paragraph > 0:
        return text[:paragraph], True
    ends = [m.end() for m in _SENTENCE_END.finditer(window, floor)]
    if ends:
        return text[:ends[-1]].rstrip(), True
    space = window.rfind(" ", floor)
    return text[:space if space > 0 else limit], True


def cut_title_and_text(title: str, text: str) -> tuple[str, str, bool]:
    """Both parts of an article cut for analysis; the flag says whether either was cut."""
    title, title_cut = cut_for_analysis(title or "", MAX_TITLE_CHARS)
    text, text_cut = cut_for_analysis(text or "", MAX_ANALYSIS_CHARS)
    return title, text, title_cut or text_cut
