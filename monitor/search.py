"""Finding stored items: morphology-aware full text (SQLite FTS5 over lemmas) and filters.

Query language: words (all must match, in any inflection), "quoted phrases", `OR` between
alternatives, `-word` to exclude. Results are ranked by bm25 with the title weighted three
times the text; without a query, newest first. By default only cooperation items are shown.
"""

from __future__ import annotations

import html
import json
import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sqlite_utils

from .lemmas import lemmatize, search_lemma, words

TITLE_WEIGHT = 3.0


class QueryError(ValueError):
    """The search query cannot be understood; the message says why."""


@dataclass
class SearchQuery:
    text: str | None = None
    sectors: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    org: str | None = None
    person: str | None = None
    feed: str | None = None
    since: str | None = None  # ISO date or datetime, inclusive
    until: str | None = None  # ISO date (the whole day) or datetime, inclusive
    international: bool = False
    include_all: bool = False  # also items that are not cooperation
    limit: int = 20
    offset: int = 0


@dataclass
class SearchResult:
    items: list[dict]
    total: int
    query_lemmas: list[str]


def _casefold(value: str | None) -> str:
    return (value or "").casefold()


def _quote(lemma: str) -> str:
    return '"' + lemma.replace('"', '""') + '"'


def parse_query(text: str) -> tuple[str | None, list[str]]:
    """The FTS5 MATCH expression for a user query, and the lemmas to highlight.

    `водоочистка "японских компаний" OR Китай -санкции` becomes
    `"водоочистка" AND ("японский компания" OR "китай") NOT ("санкция")`.
    """
    try:
        parts = shlex.split(text.replace("«", '"').replace("»", '"'), posix=True)
    except ValueError:
        raise QueryError("unbalanced quotes in the query") from None
    groups: list[list[str]] = []  # AND of OR-groups
    negatives: list[str] = []
    highlight: list[str] = []
    pending_or = False
    for part in parts:
        if part.upper() in ("OR", "ИЛИ"):
            pending_or = True
            continue
        negative = part.startswith("-") and len(part) > 1
        lemmas = lemmatize(part[1:] if negative else part).split()
        if not lemmas:
            continue
        expr = _quote(" ".join(lemmas))
        if negative:
            negatives.append(expr)
            continue
        highlight.extend(lemmas)
        if pending_or and groups:
            groups[-1].append(expr)
        else:
            groups.append([expr])
        pending_or = False
    if not groups:
        if negatives:
            raise QueryError("a query needs at least one word to look for besides -exclusions")
        return None, []
    expression = " AND ".join(g[0] if len(g) == 1 else "(" + " OR ".join(g) + ")"
                              for g in groups)
    if negatives:
        expression += " NOT (" + " OR ".join(negatives) + ")"
    return expression, highlight


def _day_bound(value: str, end: bool) -> str:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            if end:
                moment += timedelta(days=1) - timedelta(seconds=1)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise QueryError(f"{value!r} is not a date (use YYYY-MM-DD)") from None
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def _filters(q: SearchQuery) -> tuple[list[str], list]:
    where, params = [], []
    if not q.include_all:
        where.append("items.is_cooperation = 1")
    if q.international:
        where.append("items.scope = 'international'")
    for sector in q.sectors:
        where.append("EXISTS (SELECT 1 FROM item_sectors s WHERE s.item_id = items.id "
                     "AND s.sector = ?)")
        params.append(sector)
    if q.countries:
        marks = ",".join("?" * len(q.countries))
        where.append(f"EXISTS (SELECT 1 FROM item_countries c WHERE c.item_id = items.id "
                     f"AND c.country IN ({marks}))")
        params.extend(code.upper() for code in q.countries)
    for value, kind in ((q.org, "ORG"), (q.person, "PER")):
        if value:
            where.append(
                "EXISTS (SELECT 1 FROM item_entities ie JOIN entities e ON e.id = ie.entity_id "
                "WHERE ie.item_id = items.id AND e.type = ? AND "
                "(instr(monitor_casefold(e.normal), ?) > 0 "
                " OR instr(monitor_casefold(coalesce(e.canonical, '')), ?) > 0))")
            params.extend([kind, value.casefold(), value.casefold()])
    if q.feed:
        where.append("EXISTS (SELECT 1 FROM item_sources src JOIN feeds f ON f.id = src.feed_id "
                     "WHERE src.item_id = items.id AND monitor_casefold(f.name) = ?)")
        params.append(q.feed.casefold())
    if q.since:
        where.append("items.published >= ?")
        params.append(_day_bound(q.since, end=False))
    if q.until:
        where.append("items.published <= ?")
        params.append(_day_bound(q.until, end=True))
    return where, params


def search(db: sqlite_utils.Database, query: SearchQuery | str | None = None, *,
           limit: int = 20, offset: int = 0) -> SearchResult:
    """Run a search; a plain string is a query over cooperation items."""
    if not isinstance(query, SearchQuery):
        query = SearchQuery(text=query, limit=limit, offset=offset)
    db.conn.create_function("monitor_casefold", 1, _casefold, deterministic=True)
    expression, highlight = parse_query(query.text) if query.text and query.text.strip() \
        else (None, [])
    where, params = _filters(query)
    condition = "".join(f" AND {w}" for w in where)
    page = [query.limit, query.offset]
    if expression:
        hits = ("FROM items_fts JOIN items ON items.id = items_fts.rowid "
                f"WHERE items_fts MATCH ?{condition}")
        params = [expression] + params
        # One full-text pass gives the page and the total: the matches are materialised
        # once with their rank (a separate count query ran the MATCH a second time).
        rows = db.execute(
            "WITH hits AS MATERIALIZED (SELECT items.id AS id, items.published AS published, "
            f"bm25(items_fts, {TITLE_WEIGHT}, 1.0) AS rank {hits}) "
            "SELECT id, (SELECT count(*) FROM hits) FROM hits "
            "ORDER BY rank, published DESC LIMIT ? OFFSET ?", params + page).fetchall()
        ids = [row[0] for row in rows]
        total = rows[0][1] if rows else 0
        if not rows and query.offset:  # a page past the end still tells the total
            total = db.execute(f"SELECT count(*) {hits}", params).fetchone()[0]
    else:
        base = f"FROM items WHERE 1{condition}"
        total = db.execute(f"SELECT count(*) {base}", params).fetchone()[0]
        ids = [row[0] for row in db.execute(
            f"SELECT items.id {base} ORDER BY items.published DESC, items.id DESC "
            "LIMIT ? OFFSET ?", params + page)]
    items = item_details(db, ids)
    for item in items:
        item["snippet"] = snippet(item["text"], highlight)
        item["snippet_html"] = snippet(item["text"], highlight, html_marks=True)
    return SearchResult(items=items, total=total, query_lemmas=highlight)


def snippet(text: str, lemmas: list[str], *, width: int = 220, html_marks: bool = False) -> str:
    """A window of `text` around the first matched word, matched words marked (with <mark>
    and the rest escaped for HTML, or with «» for the terminal)."""
    wanted = set(lemmas)
    found = [m for m in words(text) if search_lemma(m.group()) in wanted] if wanted else []
    start = max(0, found[0].start() - width // 3) if found else 0
    stop = min(len(text), start + width)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    pieces, cursor = [], start
    for match in found:
        if match.start() < start or match.end() > stop:
            continue
        pieces.append(_esc(text[cursor:match.start()], html_marks))
        word = _esc(match.group(), html_marks)
        pieces.append(f"<mark>{word}</mark>" if html_marks else f"«{word}»")
        cursor = match.end()
    pieces.append(_esc(text[cursor:stop], html_marks))
    result = "".join(pieces).replace("\n", " ")
    return ("…" if start > 0 else "") + result + ("…" if stop < len(text) else "")


def _esc(value: str, html_marks: bool) -> str:
    return html.escape(value) if html_marks else value


def item_details(db: sqlite_utils.Database, item_ids: list[int]) -> list[dict]:
    """Items as the CLI and API show them, in the order of `item_ids`."""
    if not item_ids:
        return []
    marks = ",".join("?" * len(item_ids))
    rows = {row["id"]: row for row in db.query(
        f"""SELECT items.*,
                   (SELECT group_concat(name, '\x1f') FROM (
                      SELECT feeds.name FROM item_sources
                        JOIN feeds ON feeds.id = item_sources.feed_id
                       WHERE item_sources.item_id = items.id
                       ORDER BY item_sources.first_seen, item_sources.rowid)) AS feed_names
            FROM items WHERE items.id IN ({marks})""", item_ids)}
    entities: dict[int, list] = {i: [] for i in item_ids}
    for row in db.query(
        f"""SELECT DISTINCT ie.item_id, e.type, e.normal, e.canonical, e.country
            FROM item_entities ie JOIN entities e ON e.id = ie.entity_id
            WHERE ie.item_id IN ({marks}) ORDER BY ie.item_id, ie.in_title DESC, ie.start""",
        item_ids,
    ):
        entity = {"type": row["type"], "normal": row["normal"]}
        if row["canonical"]:
            entity["canonical"] = row["canonical"]
        if row["country"]:
            entity["country"] = row["country"]
        if entity not in entities[row["item_id"]]:
            entities[row["item_id"]].append(entity)
    sectors: dict[int, list] = {i: [] for i in item_ids}
    for row in db.query(
        f"SELECT item_id, sector, score FROM item_sectors WHERE item_id IN ({marks})"
        " ORDER BY score DESC", item_ids):
        sectors[row["item_id"]].append({"id": row["sector"], "score": round(row["score"], 3)})
    countries: dict[int, list] = {i: [] for i in item_ids}
    for row in db.query(
        f"SELECT item_id, country FROM item_countries WHERE item_id IN ({marks})"
        " ORDER BY country", item_ids):
        countries[row["item_id"]].append(row["country"])
    story_of = {i: (row["story_id"] or i) for i, row in rows.items()}
    story_outlets, story_items = _stories(db, sorted(set(story_of.values())))
    result = []
    for item_id in item_ids:
        row = rows.get(item_id)
        if row is None:
            continue
        feeds = row["feed_names"].split("\x1f") if row["feed_names"] else []
        story = story_of[item_id]
        result.append({
            "id": row["id"],
            "title": row["title"],
            "url": row["url"],
            "published": row["published"],
            "first_seen": row["first_seen"],
            "feed": feeds[0] if feeds else None,
            "feeds": feeds,
            "text": row["text"],
            "entities": entities[item_id],
            "sectors": sectors[item_id],
            "countries": countries[item_id],
            "is_cooperation": None if row["is_cooperation"] is None else bool(row["is_cooperation"]),
            "cooperation_score": row["cooperation_score"],
            "scope": row["scope"],
            "evidence": row["evidence"],
            "parties": json.loads(row["parties"]) if row["parties"] else [],
            "analysed": row["analysed_at"] is not None,
            "text_cut": bool(row.get("text_cut")),  # analysed up to monitor.limits' cap
            "story_id": story,
            # every outlet that carried this story or a near copy (monitor.stories)
            "story_outlets": story_outlets.get(story) or feeds,
            "story_items": story_items.get(story, 1),
        })
    return result


def _story_members(count: int) -> str:
    """SQL for (id, story) of every item of `count` stories given twice as parameters: two
    indexed lookups (an OR would scan the story index), because analysed items carry their
    story and items not analysed yet are stories of their own."""
    marks = ",".join("?" * count)
    return f"""SELECT id, story_id AS story FROM items WHERE story_id IN ({marks})
               UNION ALL
               SELECT id, id FROM items WHERE id IN ({marks}) AND story_id IS NULL"""


def story_sources(db: sqlite_utils.Database, story_id: int) -> list[dict]:
    """Every source of every item of a story, first seen first: outlet name, URL, time,
    and the item (id, title) it carried."""
    return [dict(row) for row in db.query(
        f"""SELECT f.name, s.url, s.first_seen, i.id AS item_id, i.title
            FROM ({_story_members(1)}) m JOIN items i ON i.id = m.id
            JOIN item_sources s ON s.item_id = i.id JOIN feeds f ON f.id = s.feed_id
            ORDER BY s.first_seen, s.rowid""", [story_id, story_id])]


def _stories(db: sqlite_utils.Database, story_ids: list[int]) -> tuple[dict, dict]:
    """Per story id: its outlets in the order they carried it, and its number of items."""
    if not story_ids:
        return {}, {}
    outlets: dict[int, list[str]] = {}
    members: dict[int, set[int]] = {}
    for story, item_id, name in db.execute(
            f"""SELECT m.story, m.id, f.name
                FROM ({_story_members(len(story_ids))}) m
                JOIN item_sources s ON s.item_id = m.id JOIN feeds f ON f.id = s.feed_id
                ORDER BY m.story, s.first_seen, s.rowid""", story_ids + story_ids):
        members.setdefault(story, set()).add(item_id)
        if name not in outlets.setdefault(story, []):
            outlets[story].append(name)
    return outlets, {story: len(ids) for story, ids in members.items()}
