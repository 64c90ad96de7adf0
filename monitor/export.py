"""Exports of a whole search, streamed: CSV (with a BOM, for Excel), JSON Lines and an Atom
feed, one row per story with the same columns in the CLI and the web UI.

Columns: id, title, url (the original), item_url (its page in the web UI), outlets (every
outlet of the story), publications (the story's matched items), published (in the
configured time zone), sectors (IDs), countries (ISO codes), organisations, score (the
cooperation score), evidence. In CSV the lists are joined with "; ".

The whole result set is written, in the order of the result pages (the Atom feed: newest
first), fetched from the database in chunks, so the first bytes go out at once.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

import sqlite_utils

from .filters import zone_of
from .highlight import safe_href
from .search import SearchQuery, item_details, story_hits

# Characters XML 1.0 forbids even escaped; stored text has none since the text clean-up
# drops control characters, but a database from before that may.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """XML text, with the characters XML cannot carry dropped."""
    return _escape(_NOT_XML.sub("", text))


def quoteattr(text: str) -> str:
    return _quoteattr(_NOT_XML.sub("", text))


COLUMNS = ["id", "title", "url", "item_url", "outlets", "publications", "published",
           "sectors", "countries", "organisations", "score", "evidence"]
FORMATS = {"csv": "text/csv; charset=utf-8",
           "jsonl": "application/x-ndjson; charset=utf-8",
           "atom": "application/atom+xml; charset=utf-8"}
CHUNK = 200  # stories fetched from the database at a time
ATOM_LIMIT = 100  # stories in an Atom feed unless a limit is given (feed readers poll it)
LIST_SEPARATOR = "; "


def local_time(value: str | None, zone) -> str | None:
    """A stored UTC time as ISO 8601 in `zone` (2026-02-01T09:00:00+03:00)."""
    if not value:
        return value
    return datetime.fromisoformat(value).astimezone(zone_of(zone)).isoformat()


def row(item: dict, publications: int, base_url: str, zone) -> dict:
    """One export row of an item (as `search.item_details` gives it)."""
    organisations = list(dict.fromkeys(e.get("canonical") or e["normal"]
                                       for e in item["entities"] if e["type"] == "ORG"))
    score = item["cooperation_score"]
    return {
        "id": item["id"],
        "title": item["title"],
        "url": item["url"],
        "item_url": f"{base_url.rstrip('/')}/item/{item['id']}",
        "outlets": list(item["story_outlets"]),
        "publications": publications,
        "published": local_time(item["published"], zone),
        "sectors": [s["id"] for s in item["sectors"]],
        "countries": list(item["countries"]),
        "organisations": organisations,
        "score": None if score is None else round(score, 3),
        "evidence": item["evidence"],
    }


def rows(db: sqlite_utils.Database, hits: list[tuple[int, int]], base_url: str,
         zone) -> list[dict]:
    """Export rows of (item, publications) pairs, in their order."""
    count = dict(hits)
    return [row(item, count[item["id"]], base_url, zone)
            for item in item_details(db, [item_id for item_id, _ in hits])]


def plan(db: sqlite_utils.Database, query: SearchQuery, fmt: str, *, zone=None,
         limit: int | None = None, offset: int = 0) -> list[tuple[int, int]]:
    """The (item, publications) of every story to export, in order; `limit` and `offset`
    cut it (an Atom feed without a limit holds the ATOM_LIMIT newest stories). Raises
    QueryError or FilterError before anything is written."""
    hits = story_hits(db, query, zone=zone, newest_first=fmt == "atom")
    if limit is None and fmt == "atom":
        limit = ATOM_LIMIT
    return hits[offset:None if limit is None else offset + limit]


def chunks(hits: list[tuple[int, int]], size: int = CHUNK) -> Iterator[list[tuple[int, int]]]:
    for start in range(0, len(hits), size):
        yield hits[start:start + size]


# --- formats ----------------------------------------------------------------------------------

def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return LIST_SEPARATOR.join(map(str, value))
    return str(value)


@dataclass
class Writer:
    """Text of one format: head(first rows), body(rows) for each chunk, tail()."""

    fmt: str
    title: str = "monitor"
    self_url: str = ""
    alternate_url: str = ""

    def head(self, first: list[dict]) -> str:
        if self.fmt == "csv":
            buffer = io.StringIO()
            buffer.write("\ufeff")  # Excel reads UTF-8 only after a BOM
            csv.writer(buffer).writerow(COLUMNS)
            return buffer.getvalue()
        if self.fmt == "atom":
            updated = max((r["published"] for r in first if r["published"]), default=None) \
                or datetime.now(timezone.utc).replace(microsecond=0).isoformat()
            links = "".join(
                f"<link rel={quoteattr(rel)} href={quoteattr(href)}/>\n"
                for rel, href in (("self", self.self_url), ("alternate", self.alternate_url))
                if safe_href(href))
            return ('<?xml version="1.0" encoding="utf-8"?>\n'
                    '<feed xmlns="http://www.w3.org/2005/Atom">\n'
                    f"<title>{escape(self.title)}</title>\n"
                    f"<id>{escape(self.self_url or 'urn:monitor:search')}</id>\n"
                    f"<updated>{escape(updated)}</updated>\n{links}"
                    "<generator>monitor</generator>\n")
        return ""

    def body(self, rows: Iterable[dict]) -> str:
        if self.fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for r in rows:
                writer.writerow([_cell(r[c]) for c in COLUMNS])
            return buffer.getvalue()
        if self.fmt == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        if self.fmt == "atom":
            return "".join(map(_entry, rows))
        raise ValueError(f"unknown export format {self.fmt!r}")

    def tail(self) -> str:
        return "</feed>\n" if self.fmt == "atom" else ""


def _entry(r: dict) -> str:
    link = safe_href(r["url"]) or r["item_url"]
    summary = r["evidence"] or ""
    parts = [f"<entry>\n<title>{escape(r['title'] or '')}</title>\n",
             f"<id>{escape(r['item_url'])}</id>\n",
             f"<link rel=\"alternate\" href={quoteattr(link)}/>\n",
             f"<link rel=\"related\" href={quoteattr(r['item_url'])}/>\n"]
    if r["published"]:
        parts.append(f"<published>{escape(r['published'])}</published>\n"
                     f"<updated>{escape(r['published'])}</updated>\n")
    for outlet in r["outlets"]:
        parts.append(f"<author><name>{escape(outlet)}</name></author>\n")
    for sector in r["sectors"]:
        parts.append(f"<category term={quoteattr(sector)} scheme=\"monitor:sector\"/>\n")
    for country in r["countries"]:
        parts.append(f"<category term={quoteattr(country)} scheme=\"monitor:country\"/>\n")
    if summary:
        parts.append(f"<summary>{escape(summary)}</summary>\n")
    parts.append("</entry>\n")
    return "".join(parts)


def export(db: sqlite_utils.Database, query: SearchQuery, fmt: str, *, base_url: str,
           zone=None, limit: int | None = None, offset: int = 0,
           title: str = "monitor") -> Iterator[str]:
    """The whole export as text chunks (for the CLI; the web UI runs the same steps on
    Datasette's connection). Raises QueryError or FilterError before the first chunk."""
    hits = plan(db, query, fmt, zone=zone, limit=limit, offset=offset)
    writer = Writer(fmt, title=title, alternate_url=base_url)

    def generate() -> Iterator[str]:
        first = True
        for part in chunks(hits) if hits else [[]]:
            data = rows(db, part, base_url, zone)
            if first:
                yield writer.head(data)
                first = False
            yield writer.body(data)
        yield writer.tail()

    return generate()
