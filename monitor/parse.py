"""Feed bytes to `NewItem`s via feedparser: text, identity and dates for each entry."""

from __future__ import annotations

import calendar
import hashlib
import io
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


def _redecode(body: bytes, encoding: str) -> bytes:
    """Re-encode a body whose declared charset is wrong as UTF-8 with a matching prolog."""
    text = body.decode(encoding, errors="replace")
    if text.startswith("<?xml"):
        end = text.find("?>")
        if end != -1:
            text = '<?xml version="1.0" encoding="utf-8"?>' + text[end + 2:]
    return text.encode("utf-8")


def parse_feed(body: bytes, headers: dict | None = None, *, base_url: str = "",
               encoding: str | None = None) -> ParsedFeed:
    """Parse a feed body; keep every entry feedparser can read even from broken XML.

    `encoding` overrides whatever the feed and the server declare (a per-feed setting for
    outlets that lie about their charset).
    """
    headers = dict(headers or {})
    if encoding:
        body = _redecode(body, encoding)
        headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        headers["content-type"] = "application/xml; charset=utf-8"
    headers.setdefault("content-location", base_url)
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers,
                              sanitize_html=False, resolve_relative_uris=True)
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
                      encoding=parsed.get("encoding"), skipped=skipped)
