"""Analysis of stored items (monitor.ingest): bounded per item, retried, never doubled."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor import store
from monitor.config import FeedConfig
from monitor.store import NewItem

TESTS = Path(__file__).resolve().parent


def _store_items(db, texts, feed="Лента"):
    store.sync_feeds(db, [FeedConfig(name=feed, url="https://feed.example/rss")])
    feed_id = store.feed_by_name(db, feed)["id"]
    items = [NewItem(key=f"https://news.example/{feed}/{i}", url=f"https://news.example/{feed}/{i}",
                     guid=None, title=f"Новость {i}", text=text, published=None)
             for i, text in enumerate(texts)]
    return [item_id for item_id, _new in store.add_items(db, feed_id, items)]


def _run_python(code: str, timeout: float) -> dict:
    """Run `code` in a fresh interpreter (tests/ importable); its last stdout line is JSON."""
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_10_mb_item_is_analysed_in_bounded_time_and_memory(tmp_path):
    """Before the cap, a 10 MB description ran for over 480 s at 8.5 GB and blocked every
    item after it. Now its first 100,000 characters are analysed and the cut recorded."""
    db_path = tmp_path / "m.db"
    out = _run_python(f"""
        import json, resource
        from monitor import store
        from monitor.ingest import analyse_pending
        from newstext import news_text
        from test_ingest import _store_items

        db = store.open_db({str(db_path)!r})
        _store_items(db, [news_text(10_000_000), "Россия и Китай подписали соглашение."])
        done = analyse_pending(db)
        print(json.dumps({{"done": done,
                           "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
    """, timeout=240)
    assert out["done"] == 2  # the item after the huge one was analysed too
    assert out["rss_mb"] < 1536, out
    db = store.open_db(db_path)
    huge, small = db.query("SELECT * FROM items ORDER BY id")
    assert huge["analysed_at"] and huge["text_cut"] == 1
    assert 90_000 <= huge["analysed_chars"] <= 100_000 and len(huge["text"]) == 10_000_000
    for start, stop, text in db.execute("SELECT start, stop, text FROM item_entities "
                                        "WHERE item_id = ? AND in_title = 0", [huge["id"]]):
        assert huge["text"][start:stop] == text  # offsets index the stored text
    assert small["analysed_at"] and small["text_cut"] == 0
