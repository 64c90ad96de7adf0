"""Stories: near copies of one news item from several outlets, found with MinHash LSH bands
stored in SQLite, and shown by search as one story with N outlets."""

from datetime import datetime, timedelta, timezone

import pytest

from monitor import store, stories
from monitor.analysis import Analysis
from monitor.config import FeedConfig
from monitor.lemmas import lemmatize
from monitor.search import item_details
from monitor.store import NewItem

STORY = ("Россия и Вьетнам договорились о совместном строительстве АЭС. Госкорпорация "
         "«Росатом» и министерство промышленности и торговли Вьетнама подписали соглашение о "
         "сотрудничестве в строительстве атомной электростанции и подготовке кадров для "
         "атомной энергетики страны. Первый энергоблок планируется ввести в эксплуатацию "
         "через восемь лет, стоимость проекта стороны не раскрывают.")
COPIES = [
    ("Россия и Вьетнам построят АЭС", STORY + " Сообщает ТАСС."),
    # another outlet: its own title, a sentence of its own, other word forms
    ("Росатом построит во Вьетнаме атомную электростанцию",
     STORY.replace("договорились о совместном строительстве АЭС",
                   "договорились совместно построить АЭС") + " Об этом сообщили в Росатоме."),
    ("Россия и Вьетнам построят АЭС", STORY.replace("восемь лет", "восемь-девять лет")),
]
OTHER = ("Россия и Япония будут сотрудничать в сфере водоочистки",
         "Минстрой России и японские компании договорились о совместных проектах по очистке "
         "сточных вод в Воронеже и Владивостоке, сообщил замминистра Егоров.")


@pytest.fixture
def db(tmp_path):
    db = store.open_db(tmp_path / "m.db")
    store.sync_feeds(db, [FeedConfig(name=n, url=f"https://{n}.example/rss")
                          for n in ("ТАСС", "Интерфакс", "Вести", "РБК")])
    return db


def add(db, feed: str, title: str, text: str, n: int, first_seen: str | None = None) -> int:
    """Store an item from `feed` and save an (empty) analysis: that assigns its story."""
    feed_id = store.feed_by_name(db, feed)["id"]
    [(item_id, new)] = store.add_items(db, feed_id, [NewItem(
        key=f"https://{feed}.example/{n}", url=f"https://{feed}.example/{n}", guid=None,
        title=title, text=text, published=None)])
    assert new
    if first_seen:
        db.execute("UPDATE items SET first_seen = ? WHERE id = ?", [first_seen, item_id])
        db.conn.commit()
    store.save_analysis(db, item_id, Analysis(), analysed_label=None)
    return item_id


def signature(title: str, text: str):
    return store.SearchData.of(title, text).signature


def story_of(db, item_id: int) -> int:
    return db.execute("SELECT story_id FROM items WHERE id = ?", [item_id]).fetchone()[0]


def test_copies_from_three_outlets_form_one_story_and_other_news_its_own(db):
    ids = [add(db, feed, title, text, n)
           for n, (feed, (title, text)) in enumerate(zip(["ТАСС", "Интерфакс", "Вести"], COPIES))]
    other = add(db, "РБК", *OTHER, 9)
    assert [story_of(db, i) for i in ids] == [ids[0]] * 3  # the first copy names the story
    assert story_of(db, other) == other
    # the copies really are near duplicates, and the other story is not
    sigs = [signature(*c) for c in COPIES]
    assert all(stories.similarity(sigs[0], s) >= stories.THRESHOLD for s in sigs[1:])
    assert stories.similarity(sigs[0], signature(*OTHER)) < 0.1


def test_search_details_name_every_outlet_of_the_story(db):
    ids = [add(db, feed, title, text, n)
           for n, (feed, (title, text)) in enumerate(zip(["ТАСС", "Интерфакс", "Вести"], COPIES))]
    other = add(db, "РБК", *OTHER, 9)
    details = {d["id"]: d for d in item_details(db, [ids[1], other])}
    assert details[ids[1]]["story_outlets"] == ["ТАСС", "Интерфакс", "Вести"]
    assert details[ids[1]]["story_items"] == 3
    assert details[ids[1]]["feeds"] == ["Интерфакс"]  # the item's own source
    assert details[other]["story_outlets"] == ["РБК"] and details[other]["story_items"] == 1


def test_reanalysing_keeps_the_story_and_its_first_item_stays_first(db):
    first = add(db, "ТАСС", *COPIES[0], 1)
    second = add(db, "Вести", *COPIES[2], 2)
    store.save_analysis(db, first, Analysis(), analysed_label=None)  # e.g. `monitor reprocess`
    store.save_analysis(db, second, Analysis(), analysed_label=None)
    assert story_of(db, first) == first and story_of(db, second) == first
    bands, _rows = stories.bands()
    assert db.execute("SELECT count(*) FROM story_bands WHERE item_id = ?",
                      [first]).fetchone()[0] == bands  # replaced, not added twice


def test_a_copy_outside_the_window_starts_a_new_story(db):
    old = (datetime.now(timezone.utc) - timedelta(days=stories.WINDOW_DAYS + 2)) \
        .replace(microsecond=0).isoformat()
    first = add(db, "ТАСС", *COPIES[0], 1, first_seen=old)
    late = add(db, "Вести", *COPIES[2], 2)
    assert story_of(db, late) == late != first


def test_prune_drops_old_signatures_but_keeps_stories(db):
    old = (datetime.now(timezone.utc) - timedelta(days=stories.WINDOW_DAYS + 2)) \
        .replace(microsecond=0).isoformat()
    first = add(db, "ТАСС", *COPIES[0], 1, first_seen=old)
    recent = add(db, "РБК", *OTHER, 2)
    with store.transaction(db):
        assert stories.prune(db, store.utcnow()) == 1
    left = {r[0] for r in db.execute("SELECT DISTINCT item_id FROM story_bands")}
    assert left == {recent}
    assert story_of(db, first) == first


def test_an_empty_item_is_its_own_story(db):
    a = add(db, "ТАСС", "", "", 1)
    b = add(db, "Вести", "", "", 2)
    assert (story_of(db, a), story_of(db, b)) == (a, b)


def test_migration_gives_stored_items_their_own_story(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(store, "MIGRATIONS", store.MIGRATIONS[:5])
    monkeypatch.setattr(store, "SCHEMA_VERSION", 5)
    db = store.open_db(path)
    store.sync_feeds(db, [FeedConfig(name="ТАСС", url="https://t.example/rss")])
    [(item_id, _)] = store.add_items(db, store.feed_by_name(db, "ТАСС")["id"], [NewItem(
        key="https://t.example/1", url="https://t.example/1", guid=None, title=COPIES[0][0],
        text=COPIES[0][1], published=None)])
    db.execute("UPDATE items SET analysed_at = ? WHERE id = ?", [store.utcnow(), item_id])
    db.conn.commit()
    monkeypatch.undo()
    db = store.open_db(path)
    assert store.schema_version(db) == store.SCHEMA_VERSION
    assert story_of(db, item_id) == item_id
    assert item_details(db, [item_id])[0]["story_outlets"] == ["ТАСС"]


def test_reindex_groups_copies_stored_before_stories_existed(db):
    first = add(db, "ТАСС", *COPIES[0], 1)
    second = add(db, "Вести", *COPIES[1], 2)
    with store.transaction(db):  # as a database migrated from version 5 has them
        db.execute("UPDATE items SET story_id = id")
        db.execute("DELETE FROM story_bands")
        db.execute("DELETE FROM story_signatures")
    assert story_of(db, second) == second
    assert store.reindex(db) == 2
    assert (story_of(db, first), story_of(db, second)) == (first, first)


def test_search_data_from_a_worker_is_what_the_writer_would_store(db):
    """The service's workers lemmatise and sign items (`ingest.analyse_text`); the writer
    stores that. The index rows and stories must equal those the writer computes itself."""
    from monitor.ingest import analyse_text, save_result

    feed_id = store.feed_by_name(db, "ТАСС")["id"]
    ids = [item_id for item_id, _ in store.add_items(db, feed_id, [NewItem(
        key=f"https://tass.example/w{n}", url=f"https://tass.example/w{n}", guid=None,
        title=title, text=text, published=None) for n, (title, text) in
        enumerate([*COPIES[:2], OTHER])])]
    for item_id, (title, text) in zip(ids, [*COPIES[:2], OTHER]):
        analysis, search = analyse_text(title, text)
        assert search.signature is not None and search.title == lemmatize(title)
        save_result(db, item_id, (analysis, search), analysed_label=None)

    def snapshot():
        return (db.execute("SELECT rowid, title, text FROM items_fts ORDER BY rowid").fetchall(),
                db.execute("SELECT id, story_id FROM items ORDER BY id").fetchall(),
                db.execute("SELECT item_id, signature FROM story_signatures ORDER BY item_id")
                .fetchall())
    from_workers = snapshot()
    assert from_workers[1] == [(ids[0], ids[0]), (ids[1], ids[0]), (ids[2], ids[2])]
    store.reindex(db)  # the writer's own lemmatisation and signatures
    assert snapshot() == from_workers
