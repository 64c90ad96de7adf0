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


def test_a_query_of_several_words_with_a_negation_needs_no_quotes(db_path):
    """`monitor search газ -санкции` is the query «газ -санкции», not an unknown option -с;
    a mistyped --option is still an error."""
    assert found(db_path, "Россия") == ["2", "3"]
    assert found(db_path, "Россия", "-Япония") == found(db_path, "Россия -Япония") == ["3"]
    # «-China» holds an h, but is no -h (help): a negation of a word no item has
    assert found(db_path, "Россия", "-China", "-shipping") == ["2", "3"]
    assert found(db_path, "--international", "Россия", "--limit", "5", "-Япония") == ["3"]
    after = CliRunner().invoke(cli, ["--db", str(db_path), "search", "--format", "json", "--",
                                     "-Япония", "Россия"])
    assert [i["url"][-1] for i in json.loads(after.stdout)] == ["3"]  # all words after --
    help_text = CliRunner().invoke(cli, ["--db", str(db_path), "search", "-h"]).output
    assert help_text.startswith("Usage: cli search [OPTIONS] [QUERY]")
    result = CliRunner().invoke(cli, ["--db", str(db_path), "search", "Япония", "--sectr=water"])
    assert result.exit_code == 2 and "No such option '--sectr'" in result.output


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
    assert "Япон" in ranked[0]["title"]  # «Япония» or its adjective («Японских компаний»)


def test_csv_and_table_formats(db_path):
    csv_out = CliRunner().invoke(cli, ["--db", str(db_path), "search", "--format", "csv"]).stdout
    assert csv_out.splitlines()[0] == ("\ufeffid,title,url,item_url,outlets,publications,"
                                       "published,sectors,countries,organisations,score,"
                                       "evidence")
    assert len(csv_out.splitlines()) == 6  # header + 5 cooperation stories, all of them
    table = CliRunner().invoke(cli, ["--db", str(db_path), "search", "газ"]).output
    assert "Китай" in table and "1 of 1 story (1 matching item)" in table


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


# --- one pass: facets, totals and stories (#18) ---------------------------------------------

@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory):
    """3,000 items with the real schema from bench/search_latency.py's builder: sectors,
    countries, entities, outlets, and one item in ten in the story of an earlier one."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import search_latency

    vocab = [(w, 100 // (n + 1) + 1) for n, w in enumerate(
        "газ нефть уголь порт завод вода город банк школа больница поле лес".split())]
    path = tmp_path_factory.mktemp("synthetic") / "s.db"
    search_latency.build(path, 3000, vocab, seed=7)
    return path


def _brute_force(db, query):
    """Facets and stories counted in Python over every matched item."""
    from collections import defaultdict

    from monitor.search import HITS, item_details, search

    search(db, query, limit=1)  # leaves its matches in the temporary table
    ids = [r[0] for r in db.execute(f"SELECT id FROM {HITS}")]
    items = {i["id"]: i for i in item_details(db, ids)}
    counts = defaultdict(lambda: defaultdict(set))
    for item in items.values():
        story = item["story_id"]
        for s in item["sectors"]:
            counts["sector"][s["id"]].add(story)
        for c in item["countries"]:
            counts["country"][c].add(story)
        for feed in item["feeds"]:
            counts["feed"][feed].add(story)
        for e in item["entities"]:
            if e["type"] == "ORG":
                counts["org"][e["normal"]].add(story)
    stories = {item["story_id"] for item in items.values()}
    return ({name: {v: len(s) for v, s in values.items()} for name, values in counts.items()},
            stories, items)


@pytest.mark.parametrize("args", [
    {"text": None}, {"text": "газ"}, {"text": "газ нефть"}, {"text": "газ OR порт"},
    {"text": None, "sectors": ["water", "energy"]}, {"text": "вода", "countries": ["CN"]},
    {"text": None, "include_all": True},
])
def test_sql_facets_equal_a_brute_force_count(synthetic_db, args):
    from monitor.search import SearchQuery, search

    db = store.open_db(synthetic_db)
    query = SearchQuery(**args)
    expected, stories, items = _brute_force(db, query)
    result = search(db, query, facets=True, limit=5)
    assert result.total == len(stories) and result.matches == len(items)
    assert result.matches > result.total > 0  # some stories have several matched items
    for name in ("sector", "country"):
        assert dict(result.facets[name]) == expected.get(name, {}), name
    for name in ("feed", "org"):  # the first 20, exact
        for value, count in result.facets[name]:
            assert count == expected[name][value], (name, value)
        assert len(result.facets[name]) == min(20, len(expected[name]))
    months = dict(result.facets["month"])
    assert sum(months.values()) >= result.total


def test_results_are_grouped_by_story(synthetic_db):
    from monitor.search import SearchQuery, search

    db = store.open_db(synthetic_db)
    _, stories, items = _brute_force(db, SearchQuery(text="газ"))
    pages = [search(db, SearchQuery(text="газ", limit=50, offset=o)) for o in
             range(0, len(stories) + 50, 50)]
    entries = [item for page in pages for item in page.items]
    assert len(entries) == len(stories)  # one entry per story, over all pages
    assert {i["story_id"] for i in entries} == stories
    # each entry tells the story's other matched items, and all are accounted for
    seen = [e["id"] for e in entries] + [m for e in entries for m in e["more_ids"]]
    assert sorted(seen) == sorted(items)
    assert any(e["more"] for e in entries)
    for entry in entries:
        assert entry["more"] == len(entry["more_ids"])
        assert all(items[m]["story_id"] == entry["story_id"] for m in entry["more_ids"])


def test_repeated_sectors_are_any_of_them(synthetic_db):
    from monitor.search import SearchQuery, search

    db = store.open_db(synthetic_db)
    water = search(db, SearchQuery(sectors=["water"]), facets=True)
    energy = search(db, SearchQuery(sectors=["energy"]))
    both = search(db, SearchQuery(sectors=["water", "energy"]), facets=True)
    assert max(water.total, energy.total) < both.total <= water.total + energy.total
    # the facet count of a sector is what selecting it finds
    assert dict(both.facets["sector"])["water"] == water.total
    assert search(db, SearchQuery(sectors=["water", "water"])).total == water.total


def test_a_page_past_the_end_tells_the_total_and_the_last_page(synthetic_db):
    from monitor.search import SearchQuery, search

    db = store.open_db(synthetic_db)
    first = search(db, SearchQuery(text="газ", limit=20))
    past = search(db, SearchQuery(text="газ", limit=20, offset=first.total + 100))
    assert past.items == [] and past.total == first.total
    last = search(db, SearchQuery(text="газ", limit=20, offset=past.last_offset))
    assert 0 < len(last.items) <= 20 and past.last_offset + len(last.items) == first.total


def test_month_facet_and_day_bounds_use_the_time_zone(db_path):
    """Item 4 was published 2026-06-01 10:00 +03:00, item 5 on 2026-05-10 21:00 +03:00
    (18:00 UTC): in Vladivostok (UTC+10) that is already 11 May."""
    from monitor.search import SearchQuery, search

    db = store.open_db(db_path)
    moscow = search(db, SearchQuery(include_all=True, since="2026-05-11"), zone="Europe/Moscow")
    vladivostok = search(db, SearchQuery(include_all=True, since="2026-05-11"),
                         zone="Asia/Vladivostok")
    urls = lambda r: sorted(i["url"].rsplit("/", 1)[1] for i in r.items)  # noqa: E731
    assert "5" not in urls(moscow) and "5" in urls(vladivostok)
    late = search(db, SearchQuery(include_all=True, text="матч"), zone="Asia/Vladivostok",
                  facets=True)
    assert dict(late.facets["month"]) == {"2026-05": 1}
    honolulu = search(db, SearchQuery(include_all=True, text="туристических"),
                      zone="Pacific/Honolulu", facets=True)  # 1 June 07:00 UTC: 31 May there
    assert dict(honolulu.facets["month"]) == {"2026-05": 1}


def test_unknown_filters_are_usage_errors_listing_the_valid_values(db_path):
    def run(*args):
        return CliRunner().invoke(cli, ["--db", str(db_path), "search", *args])

    result = run("--sector", "nosuch")
    assert result.exit_code == 2 and "unknown sector 'nosuch'" in result.output
    assert "water" in result.output and "defense" in result.output
    result = run("--country", "Japan")
    assert result.exit_code == 2 and "unknown country 'Japan'" in result.output
    assert "JP" in result.output
    result = run("--feed", "ТАСС")
    assert result.exit_code == 2 and "Лента А" in result.output and "Лента Б" in result.output
    result = run("--since", "2026-05-01", "--until", "2026-04-01")
    assert result.exit_code == 2 and "is after" in result.output
    result = run("--since", "вчера")
    assert result.exit_code == 2 and "not a date" in result.output
    assert run('"unbalanced').exit_code == 2
    assert run("🙂").exit_code == 2 and "nothing to search for" in run("🙂").output


def test_countries_by_any_name(db_path):
    assert found(db_path, "--country", "Китай") == found(db_path, "--country", "CN") == ["3"]
    assert found(db_path, "--country", "Японии") == found(db_path, "--country", "jp")
    assert found(db_path, "--feed", "лента б") == ["2", "4", "7"]  # any case


def test_a_read_only_connection_keeps_its_answer_until_the_database_changes(
        synthetic_db, tmp_path, monkeypatch):
    """The web UI's connections only read: the same search (another page of it) is
    answered from the connection's own temporary table until another connection commits."""
    import shutil
    import sqlite3

    from monitor import search as search_module
    from monitor.search import CACHE, SearchQuery, search

    monkeypatch.setattr(search_module, "CACHED_STORIES", 30)
    path = tmp_path / "copy.db"
    shutil.copy(synthetic_db, path)
    synthetic_db = path
    reader = store.open_db(synthetic_db)
    first = search(reader, SearchQuery(text="газ", limit=10), facets=True, cache=True)
    assert reader.execute(f"SELECT count(*) FROM {CACHE}").fetchone()[0] == 1
    second = search(reader, SearchQuery(text="газ", limit=10, offset=10), facets=True,
                    cache=True)
    uncached = search(reader, SearchQuery(text="газ", limit=10, offset=10), facets=True)
    assert [i["id"] for i in second.items] == [i["id"] for i in uncached.items]
    assert second.facets == uncached.facets == first.facets
    assert (second.total, second.matches) == (uncached.total, uncached.matches)
    # another connection removes a sector: the next answer counts it again
    sector, count = first.facets["sector"][0]
    with sqlite3.connect(synthetic_db) as writer:
        writer.execute("DELETE FROM item_sectors WHERE sector = ?", [sector])
    after = search(reader, SearchQuery(text="газ", limit=10), facets=True, cache=True)
    assert sector not in dict(after.facets["sector"]) and count > 0
    # a page beyond the kept stories is counted afresh, and right
    deep = search(reader, SearchQuery(text="газ", limit=5, offset=after.total - 2),
                  cache=True)
    assert after.total > 30 and len(deep.items) == 2
    assert [i["id"] for i in deep.items] == [i["id"] for i in search(
        reader, SearchQuery(text="газ", limit=5, offset=after.total - 2)).items]


def test_a_connection_like_datasettes_sees_what_is_committed_after_its_first_search(
        synthetic_db, tmp_path):
    """Datasette opens `mode=ro` connections with Python's default isolation: the search's
    writes to its temporary tables must not leave them reading an old snapshot."""
    import shutil
    import sqlite3

    import sqlite_utils

    from monitor.search import SearchQuery, search

    path = tmp_path / "copy.db"
    shutil.copy(synthetic_db, path)
    reader = sqlite_utils.Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                                   check_same_thread=False))
    before = search(reader, SearchQuery(text="газ"), facets=True, cache=True)
    assert not reader.conn.in_transaction
    sector = before.facets["sector"][0][0]
    with sqlite3.connect(path) as writer:
        writer.execute("UPDATE items SET is_cooperation = 0 WHERE id IN "
                       "(SELECT item_id FROM item_sectors WHERE sector = ?)", [sector])
    after = search(reader, SearchQuery(text="газ"), facets=True, cache=True)
    assert sector not in dict(after.facets["sector"])
    assert 0 < after.matches < before.matches


def test_an_organisation_is_found_by_its_party_and_adjectives_by_their_country(db_path):
    import sqlite_utils

    assert found(db_path, "--org", "Минстрой России") == ["2"]
    assert found(db_path, "--org", "минстрой") == ["2"]
    db = sqlite_utils.Database(db_path)
    item = db.execute("SELECT id FROM items WHERE url LIKE '%/2'").fetchone()[0]
    rows = {(r[0], r[1], r[2]) for r in db.execute(
        "SELECT e.type, e.normal, ie.text FROM item_entities ie "
        "JOIN entities e ON e.id = ie.entity_id WHERE ie.item_id = ?", [item])}
    # the NER's ORG "Минстрой" stored under its party, the country a location of its own,
    # the adjective "японские" under Japan
    assert {("ORG", "Минстрой России", "Минстрой"), ("LOC", "Россия", "России"),
            ("LOC", "Япония", "японские")} <= rows
    result = CliRunner().invoke(cli, ["--db", str(db_path), "search", "--org", "Минстрой",
                                      "--format", "json"])
    [hit] = json.loads(result.stdout)
    assert {"type": "ORG", "normal": "Минстрой России", "country": "RU"} in hit["entities"]


def test_a_country_finds_its_adjective_and_demonym(db_path):
    """«Япония» (or JP) finds «Японских компаний…» though the text never names Japan;
    the adjective itself looks up only itself."""
    assert "1" in found(db_path, "Япония") and "1" in found(db_path, "JP")
    assert found(db_path, "японский") == found(db_path, "японских")
    assert set(found(db_path, "японский")) <= set(found(db_path, "Япония"))
