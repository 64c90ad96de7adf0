"""The query language (monitor/query.py): parsing, and what each construct finds in a real
database built by polling feeds served on 127.0.0.1."""

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, rss
from monitor import store
from monitor.cli import cli
from monitor.query import QUERY_HELP, QueryError, parse
from monitor.search import SearchQuery, search

ARTICLES = [
    {"title": "Россия и Кот-д’Ивуар договорились о сотрудничестве в энергетике",
     "link": "https://q.example/ci", "pubDate": "Fri, 10 Apr 2026 09:00:00 +0300",
     "description": "Стороны обсудили строительство электростанции в Абиджане."},
    {"title": "Белоруссия и Китай подписали соглашение о поставках техники",
     "link": "https://q.example/by-cn", "pubDate": "Sat, 11 Apr 2026 09:00:00 +0300",
     "description": "Минск и Пекин договорились о сборке тракторов."},
    {"title": "Республика Беларусь и КНР расширят торговлю",
     "link": "https://q.example/rb-knr", "pubDate": "Sun, 12 Apr 2026 09:00:00 +0300",
     "description": "Товарооборот вырос на треть."},
    {"title": "Москва и Ташкент обсудили транспортные проекты",
     "link": "https://q.example/msk", "pubDate": "Mon, 13 Apr 2026 09:00:00 +0300",
     "description": "Речь шла о железной дороге и логистике."},
    {"title": "Погода в выходные: дожди и снег",
     "link": "https://q.example/weather", "pubDate": "Tue, 14 Apr 2026 09:00:00 +0300",
     "description": "В регионе ожидаются осадки и ветер."},
    {"title": "Казахстан и Китай развивают нефтяные проекты",
     "link": "https://q.example/kz", "pubDate": "Wed, 15 Apr 2026 09:00:00 +0300",
     "description": "Нефть пойдёт по трубопроводу, уголь и газ по железной дороге."},
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    import yaml

    server = FeedServer()
    try:
        tmp = tmp_path_factory.mktemp("query")
        config = tmp / "feeds.yaml"
        config.write_text(yaml.safe_dump({"feeds": [
            {"name": "Лента", "url": server.add("/q.xml", rss(ARTICLES)), "local": True}]},
            allow_unicode=True), "utf-8")
        path = tmp / "q.db"
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(path), "poll"])
        assert result.exit_code == 0, result.output
    finally:
        server.close()
    return store.open_db(path)


def find(db, text):
    result = search(db, SearchQuery(text=text, include_all=True, limit=50))
    return sorted(item["url"].rsplit("/", 1)[1] for item in result.items)


@pytest.mark.parametrize("text,expected", [
    ("Кот-д'Ивуар", ["ci"]),  # an apostrophe inside a word is no quote
    ("Кот-д’Ивуар энергетика", ["ci"]),
    ("Кот-д`Ивуар", ["ci"]),
    ('"железной дороги"', ["kz", "msk"]),  # a phrase, inflected
    ("нефть OR трактор", ["by-cn", "kz"]),
    ("Китай (нефть OR трактор)", ["by-cn", "kz"]),
    ("(Китай нефть) OR Ташкент", ["kz", "msk"]),
    ("Китай -нефть", ["by-cn", "rb-knr"]),
    ("Китай NOT нефть", ["by-cn", "rb-knr"]),
    ("Китай -(нефть OR трактор)", ["rb-knr"]),
    ("моск*", ["msk"]),  # a prefix
    ("транспорт*", ["msk"]),
    ("Москва\u00a0Ташкент", ["msk"]),  # a no-break space is a space
    ("Москва\u202fи\u2009Ташкент", ["msk"]),
    ("дожди и снег", ["weather"]),  # «и» ignored
    ("в погода", ["weather"]),
    ("Китай AND нефть", ["kz"]),  # AND is implicit, not a word
    ("Китай NEAR нефть", ["kz"]),  # NEAR is ignored
    ("Белоруссия", ["by-cn", "rb-knr"]),  # any name of the country
    ("Беларусь", ["by-cn", "rb-knr"]),
    ('"Республика Беларусь"', ["by-cn", "rb-knr"]),
    ("BY", ["by-cn", "rb-knr"]),  # its ISO code
    ("Белоруссии", ["by-cn", "rb-knr"]),
    ("КНР", ["by-cn", "kz", "rb-knr"]),
    ("Китай", ["by-cn", "kz", "rb-knr"]),
    ("CN", ["by-cn", "kz", "rb-knr"]),
])
def test_query_syntax_finds(db, text, expected):
    assert find(db, text) == expected


def test_quoted_stop_words_are_searched(db):
    assert parse('"и"').expression == '"и"'
    assert find(db, '"дожди и снег"') == ["weather"]
    assert parse("дожди и снег").ignored == ["и"]


@pytest.mark.parametrize("text", ["и", "и в на", "🙂", "🙂🙂 🚀", "…", "-", "NEAR", "AND",
                                  "-санкции", "-(газ OR нефть)", "газ OR -нефть", '"unbalanced',
                                  "(газ", "газ)", "м*", "*"])
def test_nothing_to_search_for_is_an_error(db, text):
    with pytest.raises(QueryError) as error:
        search(db, SearchQuery(text=text, include_all=True))
    assert error.value.russian() and str(error.value)


@pytest.mark.parametrize("text, says, russian", [
    ("OR", "query 'OR': it holds only operators", "в запросе «OR» нечего искать"),
    ("NEAR", "query 'NEAR': it holds only operators", "в запросе «NEAR» нечего искать"),
    ("AND", "query 'AND': it holds only operators", "только операторы и скобки"),
    ("NOT ()", "only operators and brackets", "только операторы и скобки"),
    ("и в", "(и, в ignored: stop words", "не учитываются: и, в"),
])
def test_the_error_says_why_nothing_is_left(text, says, russian):
    with pytest.raises(QueryError) as error:
        parse(text)
    assert says in str(error.value) and russian in error.value.russian()


def test_a_blank_query_lists_everything(db):
    assert search(db, SearchQuery(text=" \u00a0 ", include_all=True)).total == len(ARTICLES)


def test_expressions():
    assert parse("газ нефть OR уголь").expression == '"газ" AND ("нефть" OR "уголь")'
    assert parse("(газ нефть) OR уголь").expression == '(("газ" AND "нефть") OR "уголь")'
    assert parse("газ -санкции").expression == '"газ" NOT ("санкция")'
    assert parse("газ или нефть").expression == '("газ" OR "нефть")'
    assert parse("мос*").expression == '"мос"*'
    # a two-letter word that is an ISO code still finds itself
    assert '"it"' in parse("IT").expression and '"италия"' in parse("IT").expression


def test_the_help_is_in_the_cli():
    help_text = CliRunner().invoke(cli, ["search", "--help"]).output
    for line in ("OR binds tighter", "мос*", "Кот-д'Ивуар", "Stop words", "NEAR"):
        assert line in help_text and line in QUERY_HELP


def test_the_precomputed_names_equal_the_gazetteer():
    """data/search_names.json is what query.compute_names() gives; after editing the
    gazetteer's data: python -c "from monitor import query; query.write_names()"."""
    from monitor.query import compute_names, names

    assert names() == compute_names()
