"""Finding stored items. Today: latest items and plain substring queries; issue #6 brings
morphology-aware full text and filters."""

from __future__ import annotations

import json

import sqlite_utils


def _casefold(value: str | None) -> str:
    return (value or "").casefold()


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
    result = []
    for item_id in item_ids:
        row = rows.get(item_id)
        if row is None:
            continue
        feeds = row["feed_names"].split("\x1f") if row["feed_names"] else []
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
        })
    return result


def search(db: sqlite_utils.Database, query: str | None = None, *, limit: int = 20,
           offset: int = 0) -> list[dict]:
    """Latest items first; with a query, items whose title or text contains every word
    (case-insensitive)."""
    db.conn.create_function("monitor_casefold", 1, _casefold, deterministic=True)
    where, params = [], []
    for word in (query or "").split():
        where.append("instr(monitor_casefold(title || ' ' || text), ?) > 0")
        params.append(word.casefold())
    sql = "SELECT id FROM items"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY published DESC, id DESC LIMIT ? OFFSET ?"
    ids = [row[0] for row in db.execute(sql, params + [limit, offset])]
    return item_details(db, ids)
