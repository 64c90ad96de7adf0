"""Search over a small real database built by polling feeds served on 127.0.0.1."""

import json

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, rss
from monitor import store
from monitor.cli import cli
from monitor.search import QueryError, parse_query

ARTICLES_A = [
    {"title": "Японских компаний ждут в Приморье: соглашение о переработке отходов",
     "link": "https://news.example/1", "pubDate": "Fri, 10 Apr 2026 09:00:00 +0300",
     "description": "Власти Приморского края и консорциум японских компаний подписали "
                    "соглашение о строительстве завода по переработке отходов во Владивостоке."},
    {"title": "Россия и Япония будут сотрудничать в сфере водоочистки",
     "link": "https://news.example/2", "pubDate": "Sun, 01 Feb 2026 09:00:00 +0300",
     "description": "Минстрой России и японские компании договорились о совместных "
                    "проектах по очистке сточных вод в Воронеже."},
    {"title": "Россия и Китай подписали соглашение о поставках газа",
     "link": "https://news.example/3", "pubDate": "Tue, 05 May 2026 09:00:00 +0300",
     "description": "«Газпром» и китайская CNPC заключили соглашение о поставках газа "
                    "по новому маршруту."},
    {"title": "Сборная России обыграла Японию в товарищеском матче",
     "link": "https://news.example/5", "pubDate": "Sun, 10 May 2026 21:00:00 +0300",
     "description": "Матч завершился со счётом 3:1, две шайбы забросил нападающий."},
]
ARTICLES_B = [
    {"title": "Татарстан и Башкирия договорились о совместных туристических маршрутах",
     "link": "https://news.example/4", "pubDate": "Mon, 01 Jun 2026 10:00:00 +0300",
     "description": "Глава Татарстана Рустам Минниханов и глава Башкортостана подписали "
                    "соглашение о сотрудничестве в сфере туризма."},
    {"title": "«Росатом» и индийские вузы договорились об обмене студентами",
     "link": "https://news.example/7", "pubDate": "Sun, 15 Mar 2026 10:00:00 +0300",
     "description": "Госкорпорация «Росатом» и Индийский технологический институт подписали "
                    "меморандум о сотрудничестве в подготовке инженеров."},
    {"title": "Япония ввела санкции против российских компаний",
     "link": "https://news.example/6", "pubDate": "Wed, 20 May 2026 10:00:00 +0300",
     "description": "Министерство экономики Японии запретило поставки оборудования."},
    # carried by both feeds
    {"title": "Россия и Япония будут сотрудничать в сфере водоочистки",
     "link": "https://news.example/2?utm_source=b", "pubDate": "Sun, 01 Feb 2026 09:00:00 +0300",
     "description": "Минстрой России и японские компании договорились о совместных "
                    "проектах по очистке сточных вод в Воронеже."},
]


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    import yaml

    server = FeedServer()
    try:
        a = server.add("/a.xml", rss(ARTICLES_A))
        b = server.add("/b.xml", rss(ARTICLES_B))
        tmp = tmp_path_factory.mktemp("search")
        config = tmp / "feeds.yaml"
        config.write_text(yaml.safe_dump({"feeds": [
            {"name": "Лента А", "url": a, "local": True},
            {"name": "Лента Б", "url": b, "local": True}]}, allow_unicode=True), "utf-8")
        path = tmp / "m.db"
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(path), "poll"])
        assert result.exit_code == 0, result.output
    finally:
        server.close()
    return path  # sectors come from the shipped classifier


def found(db_path, *args):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "search", *args,
                                      "--format", "json", "--limit", "50"])
    assert result.exit_code == 0, result.output
    return sorted(item["url"].rsplit("/", 1)[1] for item in json.loads(result.stdout))


@pytest.mark.parametrize("query", ["водоочистку", "водоочистки", "водоочистка"])
def test_inflected_forms_find_the_same_item(db_path, query):
    assert found(db_path, query) == ["2"]


def test_phrase_in_another_case(db_path):
    # "японскими компаниями" finds "японских компаний" (1) and "японские компании" (2)
    assert found(db_path, '"японскими компаниями"') == ["1", "2"]
    assert found(db_path, '"поставками газа"') == ["3"]
    assert found(db_path, '"газа поставках"') == []  # a phrase keeps its word order
    assert found(db_path, "газа поставках") == ["3"]  # words do not


def test_or_and_exclusion(db_path):
    assert found(db_path, "водоочистка OR отходы") == ["1", "2"]
    assert found(db_path, "компания -водоочистка") == ["1"]


def test_cooperation_only_unless_all(db_path):
    assert "5" not in found(db_path) and "6" not in found(db_path)
    assert {"5", "6"} <= set(found(db_path, "--all"))
    assert found(db_path, "санкции") == []
    assert found(db_path, "санкции", "--all") == ["6"]


@pytest.mark.parametrize("args,expected", [
    (["--country", "JP"], ["1", "2"]),
    (["--country", "jp", "--country", "CN"], ["1", "2", "3"]),
    (["--since", "2026-03-01", "--country", "JP"], ["1"]),
    (["--until", "2026-03-01"], ["2"]),
    (["--since", "2026-03-15", "--until", "2026-03-15"], ["7"]),
    (["--org", "Росатом"], ["7"]),
    (["--person", "Минниханов"], ["4"]),
    (["--feed", "Лента Б"], ["2", "4", "7"]),
    (["--international"], ["1", "2", "3", "7"]),
    (["--sector", "waste"], ["1"]),
])
def test_filters(db_path, args, expected):
    assert found(db_path, *args) == expected


def test_all_cooperation_with_japan_on_waste_since_march(db_path):
    assert found(db_path, "отходы", "--country", "JP", "--since", "2026-03-01") == ["1"]
    assert found(db_path, "--sector", "waste", "--country", "JP", "--since", "2026-03-01") \
        == ["1"]


def test_results_carry_snippets_sources_and_ranking(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "search", "сточная",
                                      "--format", "json"])
    [item] = json.loads(result.stdout)
    assert "«сточных»" in item["snippet"]
    assert "<mark>сточных</mark>" in item["snippet_html"]
    assert sorted(item["feeds"]) == ["Лента А", "Лента Б"]
    # title matches rank above text-only matches
    ranked = json.loads(CliRunner().invoke(cli, ["--db", str(db_path), "search", "Япония",
                                                 "--format", "json"]).stdout)
    assert "Япония" in ranked[0]["title"]


def test_csv_and_table_formats(db_path):
    csv_out = CliRunner().invoke(cli, ["--db", str(db_path), "search", "--format", "csv"]).stdout
    assert csv_out.splitlines()[0] == ("\ufeffid,title,url,item_url,outlets,publications,"
                                       "published,sectors,countries,organisations,score,"
                                       "evidence")
    assert len(csv_out.splitlines()) == 6  # header + 5 cooperation stories, all of them
    table = CliRunner().invoke(cli, ["--db", str(db_path), "search", "газ"]).output
    assert "Китай" in table and "1 of 1 stories (1 items)" in table


def test_limit_and_offset(db_path):
    def page(offset):
        out = CliRunner().invoke(cli, ["--db", str(db_path), "search", "--format", "json",
                                       "--limit", "2", "--offset", str(offset)]).stdout
        return [item["id"] for item in json.loads(out)]

    pages = [page(0), page(2), page(4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({i for p in pages for i in p}) == 5  # no item twice across pages


def test_reindex_rebuilds_the_index(db_path):
    db = store.open_db(db_path)
    with store.transaction(db):
        db.execute("DELETE FROM items_fts")
    assert found(db_path, "водоочистка") == []
    result = CliRunner().invoke(cli, ["--db", str(db_path), "reindex"])
    assert result.exit_code == 0 and "Indexed 7 items" in result.output
    assert found(db_path, "водоочистка") == ["2"]


@pytest.mark.parametrize("query,expression", [
    ("водоочистку", '"водоочистка"'),
    ('"японских компаний" OR газ', '("японский компания" OR "газ")'),
    ("газ -санкции", '"газ" NOT ("санкция")'),
])
def test_query_translation(query, expression):
    assert parse_query(query)[0] == expression


@pytest.mark.parametrize("query", ['"unbalanced', "-только -минусы"])
def test_bad_queries_are_refused_clearly(query):
    with pytest.raises(QueryError):
        parse_query(query)


def test_text_search_total_on_every_page(db_path):
    """The total comes with the page for a text query, and is still told on a page past
    the end; a query with no match has total 0."""
    from monitor.search import SearchQuery, search

    db = store.open_db(db_path)
    everything = search(db, SearchQuery(text="россия OR япония OR китай", limit=50,
                                        include_all=True))
    assert everything.total == len(everything.items) >= 2
    first = search(db, SearchQuery(text="россия OR япония OR китай", limit=1,
                                   include_all=True))
    assert first.total == everything.total and len(first.items) == 1
    past = search(db, SearchQuery(text="россия OR япония OR китай", limit=1,
                                  offset=everything.total + 5, include_all=True))
    assert past.items == [] and past.total == everything.total
    assert search(db, SearchQuery(text="водопроводчик", include_all=True)).total == 0
