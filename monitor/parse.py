"""Feed bytes to `NewItem`s via feedparser: text, identity and dates for each entry."""

from __future__ import annotations

import calendar
import codecs
import hashlib
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import chardet
import feedparser

from .store import NewItem
from .text import canonical_url, clean_article, html_to_text


@dataclass
class ParsedFeed:
    items: list[NewItem]
    title: str = ""
    warning: str | None = None  # charset repairs, feedparser's bozo exception (often harmless)
    encoding: str | None = None
    skipped: list[str] = field(default_factory=list)  # why entries were dropped
    version: str = ""  # feedparser's name of the format ("rss20", "atom10"); "" for none

    def not_a_feed(self) -> str | None:
        """Why the body is no feed at all (an HTML page, an empty or garbled body), or None:
        feedparser recognised no feed format and read no entry from it."""
        if self.items or self.skipped or self.version:
            return None
        why = "no RSS or Atom feed in the response"
        return f"{why} ({self.warning})" if self.warning else why


def _entry_text(entry) -> str:
    """The fullest body the entry carries: Yandex full-text, content:encoded or summary."""
    candidates = [entry.get("yandex_full-text") or ""]
    candidates += [c.get("value", "") for c in entry.get("content", []) or []]
    candidates.append(entry.get("summary", "") or "")
    texts = [html_to_text(c) for c in candidates if c]
    return max(texts, key=len, default="")


def _entry_published(entry) -> str | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                stamp = calendar.timegm(parsed)
                return datetime.fromtimestamp(stamp, timezone.utc).isoformat()
            except (OverflowError, ValueError, OSError):
                continue
    return None


def _redecode(body: bytes, encoding: str) -> tuple[bytes, int]:
    """Re-encode a body as UTF-8 with a matching prolog; also say how many byte sequences
    were invalid in `encoding` (each became U+FFFD)."""
    text = body.decode(encoding, errors="replace").lstrip("\ufeff")
    invalid = text.count("\ufffd") - body.decode(encoding, errors="ignore").count("\ufffd")
    if text.startswith("<?xml"):
        end = text.find("?>")
        if end != -1:
            text = '<?xml version="1.0" encoding="utf-8"?>' + text[end + 2:]
    return text.encode("utf-8"), invalid


_WORD = re.compile(r"[^\W\d_]+")
_RUSSIAN_WORD = re.compile(r"^(?:[А-ЯЁ]?[а-яё]+|[А-ЯЁ]{1,6})$")  # words, or acronyms (ТАСС, ЕАЭС)
# Letter frequencies of Russian text, per cent: mojibake between Cyrillic charsets permutes
# the letters, which moves these far more than any real text does.
_RU_FREQ = dict(zip("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё", (
    10.97, 8.45, 8.01, 7.35, 6.70, 6.26, 5.47, 4.73, 4.54, 4.40, 3.49, 3.21, 2.98, 2.81, 2.62,
    2.01, 1.90, 1.74, 1.70, 1.65, 1.59, 1.44, 1.21, 0.97, 0.94, 0.73, 0.64, 0.48, 0.36, 0.32,
    0.26, 0.04, 0.04)))
_RU_NORM = math.sqrt(sum(v * v for v in _RU_FREQ.values()))
_RU_ALPHABET = frozenset(_RU_FREQ) | frozenset(c.upper() for c in _RU_FREQ)
_TYPOGRAPHY = frozenset("«»„“”‘’‚—–…№•·°€₽©®™§±×\u00a0\u2009\u202f\u00ad")
_SAMPLE_BYTES = 200_000
_MIN_LETTERS = 20
_REDECODE = ("windows-1251", "koi8-r")  # the legacy Cyrillic charsets a feed may really be in


def russian_score(text: str) -> float:
    """How surely `text` is Russian read in the right charset, from 0 (not at all) to 1.

    0 unless it has enough Russian letters and they are not mixed with foreign symbols (UTF-8
    read as KOI8-R gives "п©я─п╦"), mostly lower case and cased like words (windows-1251 and
    KOI8-R read as each other swap the case: "зХВЕТОБФПТ"; UTF-8 read as windows-1251 gives
    "РџСЂРёРјРѕСЂСЊСЏ") and in the proportions of Russian (the swap also permutes letters).
    Text in another language or script scores 0, so it is never taken for mojibake.
    """
    wide = [c for c in text if not c.isascii() and not c.isspace()]
    letters = [c for c in wide if c in _RU_ALPHABET]
    if len(letters) < _MIN_LETTERS:
        return 0.0
    typography = sum(c in _TYPOGRAPHY for c in wide)
    if len(letters) < 0.9 * (len(wide) - typography):
        return 0.0
    if sum(c.islower() for c in letters) < 0.5 * len(letters):
        return 0.0
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    cased = sum(len(w) for w in words if _RUSSIAN_WORD.match(w)) / sum(len(w) for w in words)
    if cased < 0.8:
        return 0.0
    counts = Counter(c.lower() for c in letters)
    cosine = (sum(_RU_FREQ[c] * n for c, n in counts.items())
              / (_RU_NORM * math.sqrt(sum(n * n for n in counts.values()))))
    if cosine < 0.75:
        return 0.0
    return len(letters) / len(wide) * cased * cosine


def _counts(body: bytes, encoding: str) -> tuple[int, int]:
    """(valid, invalid): non-ASCII characters that decode in `encoding`, and byte sequences
    that do not (each would become U+FFFD)."""
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        return 0, 0
    invalid = text.count("\ufffd") - body.decode(encoding, errors="ignore").count("\ufffd")
    wide = len(text) - len(text.encode("ascii", errors="ignore"))
    return wide - invalid, invalid


def _mostly(body: bytes, encoding: str) -> bool:
    """Whether a body that does not decode in `encoding` nearly does: at least two good
    non-ASCII characters per bad sequence. Text in another charset is far from that (CJK
    legacy text read as UTF-8 has more bad sequences than good characters)."""
    valid, invalid = _counts(body, encoding)
    return invalid > 0 and valid >= 2 * invalid


def _is_utf8(body: bytes, used: str) -> bool:
    """Whether to read the body as UTF-8 although feedparser chose another charset, `used`.
    Legacy 8-bit and CJK text practically never forms valid UTF-8 sequences, so a body that
    does, or mostly does, is UTF-8 whatever its label says: a few bad bytes (a cut
    character, a stray Latin-1 byte) become U+FFFD instead of sending the whole feed to
    another charset."""
    valid, invalid = _counts(body, "utf-8")
    if invalid:  # a UTF-16 or UTF-32 body only gives way to wholly valid UTF-8
        return valid >= 2 * invalid and not used.startswith(("utf-16", "utf-32"))
    return valid >= 8


_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([\w.:-]+)[\"']")


def _declared(body: bytes, headers: dict) -> str | None:
    """The charset the server (Content-Type) or else the XML declaration names."""
    match = _CHARSET_PARAM.search(headers.get("content-type", ""))
    match = match or _XML_ENCODING.match(body[:1024].removeprefix(codecs.BOM_UTF8))
    if not match:
        return None
    name = match.group(1)
    name = _codec(name if isinstance(name, str) else name.decode("ascii"))
    return "gb18030" if name == "gb2312" else name  # its superset, as feedparser reads it


def _codec(name: str | None) -> str | None:
    """Python's name for a charset that can decode any bytes with replacements, else None
    (unknown names, and codecs such as idna, punycode or undefined that raise instead)."""
    try:
        name = codecs.lookup(name or "").name
        b"\xff\x80<a>".decode(name, errors="replace")
    except (LookupError, UnicodeError):
        return None
    return name


def _letters(text: str) -> int:
    return sum(c.isalpha() for c in text if not c.isascii())


def _repair_charset(body: bytes, used: str) -> str | None:
    """A charset to re-read the body with when the `used` reading is mojibake of Cyrillic,
    else None.

    The bytes (what re-encoding the first reading with `used` gives back) read as
    windows-1251 or KOI8-R must look like Russian clearly more than the first reading does,
    and have as many letters: a re-reading never trades letters for symbols, so Ukrainian
    in KOI8-U is not "repaired" into KOI8-R box drawing. A stray byte windows-1251 lacks
    (0x98) counts against the reading as a foreign symbol, it does not rule it out.
    """
    sample = body[:_SAMPLE_BYTES]
    try:
        first = sample.decode(used, errors="replace")
    except LookupError:
        first = ""
    best, best_score = None, russian_score(first)
    for name in _REDECODE:
        if name != used:
            text = sample.decode(name, errors="replace")
            score = russian_score(text)
            if score > best_score and _letters(text) >= _letters(first):
                best, best_score = name, score
    return best


def _feedparse(body: bytes, headers: dict, encoding: str | None):
    invalid = 0
    if encoding:
        body, invalid = _redecode(body, encoding)
        headers = {**headers, "content-type": "application/xml; charset=utf-8"}
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers,
                              sanitize_html=False, resolve_relative_uris=True)
    return parsed, invalid


def _choose_charset(body: bytes, headers: dict, label: str) -> tuple[str | None, str | None]:
    """A charset to re-read the body with instead of feedparser's (`label`), and why."""
    used = _codec(label) or ""
    if used == "utf-8":  # valid UTF-8: legacy Cyrillic bytes never are
        return None, None
    if _is_utf8(body, used):
        return "utf-8", None if _counts(body, "utf-8")[1] else f"read as utf-8, not {label}"
    reading, why = None, None
    declared = _declared(body, headers)
    if (declared and declared != used and not declared.startswith(("utf-16", "utf-32"))
            and _mostly(body, declared)):  # (UTF-16 decodes nearly any bytes: no evidence)
        reading = declared  # the declared charset, but for a few bad bytes
    better = _repair_charset(body, reading or used)
    if better:
        reading, why = better, f"read as {better}: as {reading or label} it was mojibake"
    return reading, why


def _guess(body: bytes) -> str:
    """What feedparser itself would fall back to: chardet's guess, else windows-1252."""
    return _codec(chardet.detect(body[:_SAMPLE_BYTES]).get("encoding")) or "windows-1252"


def _read(body: bytes, headers: dict, encoding: str | None):
    """feedparser's result, the charset used, and notes on how the charset was settled."""
    notes = []
    try:
        parsed, invalid = _feedparse(body, headers, encoding)
    except (UnicodeError, LookupError) as exc:  # a declared codec that raises ("undefined")
        parsed, invalid = None, 0
        notes.append(f"the declared charset cannot be used ({exc})")
    used = encoding or (parsed.get("encoding") if parsed else "") or ""
    if not encoding and (parsed is None or not body.isascii()):
        reading, why = _choose_charset(body, headers, used)
        reading = reading or (None if parsed else _guess(body))
        if reading:
            parsed, invalid = _feedparse(body, headers, reading)
            used = reading
            notes += [why] if why else []
    if invalid:
        notes.insert(0, f"{invalid} byte sequence(s) invalid in {used} replaced with U+FFFD")
    return parsed, used, notes


def parse_feed(body: bytes, headers: dict | None = None, *, base_url: str = "",
               encoding: str | None = None) -> ParsedFeed:
    """Parse a feed body; keep every entry feedparser can read even from broken XML.

    `encoding` overrides whatever the feed and the server declare (a per-feed setting for
    outlets that lie about their charset). Without it, a body that is UTF-8 but for a few
    bad bytes is read as UTF-8, and a reading that is mojibake of Cyrillic is redone as
    windows-1251 or KOI8-R; the warning says so. Text in other languages is left as read.
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    headers.setdefault("content-location", base_url)
    # Without a Content-Type feedparser would assume ISO-8859-1 (RFC 2616); read the body
    # like a file instead: its XML declaration, else UTF-8.
    headers.setdefault("content-type", "application/xml")
    parsed, used_encoding, notes = _read(body, headers, encoding)
    if parsed.get("bozo"):
        notes.append(f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}")
    warning = "; ".join(notes) or None
    items: list[NewItem] = []
    skipped: list[str] = []
    seen_keys: set[str] = set()
    for entry in parsed.entries:
        raw_title = html_to_text(entry.get("title", "")).replace("\n", " ")
        title, text = clean_article(raw_title, _entry_text(entry))
        if not title and not text:
            skipped.append("entry with neither title nor text")
            continue
        if not title:
            title = text.split("\n", 1)[0][:200]
        url = canonical_url(entry.get("link"))
        guid = (entry.get("id") or "").strip() or None
        if url:
            key = url
        elif guid:
            key = f"guid:{guid}"
        else:
            key = "hash:" + hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
        if key in seen_keys:  # the same entry twice in one document
            continue
        seen_keys.add(key)
        items.append(NewItem(key=key, url=url, guid=guid, title=title, text=text,
                             published=_entry_published(entry)))
    return ParsedFeed(items=items, title=parsed.feed.get("title", ""), warning=warning,
                      encoding=used_encoding, skipped=skipped,
                      version=parsed.get("version", "") or "")
