"""Polling real feeds served from 127.0.0.1: one test per way a feed misbehaves."""

import time
from datetime import datetime, timezone

import pytest

from conftest import ARTICLE_PAGE, count
from feedserver import rss
from monitor import poller, store
from monitor.config import Config, FeedConfig, PollConfig
from monitor.poller import next_poll_after, poll_feeds

TITLE = "Губернатор Приморья обсудил с японскими партнёрами сотрудничество в энергетике"
TEXT = "Власти края и компании из префектуры Тоттори договорились о совместных проектах."


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "m.db")


def make_config(*feeds, **poll):
    poll.setdefault("jitter", 0)
    return Config(poll=PollConfig(**poll), feeds=[
        FeedConfig(name=name, url=url, local=True) if isinstance(name, str) else name
        for name, url in feeds])


def poll(db, config):
    store.sync_feeds(db, config.feeds)
    return {s.name: s for s in poll_feeds(db, config, config.feeds)}


def titles(db):
    return sorted(row["title"] for row in db["items"].rows)


def seconds_from_now(iso):
    return (datetime.fromisoformat(iso) - datetime.now(timezone.utc)).total_seconds()


# --- encodings ---------------------------------------------------------------------------

def _russian_feed(encoding, declared_xml, http_charset):
    body = rss([{"title": TITLE, "link": "https://x.ru/1", "description": TEXT}],
               encoding=encoding)
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>'.encode()
    if declared_xml is None:
        body = body.replace(prolog, b'<?xml version="1.0"?>')
    else:
        body = body.replace(prolog, f'<?xml version="1.0" encoding="{declared_xml}"?>'.encode())
    content_type = "application/rss+xml" + (f"; charset={http_charset}" if http_charset else "")
    return body, {"Content-Type": content_type}


@pytest.mark.parametrize("encoding,declared_xml,http_charset", [
    ("windows-1251", "windows-1251", None),     # declared in XML
    ("koi8-r", "koi8-r", None),
    ("windows-1251", None, "windows-1251"),     # declared in HTTP only
    ("koi8-r", None, "koi8-r"),
    ("windows-1251", None, None),               # declared nowhere
    ("koi8-r", None, None),
    ("windows-1251", "utf-8", None),            # mislabelled
    ("windows-1251", None, "iso-8859-1"),
    ("koi8-r", "windows-1251", None),
    ("utf-8", "windows-1251", None),
])
def test_russian_encodings_come_out_right(db, feed_server, encoding, declared_xml,
                                          http_charset):
    body, headers = _russian_feed(encoding, declared_xml, http_charset)
    url = feed_server.add("/enc.xml", body, headers=headers)
    summary = poll(db, make_config(("Лента", url)))["Лента"]
    assert summary.status == "ok" and summary.new == 1
    [row] = db["items"].rows
    assert row["title"] == TITLE and row["text"] == TEXT


def test_per_feed_encoding_override(db, feed_server):
    body, headers = _russian_feed("koi8-r", "utf-8", "utf-8")
    url = feed_server.add("/lies.xml", body, headers=headers)
    config = make_config((FeedConfig(name="Лгунья", url=url, encoding="koi8-r", local=True),
                          None))
    poll(db, config)
    assert titles(db) == [TITLE]


# --- conditional GET, redirects, gone, rate limits, backoff -----------------------------

def test_etag_and_last_modified_round_trip(db, feed_server, monkeypatch):
    body = rss([{"title": "Новость", "link": "https://x.ru/1"}])
    etag, modified = '"v1"', "Tue, 24 Nov 2026 08:00:00 GMT"

    def conditional(handler):
        if (handler.headers.get("If-None-Match") == etag
                and handler.headers.get("If-Modified-Since") == modified):
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("ETag", etag)
        handler.send_header("Last-Modified", modified)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    url = feed_server.add("/c.xml", handler=conditional)
    config = make_config(("Лента", url))
    first = poll(db, config)["Лента"]
    assert first.status == "ok" and first.new == 1
    row = store.feed_by_name(db, "Лента")
    assert (row["etag"], row["last_modified"]) == (etag, modified)

    parsed = []
    monkeypatch.setattr(poller, "parse_feed",
                        lambda *a, **k: parsed.append(1) or pytest.fail("parsed a 304"))
    second = poll(db, config)["Лента"]
    assert second.status == "not_modified" and second.http_status == 304
    assert parsed == []
    request = feed_server.requests_to("/c.xml")[1]
    assert request.headers["if-none-match"] == etag
    assert request.headers["if-modified-since"] == modified
    assert store.feed_by_name(db, "Лента")["status"] == "ok"


def test_permanent_redirect_updates_the_stored_url(db, feed_server):
    new = feed_server.add("/new.xml", rss([{"title": "Новость", "link": "https://x.ru/1"}]))
    old = feed_server.add("/old.xml", status=301, headers={"Location": new})
    config = make_config(("Лента", old))
    summary = poll(db, config)["Лента"]
    assert summary.moved_to == new and "moved permanently" in summary.line()
    assert store.feed_by_name(db, "Лента")["url"] == new
    poll(db, config)
    assert len(feed_server.requests_to("/old.xml")) == 1  # the second poll went straight to /new
    assert len(feed_server.requests_to("/new.xml")) == 2


def test_temporary_redirect_keeps_the_url(db, feed_server):
    new = feed_server.add("/new.xml", rss([{"title": "Новость", "link": "https://x.ru/1"}]))
    old = feed_server.add("/old.xml", status=302, headers={"Location": new})
    poll(db, make_config(("Лента", old)))
    assert store.feed_by_name(db, "Лента")["url"] == old


def test_gone_disables_the_feed_with_the_reason(db, feed_server):
    url = feed_server.add("/gone.xml", status=410)
    config = make_config(("Закрытая", url))
    summary = poll(db, config)["Закрытая"]
    assert summary.status == "disabled" and "410" in summary.line()
    row = store.feed_by_name(db, "Закрытая")
    assert row["status"] == "disabled" and "410" in row["disabled_reason"]
    assert poller.enabled_feeds(db, config) == []
    assert poller.due_feeds(db, config) == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(db, feed_server, status):
    url = feed_server.add("/busy.xml", status=status, headers={"Retry-After": "7200"})
    summary = poll(db, make_config(("Занятая", url)))["Занятая"]
    assert summary.status == "error" and "retry after 7200 s" in summary.error
    row = store.feed_by_name(db, "Занятая")
    assert row["error_count"] == 1
    assert 7100 < seconds_from_now(row["next_poll"]) <= 7200


def test_a_huge_retry_after_waits_a_week_and_saves_the_feed_state(db, feed_server):
    """A hostile Retry-After overflowed the next poll's date and crashed the poll before the
    feed's state was saved, on every start."""
    url = feed_server.add("/forever.xml", status=503,
                          headers={"Retry-After": "99999999999999999999"})
    summary = poll(db, make_config(("Вечная", url)))["Вечная"]
    assert summary.status == "error"
    row = store.feed_by_name(db, "Вечная")
    assert row["error_count"] == 1
    assert 6.9 * 86400 < seconds_from_now(row["next_poll"]) <= 7 * 86400 * 1.1


def test_backoff_grows_is_capped_and_resets_on_recovery(db, feed_server):
    url = feed_server.add("/flaky.xml", status=500)
    config = make_config(("Капризная", url), max_backoff="1h")
    delays = []
    for _ in range(5):
        poll(db, config)
        row = store.feed_by_name(db, "Капризная")
        delays.append(round(seconds_from_now(row["next_poll"]) / 60))
    assert delays == [15, 30, 60, 60, 60]  # minutes: interval, doubled, capped at 1h
    assert row["error_count"] == 5 and row["last_error"].startswith("HTTP 500")
    feed_server.add("/flaky.xml", rss([{"title": "Снова работает", "link": "https://x.ru/1"}]))
    poll(db, config)
    row = store.feed_by_name(db, "Капризная")
    assert (row["status"], row["error_count"], row["last_error"]) == ("ok", 0, None)
    assert round(seconds_from_now(row["next_poll"]) / 60) == 15


def test_next_poll_adds_bounded_jitter():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    delays = {(datetime.fromisoformat(next_poll_after(600, 0, max_backoff=3600, jitter=0.1,
                                                      now=now)) - now).total_seconds()
              for _ in range(50)}
    assert all(600 <= d <= 660 for d in delays) and len(delays) > 1


# --- hostile or broken content --------------------------------------------------------

def test_slow_feed_does_not_stall_the_others(db, feed_server):
    def stall(handler):
        time.sleep(2.5)

    slow = feed_server.add("/slow.xml", handler=stall)
    fast = feed_server.add("/fast.xml", rss([{"title": "Быстрая", "link": "https://x.ru/f"}]))
    config = make_config(("Медленная", slow), ("Быстрая", fast), timeout=1,
                         connect_timeout=1)
    store.sync_feeds(db, config.feeds)
    order = []
    poll_feeds(db, config, config.feeds, on_result=lambda s: order.append((s.name, s.status)))
    assert order[0] == ("Быстрая", "ok")
    assert order[1][0] == "Медленная" and order[1][1] == "error"
    assert "timeout" in store.feed_by_name(db, "Медленная")["last_error"]


def test_oversized_feed_is_an_error_not_a_crash(db, feed_server):
    url = feed_server.add("/huge.xml", b"<rss>" + b" " * (2 * 1024 * 1024) + b"</rss>")
    summary = poll(db, make_config(("Огромная", url), max_body_bytes=1024 * 1024))["Огромная"]
    assert summary.status == "error" and "exceeds the limit" in summary.error


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Бомба</title>
<item><title>Новость &lol9;</title><link>https://x.ru/bomb</link>
<description>Текст</description></item>
<item><title>Обычная новость</title><link>https://x.ru/plain</link></item>
</channel></rss>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>XXE</title>
<item><title>Утечка &secret;</title><link>https://x.ru/xxe</link></item>
</channel></rss>"""


def test_entity_expansion_bomb_is_harmless(db, feed_server):
    url = feed_server.add("/bomb.xml", BILLION_LAUGHS)
    summary = poll(db, make_config(("Бомба", url)))["Бомба"]
    assert summary.status == "ok"
    rows = list(db["items"].rows)
    assert "Обычная новость" in [r["title"] for r in rows]
    assert all(len(r["title"]) < 200 and "lollol" not in r["title"] for r in rows)


def test_external_entities_are_not_resolved(db, feed_server):
    url = feed_server.add("/xxe.xml", XXE)
    poll(db, make_config(("XXE", url)))
    assert all("root:" not in r["title"] and "root:" not in r["text"]
               for r in db["items"].rows)


def test_broken_xml_keeps_every_readable_item(db, feed_server):
    body = rss([{"title": "Первая", "link": "https://x.ru/1"},
                {"title": "Вторая", "link": "https://x.ru/2"}]).decode()
    body = body.replace("Вторая", "Вторая & неэкранированная <b>жирная").replace(
        "</channel></rss>", "")  # an unescaped ampersand, an unclosed tag, no closing tags
    url = feed_server.add("/broken.xml", body)
    summary = poll(db, make_config(("Сломанная", url)))["Сломанная"]
    assert summary.status == "ok" and summary.warning
    assert "malformed but was read" in summary.line()
    assert len(titles(db)) == 2 and titles(db)[0] == "Вторая & неэкранированная жирная"


@pytest.mark.parametrize("body, content_type", [
    ("<html><body>Страница не найдена</body></html>", "text/html"),  # the URL became a page
    ("", "application/rss+xml"),  # an empty body
    (bytes(range(256)) * 4, "application/octet-stream"),  # garbage
    ('{"news": []}', "application/json"),  # JSON, but no JSON Feed
])
def test_not_a_feed_at_all_is_an_error(db, feed_server, body, content_type):
    url = feed_server.add("/page", body, headers={"Content-Type": content_type})
    summary = poll(db, make_config(("Не лента", url)))["Не лента"]
    assert summary.status == "error" and summary.new == 0  # nothing invented
    assert summary.error.startswith(f"not a feed (Content-Type: {content_type})")
    feed = store.feed_by_name(db, "Не лента")
    assert feed["status"] == "error" and feed["error_count"] == 1
    assert feed["last_error"] == summary.error and "FAILED: not a feed" in summary.line()


@pytest.mark.parametrize("body", [
    rss([]),  # a feed with no entries yet is a feed
    b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>',
])
def test_an_empty_feed_is_no_error(db, feed_server, body):
    url = feed_server.add("/empty.xml", body)
    summary = poll(db, make_config(("Пустая", url)))["Пустая"]
    assert summary.status == "ok" and summary.entries == 0 and summary.error is None


# --- identity of items ------------------------------------------------------------------

def test_duplicate_guids(db, feed_server):
    body = rss([
        {"title": "Первая новость", "link": "https://x.ru/1", "guid": "same"},
        {"title": "Вторая новость", "link": "https://x.ru/2", "guid": "same"},
        {"title": "Без GUID", "link": "https://x.ru/3"},
        {"title": "Пустой GUID", "link": "https://x.ru/4", "guid": ""},
    ])
    url = feed_server.add("/dups.xml", body)
    config = make_config(("Дубли", url))
    assert poll(db, config)["Дубли"].new == 4
    assert poll(db, config)["Дубли"].new == 0
    assert store.count_items(db) == 4


def test_one_article_in_two_feeds_is_stored_once_with_both_sources(db, feed_server):
    a = feed_server.add("/a.xml", rss([{"title": TITLE, "description": TEXT, "guid": "a-1",
                                        "link": "https://x.ru/story?utm_source=a"}]))
    b = feed_server.add("/b.xml", rss([{"title": TITLE, "description": TEXT, "guid": "b-77",
                                        "link": "https://x.ru/story?utm_source=b&utm_medium=rss"}]))
    summaries = poll(db, make_config(("А", a), ("Б", b)))
    assert summaries["А"].new + summaries["Б"].new == 1
    assert store.count_items(db) == 1
    sources = list(db.query("SELECT feeds.name FROM item_sources JOIN feeds ON feeds.id = feed_id"))
    assert sorted(r["name"] for r in sources) == ["А", "Б"]


# --- full text ------------------------------------------------------------------------------



def test_fulltext_fetches_the_article_page(db, feed_server):
    page = feed_server.add("/article/1", ARTICLE_PAGE.format(title=TITLE),
                           headers={"Content-Type": "text/html; charset=utf-8"})
    url = feed_server.add("/ft.xml", rss([{"title": TITLE, "link": page, "description": TEXT}]))
    feed = FeedConfig(name="Полный текст", url=url, fulltext=True, local=True)
    config = make_config((feed, None))
    poll(db, config)
    assert store.pending_items(db) == []  # waits for its page before analysis
    assert poller.fetch_articles(db, config) == 1
    [row] = db["items"].rows
    assert row["fulltext_status"] == "done"
    assert "станции очистки сточных вод" in row["text"]
    assert "Все права защищены" not in row["text"] and "Контакты" not in row["text"]
    assert len(store.pending_items(db)) == 1  # ready for analysis


@pytest.fixture
def public_server():
    """A server on 127.0.0.2, which `guarded_client` treats as a public address."""
    from feedserver import FeedServer

    server = FeedServer("127.0.0.2")
    yield server
    server.close()


def guarded_client():
    from monitor.fetcher import make_client

    return make_client(policy=lambda address: str(address) == "127.0.0.2")


def test_fulltext_link_to_a_private_address_is_refused(db, feed_server, public_server):
    page = feed_server.add("/article/1", ARTICLE_PAGE.format(title=TITLE),
                           headers={"Content-Type": "text/html; charset=utf-8"})
    url = public_server.add("/ft.xml", rss([{"title": TITLE, "link": page,
                                             "description": TEXT}]))
    feed = FeedConfig(name="Полный текст", url=url, fulltext=True)  # not local
    config = make_config((feed, None))
    store.sync_feeds(db, config.feeds)
    with guarded_client() as client:
        [summary] = poll_feeds(db, config, config.feeds, client=client)
        assert summary.status == "ok" and summary.new == 1
        assert poller.fetch_articles(db, config, client=client) == 1
    [row] = db["items"].rows
    assert row["fulltext_status"] == "failed"
    assert "private or loopback" in row["fulltext_error"]
    assert row["text"] == TEXT and not feed_server.requests_to("/article/1")
    assert len(store.pending_items(db)) == 1  # ready for analysis with the feed's text


def test_feed_not_marked_local_is_not_fetched_from_a_private_address(db, feed_server):
    url = feed_server.add("/f.xml", rss([{"title": TITLE, "link": "https://x.ru/1"}]))
    config = make_config((FeedConfig(name="Внутренняя", url=url), None))
    summary = poll(db, config)["Внутренняя"]
    assert summary.status == "error" and "private or loopback" in summary.error
    assert "local: true" in summary.error and feed_server.requests == []


def test_feed_redirected_to_a_private_address_is_refused(db, feed_server, public_server):
    feed_server.add("/inside.xml", rss([{"title": TITLE, "link": "https://x.ru/1"}]))
    url = public_server.add("/moved.xml", status=301,
                            headers={"Location": feed_server.url("/inside.xml")})
    config = make_config((FeedConfig(name="Беглая", url=url), None))
    store.sync_feeds(db, config.feeds)
    with guarded_client() as client:
        [summary] = poll_feeds(db, config, config.feeds, client=client)
    assert summary.status == "error" and "redirected from" in summary.error
    assert feed_server.requests == [] and store.count_items(db) == 0
    assert store.feed_by_name(db, "Беглая")["url"] == url  # not "moved" inside


def test_a_bug_in_fetching_costs_one_feed_or_one_page_not_the_poll(db, feed_server,
                                                                   monkeypatch):
    """The last-resort guards: whatever a fetch raises is that feed's or item's error."""
    url = feed_server.add("/ft.xml", rss([{"title": TITLE, "link": "http://127.0.0.1:9/a",
                                           "description": TEXT}]))
    config = make_config((FeedConfig(name="Полный текст", url=url, fulltext=True,
                                     local=True), None))
    poll(db, config)

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(poller, "fetch_fulltext", broken)
    assert poller.fetch_articles(db, config) == 1
    [row] = db["items"].rows
    assert row["fulltext_status"] == "failed"
    assert "RuntimeError: unexpected" in row["fulltext_error"]
    monkeypatch.setattr(poller, "fetch", broken)
    summary = poll(db, config)["Полный текст"]
    assert summary.status == "error" and "RuntimeError: unexpected" in summary.error


# --- Ctrl-C ---------------------------------------------------------------------------

def _default_sigint() -> None:
    """A shell without job control starts background jobs (`pytest &`) with SIGINT ignored,
    and children inherit that; a user's terminal delivers it, so the child gets it back."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _monitor(config, db_path, *args, **kwargs):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                             "--db", str(db_path), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
                            **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["fetching article pages", "analysing"])
def test_ctrl_c_stops_poll_at_once_and_loses_nothing(tmp_path, write_config, feed_server,
                                                     phase):
    import signal

    items = 30
    if phase == "fetching article pages":
        def stall(handler):  # 30 pages of 3 s each, two at a time: 45 s if waited for
            time.sleep(3)
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        links = [feed_server.add(f"/page/{n}", handler=stall) for n in range(items)]
        started = "SELECT 0"  # the first page request is the sign, see below
    else:
        links = [f"https://x.ru/{n}" for n in range(items)]
        started = "SELECT count(*) FROM items WHERE analysed_at IS NOT NULL"
    url = feed_server.add("/f.xml", rss([
        {"title": f"Новость {n}: Россия и Япония обсудили сотрудничество", "link": link,
         "guid": f"n-{n}", "description": TEXT * 20} for n, link in enumerate(links)]))
    config = write_config({"poll": {"concurrency": 2}, "feeds": [
        {"name": "Лента", "url": url, "local": True,
         "fulltext": phase == "fetching article pages"}]})
    db_path = tmp_path / "m.db"
    proc = _monitor(config, db_path, "poll")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (count(db_path, started) >= 2
                    or any(r.path.startswith("/page/") for r in feed_server.requests)):
                break
            time.sleep(0.05)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - interrupted < 5
    assert proc.returncode == 130, err
    assert "monitor: interrupted" in err and "stay pending" in err
    assert count(db_path, "SELECT count(*) FROM items") == items
    analysed = count(db_path, "SELECT count(*) FROM items WHERE analysed_at IS NOT NULL")
    assert analysed < items, "the interrupt came too late to test anything"
    if phase == "fetching article pages":
        # Pages not fetched are still to be fetched; none was given up on.
        assert count(db_path, "SELECT count(*) FROM items WHERE fulltext_status = "
                               "'pending'") >= items - 2
        return
    again = _monitor(config, db_path, "poll")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert f"Лента: {items} entries, 0 new" in out
    assert count(db_path, "SELECT count(DISTINCT key) FROM items") == items
    assert count(db_path, "SELECT count(*) FROM items WHERE analysed_at IS NULL") == 0
