"""Article pages for `fulltext: true` feeds: hostile and broken links cost their own item's
page and nothing else (real servers on 127.0.0.1 and [::1], the real CLI)."""

import pytest
from click.testing import CliRunner

from conftest import ARTICLE_PAGE
from feedserver import FeedServer, rss
from monitor import store
from monitor.cli import cli
from monitor.fetcher import FetchLimits, make_client
from monitor.fulltext import fetch_fulltext

TITLE = "Приморье и Япония договорились о строительстве очистных сооружений"
LEAD = "Краткий анонс из ленты."

# Links no server can answer; none of them needs a DNS lookup to fail. Only the refused
# connection may answer later; the others are never asked for again.
RETRIED = {"http://127.0.0.1:9/article"}
BROKEN_LINKS = {
    "http://::1:{port}/article": "invalid URL",  # an IPv6 host without its brackets
    "http://x.ru:99999/article": "port 99999 out of range",
    "javascript:alert(1)": "only http and https",
    "ftp://127.0.0.1/article": "only http and https",
    "http://127.0.0.1:9/article": "connection refused",
}


@pytest.fixture
def ipv6_server():
    try:
        server = FeedServer("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    yield server
    server.close()


@pytest.mark.parametrize("link,reason", BROKEN_LINKS.items())
def test_broken_links_are_an_error_for_their_item(link, reason):
    with make_client() as client:
        page = fetch_fulltext(client, link.format(port=8080), TITLE,
                              limits=FetchLimits(timeout=2), allow_private=True)
    assert page.text is None and reason in page.error
    assert page.retry == (link in RETRIED)


def test_ipv6_literal_link_is_fetched(ipv6_server):
    url = ipv6_server.add("/article", ARTICLE_PAGE.format(title=TITLE),
                          headers={"Content-Type": "text/html; charset=utf-8"})
    assert url.startswith("http://[::1]:")
    with make_client() as client:
        text, error, _retry = fetch_fulltext(client, url, TITLE, limits=FetchLimits(timeout=5),
                                             allow_private=True)
    assert error is None and "станции очистки сточных вод" in text


def test_poll_twice_with_hostile_article_links(tmp_path, write_config, feed_server,
                                               ipv6_server):
    article = ipv6_server.add("/article", ARTICLE_PAGE.format(title=TITLE),
                              headers={"Content-Type": "text/html; charset=utf-8"})
    links = [article] + [link.format(port=ipv6_server.port) for link in BROKEN_LINKS]
    feed = feed_server.add("/ft.xml", rss([
        {"title": f"{TITLE} ({n})", "link": link, "guid": f"item-{n}", "description": LEAD}
        for n, link in enumerate(links)]))
    config = write_config({"feeds": [{"name": "Полный текст", "url": feed, "local": True,
                                      "fulltext": True}]})
    db_path = tmp_path / "m.db"
    runner = CliRunner()
    outputs = []
    for _ in range(2):
        result = runner.invoke(cli, ["--config", str(config), "--db", str(db_path), "poll"],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert f"Полный текст: {len(links)} entries, {len(links)} new" in outputs[0]
    assert f"Полный текст: {len(links)} entries, 0 new" in outputs[1]
    for link, reason in BROKEN_LINKS.items():  # each failure said once, on its item
        line = next(line for line in outputs[0].splitlines()
                    if f"article page {link.format(port=ipv6_server.port)} " in line)
        assert "not fetched" in line and reason in line
    assert "not fetched" not in outputs[1]

    db = store.open_db(db_path)
    rows = {row["url"]: row for row in db["items"].rows}
    assert len(rows) == len(links) == store.count_items(db)
    assert rows[article]["fulltext_status"] == "done"
    assert "станции очистки сточных вод" in rows[article]["text"]
    for template, link in zip(BROKEN_LINKS, links[1:]):
        row = rows[link]
        assert row["fulltext_status"] == "failed" and row["fulltext_error"]
        assert row["text"] == LEAD  # the feed's text is kept and analysed
        # a javascript: or ftp: link is given up at once, as a page given up after its tries
        assert (row["fulltext_retry_at"] is not None) == (template in RETRIED), link
    [feed] = store.feed_rows(db)
    assert feed["pages_failed"] == len(BROKEN_LINKS) - len(RETRIED)
    table = runner.invoke(cli, ["--config", str(config), "--db", str(db_path), "feeds"]).output
    assert f" {feed['pages_failed']} pages " in table
    assert store.pending_items(db) == [] and store.fulltext_pending(db) == []
