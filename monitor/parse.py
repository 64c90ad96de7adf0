"""Feed bytes to `NewItem`s via feedparser: text, identity and dates for each entry."""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import feedparser

from .store import NewItem
from .text import canonical_url, clean_article, html_to_text


@dataclass
class ParsedFeed:
    items: list[NewItem]
    title: str = ""
    warning: str | None = None  # feedparser's bozo exception, if any (often harmless)
    encoding: str | None = None
    skipped: list[str] = field(default_factory=list)  # why entries were dropped


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


def _decodes(body: bytes, encoding: str) -> bool:
    try:
        body.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _redecode(body: bytes, encoding: str) -> bytes:
    """Re-encode a body whose declared charset is wrong as UTF-8 with a matching prolog."""
    text = body.decode(encoding, errors="replace")
    if text.startswith("<?xml"):
        end = text.find("?>")
        if end != -1:
            text = '<?xml version="1.0" encoding="utf-8"?>' + text[end + 2:]
    return text.encode("utf-8")


_WORD = re.compile(r"[^\W\d_]+")
_RUSSIAN_WORD = re.compile(r"^(?:[А-ЯЁ]?[а-яё]+|[А-ЯЁ]{1,6})$")  # words, or acronyms (ТАСС, ЕАЭС)
_CANDIDATES = ("utf-8", "windows-1251", "koi8-r")


def russian_plausibility(text: str) -> float:
    """Share of non-ASCII words that look like Russian words (1.0 when there are none).

    Mojibake fails this: KOI8-R read as windows-1251 gives "зХВЕТОБФПТ", UTF-8 read as
    windows-1251 gives "РџСЂРёРјРѕСЂСЊСЏ", windows-1251 read as Latin-1 gives "Ãóáåðíàòîð".
    """
    words = [w for w in _WORD.findall(text[:20000]) if not w.isascii()]
    if not words:
        return 1.0
    return sum(bool(_RUSSIAN_WORD.match(w)) for w in words) / len(words)


def _sample(parsed) -> str:
    parts = [parsed.feed.get("title", "")]
    for entry in parsed.entries[:20]:
        parts += [entry.get("title", ""), entry.get("summary", "")[:500]]
    return " ".join(parts)


def _feedparse(body: bytes, headers: dict, encoding: str | None):
    if encoding:
        body = _redecode(body, encoding)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["content-type"] = "application/xml; charset=utf-8"
    return feedparser.parse(io.BytesIO(body), response_headers=headers,
                            sanitize_html=False, resolve_relative_uris=True)


def parse_feed(body: bytes, headers: dict | None = None, *, base_url: str = "",
               encoding: str | None = None) -> ParsedFeed:
    """Parse a feed body; keep every entry feedparser can read even from broken XML.

    `encoding` overrides whatever the feed and the server declare (a per-feed setting for
    outlets that lie about their charset). Without it, a result that reads as mojibake is
    re-decoded with whichever of UTF-8, windows-1251 and KOI8-R reads as Russian.
    """
    headers = dict(headers or {})
    headers.setdefault("content-location", base_url)
    parsed = _feedparse(body, headers, encoding)
    used_encoding = encoding or parsed.get("encoding")
    if not encoding and not body.isascii():
        score = russian_plausibility(_sample(parsed))
        if score < 0.7:
            best = max(
                ((russian_plausibility(_sample(p)), name, p) for name in _CANDIDATES
                 if _decodes(body, name) for p in [_feedparse(body, headers, name)]),
                key=lambda t: t[0], default=None)
            if best and best[0] > score + 0.2:
                _, used_encoding, parsed = best
    warning = None
    if parsed.get("bozo"):
        warning = f"{type(parsed.bozo_exception).__name__}: {parsed.bozo_exception}"
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
                      encoding=used_encoding, skipped=skipped)
