"""Finding stored items: morphology-aware full text (SQLite FTS5 over lemmas) and filters,
results grouped by story, facets counted in SQL.

The query language is `monitor.query`'s, the filters `monitor.filters`'. Results are
ranked by bm25 with the title weighted three times the text; without a query, newest first.
By default only cooperation items are shown.

One pass: the matches (item, story, rank, date) go once into a temporary table of the
connection; the page (one entry per story: its best match, and how many more of its
items matched), the total of stories, the facets and the overview are counted from it in
SQL, exactly, however many items match. Part of the facets are counted meanwhile on a
second connection (`monitor.facets`).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import sqlite_utils

from . import facets as facets_of
from .filters import (Filters, FilterError, conditions, register_functions, validate,
                      zone_of)
from .lemmas import search_lemma, words
from .query import ParsedQuery, QueryError, parse

__all__ = ["FilterError", "QueryError", "SearchQuery", "SearchResult", "search",
           "parse_query", "item_details", "story_sources", "story_hits", "overview"]

TITLE_WEIGHT = 3.0
FACET_LIMIT = 20  # values of the organisation and outlet facets (all sectors, countries
#                   and months are counted)
HITS = "monitor_hits"


@dataclass
class SearchQuery(Filters):
    """Filters (monitor.filters) with a query text and a page."""

    text: str | None = None
    limit: int = 20
    offset: int = 0


@dataclass
class SearchResult:
    items: list[dict]  # one per story: the story's best match, with `more` / `more_ids`
    total: int  # stories
    query_lemmas: list[str]
    matches: int = 0  # items (publications) matched, all stories together
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # query words not searched
    limit: int = 20
    offset: int = 0

    @property
    def last_offset(self) -> int:
        """The offset of the last page (for a page asked past the end)."""
        return max(0, (self.total - 1) // self.limit * self.limit) if self.limit else 0


def parse_query(text: str) -> tuple[str | None, list[str]]:
    """The FTS5 MATCH expression for a user query, and the lemmas to highlight."""
    parsed = parse(text)
    return parsed.expression, parsed.highlight


@lru_cache(maxsize=4096)
def _local_month(published_hour: str, zone_name: str) -> str:
    moment = datetime.fromisoformat(published_hour + ":00:00+00:00")
    return moment.astimezone(zone_of(zone_name)).strftime("%Y-%m")


@lru_cache(maxsize=16)
def _fixed_offset(zone_name: str) -> int | None:
    """The zone's UTC offset in minutes if it has kept one since 2015 (Europe/Moscow has),
    else None: the month of a time is then plain SQL instead of a Python call per row."""
    zone = zone_of(zone_name)
    offsets = {datetime(year, month, 1, tzinfo=zone).utcoffset()
               for year in range(2015, 2040) for month in (1, 7)}
    if len(offsets) != 1:
        return None
    return int(offsets.pop().total_seconds() // 60)


def _month_sql(column: str, zone) -> str:
    """SQL for the month (YYYY-MM) of a stored UTC time, in the time zone."""
    minutes = _fixed_offset(zone_of(zone).key)
    if minutes is None:
        return f"monitor_month({column})"
    return f"strftime('%Y-%m', {column}, '{minutes:+d} minutes')"


def _prepare(db: sqlite_utils.Database, zone) -> None:
    register_functions(db.conn)
    name = zone_of(zone).key
    db.conn.create_function(
        "monitor_month", 1,
        lambda published: _local_month(published[:13], name) if published else None,
        deterministic=True)
    # the matches, their sorts and groups in memory, with room to sort without spilling
    db.execute("PRAGMA temp_store = MEMORY")
    if db.execute("PRAGMA cache_size").fetchone()[0] > -65536:
        db.execute("PRAGMA cache_size = -65536")
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {HITS} (id INTEGER PRIMARY KEY, "
               "story INTEGER NOT NULL, rank REAL, published TEXT NOT NULL)")
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {CACHE} (key TEXT PRIMARY KEY, "
               "version TEXT NOT NULL, answer TEXT NOT NULL)")


def _fill(db: sqlite_utils.Database, query: SearchQuery, parsed: ParsedQuery, zone, *,
          ranked: bool = True) -> None:
    """The matches of `query` into the temporary table, once (`ranked`: with their bm25
    rank, the costly part of a large match set; facets need no rank)."""
    where, params = conditions(query, zone)
    condition = "".join(f" AND {w}" for w in where)
    db.execute(f"DELETE FROM {HITS}")
    if parsed.expression:
        rank = f"bm25(items_fts, {TITLE_WEIGHT}, 1.0)" if ranked else "NULL"
        db.execute(
            f"INSERT INTO {HITS} SELECT items.id, coalesce(items.story_id, items.id), "
            f"{rank}, items.published "
            # the narrow index, not the rows with their texts (store._v8)
            "FROM items_fts JOIN items INDEXED BY items_facts ON items.id = items_fts.rowid "
            f"WHERE items_fts MATCH ?{condition}", [parsed.expression, *params])
    else:
        db.execute(
            f"INSERT INTO {HITS} SELECT items.id, coalesce(items.story_id, items.id), NULL, "
            f"items.published FROM items INDEXED BY items_facts WHERE 1{condition}", params)


def _stories_sql(ranked: bool) -> str:
    """One row per story of the matches: its best item, the number of its matched items
    and the number of stories, best (or newest) first."""
    if ranked:
        return (f"SELECT id, story, count(*), count(*) OVER (), min(rank) AS best, published "
                f"FROM {HITS} GROUP BY story ORDER BY best, published DESC, id")
    return (f"SELECT id, story, count(*), count(*) OVER (), max(published) AS newest "
            f"FROM {HITS} GROUP BY story ORDER BY newest DESC, id DESC")


def _checked(db: sqlite_utils.Database, query: SearchQuery, zone) -> tuple[SearchQuery,
                                                                           ParsedQuery]:
    parsed = parse(query.text)  # QueryError
    return validate(db, query, zone), parsed  # FilterError


def search(db: sqlite_utils.Database, query: SearchQuery | str | None = None, *,
           limit: int = 20, offset: int = 0, zone=None, facets: bool = False,
           cache: bool = False) -> SearchResult:
    """Run a search (a plain string is a query over cooperation items): one page of
    stories, the total, and with `facets` the facet counts. Raises QueryError or
    FilterError (both ValueError) for a query or filter that means nothing. `zone` (a
    time zone name, default Europe/Moscow) bounds the days of since/until and the months.
    `cache`: on a connection that only reads (the web UI's), keep the answer for the next
    page or the same search while the database is unchanged."""
    if not isinstance(query, SearchQuery):
        query = SearchQuery(text=query, limit=limit, offset=offset)
    query, parsed = _checked(db, query, zone)
    _prepare(db, zone)
    ranked = bool(parsed.expression)
    key, version = _cache_key(db, query, parsed, zone, facets)
    cache = cache and query.offset + query.limit <= CACHED_STORIES
    found = _cached(db, key, version) if cache else None
    if found is None:
        # the facets' second connection starts first: it fills its own matches meanwhile
        helper = _start_facets(db, query, parsed, zone) if facets else None
        _fill(db, query, parsed, zone)
        deep = not cache
        stories, total = _page(db, ranked, query.limit if deep else CACHED_STORIES,
                               query.offset if deep else 0)
        found = {"total": total,
                 "matches": db.execute(f"SELECT count(*) FROM {HITS}").fetchone()[0],
                 "stories": stories,
                 "more": _more_ids(db, {story: item_id for item_id, story in stories}, ranked),
                 "facets": facets_of.finish(db, helper, HITS, _month_sql("h.published", zone),
                                           FACET_LIMIT) if facets else {}}
        found["first"] = query.offset if deep else 0  # the offset of stories[0]
        if not deep:
            _store(db, key, version, found)
    total, matches, more = found["total"], found["matches"], found["more"]
    start = query.offset - found["first"]
    ids = [item_id for item_id, _ in found["stories"][start:start + query.limit]]
    items = item_details(db, ids)
    for item in items:
        item["snippet"] = snippet(item["text"], parsed.highlight)
        item["snippet_html"] = snippet(item["text"], parsed.highlight, html_marks=True)
        item["more_ids"] = more.get(item["id"], [])
        item["more"] = len(item["more_ids"])
    return SearchResult(items=items, total=total, query_lemmas=parsed.highlight,
                        matches=matches, facets=found["facets"],
                        ignored=parsed.ignored, limit=query.limit, offset=query.offset)


# --- a connection's last answers ------------------------------------------------------------
# Paging through a large result set, or opening the home page again, would count the same
# facets again. A read-only connection keeps its recent answers (the first CACHED_STORIES
# stories, the totals and facets) in a temporary table of its own, valid while the database
# is unchanged: `PRAGMA data_version` changes with every commit of another connection (a
# connection's own writes do not change it, hence read-only connections only).

CACHE = "monitor_answers"
CACHED_STORIES = 1000
CACHED_ANSWERS = 16


def _cache_key(db: sqlite_utils.Database, query: SearchQuery, parsed: ParsedQuery, zone,
               facets: bool) -> tuple[str, str]:
    filters = {name: getattr(query, name) for name in Filters.__dataclass_fields__}
    key = json.dumps([parsed.expression, filters, zone_of(zone).key, facets],
                     ensure_ascii=False, sort_keys=True, default=str)
    return key, str(db.execute("PRAGMA data_version").fetchone()[0])


def _cached(db: sqlite_utils.Database, key: str, version: str) -> dict | None:
    row = db.execute(f"SELECT version, answer FROM {CACHE} WHERE key = ?", [key]).fetchone()
    if row is None or row[0] != version:
        return None
    found = json.loads(row[1])
    found["more"] = {int(k): v for k, v in found["more"].items()}
    found["facets"] = {k: [tuple(v) for v in vs] for k, vs in found["facets"].items()}
    return found


def _store(db: sqlite_utils.Database, key: str, version: str, found: dict) -> None:
    db.execute(f"DELETE FROM {CACHE} WHERE version != ? OR key = ?", [version, key])
    db.execute(f"DELETE FROM {CACHE} WHERE rowid NOT IN (SELECT rowid FROM {CACHE} "
               f"ORDER BY rowid DESC LIMIT {CACHED_ANSWERS - 1})")
    db.execute(f"INSERT INTO {CACHE} (key, version, answer) VALUES (?, ?, ?)",
               [key, version, json.dumps(found, ensure_ascii=False)])



def _order(ranked: bool) -> str:
    return "rank, published DESC, id" if ranked else "published DESC, id DESC"


def _page(db: sqlite_utils.Database, ranked: bool, limit: int, offset: int
          ) -> tuple[list[tuple[int, int]], int]:
    """(item, story) of the page's stories, each its story's best match, and the number of
    stories. The matches are read best first until the page is full: a bounded sort, not a
    grouping of every match (a story is where its best match is); deep pages group."""
    total = db.execute(f"SELECT count(DISTINCT story) FROM {HITS}").fetchone()[0]
    wanted = min(offset + limit, total)
    if wanted <= 0:
        return [], total
    fetch = wanted * 2 + 20
    while fetch <= 50_000:
        rows = db.execute(f"SELECT id, story FROM {HITS} ORDER BY {_order(ranked)} LIMIT ?",
                          [fetch]).fetchall()
        best: dict[int, int] = {}
        for item_id, story in rows:
            best.setdefault(story, item_id)
        if len(best) >= wanted or len(rows) < fetch:
            return [(i, s) for s, i in best.items()][offset:offset + limit], total
        fetch *= 4
    rows = db.execute(_stories_sql(ranked) + " LIMIT ? OFFSET ?", [limit, offset]).fetchall()
    return [(row[0], row[1]) for row in rows], total


def _more_ids(db: sqlite_utils.Database, best_of: dict[int, int], ranked: bool
              ) -> dict[int, list[int]]:
    """For each story's best item: the story's other matched items, best (newest) first."""
    if not best_of:
        return {}
    order = _order(ranked)
    more: dict[int, list[int]] = {}
    for story, item_id in db.execute(
            f"SELECT story, id FROM {HITS} WHERE story IN ({','.join('?' * len(best_of))}) "
            f"ORDER BY {order}", list(best_of)):
        if item_id != best_of[story]:
            more.setdefault(best_of[story], []).append(item_id)
    return more


def _start_facets(db: sqlite_utils.Database, query: SearchQuery, parsed: ParsedQuery, zone):
    """Part of the facets (stories by sector, country, organisation, outlet and month)
    counted on a second connection, with the same matches (monitor.facets)."""
    def fill(other: sqlite_utils.Database) -> None:
        _prepare(other, zone)
        _fill(other, query, parsed, zone, ranked=False)

    return facets_of.start(db, fill, HITS, _month_sql("h.published", zone), FACET_LIMIT)


def story_hits(db: sqlite_utils.Database, query: SearchQuery, *, zone=None,
               newest_first: bool = False) -> list[tuple[int, int]]:
    """(best item, matched items of its story) for every story of the whole result set,
    in the order of the result pages (or newest first): what the exports walk through.
    `query.limit` / `query.offset` are ignored."""
    query, parsed = _checked(db, query, zone)
    _prepare(db, zone)
    _fill(db, query, parsed, zone)
    return [(row[0], row[2]) for row in
            db.execute(_stories_sql(bool(parsed.expression) and not newest_first))]


def overview(db: sqlite_utils.Database, query: SearchQuery | None = None, *,
             zone=None) -> dict[str, list[tuple[str, str, int]]]:
    """Stories per month (in the time zone) and sector, and per month and country, of the
    search's matches (every cooperation item without a query or filter)."""
    query, parsed = _checked(db, query or SearchQuery(), zone)
    _prepare(db, zone)
    _fill(db, query, parsed, zone, ranked=False)
    result = {}
    for name, table, column in (("sector", "item_sectors", "sector"),
                                ("country", "item_countries", "country")):
        result[name] = [tuple(row) for row in db.execute(
            f"SELECT {_month_sql('h.published', zone)}, t.{column}, count(DISTINCT h.story) "
            f"FROM {HITS} h CROSS JOIN {table} t ON t.item_id = h.id GROUP BY 1, 2 ORDER BY 1, 2")]
    return result


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
        " ORDER BY rank, score DESC", item_ids):  # as the analysis lists them
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
