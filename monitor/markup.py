"""Real-world markup removed before analysis, with a map back to the stored text.

News arrives as posted: Telegram-style markdown (`**bold**`, `__italics__`, `[anchor](url)`),
emoji, bare links, hashtags, @mentions and channel footers ("Подписаться на …", "Прислать
новость", "Читать нас без VPN"). Natasha reads that as words and punctuation, so the NLP sees
the cleaned text; every character of it remembers where it stood in the stored text, so
offsets in the analysis still index what is stored (`Cleaned.original`).

`clean(text)` is the one place this happens; `analysis.analyse` calls it for the poller, the
service and `monitor analyze` alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import emoji

# A footer or sign-up line is dropped whole: matched on the line without its markup, when
# the line is short and carries a link or a handle (or is very short).
FOOTER = re.compile(
    r"подпис(аться|ывайся|ывайтесь|ывайте)\b|подпишись|подпишитесь|"
    r"прислать (новость|фото|видео)|прислали через|предложить новость|"
    r"читать нас без vpn|доступен без vpn|без vpn можно|отдай свой буст|с любовью, mash|"
    r"^#промо$|^реклама\.?$|наш (канал|чат|бот)\b", re.IGNORECASE)
LINK = re.compile(r"\[([^\[\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*\)")  # [anchor](url)
URL = re.compile(r"(?:https?://|www\.|t\.me/|bit\.ly/|vk\.cc/)\S+", re.IGNORECASE)
EMPHASIS = re.compile(r"\*{2,}|_{2,}|~{2,}|\|{2,}|`+")  # **, __, ~~, ||, `
MENTION = re.compile(r"(?<![\w@])@\w{3,}")
HASHTAG = re.compile(r"(?<![\w#])#(?=\w)")  # "#Китай" keeps its word
INVISIBLE = re.compile("[\ufe0f\ufe0e\u200d\u200b\u2060\u00ad]")
LINE_EDGES = re.compile(r"^[ \t\u00a0]+|[ \t\u00a0]+$", re.MULTILINE)
SPACE_RUNS = re.compile(r"[ \t\u00a0]{2,}")
BLANK_LINES = re.compile(r"\n{3,}")
HEADLINE_MAX = 300  # a first line longer than this is a paragraph, not a headline


@dataclass
class Cleaned:
    """Cleaned text; `positions[i]` is where its character i stood in the original
    (one extra entry: the original's end)."""

    text: str
    positions: list[int]

    def original(self, start: int, stop: int) -> tuple[int, int]:
        """Offsets in the original text of the cleaned text's [start, stop)."""
        if stop <= start:
            return self.positions[start], self.positions[start]
        return self.positions[start], self.positions[stop - 1] + 1


@lru_cache(maxsize=1)
def _emoji_table() -> tuple[re.Pattern, re.Pattern, dict[str, list[str]]]:
    """A quick test for any emoji, the first characters of every emoji, and per first
    character the emoji starting with it, longest first. (The `emoji` package's own scanner
    is about ten times slower on a news text; a class of single characters outside the
    Basic Multilingual Plane is tested one by one, so the quick test comes first.)"""
    starts: dict[str, list[str]] = {}
    for sequence in emoji.EMOJI_DATA:
        starts.setdefault(sequence[0], []).append(sequence)
    for sequences in starts.values():
        sequences.sort(key=len, reverse=True)
    # "1️⃣", "#️⃣": an ASCII character starts an emoji only when a keycap mark follows
    ascii_ = "".join(re.escape(c) for c in sorted(starts) if ord(c) <= 127)
    keycap = f"|[{ascii_}](?=[\ufe0f\u20e3])"
    wide = sorted(ord(c) for c in starts if ord(c) > 127)
    bmp = [p for p in wide if p <= 0xFFFF]
    quick = re.compile("[" + "".join(_ranges(bmp)) + "\U00010000-\U0010ffff]" + keycap)
    return quick, re.compile("[" + "".join(_ranges(wide)) + "]" + keycap), starts


def _ranges(points: list[int]) -> list[str]:
    """Sorted code points as regex class ranges ("a-z"): a class of single characters
    outside the Basic Multilingual Plane is tested one by one, a range at once."""
    result, start, last = [], points[0], points[0]
    for point in points[1:] + [None]:
        if point is not None and point == last + 1:
            last = point
            continue
        result.append(re.escape(chr(start)) + ("-" + re.escape(chr(last)) if last > start
                                               else ""))
        if point is not None:
            start = last = point
    return result


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """(start, stop) of every emoji in `text`, left to right, never overlapping."""
    quick, first, starts = _emoji_table()
    if quick.search(text) is None:
        return []
    spans, done = [], 0
    for match in first.finditer(text):
        at = match.start()
        if at < done:
            continue
        for sequence in starts[match.group()]:
            if text.startswith(sequence, at):
                spans.append((at, at + len(sequence)))
                done = at + len(sequence)
                break
    return spans


def _without_emoji(text: str) -> str:
    spans = emoji_spans(text)
    return "".join(text[a:b] for a, b in zip([0] + [e for _, e in spans],
                                              [s for s, _ in spans] + [len(text)]))


def _identity(text: str) -> Cleaned:
    return Cleaned(text, list(range(len(text) + 1)))


def _keep(cleaned: Cleaned, drop: list[tuple[int, int]], space: set[int] = frozenset()
          ) -> Cleaned:
    """`cleaned` without the character ranges in `drop` (sorted, non-overlapping); a range
    whose start is in `space` leaves one space, so "слово🔥слово" stays two words."""
    if not drop:
        return cleaned
    text, positions = cleaned.text, cleaned.positions
    out, pos, at = [], [], 0
    for start, stop in drop:
        if start < at:
            continue
        out.append(text[at:start])
        pos.extend(positions[at:start])
        if start in space:
            out.append(" ")
            pos.append(positions[start])
        at = stop
    out.append(text[at:])
    pos.extend(positions[at:len(text)])
    return Cleaned("".join(out), pos + [positions[-1]])


def _drop_matches(cleaned: Cleaned, pattern: re.Pattern, keep_group: int | None = None
                  ) -> Cleaned:
    """Remove each match of `pattern`, keeping its group `keep_group` (a link's anchor)."""
    drop = []
    for m in pattern.finditer(cleaned.text):
        if keep_group is not None and m.group(keep_group):
            drop += [(m.start(), m.start(keep_group)), (m.end(keep_group), m.end())]
        else:
            drop.append((m.start(), m.end()))
    return _keep(cleaned, [(a, b) for a, b in drop if b > a])


def _between_words(text: str, start: int, stop: int) -> bool:
    return 0 < start and stop < len(text) and text[start - 1].isalnum() and text[stop].isalnum()


def _drop_footers(cleaned: Cleaned) -> Cleaned:
    drop, at = [], 0
    for line in cleaned.text.split("\n"):
        bare = EMPHASIS.sub("", LINK.sub(r"\1", line))
        bare = _without_emoji(INVISIBLE.sub("", bare)).strip(" —–-:|")
        only_links = not bare or not URL.sub("", MENTION.sub("", bare)).strip(" —–-:|,")
        linked = len(bare) < 60 or LINK.search(line) or URL.search(line) or MENTION.search(line)
        if line.strip() and (only_links or len(bare) < 160 and linked and FOOTER.search(bare)):
            drop.append((at, at + len(line)))
        at += len(line) + 1
    return _keep(cleaned, drop)


def clean(text: str) -> Cleaned:
    """Text without markdown, links' targets, bare URLs, emoji, @mentions, hashtag signs and
    footer lines, whitespace tidied; positions map each character back to `text`."""
    cleaned = _identity(text or "")
    if not cleaned.text:
        return cleaned
    cleaned = _drop_footers(cleaned)
    cleaned = _drop_matches(cleaned, LINK, keep_group=1)
    cleaned = _drop_matches(cleaned, URL)
    cleaned = _drop_matches(cleaned, EMPHASIS)
    found = emoji_spans(cleaned.text)
    found += [(m.start(), m.end()) for m in INVISIBLE.finditer(cleaned.text)]
    found.sort()
    spaced = {a for a, b in found if _between_words(cleaned.text, a, b)}
    cleaned = _keep(cleaned, found, spaced)
    cleaned = _drop_matches(cleaned, MENTION)
    cleaned = _drop_matches(cleaned, HASHTAG)
    # whitespace last: no spaces at line edges, one space for a run, one blank line at most
    cleaned = _drop_matches(cleaned, LINE_EDGES)
    cleaned = _keep(cleaned, [(m.start() + 1, m.end()) for m in SPACE_RUNS.finditer(cleaned.text)])
    cleaned = _keep(cleaned, [(m.start() + 2, m.end()) for m in BLANK_LINES.finditer(cleaned.text)])
    strip_start = len(cleaned.text) - len(cleaned.text.lstrip())
    strip_end = len(cleaned.text.rstrip())
    return _keep(cleaned, [(0, strip_start), (strip_end, len(cleaned.text))])


def split_headline(cleaned: Cleaned) -> tuple[str, int]:
    """A text without a title: its first line as the headline when it reads as one (short,
    more text after it). Returns (headline, where the body starts in the cleaned text)."""
    first, _, rest = cleaned.text.partition("\n")
    if not rest.strip() or len(first) > HEADLINE_MAX or not first.strip():
        return "", 0
    return first.strip(), len(first) + 1 + len(rest) - len(rest.lstrip("\n"))
