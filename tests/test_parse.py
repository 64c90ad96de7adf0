from feedserver import rss
from monitor.demo import demo_feed_dir
from monitor.parse import parse_feed


def test_rss_entry_fields():
    body = rss([{"title": "Россия и Япония", "link": "https://x.ru/a?utm_source=rss",
                 "guid": "id-1", "description": "<p>Первый.</p><p>Второй.</p>",
                 "pubDate": "Mon, 02 Mar 2020 10:00:00 +0300"}])
    [item] = parse_feed(body).items
    assert item.title == "Россия и Япония"
    assert item.url == item.key == "https://x.ru/a"
    assert item.guid == "id-1"
    assert item.text == "Первый.\nВторой."
    assert item.published == "2020-03-02T07:00:00+00:00"


def test_yandex_full_text_is_preferred_over_the_lead():
    ns = ' xmlns:yandex="http://news.yandex.ru"'
    body = rss([{"title": "T", "link": "https://x.ru/a", "description": "Лид.",
                 "yandex:full-text": "Лид.\nПолный текст статьи."}], extra_ns=ns)
    [item] = parse_feed(body).items
    assert item.text == "Лид.\nПолный текст статьи."


def test_items_without_link_or_guid_get_stable_keys():
    body = rss([{"title": "Без ссылки", "description": "Текст"}])
    first = parse_feed(body).items[0]
    second = parse_feed(body).items[0]
    assert first.key.startswith("hash:") and first.key == second.key


def test_same_entry_twice_in_one_document_is_kept_once():
    entry = {"title": "T", "link": "https://x.ru/a", "guid": "g"}
    assert len(parse_feed(rss([entry, entry])).items) == 1


def test_bundled_demo_feeds_parse(seed_article):
    title, _ = seed_article
    directory = demo_feed_dir()
    federal = parse_feed((directory / "federal.xml").read_bytes())
    assert federal.items[0].title == title
    assert federal.items[0].text.count("Напомним, летом 2019 года") == 1
    regional = parse_feed((directory / "regional-cp1251.xml").read_bytes())
    assert regional.items[0].title == title  # decoded from windows-1251
    assert regional.items[0].key == federal.items[0].key  # tracking tails stripped
    atom = parse_feed((directory / "ministry.atom").read_bytes())
    assert atom.items[0].title.startswith("Минстрой России")
