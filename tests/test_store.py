import multiprocessing
import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from conftest import FLOOR_TEXT
from monitor import store
from monitor.analysis import Analysis
from monitor.config import FeedConfig
from monitor.store import NewItem


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "m.db")


def _feeds(db, *names):
    store.sync_feeds(db, [FeedConfig(name=n, url=f"https://{i}.example/rss")
                          for i, n in enumerate(names)])
    return [store.feed_by_name(db, n)["id"] for n in names]


def _item(key="https://a.example/1", title="Заголовок", text="Текст", guid="g1", **kw):
    return NewItem(key=key, url=key if key.startswith("http") else None, guid=guid,
                   title=title, text=text, published=kw.get("published"))


def test_new_database_is_wal_and_current(db, tmp_path):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version(db) == store.SCHEMA_VERSION
    assert {"feeds", "items", "item_sources", "entities", "item_entities", "item_sectors",
            "item_countries"} <= set(db.table_names())
    # Reopening migrates nothing and keeps data.
    again = store.open_db(tmp_path / "m.db")
    assert store.schema_version(again) == store.SCHEMA_VERSION


def test_migrations_run_in_order_from_any_version(tmp_path, monkeypatch):
    calls = []
    steps = [lambda db: calls.append(1) or store._v1(db), lambda db: calls.append(2)]
    monkeypatch.setattr(store, "MIGRATIONS", steps[:1])
    monkeypatch.setattr(store, "SCHEMA_VERSION", 1)
    db = store.open_db(tmp_path / "m.db")
    assert store.schema_version(db) == 1 and calls == [1]
    monkeypatch.setattr(store, "MIGRATIONS", steps)
    monkeypatch.setattr(store, "SCHEMA_VERSION", 2)
    db = store.open_db(tmp_path / "m.db")
    assert store.schema_version(db) == 2 and calls == [1, 2]


def test_failed_migration_leaves_previous_version(tmp_path, monkeypatch):
    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "MIGRATIONS", [store._v1, broken])
    monkeypatch.setattr(store, "SCHEMA_VERSION", 2)
    with pytest.raises(RuntimeError):
        store.open_db(tmp_path / "m.db")
    conn = sqlite3.connect(tmp_path / "m.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "half_done" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "m.db"
    sqlite3.connect(path).execute("PRAGMA user_version = 99")
    with pytest.raises(store.StoreError, match="newer than this monitor"):
        store.open_db(path)


@pytest.mark.parametrize("make_path,message", [
    (lambda tmp: tmp / "missing-dir" / "m.db", "does not exist"),
    (lambda tmp: tmp, "is a directory"),
    (lambda tmp: (tmp / "junk.db").write_bytes(b"this is not sqlite" * 100) and tmp / "junk.db",
     "file is not a database"),
])
def test_unusable_database_paths(tmp_path, make_path, message):
    with pytest.raises(store.StoreError, match=message):
        store.open_db(make_path(tmp_path))


def test_item_stored_once_with_every_source(db):
    a, b = _feeds(db, "A", "B")
    [(first, new1)] = store.add_items(db, a, [_item()])
    [(again, new2)] = store.add_items(db, a, [_item()])
    [(other, new3)] = store.add_items(db, b, [_item(guid="other-guid")])
    assert new1 and not new2 and not new3
    assert first == again == other
    assert store.count_items(db) == 1
    sources = {r["feed_id"] for r in db["item_sources"].rows}
    assert sources == {a, b}


def test_known_guid_with_new_url_is_the_same_item(db):
    (a,) = _feeds(db, "A")
    store.add_items(db, a, [_item(key="https://a.example/old")])
    [(_, new)] = store.add_items(db, a, [_item(key="https://a.example/new")])
    assert not new and store.count_items(db) == 1


def test_duplicate_guid_for_different_articles_keeps_both(db):
    (a,) = _feeds(db, "A")
    pairs = store.add_items(db, a, [_item(key="https://a.example/1", title="Первая"),
                                    _item(key="https://a.example/2", title="Вторая")])
    assert [new for _, new in pairs] == [True, True]


def test_published_falls_back_to_first_seen(db):
    (a,) = _feeds(db, "A")
    store.add_items(db, a, [_item(key="https://a.example/none", published=None),
                            _item(key="https://a.example/future", guid="f",
                                  published="2999-01-01T00:00:00+00:00"),
                            _item(key="https://a.example/past", guid="p",
                                  published="2020-03-02T07:00:00+00:00")])
    rows = {r["key"].rsplit("/", 1)[1]: r for r in db["items"].rows}
    assert rows["none"]["published"] == rows["none"]["first_seen"]
    assert rows["future"]["published"] == rows["future"]["first_seen"]
    assert rows["past"]["published"] == "2020-03-02T07:00:00+00:00"


def test_fuller_syndicated_text_replaces_a_lead_and_requeues(db):
    a, b = _feeds(db, "A", "B")
    [(item_id, _)] = store.add_items(db, a, [_item(text="Короткий лид.")])
    db["items"].update(item_id, {"analysed_at": "2026-01-01T00:00:00+00:00"})
    long_text = "Короткий лид.\n" + "Полный текст статьи с подробностями. " * 10
    store.add_items(db, b, [_item(text=long_text)])
    row = db["items"].get(item_id)
    assert row["text"] == long_text and row["analysed_at"] is None


def test_sync_feeds_adds_updates_and_disables(db):
    store.sync_feeds(db, [FeedConfig(name="A", url="https://a.example/rss"),
                          FeedConfig(name="B", url="https://b.example/rss")])
    db["feeds"].update(store.feed_by_name(db, "A")["id"], {"etag": '"x"', "status": "ok"})
    store.sync_feeds(db, [FeedConfig(name="A", url="https://a.example/new-rss")])
    a, b = store.feed_by_name(db, "A"), store.feed_by_name(db, "B")
    assert a["url"] == "https://a.example/new-rss" and a["etag"] is None
    assert a["status"] == "new"
    assert b["enabled"] == 0  # removed from config: kept, but no longer polled


def _open_when_released(path, barrier, results):
    barrier.wait()
    try:
        store.open_db(path).conn.close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_one_fresh_database_at_once_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")
    processes, failures = 4, []
    for trial in range(10):
        path = tmp_path / f"fresh-{trial}.db"
        barrier, results = context.Barrier(processes), context.Queue()
        started = [context.Process(target=_open_when_released, args=(path, barrier, results))
                   for _ in range(processes)]
        for process in started:
            process.start()
        outcomes = [results.get(timeout=60) for _ in started]
        for process in started:
            process.join(timeout=60)
        failures += [f"trial {trial}: {o}" for o in outcomes if o != "ok"]
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
        conn.close()
    assert not failures


def _db_at_version(path, monkeypatch, version: int):
    """A database as the code of schema `version` made it (monkeypatch.undo() ends that)."""
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:version])
    monkeypatch.setattr(store, "SCHEMA_VERSION", version)
    return store.open_db(path)


def test_migration_7_gives_old_one_try_failures_their_remaining_tries(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    db = _db_at_version(path, monkeypatch, 6)
    [feed_id] = _feeds(db, "А")
    (failed, _), (done, _) = store.add_items(db, feed_id, [_item(), _item(
        key="https://a.example/2", guid="g2")])
    with store.transaction(db):  # as the old save_analysis_error and save_analysis left them
        db.execute("UPDATE items SET analysed_at = ?, analysis_error = 'MemoryError: '"
                   " WHERE id = ?", [store.utcnow(), failed])
        db.execute("UPDATE items SET analysed_at = ?, model_version = 'm1' WHERE id = ?",
                   [store.utcnow(), done])
    monkeypatch.undo()
    db = store.open_db(path)
    assert store.schema_version(db) == store.SCHEMA_VERSION
    assert [i["id"] for i in store.pending_items(db)] == [failed]
    assert db["items"].get(failed)["analysis_attempts"] == 1
    assert db["items"].get(done)["analysed_at"] is not None


def _analysed_item_at_version(path, monkeypatch, version: int) -> tuple:
    """A database made by the code of schema `version` holding one analysed cooperation
    item tagged water, then opened by today's code (which migrates it): (db, item id)."""
    db = _db_at_version(path, monkeypatch, version)
    [feed_id] = _feeds(db, "А")
    [(item_id, _)] = store.add_items(db, feed_id, [_item()])
    with store.transaction(db):
        db.execute("UPDATE items SET analysed_at = ?, is_cooperation = 1, story_id = id "
                   "WHERE id = ?", [store.utcnow(), item_id])
        db.execute("INSERT INTO item_sectors (item_id, sector, score) VALUES (?, 'water', 1)",
                   [item_id])
    monkeypatch.undo()
    db = store.open_db(path)
    assert store.schema_version(db) == store.SCHEMA_VERSION
    return db, item_id


def _found_by_sector(db, item_id) -> None:
    from monitor.search import SearchQuery, search

    result = search(db, SearchQuery(sectors=["water"]), facets=True)
    assert [i["id"] for i in result.items] == [item_id]
    assert result.facets["sector"] == [("water", 1)]


def test_migration_8_adds_the_search_indexes_to_an_existing_database(tmp_path, monkeypatch):
    db, item_id = _analysed_item_at_version(tmp_path / "old.db", monkeypatch, 7)
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"items_facts", "item_entities_item_entity", "item_sectors_sector_item",
            "item_countries_country_item"} <= indexes
    _found_by_sector(db, item_id)


def test_migration_9_keeps_existing_sector_tags_as_not_floor(tmp_path, monkeypatch):
    db, item_id = _analysed_item_at_version(tmp_path / "old.db", monkeypatch, 8)
    assert db.execute("SELECT sector, floor FROM item_sectors").fetchall() == [("water", 0)]
    _found_by_sector(db, item_id)
    # an old tag is the model's own: "not cooperation" keeps it
    store.add_labels(db, item_id, cooperation=False)
    assert store.relabel_stored(db, item_id) == ["water"]


def _sector_order(db, item_id) -> list[str]:
    from monitor.search import SearchQuery, search

    [item] = [i for i in search(db, SearchQuery(include_all=True)).items if i["id"] == item_id]
    return [s["id"] for s in item["sectors"]]


def test_migration_10_keeps_old_tags_in_score_order_until_re_tagged(tmp_path, monkeypatch):
    db, item_id = _analysed_item_at_version(tmp_path / "old.db", monkeypatch, 9)
    with store.transaction(db):  # an old tag of a lower score than the water one
        db.execute("INSERT INTO item_sectors (item_id, sector, score) VALUES (?, 'energy', 0.5)",
                   [item_id])
    assert _sector_order(db, item_id) == ["water", "energy"]
    # `monitor reprocess` re-tags it, though its model is today's
    with store.transaction(db):
        db.execute("UPDATE items SET model_version = 'm1'")
    assert store.items_to_reprocess(db, "m1") == [item_id]
    analysis = Analysis(sectors=[{"id": "energy", "score": 0.4}, {"id": "water", "score": 0.9}],
                        model_version="m1")
    store.save_analysis(db, item_id, analysis, analysed_label=None)
    assert _sector_order(db, item_id) == ["energy", "water"]
    assert store.items_to_reprocess(db, "m1") == []
    store.add_labels(db, item_id, sectors=["health"])  # an analyst's rank-0 tag is no reason
    store.relabel_stored(db, item_id)
    assert store.items_to_reprocess(db, "m1") == []


def test_stored_sectors_keep_the_analysis_order(db, seed_article):
    """The seed article's headline is about water, though energy scores higher in its body:
    search, the web UI and the digest list its sectors as `monitor analyze` does."""
    from monitor.analysis import analyse

    [feed_id] = _feeds(db, "А")
    title, text = seed_article
    [(item_id, _)] = store.add_items(db, feed_id, [_item(title=title, text=text)])
    analysis = analyse(title, text)
    order = [s["id"] for s in analysis.sectors]
    assert order[0] == "water"
    assert order != [s["id"] for s in sorted(analysis.sectors, key=lambda s: -s["score"])]
    store.save_analysis(db, item_id, analysis, analysed_label=None)
    assert _sector_order(db, item_id) == order
    store.add_labels(db, item_id, sectors=["health"])  # an analyst's sector goes first
    store.relabel_stored(db, item_id)
    assert _sector_order(db, item_id) == ["health"] + order


@pytest.mark.parametrize("sector_labels, left", [
    ({}, []),
    ({"sectors": ["transport"]}, ["transport"]),  # the analyst's own yes keeps it
    ({"sectors": ["water"]}, ["water"]),
])
def test_not_cooperation_drops_the_floors_sector_at_once_as_at_the_next_analysis(
        db, sector_labels, left):
    """The stored tags record the floor, so `relabel_stored` drops a floor tag when the
    analyst says the item is not cooperation, and leaves what `apply_labels` would."""
    from monitor.analysis import analyse
    from monitor.search import SearchQuery, search

    [feed_id] = _feeds(db, "А")
    [(item_id, _)] = store.add_items(db, feed_id, [_item(title="", text=FLOOR_TEXT)])
    analysis = analyse("", FLOOR_TEXT)
    assert analysis.is_cooperation
    assert [(s["id"], s.get("floor")) for s in analysis.sectors] == [("transport", True)]
    store.save_analysis(db, item_id, analysis, analysed_label=None)
    assert db.execute("SELECT sector, floor FROM item_sectors").fetchall() == [("transport", 1)]
    assert store.relabel_stored(db, item_id) == ["transport"]  # no label: nothing changes

    store.add_labels(db, item_id, cooperation=False, **sector_labels)
    assert store.relabel_stored(db, item_id) == left
    assert db["items"].get(item_id)["is_cooperation"] == 0
    everything = SearchQuery(sectors=["transport"], include_all=True)
    assert [i["id"] for i in search(db, everything).items] == \
        ([item_id] if "transport" in left else [])
    again = analyse("", FLOOR_TEXT)
    store.apply_labels(db, item_id, again)  # the next analysis says the same
    assert [s["id"] for s in again.sectors] == left
    store.save_analysis(db, item_id, again, analysed_label=None)
    assert [r[0] for r in db.execute("SELECT sector FROM item_sectors")] == left
    assert db.execute("SELECT count(*) FROM item_sectors WHERE floor = 1").fetchone()[0] == 0


def test_a_label_waiting_for_a_save_is_stamped_after_it(tmp_path, clock):
    """`add_labels` stamps its label inside its transaction: a label that waited for an
    analysis being stored is newer than that analysis, so `monitor reprocess` finds it."""
    path = tmp_path / "m.db"
    db = store.open_db(path)
    [feed_id] = _feeds(db, "А")
    [(item_id, _)] = store.add_items(db, feed_id, [_item()])
    labeller = store.open_db(path)  # opened first: only add_labels waits below
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer holding the database, as a save does
    labelling = threading.Thread(
        target=lambda: store.add_labels(labeller, item_id, cooperation=True))
    labelling.start()
    time.sleep(0.5)
    clock[0] += timedelta(seconds=5)  # the save ends later than the label was asked for
    other.execute("COMMIT")
    other.close()
    labelling.join(10)
    assert not labelling.is_alive()
    assert db.execute("SELECT labelled_at FROM item_labels").fetchone()[0] == \
        clock[0].isoformat()

