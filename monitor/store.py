"""The SQLite store: schema, migrations and every read and write the service makes.

One file, WAL mode. The schema version lives in `PRAGMA user_version`; each migration runs in
its own transaction, so a crash mid-upgrade leaves the previous version intact.

Items are written in two steps so that a killed process loses nothing: `add_item` stores the
fetched article (analysed_at NULL) and `save_analysis` fills in the NLP results later;
`pending_items` lists what still needs analysis after a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import sqlite_utils


class StoreError(Exception):
    """The database cannot be opened or written; the message says which file and why."""


def utcnow() -> str:
    """Now in UTC as ISO 8601 with seconds, the one timestamp format of the store."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _after(seconds: float) -> str:
    """utcnow() plus `seconds`, in the same format."""
    return (datetime.fromisoformat(utcnow()) + timedelta(seconds=seconds)).isoformat()


# Per-item failures (an analysis that raises, a worker that dies, an article page that
# cannot be fetched) are retried after RETRY_SECONDS, doubling per failed try (1, 2, 4,
# 8 minutes); after MAX_ATTEMPTS tries the item is marked failed and no longer retried.
MAX_ATTEMPTS = 5
RETRY_SECONDS = 60.0
# A claim on an item lasts until its process is gone (checked on this host) or, failing
# that, CLAIM_LEASE_SECONDS: far longer than one capped analysis takes.
CLAIM_LEASE_SECONDS = 15 * 60.0


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed try."""
    return RETRY_SECONDS * 2 ** max(0, min(attempts, 20) - 1)


def _v1(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE feeds (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,             -- current URL (a permanent redirect updates it)
            config_url TEXT NOT NULL,      -- the URL as written in feeds.yaml
            enabled INTEGER NOT NULL DEFAULT 1,
            status TEXT NOT NULL DEFAULT 'new',  -- new | ok | error | disabled
            etag TEXT,
            last_modified TEXT,
            last_polled TEXT,
            last_success TEXT,
            next_poll TEXT,
            error_count INTEGER NOT NULL DEFAULT 0,   -- consecutive failures
            last_error TEXT,
            last_http_status INTEGER,
            disabled_reason TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,      -- canonical URL, else guid:..., else hash:...
            url TEXT,
            guid TEXT,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            published TEXT NOT NULL,       -- UTC; falls back to first_seen
            first_seen TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            analysed_at TEXT,              -- NULL: fetched, analysis pending
            analysis_error TEXT,
            model_version TEXT,
            is_cooperation INTEGER,
            cooperation_score REAL,
            scope TEXT,
            evidence TEXT,
            parties TEXT                   -- JSON list of parties
        )"""
    )
    db.execute("CREATE INDEX items_published ON items(published)")
    db.execute("CREATE INDEX items_pending ON items(id) WHERE analysed_at IS NULL")
    db.execute(
        """CREATE TABLE item_sources (
            item_id INTEGER NOT NULL REFERENCES items(id),
            feed_id INTEGER NOT NULL REFERENCES feeds(id),
            url TEXT,
            guid TEXT,
            first_seen TEXT NOT NULL,
            PRIMARY KEY (item_id, feed_id)
        )"""
    )
    db.execute("CREATE INDEX item_sources_guid ON item_sources(feed_id, guid)")
    db.execute(
        """CREATE TABLE entities (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL,            -- PER | LOC | ORG
            normal TEXT NOT NULL,
            canonical TEXT,
            country TEXT,
            UNIQUE (type, normal)
        )"""
    )
    db.execute(
        """CREATE TABLE item_entities (
            item_id INTEGER NOT NULL REFERENCES items(id),
            entity_id INTEGER NOT NULL REFERENCES entities(id),
            text TEXT NOT NULL,
            start INTEGER NOT NULL,
            stop INTEGER NOT NULL,
            in_title INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX item_entities_item ON item_entities(item_id)")
    db.execute("CREATE INDEX item_entities_entity ON item_entities(entity_id)")
    db.execute(
        """CREATE TABLE item_sectors (
            item_id INTEGER NOT NULL REFERENCES items(id),
            sector TEXT NOT NULL,
            score REAL NOT NULL,
            PRIMARY KEY (item_id, sector)
        )"""
    )
    db.execute("CREATE INDEX item_sectors_sector ON item_sectors(sector)")
    db.execute(
        """CREATE TABLE item_countries (
            item_id INTEGER NOT NULL REFERENCES items(id),
            country TEXT NOT NULL,
            PRIMARY KEY (item_id, country)
        )"""
    )
    db.execute("CREATE INDEX item_countries_country ON item_countries(country)")


def _v2(db: sqlite_utils.Database) -> None:
    """Full text per feed: an item can wait for its article page before analysis."""
    db.execute("ALTER TABLE items ADD COLUMN fulltext_status TEXT")  # NULL|pending|done|failed
    db.execute("ALTER TABLE items ADD COLUMN fulltext_error TEXT")
    db.execute("CREATE INDEX items_fulltext_pending ON items(id) "
               "WHERE fulltext_status = 'pending'")


def _v3(db: sqlite_utils.Database) -> None:
    """Full-text search over lemmatised title and text (filled as items are analysed;
    `monitor reindex` rebuilds it), and indexes for the search filters."""
    db.execute("CREATE VIRTUAL TABLE items_fts USING fts5(title, text, "
               "tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("CREATE INDEX items_coop_published ON items(is_cooperation, published)")
    db.execute("CREATE INDEX item_sources_feed ON item_sources(feed_id)")
    db.execute("CREATE INDEX entities_normal ON entities(normal)")


def _v4(db: sqlite_utils.Database) -> None:
    """Sector tags keep the lemmas that made them; analysts' corrections are stored."""
    db.execute("ALTER TABLE item_sectors ADD COLUMN terms TEXT")  # JSON list of lemmas
    db.execute(
        """CREATE TABLE item_labels (
            item_id INTEGER NOT NULL REFERENCES items(id),
            kind TEXT NOT NULL,            -- sector | cooperation
            sector TEXT NOT NULL DEFAULT '',  -- the sector ID ('' for cooperation)
            value INTEGER NOT NULL,        -- 1: yes, 0: no
            labelled_at TEXT NOT NULL,
            PRIMARY KEY (item_id, kind, sector)
        )"""
    )
    db.execute("CREATE INDEX items_model_version ON items(model_version)")


def _v5(db: sqlite_utils.Database) -> None:
    """Daily digests: what each subscriber was sent, and each subscriber's sending state."""
    db.execute(
        """CREATE TABLE digest_state (
            subscriber TEXT PRIMARY KEY,
            since TEXT NOT NULL,           -- items first seen before this are not sent
            last_day TEXT,                 -- the subscriber's local date of the last digest
            failures INTEGER NOT NULL DEFAULT 0,  -- consecutive failed sends
            retry_at TEXT,
            last_error TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE digest_deliveries (
            id INTEGER PRIMARY KEY,
            subscriber TEXT NOT NULL,
            day TEXT NOT NULL,
            sent_at TEXT NOT NULL,         -- when the SMTP server accepted the message
            message_id TEXT NOT NULL,
            stories INTEGER NOT NULL,
            items INTEGER NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE digest_items (
            subscriber TEXT NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id),
            delivery_id INTEGER REFERENCES digest_deliveries(id),
            PRIMARY KEY (subscriber, item_id)
        )"""
    )


def _v6(db: sqlite_utils.Database) -> None:
    """Stories: near copies of one news item from several outlets (monitor.stories)."""
    db.execute("ALTER TABLE items ADD COLUMN story_id INTEGER")  # the story's first item
    db.execute("UPDATE items SET story_id = id WHERE analysed_at IS NOT NULL")
    db.execute("CREATE INDEX items_story ON items(story_id)")
    db.execute("CREATE TABLE story_signatures (item_id INTEGER PRIMARY KEY, "
               "signature BLOB NOT NULL)")
    db.execute("CREATE TABLE story_bands (key INTEGER NOT NULL, item_id INTEGER NOT NULL, "
               "PRIMARY KEY (key, item_id)) WITHOUT ROWID")
    db.execute("CREATE INDEX story_bands_item ON story_bands(item_id)")


def _v7(db: sqlite_utils.Database) -> None:
    """Hardening (#16): how much of each item was analysed (monitor.limits caps it); tries,
    backoff and a final 'failed' for analyses and article pages; claims, so that several
    processes analyse each item once."""
    for column in (
        "analysed_chars INTEGER",          # characters of the text the analysis saw
        "text_cut INTEGER",                # 1: the title or the text was cut for analysis
        "analysis_attempts INTEGER NOT NULL DEFAULT 0",  # tries begun (of the current text)
        "analysis_retry_at TEXT",          # after a failed try: not before this
        "analysis_failed_at TEXT",         # given up after MAX_ATTEMPTS tries
        "fulltext_attempts INTEGER NOT NULL DEFAULT 0",
        "fulltext_retry_at TEXT",          # a failed page is fetched again from then
        "claimed_by TEXT",                 # the process analysing the item (new_owner())
        "claimed_until TEXT",              # its lease; past it, anyone may take the item
    ):
        db.execute(f"ALTER TABLE items ADD COLUMN {column}")
    db.execute("CREATE INDEX items_claimed ON items(claimed_by) WHERE claimed_by IS NOT NULL")
    db.execute("CREATE INDEX items_fulltext_retry ON items(fulltext_retry_at) "
               "WHERE fulltext_retry_at IS NOT NULL")
    db.execute("CREATE INDEX items_errors ON items(id) "
               "WHERE analysis_error IS NOT NULL OR fulltext_error IS NOT NULL")
    # Analyses that failed under the old one-try rule get their remaining tries; pages that
    # failed keep their verdict (their items were analysed from the feed's text).
    db.execute("UPDATE items SET analysed_at = NULL, analysis_attempts = 1 "
               "WHERE analysed_at IS NOT NULL AND analysis_error IS NOT NULL "
               "AND model_version IS NULL")
    db.execute("UPDATE items SET fulltext_attempts = 1 WHERE fulltext_status = 'failed'")


def _v8(db: sqlite_utils.Database) -> None:
    """Search at a million items (#18): the columns that filters, stories and facets read
    of every match, in one narrow covering index (the table rows carry the whole text), and
    the entities of an item without a table lookup."""
    db.execute("CREATE INDEX items_facts ON items(id, is_cooperation, story_id, published, "
               "scope, cooperation_score)")
    db.execute("CREATE INDEX item_entities_item_entity ON item_entities(item_id, entity_id)")
    # sector and country facets of a large match set read these in value order
    db.execute("DROP INDEX IF EXISTS item_sectors_sector")
    db.execute("CREATE INDEX item_sectors_sector_item ON item_sectors(sector, item_id)")
    db.execute("DROP INDEX IF EXISTS item_countries_country")
    db.execute("CREATE INDEX item_countries_country_item ON item_countries(country, item_id)")


def _v9(db: sqlite_utils.Database) -> None:
    """A sector tag records whether the cooperation floor added it (`"floor": True` in the
    analysis), so an analyst's "not cooperation" drops it at once; older tags are not floor."""
    db.execute("ALTER TABLE item_sectors ADD COLUMN floor INTEGER NOT NULL DEFAULT 0")


def _v10(db: sqlite_utils.Database) -> None:
    """A sector tag keeps its place in the analysis (the headline's sector first, as
    `monitor analyze` prints them), so search, the web UI and the digest show the same order;
    older tags (rank 0) keep the order of their scores until they are re-tagged."""
    db.execute("ALTER TABLE item_sectors ADD COLUMN rank INTEGER NOT NULL DEFAULT 0")


# Forward migrations: position N (1-based) brings the schema from version N-1 to N.
# Append new steps; never edit a released one.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6,
                                                            _v7, _v8, _v9, _v10]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite_utils.Database) -> int:
    """Apply pending migrations, each in one transaction; return the new version.

    Several processes may open a fresh or old database at once: each step re-reads the
    version inside its IMMEDIATE transaction (one writer at a time, the others wait on the
    busy timeout), so a step another process has just applied is skipped, never run twice.
    """
    version = schema_version(db)
    if version == SCHEMA_VERSION:  # the usual case: no write lock taken
        return version
    conn = db.conn
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = schema_version(db)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{db_filename(db)}: schema version {version} is newer than this monitor "
                    f"({SCHEMA_VERSION}); upgrade monitor"
                )
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return version
            MIGRATIONS[version](db)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def db_filename(db: sqlite_utils.Database) -> str:
    row = db.execute("PRAGMA database_list").fetchone()
    return row[2] if row else "?"


BUSY_TIMEOUT = 30.0  # seconds a connection waits for another process's write lock


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL mode (it stays so). SQLite answers "database is locked" at once,
    without waiting on the busy timeout, when another process is creating or converting the
    same fresh file, so the switch is retried until the busy timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_db(path: str | Path, *, migrate_schema: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database file in WAL mode and bring its schema up to date."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a database file")
    if not path.parent.exists():
        raise StoreError(f"{path}: directory {path.parent} does not exist")
    try:
        # isolation_level=None: we open transactions ourselves, explicitly.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None,
                               check_same_thread=False)
        _use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = sqlite_utils.Database(conn)
        if migrate_schema:
            migrate(db)
        return db
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot use database: {exc}") from None


class transaction:
    """`with transaction(db):` runs the block in one IMMEDIATE transaction."""

    def __init__(self, db: sqlite_utils.Database):
        self.conn = db.conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


# --- feeds -----------------------------------------------------------------------------


def sync_feeds(db: sqlite_utils.Database, feeds: Iterable) -> None:
    """Make the feeds table match the config: add new feeds, update enabled flags and URLs.

    A feed removed from the config is disabled, not deleted: its items keep their source.
    A feed whose URL changed in the config starts from the new URL with fresh HTTP state.
    """
    now = utcnow()
    with transaction(db):
        known = {row["name"]: row for row in db["feeds"].rows}
        names = set()
        for feed in feeds:
            names.add(feed.name)
            row = known.get(feed.name)
            if row is None:
                db["feeds"].insert(
                    {
                        "name": feed.name,
                        "url": feed.url,
                        "config_url": feed.url,
                        "enabled": int(feed.enabled),
                        "status": "new",
                        "next_poll": now,
                    }
                )
                continue
            changes: dict = {}
            if row["config_url"] != feed.url:
                changes.update(
                    url=feed.url, config_url=feed.url, etag=None, last_modified=None,
                    status="new", error_count=0, last_error=None, disabled_reason=None,
                    next_poll=now,
                )
            if bool(row["enabled"]) != feed.enabled:
                changes["enabled"] = int(feed.enabled)
            if changes:
                db["feeds"].update(row["id"], changes)
        for name, row in known.items():
            if name not in names and row["enabled"]:
                db["feeds"].update(row["id"], {"enabled": 0})


def feed_rows(db: sqlite_utils.Database) -> list[dict]:
    """All feeds with their polling state, item counts and their items' failures:
    `items_failed` (analysis given up), `items_retrying` (analysis failed, will be tried
    again), `pages_failed` (article page given up; analysed from the feed's text) and
    `last_item_error` (of the newest item with an error)."""
    rows = list(
        db.query(
            """SELECT feeds.*, (SELECT count(*) FROM item_sources s WHERE s.feed_id = feeds.id)
                   AS items
               FROM feeds ORDER BY feeds.name"""
        )
    )
    failures = _item_failures(db)
    for row in rows:
        row.update(failures.get(row["id"]) or {"items_failed": 0, "items_retrying": 0,
                                               "pages_failed": 0, "last_item_error": None})
    return rows


def _item_failures(db: sqlite_utils.Database) -> dict[int, dict]:
    """Per feed id, its items' failures (only items with an error are read)."""
    found: dict[int, dict] = {}
    for row in db.query(
            """SELECT s.feed_id, i.id, i.analysed_at, i.analysis_error, i.analysis_failed_at,
                      i.fulltext_status, i.fulltext_error, i.fulltext_retry_at
               FROM items i JOIN item_sources s ON s.item_id = i.id
               WHERE i.analysis_error IS NOT NULL OR i.fulltext_error IS NOT NULL
               ORDER BY i.id"""):
        feed = found.setdefault(row["feed_id"], {"items_failed": 0, "items_retrying": 0,
                                                 "pages_failed": 0, "last_item_error": None})
        if row["analysis_failed_at"]:
            feed["items_failed"] += 1
        elif row["analysis_error"] and row["analysed_at"] is None:
            feed["items_retrying"] += 1
        page_failed = row["fulltext_status"] == "failed" and row["fulltext_retry_at"] is None
        feed["pages_failed"] += page_failed
        if row["analysis_error"]:
            feed["last_item_error"] = f"item {row['id']}: {row['analysis_error']}"
        elif row["fulltext_error"]:
            feed["last_item_error"] = f"item {row['id']}: page: {row['fulltext_error']}"
    return found


def feed_by_name(db: sqlite_utils.Database, name: str) -> dict | None:
    rows = list(db.query("SELECT * FROM feeds WHERE name = ?", [name]))
    return rows[0] if rows else None


def update_feed(db: sqlite_utils.Database, feed_id: int, **changes) -> None:
    with transaction(db):
        db["feeds"].update(feed_id, changes)


# --- items -----------------------------------------------------------------------------


@dataclass
class NewItem:
    """An article as fetched from a feed, before analysis."""

    key: str
    url: str | None
    guid: str | None
    title: str
    text: str
    published: str | None  # UTC ISO 8601, or None when the feed gave no usable date


def content_hash(title: str, text: str) -> str:
    return hashlib.sha1(f"{title}\n{text}".encode("utf-8")).hexdigest()


def add_items(db: sqlite_utils.Database, feed_id: int, items: Iterable[NewItem], *,
              fulltext: bool = False) -> list[tuple[int, bool]]:
    """Store the items a feed carried, each once, in one transaction.

    Returns (item id, whether it is new) per item. The same article from another feed (same
    canonical URL) only gains a source row; a feed that re-sends a known GUID and title under
    a new URL (an edited link) adds nothing.
    """
    now = utcnow()
    results = []
    with transaction(db):
        for item in items:
            existing = _find_item(db, feed_id, item)
            if existing is not None:
                _upgrade_text(db, existing, item)
                db.execute(
                    "INSERT OR IGNORE INTO item_sources (item_id, feed_id, url, guid, first_seen)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [existing, feed_id, item.url, item.guid, now],
                )
                results.append((existing, False))
                continue
            # Missing or future dates fall back to the moment we first saw the item.
            published = item.published if item.published and item.published <= now else now
            item_id = db["items"].insert(
                {
                    "key": item.key,
                    "url": item.url,
                    "guid": item.guid,
                    "title": item.title,
                    "text": item.text,
                    "published": published,
                    "first_seen": now,
                    "content_hash": content_hash(item.title, item.text),
                    "fulltext_status": "pending" if fulltext and item.url else None,
                }
            ).last_pk
            db["item_sources"].insert(
                {"item_id": item_id, "feed_id": feed_id, "url": item.url, "guid": item.guid,
                 "first_seen": now}
            )
            results.append((item_id, True))
    return results


def _upgrade_text(db: sqlite_utils.Database, item_id: int, item: NewItem) -> None:
    """Keep the fullest text of a syndicated story: when another source carries a much
    longer body (full text where we had a lead), store it and queue the item for analysis."""
    row = db.execute("SELECT text FROM items WHERE id = ?", [item_id]).fetchone()
    if row and len(item.text) > 1.2 * len(row[0]) + 50:
        db.execute(
            f"UPDATE items SET text = ?, content_hash = ?, {_REQUEUE} WHERE id = ?",
            [item.text, content_hash(item.title, item.text), item_id],
        )


# A new text is analysed afresh, with all its tries.
_REQUEUE = ("analysed_at = NULL, analysis_attempts = 0, analysis_retry_at = NULL, "
            "analysis_failed_at = NULL, analysis_error = NULL")


def _find_item(db: sqlite_utils.Database, feed_id: int, item: NewItem) -> int | None:
    row = db.execute("SELECT id FROM items WHERE key = ?", [item.key]).fetchone()
    if row:
        return row[0]
    if item.guid:
        # Same feed, same GUID, same title: the article's URL changed, not the article.
        row = db.execute(
            """SELECT items.id FROM item_sources JOIN items ON items.id = item_sources.item_id
               WHERE item_sources.feed_id = ? AND item_sources.guid = ? AND items.title = ?""",
            [feed_id, item.guid, item.title],
        ).fetchone()
        if row:
            return row[0]
    return None


# Ready for analysis: not analysed, not given up, not waiting for its article page or for
# the backoff after a failed try, and not claimed by another live analyser.
_READY = """analysed_at IS NULL AND analysis_failed_at IS NULL
            AND fulltext_status IS NOT 'pending'
            AND (analysis_retry_at IS NULL OR analysis_retry_at <= :now)
            AND (claimed_by IS NULL OR claimed_until <= :now)"""


def pending_items(db: sqlite_utils.Database, limit: int | None = None) -> list[dict]:
    """Items ready for analysis (e.g. left by a crash), oldest first. To analyse them, claim
    them (`claim_items`), so that two processes never analyse one item twice."""
    sql = f"SELECT id, title, text, content_hash FROM items WHERE {_READY} ORDER BY id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    return list(db.query(sql, {"now": utcnow()}))


def new_owner() -> str:
    """A name for one analyser (a `monitor poll`, a `monitor run`), for its claims:
    host/pid/process start time/random, so that another process can tell when the owner
    is gone, even if its pid has been reused."""
    return f"{socket.gethostname()}/{os.getpid()}/{_started(os.getpid())}/{secrets.token_hex(4)}"


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name ([state, ppid, ...]); None when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _started(pid: int) -> str:
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else ""


def owner_alive(owner: str) -> bool:
    """False when the claim's process is known to be gone (it ran on this host and its pid
    is free, a zombie, or another process); True otherwise, and the lease decides."""
    try:
        host, pid_text, started, _token = owner.rsplit("/", 3)
        pid = int(pid_text)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True
    fields = _proc_stat(pid)
    if fields is None:
        if not os.path.isdir("/proc/self"):  # no procfs: ask the kernel
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
            return True
        return False
    if fields[0] == "Z":
        return False
    return not started or len(fields) <= 19 or fields[19] == started


def _release_dead_claims(db: sqlite_utils.Database) -> None:
    """Claims of processes that are gone (killed mid-analysis) return to the pool at once;
    the try they began stays counted, so an item that kills its analyser is not retried
    forever."""
    owners = [r[0] for r in db.execute(
        "SELECT DISTINCT claimed_by FROM items WHERE claimed_by IS NOT NULL")]
    for owner in owners:
        if not owner_alive(owner):
            db.execute("UPDATE items SET claimed_by = NULL, claimed_until = NULL "
                       "WHERE claimed_by = ?", [owner])


def claim_items(db: sqlite_utils.Database, owner: str, limit: int = 1,
                item_ids: Iterable[int] | None = None) -> list[dict]:
    """Take up to `limit` ready items (of `item_ids`, when given) for analysis by `owner`,
    oldest first, in one transaction: no other process gets them until the owner saves
    them, releases them, dies, or its lease runs out. Each claim counts as a try; an item
    whose last allowed try never finished (its process died each time) is marked failed
    instead."""
    now = utcnow()
    claimed = []
    among = "" if item_ids is None else \
        f" AND id IN ({','.join(str(int(i)) for i in item_ids) or 'NULL'})"
    with transaction(db):
        _release_dead_claims(db)
        rows = list(db.query(
            f"SELECT id, title, text, content_hash, analysis_attempts FROM items "
            f"WHERE {_READY}{among} ORDER BY id LIMIT :limit",
            {"now": now, "limit": int(limit)}))
        for row in rows:
            if row["analysis_attempts"] >= MAX_ATTEMPTS:
                db.execute(
                    "UPDATE items SET analysis_failed_at = ?, analysis_retry_at = NULL, "
                    "analysis_error = ? WHERE id = ?",
                    [now, f"analysis never finished in {row['analysis_attempts']} tries "
                          "(the analysing process died each time)", row["id"]])
                continue
            db.execute("UPDATE items SET claimed_by = ?, claimed_until = ?, "
                       "analysis_attempts = analysis_attempts + 1 WHERE id = ?",
                       [owner, _after(CLAIM_LEASE_SECONDS), row["id"]])
            claimed.append(row)
    return claimed


def release_claims(db: sqlite_utils.Database, owner: str,
                   item_ids: Iterable[int] | None = None) -> None:
    """Give back `owner`'s unfinished claims (all, or those of `item_ids`), on a clean stop:
    their tries did not fail, so they are not counted."""
    sql = ("UPDATE items SET claimed_by = NULL, claimed_until = NULL, "
           "analysis_attempts = max(analysis_attempts - 1, 0) WHERE claimed_by = ?")
    params: list = [owner]
    if item_ids is not None:
        ids = [int(i) for i in item_ids]
        if not ids:
            return
        sql += f" AND id IN ({','.join('?' * len(ids))})"
        params += ids
    with transaction(db):
        db.execute(sql, params)


def fulltext_pending(db: sqlite_utils.Database, limit: int | None = None) -> list[dict]:
    """Items whose article page is to be fetched (new ones, and failed ones whose backoff
    has passed), with the feed that wants it."""
    sql = """SELECT items.id, items.url, items.title, items.text,
                    (SELECT feeds.name FROM item_sources JOIN feeds ON feeds.id = feed_id
                      WHERE item_id = items.id ORDER BY item_sources.first_seen LIMIT 1) AS feed
             FROM items WHERE id IN (
                 SELECT id FROM items WHERE fulltext_status = 'pending'
                 UNION SELECT id FROM items WHERE fulltext_retry_at <= ?)
             ORDER BY id"""
    if limit:
        sql += f" LIMIT {int(limit)}"
    return list(db.query(sql, [utcnow()]))


def save_fulltext(db: sqlite_utils.Database, item_id: int, text: str | None,
                  error: str | None = None, *, retry: bool = True) -> None:
    """Store an article's extracted text when it is fuller than the feed's; either way the
    item is ready for analysis (a failed page keeps the feed's text). A failed page is
    fetched again after the backoff, up to MAX_ATTEMPTS times (`retry=False`: never, as for
    a `javascript:` link); a fuller text that arrives on a retry is analysed again."""
    with transaction(db):
        row = db.execute("SELECT title, text, fulltext_attempts FROM items WHERE id = ?",
                         [item_id]).fetchone()
        if row is None:
            return
        if error:
            attempts = row[2] + 1 if retry else MAX_ATTEMPTS
            db["items"].update(item_id, {
                "fulltext_status": "failed", "fulltext_error": error[:500],
                "fulltext_attempts": attempts,
                "fulltext_retry_at": _after(retry_delay(attempts))
                if attempts < MAX_ATTEMPTS else None})
            return
        db["items"].update(item_id, {"fulltext_status": "done", "fulltext_error": None,
                                     "fulltext_retry_at": None})
        if text and len(text) > len(row[1]):
            db.execute(f"UPDATE items SET text = ?, content_hash = ?, {_REQUEUE} WHERE id = ?",
                       [text, content_hash(row[0], text), item_id])


def save_analysis(db: sqlite_utils.Database, item_id: int, analysis,
                  search: SearchData | None = None, *, analysed_label: bool | None,
                  analysed_chars: int | None = None, text_cut: bool = False,
                  analysed_hash: str | None = None, owner: str | None = None) -> None:
    """Replace an item's NLP results (analysts' labels applied first, `apply_labels`) and
    its story in one transaction; mark it analysed and release `owner`'s claim (a claim
    another analyser took after `owner`'s lease ran out stays theirs). The item stays
    pending instead (`_analyse_again`) when the analysis is out of date.
    `analysed_label`: the analyst's cooperation label the analysis was given (required, as
    it decides that); `search`: the item's search data when a worker computed it;
    `analysed_chars`, `text_cut`: how much of the text the analysis saw (monitor.limits);
    `analysed_hash`: the content hash of the text analysed."""
    with transaction(db):
        current = db.execute("SELECT content_hash, claimed_by FROM items WHERE id = ?",
                             [item_id]).fetchone()
        if current is None:
            return
        release = _releases(current[1], owner)
        labels = apply_labels(db, item_id, analysis)
        stale = _analyse_again(current[0], analysed_hash, analysed_label, labels)
        for table in ("item_entities", "item_sectors", "item_countries"):
            db.execute(f"DELETE FROM {table} WHERE item_id = ?", [item_id])
        for ent in analysis.entities:
            entity_id = _entity_id(db, ent)
            db.execute(
                "INSERT INTO item_entities (item_id, entity_id, text, start, stop, in_title)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [item_id, entity_id, ent.text, ent.start, ent.stop, int(ent.in_title)],
            )
        for rank, sector in enumerate(analysis.sectors, start=1):
            db.execute(
                "INSERT OR REPLACE INTO item_sectors (item_id, sector, score, terms, floor, rank)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [item_id, sector["id"], sector["score"],
                 json.dumps(sector.get("terms", []), ensure_ascii=False),
                 int(bool(sector.get("floor"))), rank],
            )
        for country in analysis.countries:
            db.execute(
                "INSERT OR IGNORE INTO item_countries (item_id, country) VALUES (?, ?)",
                [item_id, country],
            )
        index_item(db, item_id, story=True, data=search)
        db["items"].update(
            item_id,
            {
                "analysed_at": None if stale else utcnow(),
                **({"analysis_attempts": 0} if stale else {}),  # afresh, with all its tries
                "analysis_error": None,
                "analysis_retry_at": None,
                "analysis_failed_at": None,
                **release,
                "model_version": analysis.model_version,
                "is_cooperation": None if analysis.is_cooperation is None
                else int(analysis.is_cooperation),
                "cooperation_score": analysis.cooperation_score,
                "scope": analysis.scope,
                "evidence": analysis.evidence,
                "parties": json.dumps(analysis.parties, ensure_ascii=False),
                "analysed_chars": analysed_chars,
                "text_cut": int(text_cut),
            },
        )


def _analyse_again(current_hash: str, analysed_hash: str | None,
                   analysed_label: bool | None, labels: dict) -> bool:
    """Is a finished analysis out of date: the item took a fuller text meanwhile, or an
    analyst called it cooperation after its label was handed out (a "yes" can add the
    floor's sector)?"""
    return (analysed_hash is not None and current_hash != analysed_hash) or (
        analysed_label is not True and labels["cooperation"] is True)


@dataclass
class SearchData:
    """What the full-text index and the story of an item need: its search lemmas and their
    MinHash signature. CPU work, so the service's analysis workers compute it beside the
    analysis and the writer only stores it."""

    title: str
    text: str
    signature: object  # np.ndarray | None

    @classmethod
    def of(cls, title: str, text: str) -> "SearchData":
        """Of the part of the item that is analysed: a 10 MB text would take minutes and
        gigabytes to lemmatise and sign, and its tail is not searched."""
        from . import stories
        from .lemmas import lemmatize
        from .limits import cut_title_and_text

        title, text, _cut = cut_title_and_text(title, text)
        title, text = lemmatize(title), lemmatize(text)
        return cls(title, text, stories.signature(f"{title} {text}"))


def index_item(db: sqlite_utils.Database, item_id: int, *, story: bool,
               data: SearchData | None = None) -> None:
    """(Re)write an item's row in the full-text index and, for an analysed item (`story`),
    its story, from one read and one lemmatisation (inside the caller's transaction).
    `data` computed elsewhere from the same title and text saves the lemmatisation."""
    from . import stories

    row = db.execute("SELECT title, text, first_seen FROM items WHERE id = ?",
                     [item_id]).fetchone()
    db.execute("DELETE FROM items_fts WHERE rowid = ?", [item_id])
    if row:
        data = data or SearchData.of(row[0], row[1])
        db.execute("INSERT INTO items_fts (rowid, title, text) VALUES (?, ?, ?)",
                   [item_id, data.title, data.text])
        if story:
            stories.assign(db, item_id, data.signature, row[2])


def reindex(db: sqlite_utils.Database, on_item: Callable[[], None] | None = None,
            batch: int = 500) -> int:
    """Rebuild the full-text index and the stories of analysed items from the stored items
    (in id order, so each story keeps its first item; batches commit)."""
    from . import stories

    ids = db.execute("SELECT id, analysed_at IS NOT NULL FROM items ORDER BY id").fetchall()
    with transaction(db):
        db.execute("DELETE FROM items_fts")
        db.execute("DELETE FROM story_bands")
        db.execute("DELETE FROM story_signatures")
    for start in range(0, len(ids), batch):
        with transaction(db):
            for item_id, analysed in ids[start:start + batch]:
                index_item(db, item_id, story=bool(analysed))
                if on_item:
                    on_item()
    with transaction(db):
        stories.prune(db, utcnow())
    return len(ids)


def save_analysis_error(db: sqlite_utils.Database, item_id: int, error: str,
                        owner: str | None = None) -> str:
    """Record a failed try at analysing an item and release `owner`'s claim
    (`save_analysis`): it is tried again after the backoff (`retry_delay`), and after
    MAX_ATTEMPTS tries marked failed; while another analyser holds its claim, only the
    error is recorded. An item analysed before (a failed re-tag) keeps its results.
    Returns "retry", "failed" or "kept"."""
    with transaction(db):
        row = db.execute("SELECT analysed_at, analysis_attempts, claimed_by FROM items "
                         "WHERE id = ?", [item_id]).fetchone()
        if row is None:
            return "failed"
        if row[2] is not None and row[2] != owner:
            # another analyser holds it now: its outcome sets the backoff
            db["items"].update(item_id, {"analysis_error": error[:500]})
            return "retry"
        changes: dict = {"analysis_error": error[:500], "claimed_by": None,
                         "claimed_until": None}
        attempts = row[1] + (row[2] is None)  # a try made without a claim counts now
        if row[0] is not None:
            state = "kept"
        elif attempts >= MAX_ATTEMPTS:
            state = "failed"
            changes.update(analysis_failed_at=utcnow(), analysis_retry_at=None)
        else:
            state = "retry"
            changes["analysis_retry_at"] = _after(retry_delay(attempts))
        if row[0] is None:
            changes["analysis_attempts"] = attempts
        db["items"].update(item_id, changes)
        return state


def _releases(holder: str | None, owner: str | None) -> dict:
    """The claim columns a save by `owner` (None: a save without a claim, e.g. `monitor
    reprocess`) sets: it frees its own claim, never another analyser's, which that one
    frees when it saves (or its lease runs out, or it dies)."""
    return {"claimed_by": None, "claimed_until": None} if holder == owner else {}


def _entity_id(db: sqlite_utils.Database, ent) -> int:
    """The row of what a mention names: an ORG under its party ("МИД" in "МИД России" is
    the ORG "МИД России"), a country adjective under its country ("японских" is the LOC
    "Япония"), else its normal form; the mention's own text and offsets are in
    item_entities."""
    name = getattr(ent, "stored_name", ent.normal)
    row = db.execute(
        "SELECT id FROM entities WHERE type = ? AND normal = ?", [ent.type, name]
    ).fetchone()
    if row:
        return row[0]
    return db["entities"].insert(
        {"type": ent.type, "normal": name, "canonical": ent.canonical,
         "country": ent.country}
    ).last_pk


def count_items(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM items").fetchone()[0]


def iter_item_ids(db: sqlite_utils.Database) -> Iterator[int]:
    for (item_id,) in db.execute("SELECT id FROM items ORDER BY id"):
        yield item_id


# --- analysts' labels ---------------------------------------------------------------------


def add_labels(db: sqlite_utils.Database, item_id: int, *, sectors: Iterable[str] = (),
               not_sectors: Iterable[str] = (), cooperation: bool | None = None) -> None:
    """Record an analyst's corrections for one item (a later label replaces an earlier one)."""
    if not db.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone():
        raise StoreError(f"no item with id {item_id}")
    rows = [("sector", s, 1) for s in sectors] + [("sector", s, 0) for s in not_sectors]
    if cooperation is not None:
        rows.append(("cooperation", "", int(cooperation)))
    with transaction(db):
        # the time inside the transaction: a save that held the database meanwhile is older
        now = utcnow()
        for kind, sector, value in rows:
            db.execute("INSERT OR REPLACE INTO item_labels (item_id, kind, sector, value, "
                       "labelled_at) VALUES (?, ?, ?, ?, ?)", [item_id, kind, sector, value, now])


def item_labels(db: sqlite_utils.Database, item_id: int) -> dict:
    """`{"sectors": {id: bool}, "cooperation": bool | None}` for one item."""
    labels: dict = {"sectors": {}, "cooperation": None}
    for kind, sector, value in db.execute(
            "SELECT kind, sector, value FROM item_labels WHERE item_id = ?", [item_id]):
        if kind == "sector":
            labels["sectors"][sector] = bool(value)
        else:
            labels["cooperation"] = bool(value)
    return labels


def labelled_items(db: sqlite_utils.Database) -> list[dict]:
    """Items with analysts' sector labels, as training rows: the label set is the item's
    current tags with the analyst's additions and removals applied."""
    rows = []
    ids = [r[0] for r in db.execute(
        "SELECT DISTINCT item_id FROM item_labels WHERE kind = 'sector' ORDER BY item_id")]
    for item_id in ids:
        item = db.execute("SELECT title, text FROM items WHERE id = ?", [item_id]).fetchone()
        current = {r[0] for r in db.execute(
            "SELECT sector FROM item_sectors WHERE item_id = ?", [item_id])}
        for sector, value in item_labels(db, item_id)["sectors"].items():
            (current.add if value else current.discard)(sector)
        rows.append({"id": f"item-{item_id}", "title": item[0], "text": item[1],
                     "sectors": sorted(current)})
    return rows


def cooperation_labels(db: sqlite_utils.Database) -> list[dict]:
    """Items with an analyst's cooperation yes/no, as training rows."""
    return [{"id": f"item-{r[0]}", "title": r[1], "text": r[2], "is_cooperation": bool(r[3])}
            for r in db.execute(
                "SELECT i.id, i.title, i.text, l.value FROM item_labels l "
                "JOIN items i ON i.id = l.item_id WHERE l.kind = 'cooperation' ORDER BY i.id")]


def cooperation_label(db: sqlite_utils.Database, item_id: int) -> bool | None:
    """An analyst's cooperation yes/no for one item (None: not labelled), which the sector
    decision reads instead of the detector's verdict (the cooperation floor)."""
    return item_labels(db, item_id)["cooperation"]


ANALYST_TERM = "(analyst)"  # the "why" of a sector tag an analyst added


def apply_labels(db: sqlite_utils.Database, item_id: int, analysis) -> dict:
    """An analyst's word is final for that item: labels override the models' output
    (`relabel_stored` does the same to the stored tags). Returns the labels (`item_labels`)."""
    labels = item_labels(db, item_id)
    if labels["cooperation"] is not None:
        analysis.is_cooperation = labels["cooperation"]
    # a sector under its threshold, kept only because the item reports cooperation
    tags = {s["id"]: s for s in analysis.sectors
            if not (s.get("floor") and labels["cooperation"] is False)}
    added = {}  # an analyst's own sectors go first, then the model's in its order
    for sector, value in labels["sectors"].items():
        if value and sector not in tags:
            added[sector] = {"id": sector, "score": 1.0, "terms": [ANALYST_TERM]}
        elif not value:
            tags.pop(sector, None)
    analysis.sectors = [*added.values(), *tags.values()]
    return labels


def relabel_stored(db: sqlite_utils.Database, item_id: int) -> list[str]:
    """Apply an item's labels to its stored tags at once, as `apply_labels` does at the next
    analysis; returns its sectors."""
    labels = item_labels(db, item_id)
    with transaction(db):
        if labels["cooperation"] is False:  # the floor's tags stand only for cooperation
            db.execute("DELETE FROM item_sectors WHERE item_id = ? AND floor = 1", [item_id])
        for sector, value in labels["sectors"].items():
            if value:
                # an analyst's sector goes first (rank 0 sorts before the model's 1, 2, ...)
                db.execute("INSERT OR IGNORE INTO item_sectors (item_id, sector, score, terms, "
                           "rank) VALUES (?, ?, 1.0, ?, 0)",
                           [item_id, sector, json.dumps([ANALYST_TERM])])
            else:
                db.execute("DELETE FROM item_sectors WHERE item_id = ? AND sector = ?",
                           [item_id, sector])
        if labels["cooperation"] is not None:
            db.execute("UPDATE items SET is_cooperation = ? WHERE id = ?",
                       [int(labels["cooperation"]), item_id])
    return [r[0] for r in db.execute(
        "SELECT sector FROM item_sectors WHERE item_id = ? ORDER BY rank, score DESC",
        [item_id])]


def items_to_reprocess(db: sqlite_utils.Database, model_version: str,
                       since: str | None = None) -> list[int]:
    """Analysed items tagged by another model version, called cooperation by an analyst
    since their analysis (a "yes" can add the floor's sector), or whose sector tags predate
    schema 10 (rank 0, not an analyst's: their order is the scores', not the analysis');
    resumable, as each re-tag takes its item off the list."""
    sql = ("SELECT id FROM items WHERE analysed_at IS NOT NULL "
           "AND (coalesce(model_version, '') != ? OR EXISTS (SELECT 1 FROM item_labels l "
           "WHERE l.item_id = items.id AND l.kind = 'cooperation' AND l.value = 1 "
           "AND l.labelled_at >= items.analysed_at) OR EXISTS (SELECT 1 FROM item_sectors s "
           "WHERE s.item_id = items.id AND s.rank = 0 AND coalesce(s.terms, '') != ?))")
    params: list = [model_version, json.dumps([ANALYST_TERM])]
    if since:
        sql += " AND published >= ?"
        params.append(since)
    return [r[0] for r in db.execute(sql + " ORDER BY id", params)]
