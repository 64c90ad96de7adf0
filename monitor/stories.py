"""Stories: the same news syndicated or rewritten by several outlets, found with MinHash.

Each analysed item gets a MinHash signature of its word 3-shingles (search lemmas, so
inflection and word forms do not hide a copy). The signature's LSH bands are stored in
SQLite, so a new item finds its near copies among the last `WINDOW_DAYS` of items with a few
indexed lookups, in any process and after any restart. An item joins the story of its
earliest near copy (`items.story_id`, the id of the story's first item); search shows each
story's outlets and the digest sends each story once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import sqlite_utils


NUM_PERM = 128
THRESHOLD = 0.5  # estimated Jaccard similarity of word 3-shingles for "the same story"
WINDOW_DAYS = 7  # copies of a story appear within days; older items keep no bands
SEED = 7


def shingles(lemmas: str) -> set[str]:
    """Word 3-shingles of an item's search lemmas (`lemmas.lemmatize` of title and text)."""
    words = lemmas.split()
    return {" ".join(words[i:i + 3]) for i in range(max(1, len(words) - 2))} if words else set()


def signature(lemmas: str) -> np.ndarray | None:
    """The item's MinHash signature (NUM_PERM uint64 values); None for an empty item."""
    from datasketch import MinHash

    found = shingles(lemmas)
    if not found:
        return None
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update_batch([s.encode("utf-8") for s in found])
    return minhash.hashvalues.astype(np.uint64)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the shingle sets behind two signatures."""
    return float(np.mean(a == b))


@lru_cache(maxsize=1)
def bands() -> tuple[int, int]:
    """(bands, rows per band) that datasketch's LSH picks for THRESHOLD and NUM_PERM."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(THRESHOLD, NUM_PERM, 0.5, 0.5)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 64-bit key per band (band number and its rows hashed together)."""
    count, rows = bands()
    keys = []
    for band in range(count):
        digest = hashlib.blake2b(band.to_bytes(2, "little") + sig[band * rows:(band + 1) * rows]
                                 .tobytes(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def assign(db: sqlite_utils.Database, item_id: int, sig: np.ndarray | None,
           first_seen: str) -> int:
    """Put an item (`sig`: the signature of its search lemmas) into the story of its earliest
    near copy seen before it, or start its own story, and store its signature; returns the
    story id. Runs inside the caller's transaction (`store.index_item`), so the item's
    analysis and its story are saved together."""
    db.execute("DELETE FROM story_bands WHERE item_id = ?", [item_id])
    db.execute("DELETE FROM story_signatures WHERE item_id = ?", [item_id])
    story = item_id
    if sig is not None:
        keys = band_keys(sig)
        since = _shift(first_seen, -WINDOW_DAYS)
        marks = ",".join("?" * len(keys))
        # Only earlier items: a story's first item never joins a later copy of itself.
        candidates = db.execute(
            f"""SELECT items.id, items.story_id, sig.signature
                FROM (SELECT DISTINCT item_id FROM story_bands WHERE key IN ({marks})) b
                JOIN items ON items.id = b.item_id
                JOIN story_signatures sig ON sig.item_id = b.item_id
                WHERE b.item_id < ? AND items.first_seen >= ?
                ORDER BY items.id""", [*keys, item_id, since]).fetchall()
        for other_id, other_story, blob in candidates:
            if similarity(sig, np.frombuffer(blob, dtype=np.uint64)) >= THRESHOLD:
                story = other_story or other_id
                break
        db.execute("INSERT INTO story_signatures (item_id, signature) VALUES (?, ?)",
                   [item_id, sig.tobytes()])
        db.conn.executemany("INSERT OR IGNORE INTO story_bands (key, item_id) VALUES (?, ?)",
                            [(key, item_id) for key in keys])
    db.execute("UPDATE items SET story_id = ? WHERE id = ?", [story, item_id])
    return story


def prune(db: sqlite_utils.Database, now: str) -> int:
    """Drop the bands and signatures of items first seen more than WINDOW_DAYS before
    `now` (their stories stay); returns how many items were pruned."""
    cutoff = _shift(now, -WINDOW_DAYS)
    old = "SELECT id FROM items WHERE first_seen < ?"
    count = db.execute(f"SELECT count(*) FROM story_signatures WHERE item_id IN ({old})",
                       [cutoff]).fetchone()[0]
    if count:
        db.execute(f"DELETE FROM story_bands WHERE item_id IN ({old})", [cutoff])
        db.execute(f"DELETE FROM story_signatures WHERE item_id IN ({old})", [cutoff])
    return count


def _shift(stamp: str, days: int) -> str:
    """A stored UTC ISO timestamp moved by `days`, in the store's format."""
    return (datetime.fromisoformat(stamp) + timedelta(days=days)).isoformat()
