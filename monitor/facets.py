"""Facet counts of a search: stories per sector, country, organisation, outlet and month,
counted exactly in SQL over the match table that `monitor.search` fills.

At a million items the counts take longer than the search itself. SQLite runs outside
Python's lock, so part of them run in a thread on a second connection to the same file:
it fills its own match table and counts facets while the first connection ranks the page;
then both take the next facet to count until none is left. The second connection's
counts are used only if it saw the same matches.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import sqlite_utils

# CROSS JOIN: the matches drive the loop (the planner has no statistics of the temporary
# table and would scan the whole facet table instead).
FACETS = {
    "sector": "SELECT s.sector, count(DISTINCT h.story) n FROM {hits} h "
              "CROSS JOIN item_sectors s ON s.item_id = h.id GROUP BY s.sector ORDER BY n DESC, 1",
    "country": "SELECT c.country, count(DISTINCT h.story) n FROM {hits} h "
               "CROSS JOIN item_countries c ON c.item_id = h.id GROUP BY c.country "
               "ORDER BY n DESC, 1",
    "org": "SELECT e.normal, count(DISTINCT h.story) n FROM {hits} h "
           "CROSS JOIN item_entities ie ON ie.item_id = h.id JOIN entities e ON e.id = ie.entity_id "
           "WHERE e.type = 'ORG' GROUP BY e.id ORDER BY n DESC, 1 LIMIT {limit}",
    "feed": "SELECT f.name, t.n FROM (SELECT s.feed_id, count(DISTINCT h.story) n "
            "FROM {hits} h CROSS JOIN item_sources s ON s.item_id = h.id GROUP BY s.feed_id) t "
            "JOIN feeds f ON f.id = t.feed_id ORDER BY t.n DESC, 1 LIMIT {limit}",
    "month": "SELECT {month} m, count(DISTINCT h.story) n FROM {hits} h "
             "GROUP BY m ORDER BY m DESC",
}

# For a match set that is a good part of the store, reading the sector and country tables
# in value order (store._v8's indexes) and looking each row up among the matches needs no
# sort; for a small one, looking up each match's values is far cheaper.
BY_VALUE = {
    "sector": "SELECT s.sector, count(DISTINCT h.story) n FROM item_sectors s "
              "INDEXED BY item_sectors_sector_item CROSS JOIN {hits} h ON h.id = s.item_id "
              "GROUP BY s.sector ORDER BY n DESC, 1",
    "country": "SELECT c.country, count(DISTINCT h.story) n FROM item_countries c "
               "INDEXED BY item_countries_country_item CROSS JOIN {hits} h "
               "ON h.id = c.item_id GROUP BY c.country ORDER BY n DESC, 1",
}
BY_VALUE_SHARE = 8  # by value when the matches are more than 1/8 of the items

# Both connections take the next facet to count from one list, the costliest first, so
# that neither waits for the other.
BY_COST = ("org", "country", "feed", "sector", "month")
HELPER_WAIT = 120  # seconds; past that (or on an error) this connection counts them itself


def count(db: sqlite_utils.Database, hits: str, month: str, limit: int,
          names=tuple(FACETS)) -> dict[str, list[tuple[str, int]]]:
    """The facets `names` over the matches in table `hits`: every sector, country and month
    (`month` is the SQL of an item's month), the `limit` first organisations and outlets. A
    story counts once under a value if any of its matched items has it. `names` is read one
    at a time (`Helper.untaken` hands out what is left as it goes)."""
    result = {}
    matches = db.execute(f"SELECT count(*) FROM {hits}").fetchone()[0]
    items = db.execute("SELECT max(id) FROM items").fetchone()[0] or 0
    by_value = matches * BY_VALUE_SHARE > items
    for name in names:
        sql = BY_VALUE[name] if by_value and name in BY_VALUE else FACETS[name]
        rows = db.execute(sql.format(hits=hits, limit=int(limit), month=month)).fetchall()
        result[name] = [(value, n) for value, n in rows if value is not None]
    return result


@dataclass
class Helper:
    """A count running on a second connection, and the facets neither has taken yet."""

    todo: list[str] = field(default_factory=lambda: list(BY_COST))
    lock: threading.Lock = field(default_factory=threading.Lock)
    future: Future | None = None

    def take(self) -> str | None:
        with self.lock:
            return self.todo.pop(0) if self.todo else None

    def untaken(self):
        """The facets left, each taken as it is reached (by this connection or the other)."""
        while (name := self.take()) is not None:
            yield name


def start(db: sqlite_utils.Database, fill: Callable[[sqlite_utils.Database], None],
          hits: str, month: str, limit: int) -> Helper | None:
    """Start counting facets on a second connection to the database file, which `fill`
    gives the same matches as table `hits` has (or will have) on this one. None for a
    database in memory: `finish` then counts them all here."""
    path = _file_of(db)
    if path is None:
        return None
    global _pool
    with _pool_lock:
        if _pool is None:
            # several at once: one request's counts never wait behind another's
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="monitor-facets")
    helper = Helper()
    try:
        helper.future = _pool.submit(_count_there, path, fill, hits, month, limit, helper)
    except RuntimeError:  # the interpreter is shutting down: count on one connection
        return None
    return helper


def finish(db: sqlite_utils.Database, helper: Helper | None, hits: str, month: str,
           limit: int) -> dict[str, list[tuple[str, int]]]:
    """Every facet of the matches in `hits`: those this connection takes, and the
    helper's, if it counted the very same matches (a commit in between may give it
    others; then they are counted here too)."""
    if helper is None:
        return count(db, hits, month, limit)
    mine = count(db, hits, month, limit, helper.untaken())
    try:
        seen, theirs = helper.future.result(timeout=HELPER_WAIT)
    except Exception:  # noqa: BLE001 - any failure there: count here, as without it
        seen, theirs = None, {}
    if seen != _fingerprint(db, hits):
        theirs = count(db, hits, month, limit, [n for n in FACETS if n not in mine])
    mine.update(theirs)
    return {name: mine[name] for name in FACETS}


def _fingerprint(db: sqlite_utils.Database, hits: str) -> tuple:
    return tuple(db.execute(f"SELECT count(*), total(id), total(story) FROM {hits}").fetchone())


# --- the second connection ------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_local = threading.local()  # each helper thread's connections, by file
CONNECTIONS_KEPT = 4  # files per helper thread


def _file_of(db: sqlite_utils.Database) -> str | None:
    """The main database's file, or None for a database in memory."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or None
    return None


def _count_there(path: str, fill, hits: str, month: str, limit: int, helper: Helper):
    other = _connection(path)
    fill(other)
    return _fingerprint(other, hits), count(other, hits, month, limit, helper.untaken())


def _connection(path: str) -> sqlite_utils.Database:
    """This thread's read-only connection to `path`, kept for the next search (its page
    cache stays warm); a file replaced at the same path gets a new one."""
    stat = os.stat(path)
    key = (path, stat.st_dev, stat.st_ino)
    kept: dict = _local.__dict__.setdefault("connections", {})
    if key not in kept:
        while len(kept) >= CONNECTIONS_KEPT:
            kept.pop(next(iter(kept))).conn.close()
        # autocommit: each read sees the latest commit, as the first connection does
        conn = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True,
                               timeout=5, isolation_level=None)
        kept[key] = sqlite_utils.Database(conn)
    return kept[key]
