"""Analysis of stored items (monitor.ingest): bounded per item, retried, never doubled."""

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import store
from monitor.analysis import Analysis
from monitor.cli import cli
from monitor.config import FeedConfig
from monitor.ingest import analyse_item, analyse_pending, save_result
from monitor.store import NewItem

TESTS = Path(__file__).resolve().parent


def _store_items(db, texts, feed="Лента", first=0):
    store.sync_feeds(db, [FeedConfig(name=feed, url="https://feed.example/rss")])
    feed_id = store.feed_by_name(db, feed)["id"]
    items = [NewItem(key=f"https://news.example/{feed}/{i}", url=f"https://news.example/{feed}/{i}",
                     guid=None, title=f"Новость {i}", text=text, published=None)
             for i, text in enumerate(texts, start=first)]
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


def _flaky_analyse(title, text, cooperation=None):
    """An analysis that fails on one kind of text, as a bug or a hostile text would."""
    if "СБОЙ" in text:
        raise RuntimeError("анализ сломался")
    return Analysis(model_version="test")


def test_a_failing_item_is_retried_with_backoff_then_marked_failed(tmp_path, clock,
                                                                   monkeypatch):
    db = store.open_db(tmp_path / "m.db")
    first, bad, last = _store_items(db, ["Первый текст.", "Здесь СБОЙ.", "Третий текст."])
    assert analyse_pending(db, analyse=_flaky_analyse) == 3
    rows = {r["id"]: r for r in db.query("SELECT * FROM items")}
    assert rows[first]["analysed_at"] and rows[last]["analysed_at"]  # not blocked by it
    assert rows[bad]["analysed_at"] is None and "анализ сломался" in rows[bad]["analysis_error"]
    assert [store.retry_delay(n) for n in range(1, 5)] == [60, 120, 240, 480]
    for attempt in range(1, store.MAX_ATTEMPTS):
        row = db["items"].get(bad)
        assert row["analysis_attempts"] == attempt and row["analysis_failed_at"] is None
        delay = store.retry_delay(attempt)
        assert row["analysis_retry_at"] == (clock[0] + timedelta(seconds=delay)).isoformat()
        [feed] = store.feed_rows(db)
        assert (feed["items_retrying"], feed["items_failed"]) == (1, 0)
        clock[0] += timedelta(seconds=delay - 1)
        assert analyse_pending(db, analyse=_flaky_analyse) == 0  # not before its time
        clock[0] += timedelta(seconds=1)
        assert analyse_pending(db, analyse=_flaky_analyse) == 1
    row = db["items"].get(bad)
    assert row["analysis_failed_at"] and row["analysis_attempts"] == store.MAX_ATTEMPTS
    assert row["analysed_at"] is None and row["claimed_by"] is None
    clock[0] += timedelta(days=1)
    assert store.pending_items(db) == [] and analyse_pending(db, analyse=_flaky_analyse) == 0
    [later] = _store_items(db, ["Новый текст."], first=3)  # later items are analysed
    assert analyse_pending(db, analyse=_flaky_analyse) == 1
    assert db["items"].get(later)["analysed_at"]

    monkeypatch.chdir(tmp_path)  # no feeds.yaml: the feeds stored in the database
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "feeds", "--format",
                                      "json"], catch_exceptions=False)
    [feed] = json.loads(result.stdout)
    assert (feed["items"], feed["items_failed"], feed["items_retrying"]) == (4, 1, 0)
    assert feed["last_item_error"] == f"item {bad}: RuntimeError: анализ сломался"
    table = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "feeds"]).output
    assert "анализ сломался" in table


def test_a_failed_article_page_is_fetched_again_with_backoff(tmp_path, clock):
    db = store.open_db(tmp_path / "m.db")
    store.sync_feeds(db, [FeedConfig(name="Лента", url="https://feed.example/rss")])
    [(item_id, _)] = store.add_items(db, store.feed_by_name(db, "Лента")["id"], [NewItem(
        key="https://news.example/1", url="https://news.example/1", guid=None,
        title="Новость", text="Короткий анонс.", published=None)], fulltext=True)
    for attempt in range(1, store.MAX_ATTEMPTS + 1):
        assert [i["id"] for i in store.fulltext_pending(db)] == [item_id]
        store.save_fulltext(db, item_id, None, "HTTP 503")
        assert store.fulltext_pending(db) == []
        assert [i["id"] for i in store.pending_items(db)] == [item_id]  # analysed meanwhile
        clock[0] += timedelta(seconds=store.retry_delay(attempt))
    assert store.fulltext_pending(db) == []  # given up after MAX_ATTEMPTS
    assert analyse_pending(db, analyse=_flaky_analyse) == 1
    [feed] = store.feed_rows(db)
    assert feed["pages_failed"] == 1 and feed["last_item_error"].endswith("page: HTTP 503")


def test_a_page_that_comes_on_a_retry_is_analysed_again(tmp_path, clock):
    db = store.open_db(tmp_path / "m.db")
    store.sync_feeds(db, [FeedConfig(name="Лента", url="https://feed.example/rss")])
    [(item_id, _)] = store.add_items(db, store.feed_by_name(db, "Лента")["id"], [NewItem(
        key="https://news.example/1", url="https://news.example/1", guid=None,
        title="Новость", text="Короткий анонс.", published=None)], fulltext=True)
    store.save_fulltext(db, item_id, None, "timed out")
    assert analyse_pending(db, analyse=_flaky_analyse) == 1
    clock[0] += timedelta(seconds=store.RETRY_SECONDS)
    store.save_fulltext(db, item_id, "Полный текст статьи, намного длиннее анонса.", None)
    row = db["items"].get(item_id)
    assert row["fulltext_status"] == "done" and row["analysed_at"] is None
    assert analyse_pending(db, analyse=_flaky_analyse) == 1
    assert db["items"].get(item_id)["analysed_at"]


def test_an_analysis_of_a_text_replaced_meanwhile_leaves_the_item_pending(tmp_path):
    db = store.open_db(tmp_path / "m.db")
    [item_id] = _store_items(db, ["Короткий анонс."])
    owner = store.new_owner()
    [claimed] = store.claim_items(db, owner)
    store.save_fulltext(db, item_id, "Полный текст статьи, намного длиннее анонса.", None)
    store.save_analysis(db, item_id, Analysis(), analysed_label=None,
                        analysed_hash=claimed["content_hash"], owner=owner)
    assert [i["id"] for i in store.pending_items(db)] == [item_id]


def test_a_save_after_its_lease_ran_out_leaves_the_new_holders_claim(tmp_path, clock):
    """An analyser whose lease ran out (a slow text on another host) saves late: a stale
    result puts the item back to pending, yet the analyser that took it over keeps its
    claim, so no third one starts on it; that one's own save frees it."""
    db = store.open_db(tmp_path / "m.db")
    [item_id] = _store_items(db, ["Короткий анонс."])
    slow, second = "elsewhere/1/1/slow", store.new_owner()
    [claimed] = store.claim_items(db, slow)
    clock[0] += timedelta(seconds=store.CLAIM_LEASE_SECONDS)
    assert [i["id"] for i in store.claim_items(db, second)] == [item_id]
    store.save_fulltext(db, item_id, "Полный текст статьи, намного длиннее анонса.", None)
    store.save_analysis(db, item_id, Analysis(), analysed_label=None,
                        analysed_hash=claimed["content_hash"], owner=slow)
    assert db["items"].get(item_id)["claimed_by"] == second
    assert store.claim_items(db, store.new_owner()) == []
    assert store.save_analysis_error(db, item_id, "late", owner=slow) == "retry"
    row = db["items"].get(item_id)  # the error is told; the backoff is the holder's call
    assert (row["claimed_by"], row["analysis_error"], row["analysis_retry_at"]) == \
        (second, "late", None)
    store.save_analysis(db, item_id, Analysis(), analysed_label=None,
                        analysed_hash=db["items"].get(item_id)["content_hash"], owner=second)
    row = db["items"].get(item_id)
    assert row["claimed_by"] is None and row["analysed_at"]


# --- claims: one analysis per item, whatever runs beside -------------------------------


def test_claims_of_a_live_process_hold_and_of_a_dead_one_return_at_once(tmp_path, clock):
    path = tmp_path / "m.db"
    db = store.open_db(path)
    first, second, third = _store_items(db, ["Один.", "Два.", "Три."])
    mine = store.new_owner()
    assert [i["id"] for i in store.claim_items(db, mine)] == [first]
    # another live process (this one, another claimer) does not get it
    assert [i["id"] for i in store.claim_items(db, store.new_owner())] == [second]
    # a process that claims and dies (kill -9: nothing released)
    _run_python(f"""
        import os
        from monitor import store
        db = store.open_db({str(path)!r})
        claimed = store.claim_items(db, store.new_owner())
        print('{{"claimed": %d}}' % claimed[0]["id"], flush=True)
        os._exit(0)
    """, timeout=60)
    assert db["items"].get(third)["claimed_by"]
    [again] = store.claim_items(db, store.new_owner())
    assert again["id"] == third and db["items"].get(third)["analysis_attempts"] == 2
    # on another host only the lease tells: held until it runs out
    db.execute("UPDATE items SET claimed_by = 'elsewhere/1/1/x', claimed_until = ? "
               "WHERE id = ?", [(clock[0] + timedelta(minutes=15)).isoformat(), first])
    db.execute("UPDATE items SET claimed_by = NULL, analysed_at = 'x' WHERE id != ?", [first])
    assert store.claim_items(db, mine) == []
    clock[0] += timedelta(minutes=15)
    assert [i["id"] for i in store.claim_items(db, mine)] == [first]


def test_claims_can_be_limited_to_given_items(tmp_path):
    db = store.open_db(tmp_path / "m.db")
    first, second, third = _store_items(db, ["Один.", "Два.", "Три."])
    owner = store.new_owner()
    assert store.claim_items(db, owner, 5, item_ids=[]) == []
    assert [i["id"] for i in store.claim_items(db, owner, 5, item_ids=[third, second])] == \
        [second, third]
    assert [i["id"] for i in store.claim_items(db, owner, 5)] == [first]


def test_an_item_that_kills_its_analyser_each_time_is_marked_failed(tmp_path):
    db = store.open_db(tmp_path / "m.db")
    [item_id] = _store_items(db, ["Текст, на котором процесс умирает."])
    db.execute("UPDATE items SET analysis_attempts = ?, claimed_by = 'gone', "
               "claimed_until = '2000-01-01T00:00:00+00:00'", [store.MAX_ATTEMPTS])
    assert store.claim_items(db, store.new_owner()) == []
    row = db["items"].get(item_id)
    assert row["analysis_failed_at"] and "never finished" in row["analysis_error"]


def test_a_clean_stop_gives_its_claims_back_uncounted(tmp_path):
    db = store.open_db(tmp_path / "m.db")
    [item_id] = _store_items(db, ["Текст."])
    owner = store.new_owner()
    store.claim_items(db, owner)
    store.release_claims(db, owner)
    row = db["items"].get(item_id)
    assert row["claimed_by"] is None and row["analysis_attempts"] == 0
    assert [i["id"] for i in store.pending_items(db)] == [item_id]


COUNTING_INGEST = r"""
import os, sys, time
from monitor import store
from monitor.analysis import Analysis
from monitor.ingest import analyse_pending

db_path, log, go = sys.argv[1:4]

def counting_analyse(title, text, cooperation=None):
    with open(log, "a", encoding="utf-8") as out:  # O_APPEND: one whole line per call
        out.write(f"{os.getpid()} {title}\n")
    time.sleep(0.02)
    return Analysis(model_version="test")

db = store.open_db(db_path)
open(f"{go}.{os.getpid()}", "w").close()  # ready
while not os.path.exists(go):
    time.sleep(0.005)
print(analyse_pending(db, analyse=counting_analyse))
"""


@pytest.mark.slow
def test_two_concurrent_ingests_analyse_each_item_exactly_once(tmp_path):
    """Before claims, two concurrent polls analysed every item twice."""
    path, log, go = tmp_path / "m.db", tmp_path / "calls.log", tmp_path / "go"
    db = store.open_db(path)
    _store_items(db, [f"Текст новости номер {i}." for i in range(40)])
    script = tmp_path / "ingest.py"
    script.write_text(COUNTING_INGEST, encoding="utf-8")
    procs = [subprocess.Popen([sys.executable, str(script), str(path), str(log), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.02)
    go.touch()  # both start claiming at once
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    calls = log.read_text(encoding="utf-8").splitlines()
    titles = [line.split(" ", 1)[1] for line in calls]
    assert sorted(titles) == sorted(f"Новость {i}" for i in range(40)), calls
    assert sum(int(out) for out, _err in outputs) == 40
    assert db.execute("SELECT count(*) FROM items WHERE analysed_at IS NULL "
                      "OR claimed_by IS NOT NULL").fetchone()[0] == 0


def test_an_item_over_the_cap_is_analysed_cut_and_says_so(tmp_path):
    from monitor.limits import MAX_ANALYSIS_CHARS
    from monitor.search import item_details

    seen = []

    def recording_analyse(title, text, cooperation=None):
        seen.append(len(text))
        return Analysis(model_version="test")

    db = store.open_db(tmp_path / "m.db")
    long_text = "\n".join(["Россия и Китай обсудили поставки газа в Хабаровске."] * 3000)
    huge, small = _store_items(db, [long_text, "Короткий текст."])
    assert analyse_pending(db, analyse=recording_analyse) == 2
    assert seen[0] <= MAX_ANALYSIS_CHARS < len(long_text) and seen[1] == len("Короткий текст.")
    row = db["items"].get(huge)
    assert (row["text_cut"], row["analysed_chars"]) == (1, seen[0])
    details = {d["id"]: d for d in item_details(db, [huge, small])}
    assert details[huge]["text_cut"] is True and details[small]["text_cut"] is False


MISSED_TEXT = "В Приморье обсудили развитие авиаперевозок."  # the detector says no


def _store_untitled(db, texts):
    """Items without a title (as a feed entry with none), so the text alone decides."""
    store.sync_feeds(db, [FeedConfig(name="Лента", url="https://feed.example/rss")])
    feed_id = store.feed_by_name(db, "Лента")["id"]
    return [item_id for item_id, _new in store.add_items(db, feed_id, [NewItem(
        key=f"https://news.example/u{i}", url=f"https://news.example/u{i}", guid=None,
        title="", text=text, published=None) for i, text in enumerate(texts)])]


def _stored_sectors(db, item_id):
    return db.execute("SELECT sector, floor FROM item_sectors WHERE item_id = ? "
                      "ORDER BY sector", [item_id]).fetchall()


def test_an_analysts_yes_reaches_the_sector_decision_at_the_next_analysis(tmp_path):
    """The cooperation floor is for items that report cooperation: an analyst's yes on an
    item the detector missed gives it its likeliest sector when it is analysed again
    (`monitor reprocess` picks it up); a later no drops that tag at once."""
    from monitor.analysis import analyse
    from monitor.ingest import reprocess

    own = analyse("", MISSED_TEXT)
    assert own.is_cooperation is False and own.sectors == []
    told = analyse("", MISSED_TEXT, cooperation=True)
    assert told.is_cooperation is False  # the detector's own verdict stays in the analysis
    assert [(s["id"], s.get("floor")) for s in told.sectors] == [("transport", True)]

    db = store.open_db(tmp_path / "m.db")
    [item_id, other] = _store_untitled(db, [MISSED_TEXT, MISSED_TEXT + " Другое."])
    assert analyse_pending(db) == 2
    assert _stored_sectors(db, item_id) == [] and store.items_to_reprocess(
        db, own.model_version) == []
    store.add_labels(db, item_id, cooperation=True)
    store.add_labels(db, other, cooperation=False)
    with store.transaction(db):  # analysed the day before yesterday, labelled yesterday
        db.execute("UPDATE items SET analysed_at = '2026-01-01T00:00:00+00:00'")
        db.execute("UPDATE item_labels SET labelled_at = '2026-01-02T00:00:00+00:00'")
    assert store.relabel_stored(db, item_id) == []  # only an analysis can add it
    assert store.items_to_reprocess(db, own.model_version) == [item_id]

    assert reprocess(db) == 1
    assert _stored_sectors(db, item_id) == [("transport", 1)]
    assert db["items"].get(item_id)["is_cooperation"] == 1
    assert _stored_sectors(db, other) == []
    assert reprocess(db) == 0  # resumable: the yes has been seen

    store.add_labels(db, item_id, cooperation=False)
    assert store.relabel_stored(db, item_id) == [] and _stored_sectors(db, item_id) == []


def test_a_labelled_item_is_analysed_with_its_label_from_the_start(tmp_path):
    """A label given before the first analysis (the item pending) reaches its sectors too,
    in this process and through the service's workers (`ingest.analyse_text`)."""
    from concurrent.futures import ThreadPoolExecutor

    from monitor.service import _pump_analysis

    db = store.open_db(tmp_path / "m.db")
    [here, worker, unlabelled] = _store_untitled(db, [MISSED_TEXT] * 3)
    for item_id in (here, worker):
        store.add_labels(db, item_id, cooperation=True)
    claimed = store.claim_items(db, "test", 1)
    assert [c["id"] for c in claimed] == [here]
    assert analyse_item(db, claimed[0], owner="test")
    analysing: dict = {}
    with ThreadPoolExecutor(1) as workers:  # the service's loop, with a thread for a worker
        deadline = time.monotonic() + 120
        while (analysing or store.pending_items(db)) and time.monotonic() < deadline:
            assert _pump_analysis(db, workers, analysing, 2, print, store.new_owner())
            time.sleep(0.05)
    assert _stored_sectors(db, here) == _stored_sectors(db, worker) == [("transport", 1)]
    assert _stored_sectors(db, unlabelled) == []
    assert [r[0] for r in db.execute("SELECT is_cooperation FROM items ORDER BY id")] == \
        [1, 1, 0]
    # each analysed once: the workers' results record the label they were given
    assert db.execute("SELECT count(*) FROM items WHERE analysed_at IS NOT NULL "
                      "AND analysis_attempts = 1").fetchone()[0] == 3


def test_a_yes_that_comes_during_the_analysis_has_the_item_analysed_again(tmp_path):
    from monitor.analysis import analyse

    db = store.open_db(tmp_path / "m.db")
    [item_id] = _store_untitled(db, [MISSED_TEXT])
    given = []

    def labelled_meanwhile(title, text, cooperation=None):
        """The real analysis, during whose first run an analyst calls the item cooperation."""
        given.append(cooperation)
        if len(given) == 1:
            store.add_labels(db, item_id, cooperation=True)
        return analyse(title, text, cooperation=cooperation)

    assert analyse_pending(db, analyse=labelled_meanwhile) == 2
    assert given == [None, True]
    assert db["items"].get(item_id)["analysed_at"]
    assert _stored_sectors(db, item_id) == [("transport", 1)]  # the floor's, with the label


def test_a_yes_that_comes_during_a_re_tag_has_the_item_analysed_again_at_once(tmp_path):
    """`monitor reprocess` does not leave the item pending for the next poll (out of
    digests until then): it claims and analyses it again with the label."""
    from monitor.analysis import analyse
    from monitor.ingest import reprocess

    db = store.open_db(tmp_path / "m.db")
    [item_id, other] = _store_untitled(db, [MISSED_TEXT, MISSED_TEXT + " Другое."])
    assert analyse_pending(db) == 2
    db.execute("UPDATE items SET model_version = 'old'")
    given = []

    def labelled_meanwhile(title, text, cooperation=None):
        """The real analysis, during whose re-tag of the first item an analyst calls it
        cooperation."""
        given.append(cooperation)
        held.append(db.execute("SELECT claimed_by FROM items WHERE id = ?",
                               [item_id]).fetchone()[0])
        if len(given) == 1:
            store.add_labels(db, item_id, cooperation=True)
        return analyse(title, text, cooperation=cooperation)

    held: list = []
    assert reprocess(db, analyse=labelled_meanwhile) == 2
    assert given == [None, True, None]  # the first item twice, the other once
    assert held[0] is None and held[1]  # analysed again under a claim of its own
    row = db["items"].get(item_id)
    assert row["analysed_at"] and row["claimed_by"] is None and row["model_version"] != "old"
    assert _stored_sectors(db, item_id) == [("transport", 1)]  # the floor's, with the label
    assert store.pending_items(db) == []


@pytest.mark.parametrize("given, pending", [(None, True), (False, True), (True, False)])
def test_a_result_analysed_without_the_current_yes_leaves_the_item_pending(
        tmp_path, given, pending):
    """As a service worker's result (`save_result`), its label given at hand-out; pending
    again, the item has all its tries."""
    db = store.open_db(tmp_path / "m.db")
    [item_id] = _store_untitled(db, [MISSED_TEXT])
    owner = store.new_owner()
    [claimed] = store.claim_items(db, owner)
    store.add_labels(db, item_id, cooperation=True)
    save_result(db, item_id, (Analysis(), None), analysed_label=given,
                analysed_hash=claimed["content_hash"], owner=owner)
    assert ([i["id"] for i in store.pending_items(db)] == [item_id]) is pending
    row = db["items"].get(item_id)
    assert row["claimed_by"] is None and row["analysis_attempts"] == (0 if pending else 1)

