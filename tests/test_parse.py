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


# --- charsets ---------------------------------------------------------------------------

import ast
import io
import re
from pathlib import Path

import feedparser
import pytest

from monitor.parse import russian_score

RU_ITEMS = [
    ("Губернатор Приморья обсудил с японскими партнёрами сотрудничество в энергетике",
     "Власти края и компании из префектуры Тоттори договорились о совместных проектах."),
    ("Минстрой России и Минэнерго подписали соглашение о модернизации ЖКХ",
     "Документ предусматривает обмен опытом и подготовку специалистов."),
    ("В Хабаровске открылся центр поддержки экспорта",
     "Центр поможет местным компаниям выйти на рынки Китая и Кореи."),
]


def _ru_feed(encoding="utf-8", declared="utf-8"):
    body = rss([{"title": t, "link": f"https://x.ru/{i}", "description": d}
                for i, (t, d) in enumerate(RU_ITEMS)], encoding=encoding)
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>'.encode()
    new = f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
    return body.replace(prolog, new.encode())


@pytest.mark.parametrize("declared,content_type", [
    ("utf-8", "application/rss+xml"),
    (None, "application/rss+xml"),
    (None, "application/rss+xml; charset=utf-8"),
    ("utf-8", None),
    ("windows-1251", None),  # mislabelled as well as damaged
])
def test_utf8_feed_with_a_few_invalid_bytes_stays_utf8(declared, content_type):
    body = _ru_feed(declared=declared)
    first, second = RU_ITEMS[0][0].encode(), RU_ITEMS[1][0].encode()
    body = body.replace(first, first[:-1], 1)  # a character cut in half
    body = body.replace(second, second.replace(" и ".encode(), b" \xa0 "), 1)  # a Latin-1 byte
    headers = {"Content-Type": content_type} if content_type else {}
    parsed = parse_feed(body, headers)
    titles = [item.title for item in parsed.items]
    assert titles[0] == RU_ITEMS[0][0][:-1] + "\ufffd"
    assert titles[1] == RU_ITEMS[1][0].replace(" и ", " \ufffd ")
    assert titles[2] == RU_ITEMS[2][0]
    assert [item.text for item in parsed.items] == [d for _, d in RU_ITEMS]
    assert parsed.encoding == "utf-8"
    assert "2 byte sequence(s) invalid in utf-8 replaced with U+FFFD" in parsed.warning


@pytest.mark.parametrize("encoding,declared,bad", [
    ("windows-1251", "windows-1251", b"\x98"),  # the one byte windows-1251 lacks
    ("windows-1251", None, b"\x98"),  # chardet then guesses MacCyrillic: capitals lost
    ("shift_jis", "shift_jis", b"\x81\x20"),
    ("euc-jp", "euc-jp", b"\xa4"),
    ("gb2312", "gb2312", b"\xff"),
    ("big5", "big5", b"\xff"),
    ("euc-kr", "euc-kr", b"\xff"),
])
def test_a_stray_byte_in_a_legacy_charset_costs_one_character(encoding, declared, bad):
    texts = {"shift_jis": "日本とロシアはエネルギー分野で協力することで合意した",
             "euc-jp": "日本とロシアはエネルギー分野で協力することで合意した",
             "gb2312": "中国与俄罗斯将在能源领域开展合作",
             "big5": "中國與俄羅斯將在能源領域開展合作",
             "euc-kr": "한국과 러시아는 에너지 분야에서 협력하기로 합의했다"}
    titles = ([f"{texts[encoding]} {n}" for n in range(5)] if encoding in texts
              else [t for t, _ in RU_ITEMS])
    body = rss([{"title": t, "link": f"https://x.example/{n}"} for n, t in enumerate(titles)],
               encoding=encoding, title=titles[0])
    if not declared:
        body = body.replace(f' encoding="{encoding}"'.encode(), b"")
    body = body.replace(titles[1].encode(encoding), titles[1].encode(encoding) + bad)
    parsed = parse_feed(body, {"content-type": "application/rss+xml"})
    expected = titles[:]
    expected[1] += "\ufffd"
    assert [item.title for item in parsed.items] == expected
    assert "1 byte sequence(s) invalid in" in parsed.warning


@pytest.mark.parametrize("declared", ["undefined", "idna", "punycode", "base64", "klingon",
                                      "utf-16", "utf-7", "unicode_escape"])
@pytest.mark.parametrize("encoding", ["utf-8", "windows-1251", "koi8-r"])
@pytest.mark.parametrize("where", ["xml", "http"])
def test_a_hostile_declared_charset_does_not_stop_the_feed(declared, encoding, where):
    # feedparser raises UnicodeError for "undefined"; idna and punycode raise on replacement
    body = _ru_feed(encoding, declared if where == "xml" else None)
    content_type = "application/rss+xml" + (f"; charset={declared}" if where == "http" else "")
    parsed = parse_feed(body, {"content-type": content_type})
    assert [(i.title, i.text) for i in parsed.items] == RU_ITEMS


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1251", "euc-jp"])
def test_valid_utf8_mislabelled_as_a_legacy_charset_is_read_as_utf8(declared):
    # "Иркутск" is D0 98 in UTF-8: 0x98 is the one byte windows-1251 cannot decode
    body = _ru_feed(declared=declared).replace("Хабаровске".encode(), "Иркутске".encode())
    parsed = parse_feed(body)
    expected = [t.replace("Хабаровске", "Иркутске") for t, _ in RU_ITEMS]
    assert [item.title for item in parsed.items] == expected
    assert parsed.encoding == "utf-8"


@pytest.mark.parametrize("encoding,declared,content_type", [
    ("windows-1251", "windows-1251", None),
    ("koi8-r", None, "application/rss+xml; charset=koi8-r"),
    ("windows-1251", None, None),
    ("koi8-r", None, None),
    ("windows-1251", "utf-8", None),
    ("windows-1251", None, "text/xml; charset=iso-8859-1"),
    ("koi8-r", "windows-1251", None),
    ("windows-1251", "koi8-r", None),
    ("windows-1251", "MacCyrillic", None),  # capitals would turn into symbols
])
def test_russian_in_legacy_charsets_comes_out_right(encoding, declared, content_type):
    body = _ru_feed(encoding, declared)
    parsed = parse_feed(body, {"content-type": content_type} if content_type else {})
    assert [(i.title, i.text) for i in parsed.items] == RU_ITEMS
    assert parsed.encoding.lower().replace("_", "-") == encoding


def test_a_repaired_reading_says_so():
    parsed = parse_feed(_ru_feed("koi8-r", "windows-1251"))
    assert parsed.encoding == "koi8-r"
    assert "read as koi8-r: as windows-1251 it was mojibake" in parsed.warning


def test_an_all_capitals_russian_feed_is_not_re_read():
    body = rss([{"title": t.upper(), "link": f"https://x.ru/{i}"}
                for i, (t, _) in enumerate(RU_ITEMS)], encoding="windows-1251")
    parsed = parse_feed(body)
    assert [item.title for item in parsed.items] == [t.upper() for t, _ in RU_ITEMS]
    assert parsed.encoding == "windows-1251" and parsed.warning is None


OTHER_LANGUAGES = [
    ("uk", "windows-1251", "Україна та Японія домовилися про співпрацю в галузі енергетики"),
    ("uk", "koi8-u", "Україна та Японія домовилися про співпрацю в галузі енергетики"),
    ("be", "windows-1251", "Беларусь і Японія дамовіліся аб супрацоўніцтве ў энергетыцы"),
    ("bg", "windows-1251", "България и Япония ще си сътрудничат в областта на енергетиката"),
    ("sr", "windows-1251", "Србија и Јапан ће сарађивати у области енергетике и саобраћаја"),
    ("mk", "iso-8859-5", "Македонија и Јапонија ќе соработуваат во областа на енергетиката"),
    ("el", "windows-1253", "Η Ελλάδα και η Ιαπωνία θα συνεργαστούν στον τομέα της ενέργειας"),
    ("el", "iso-8859-7", "Η Ελλάδα και η Ιαπωνία θα συνεργαστούν στον τομέα της ενέργειας"),
    ("he", "windows-1255", "ישראל ויפן ישתפו פעולה בתחום האנרגיה והתחבורה"),
    ("ar", "windows-1256", "مصر واليابان تتعاونان في مجال الطاقة والنقل"),
    ("de", "iso-8859-1", "Deutschland und Japan wollen im Energiebereich zusammenarbeiten, "
                         "erklärte der Minister für Wirtschaft in Köln"),
    ("fr", "windows-1252", "La France et le Japon coopéreront dans le domaine de l’énergie"),
    ("pl", "iso-8859-2", "Polska i Japonia będą współpracować w dziedzinie energetyki"),
    ("tr", "windows-1254", "Türkiye ve Japonya enerji alanında işbirliği yapacak"),
    ("ja", "euc-jp", "日本とロシアはエネルギー分野で協力することで合意した"),
    ("ja", "shift_jis", "日本とロシアはエネルギー分野で協力することで合意した"),
    ("zh", "gb2312", "中国与俄罗斯将在能源领域开展合作"),
    ("zh", "big5", "中國與俄羅斯將在能源領域開展合作"),
    ("ko", "euc-kr", "한국과 러시아는 에너지 분야에서 협력하기로 합의했다"),
    ("th", "tis-620", "ไทยและรัสเซียจะร่วมมือด้านพลังงาน"),
]


@pytest.mark.parametrize("where", ["xml", "http"])
@pytest.mark.parametrize("language,encoding,title", OTHER_LANGUAGES,
                         ids=[f"{lang}-{enc}" for lang, enc, _ in OTHER_LANGUAGES])
def test_declared_feeds_in_other_languages_keep_their_text(language, encoding, title, where):
    items = [{"title": f"{title} {n}", "link": f"https://x.example/{n}",
              "description": f"{title}. {title}."} for n in range(1, 6)]
    body = rss(items, encoding=encoding, title=title)
    headers = {}
    if where == "http":
        body = body.replace(f' encoding="{encoding}"'.encode(), b"")
        headers = {"content-type": f"application/rss+xml; charset={encoding}"}
    parsed = parse_feed(body, headers)
    assert parsed.title == title
    assert [item.title for item in parsed.items] == [f"{title} {n}" for n in range(1, 6)]
    assert parsed.warning is None


def test_a_response_without_content_type_is_read_like_a_file():
    # feedparser alone assumes ISO-8859-1 for an HTTP response without Content-Type.
    body = rss([{"title": "Freiräume für Forschung", "link": "https://x.example/1"}],
               encoding="utf-8").replace(b' encoding="utf-8"', b"")
    [item] = parse_feed(body, {"etag": '"x"'}, base_url="https://x.example/feed").items
    assert item.title == "Freiräume für Forschung"


def test_forced_encoding_reports_invalid_bytes():
    body = _ru_feed("windows-1251", "utf-8").replace("ЖКХ".encode("cp1251"), b"\x98")
    parsed = parse_feed(body, encoding="windows-1251")
    assert parsed.items[1].title.endswith("модернизации \ufffd")
    assert "1 byte sequence(s) invalid in windows-1251 replaced" in parsed.warning


@pytest.mark.parametrize("text", [t + " " + d for t, d in RU_ITEMS])
def test_russian_score_of_russian_and_of_its_mojibake(text):
    assert russian_score(text) > 0.8
    for right, wrong in [("windows-1251", "koi8-r"), ("koi8-r", "windows-1251"),
                         ("utf-8", "windows-1251"), ("utf-8", "koi8-r"),
                         ("windows-1251", "iso-8859-1"), ("windows-1251", "iso-8859-5")]:
        garbled = text.encode(right).decode(wrong, errors="replace")
        assert russian_score(garbled) == 0, (right, wrong, garbled)


def test_russian_score_of_other_languages_is_zero():
    assert russian_score("Short one") == 0
    for language, _, title in OTHER_LANGUAGES:
        if language not in ("bg", "mk"):  # Bulgarian and Macedonian use the same letters
            assert russian_score(f"{title}. {title}.") == 0, title


# feedparser's own test feeds (BSD-2-Clause, see tests/data/feedparser/LICENSE), read the
# way its test server serves them: the Header: lines of each file become HTTP headers.
FEEDPARSER = Path(__file__).parent / "data" / "feedparser"
CORPUS = sorted(p.relative_to(FEEDPARSER).as_posix() for p in FEEDPARSER.rglob("*.xml"))
_HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)
# Where we read differently from feedparser, on purpose: UTF-8 but for one stray byte.
OUR_READING = {
    "encoding/bozo_invalid-bytes-with-bom.xml": "Valid UTF8: ѨInvalid UTF8: Espa\ufffda",
    "encoding/bozo_linenoise.xml": "",  # its one entry is punctuation only
}
# Titles in files whose comment states no text (the chardet cases), checked by eye.
KNOWN_TITLES = {
    "illformed/chardet/eucjp.xml": "ゲーム三昧な正月",
    "illformed/chardet/euckr.xml": "EUC-KR 에서 TypeKey 한글닉네임 표시하기",
    "illformed/chardet/gb2312.xml": "不归移民漫画系列：专业工作",
    "illformed/chardet/shiftjis.xml": "DrecomRSSに記事投稿が反映されない…",
}


def _served(name):
    body = (FEEDPARSER / name).read_bytes()
    headers = {k.decode().strip().lower(): v.decode().strip() for k, v in _HEADER.findall(body)}
    headers.setdefault("content-type", "application/xml")  # what the server sends for .xml
    return body, headers


def test_corpus_is_there():
    assert len(CORPUS) >= 40 and (FEEDPARSER / "LICENSE").exists()


@pytest.mark.parametrize("name", CORPUS)
def test_feedparser_corpus_keeps_feedparsers_decoding(name):
    body, headers = _served(name)
    ours = parse_feed(body, dict(headers))
    if name in OUR_READING:
        assert ours.encoding == "utf-8" and "invalid in utf-8" in ours.warning
        assert ours.title == OUR_READING[name]
        return
    reference = feedparser.parse(io.BytesIO(body), response_headers=dict(headers))
    assert ours.title == reference.feed.get("title", "")
    # The same bytes read in feedparser's charset, with no charset repair of ours.
    same = parse_feed(body, dict(headers), encoding=reference.encoding)
    assert [(i.title, i.text) for i in ours.items] == [(i.title, i.text) for i in same.items]
    if name in KNOWN_TITLES:
        assert ours.items[0].title == KNOWN_TITLES[name]
    # The text the fixture's own Expect line states, where it states one.
    expect = re.search(rb"Expect:\s*(.*)", body.replace(b"\x00", b""))
    expect = expect.group(1).decode("latin-1") if expect else ""
    title = re.search(r"feed\['title'\] == ('(?:[^'\\]|\\.)*')", expect)
    if title:
        assert ours.title == ast.literal_eval(title.group(1))
    summary = re.search(r"entries\[0\]\['description'\] == ('(?:[^'\\]|\\.)*')", expect)
    if summary and "<" not in summary.group(1):
        assert ours.items[0].text == ast.literal_eval(summary.group(1))


def test_the_poll_summary_names_the_repair(tmp_path, feed_server):
    from monitor import store
    from monitor.config import Config, FeedConfig, PollConfig
    from monitor.poller import poll_feeds

    first = RU_ITEMS[0][0].encode()
    url = feed_server.add("/cut.xml", _ru_feed().replace(first, first[:-1], 1),
                          headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    config = Config(poll=PollConfig(jitter=0), feeds=[FeedConfig(name="Л", url=url, local=True)])
    db = store.open_db(tmp_path / "m.db")
    store.sync_feeds(db, config.feeds)
    [summary] = poll_feeds(db, config, config.feeds)
    assert summary.status == "ok" and summary.new == 3
    assert "malformed but was read: 1 byte sequence(s) invalid in utf-8" in summary.line()
    assert sorted(row["title"] for row in db["items"].rows)[1] == RU_ITEMS[0][0][:-1] + "\ufffd"
