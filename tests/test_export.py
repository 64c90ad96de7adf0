"""Exports (monitor/export.py) of a whole search: CSV with a BOM, JSON Lines and Atom, the
same from the CLI and from a real `monitor serve` over HTTP; and the data path's errors."""

import csv
import io
import json

import feedparser
import httpx
import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import cli
from test_web import ARTICLES, GAS_COPY, _poll, serving

HEADER = ["id", "title", "url", "item_url", "outlets", "publications", "published",
          "sectors", "countries", "organisations", "score", "evidence"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    db = _poll(tmp, {"Лента А": ARTICLES, "Лента Б": ARTICLES[:1] + [GAS_COPY]})
    with serving(db) as base:
        config = tmp / "cli.yaml"
        config.write_text(yaml.safe_dump({"digest": {"base_url": base}}), "utf-8")
        yield {"base": base, "db": db, "config": config}


def cli_export(served, *args):
    result = CliRunner().invoke(cli, ["--config", str(served["config"]), "--db",
                                      str(served["db"]), "search", *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_csv_has_a_bom_and_the_same_columns_and_rows_in_the_cli_and_the_web(served):
    web = httpx.get(served["base"] + "/search.csv", params={"all": "1"}, timeout=10)
    assert web.headers["content-type"].startswith("text/csv")
    assert web.content.startswith("\ufeff".encode("utf-8"))
    assert web.content == cli_export(served, "--all", "--format", "csv")
    rows = list(csv.reader(io.StringIO(web.content.decode("utf-8-sig"))))
    assert rows[0] == HEADER
    by_title = {r[1]: dict(zip(HEADER, r)) for r in rows[1:]}
    assert len(rows) - 1 == 3  # stories: the gas story's near copy is one row
    gas = by_title["Россия и Китай подписали соглашение о поставках газа"]
    assert sorted(gas["outlets"].split("; ")) == ["Лента А", "Лента Б"]
    assert gas["publications"] == "2"
    assert gas["countries"] == "CN; RU" and gas["item_url"] == \
        f"{served['base']}/item/{gas['id']}"
    assert gas["published"].endswith("+03:00")  # the config's time zone (Moscow)
    assert "Газпром" in gas["organisations"]


def test_jsonl_is_readable_utf8_with_the_same_rows(served):
    web = httpx.get(served["base"] + "/search.jsonl", params={"q": "Россия", "all": "1"},
                    timeout=10)
    assert web.content == cli_export(served, "Россия", "--all", "--format", "jsonl")
    assert b"\\u" not in web.content and "Россия".encode() in web.content
    rows = [json.loads(line) for line in web.text.splitlines()]
    assert [list(r) for r in rows] == [HEADER] * len(rows) and len(rows) == 3
    csv_rows = list(csv.DictReader(io.StringIO(httpx.get(
        served["base"] + "/search.csv", params={"q": "Россия", "all": "1"}).text[1:])))
    assert [r["id"] for r in csv_rows] == [str(r["id"]) for r in rows]
    assert [r["outlets"] for r in csv_rows] == ["; ".join(r["outlets"]) for r in rows]


def test_json_page_is_readable_utf8(served):
    raw = httpx.get(served["base"] + "/search.json", params={"q": "газ"}).content
    assert b"\\u" not in raw and "газа".encode() in raw
    data = json.loads(raw)
    assert data["total"] == 1 and data["matches"] == 2 and data["facets"]["sector"]
    assert dict(map(tuple, data["facets"]["country"])) == {"CN": 1, "RU": 1}
    assert "\\u" not in cli_export(served, "газ", "--format", "json").decode()


def test_atom_feed_of_a_search_is_read_by_feedparser(served):
    response = httpx.get(served["base"] + "/search.atom", params={"q": "Россия", "all": "1"})
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    stories = json.loads(httpx.get(served["base"] + "/search.json", params={
        "q": "Россия", "all": "1"}).content)["items"]
    assert {e.title for e in feed.entries} == {s["title"] for s in stories}
    # the newest first, each linking to the original and to its page here
    assert [e.published_parsed for e in feed.entries] == sorted(
        (e.published_parsed for e in feed.entries), reverse=True)
    water = next(e for e in feed.entries if "водоочистки" in e.title)
    assert water.link == "https://news.example/water"
    assert any(link.href.startswith(served["base"] + "/item/") for link in water.links)
    assert {t.term for t in water.tags} >= {"JP", "RU"}
    assert feed.feed.title == "monitor: Россия"
    cli_feed = feedparser.parse(cli_export(served, "Россия", "--all", "--format", "atom"))
    assert [e.title for e in cli_feed.entries] == [e.title for e in feed.entries]


def test_exports_hold_the_whole_result_set_in_chunks(served, monkeypatch):
    from monitor import export

    monkeypatch.setattr(export, "CHUNK", 1)  # one story per chunk
    lines = cli_export(served, "--all", "--format", "jsonl").decode().splitlines()
    assert len(lines) == 3 and len({json.loads(l)["id"] for l in lines}) == 3  # noqa: E741
    assert len(cli_export(served, "--all", "--format", "jsonl", "--limit", "2")
               .decode().splitlines()) == 2


@pytest.mark.parametrize("path", ["/search.csv", "/search.jsonl", "/search.atom",
                                  "/search.json"])
def test_bad_filters_and_queries_are_a_400_listing_the_valid_values(served, path):
    base = served["base"]
    response = httpx.get(base + path, params={"sector": "nosuch"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "sector" and "water" in body["valid"]
    assert "Неизвестная отрасль «nosuch»" in body["error"]
    response = httpx.get(base + path, params={"country": "Japan"})
    assert response.status_code == 400 and "JP" in response.json()["valid"]
    for q in ("🙂", "OR"):
        response = httpx.get(base + path, params={"q": q})
        assert response.status_code == 400 and "нечего искать" in response.json()["error"]
        assert response.json()["field"] == "q"
    for params in ({"limit": "abc"}, {"offset": "abc"}, {"limit": "0"}):
        response = httpx.get(base + path, params=params)
        assert response.status_code == 400 and "целым числом" in response.json()["error"]
        assert response.json()["field"] == next(iter(params))
    response = httpx.get(base + path, params={"since": "2026-05-02", "until": "2026-05-01"})
    assert response.status_code == 400 and response.json()["field"] == "until"


def test_the_search_page_refuses_bad_filters_with_a_russian_400(served):
    base = served["base"]
    for params, text in [({"sector": "nosuch"}, "Неизвестная отрасль"),
                         ({"country": "Japan"}, "Неизвестная страна"),
                         ({"feed": "ТАСС"}, "Неизвестный источник"),
                         ({"q": "и"}, "нечего искать"),
                         ({"since": "2026-05-02", "until": "2026-05-01"}, "позже"),
                         ({"limit": "abc"}, "целым числом")]:
        page = httpx.get(base + "/", params=params, timeout=10)
        assert page.status_code == 400 and text in page.text, params
    # names are normalised: the chip's «Китай» and the code find the same
    by_name = httpx.get(base + "/search.json", params={"country": "Китай"}).json()
    by_code = httpx.get(base + "/search.json", params={"country": "CN"}).json()
    assert by_name["total"] == by_code["total"] == 1
    # a page past the end still tells the total and where the last page starts
    past = httpx.get(base + "/search.json", params={"all": "1", "offset": "100"}).json()
    assert past["items"] == [] and past["total"] == 3 and past["last_offset"] == 0


def test_an_atom_entry_drops_what_xml_cannot_carry():
    """A database from before the text clean-up may hold control characters in a title:
    the Atom export stays well-formed XML."""
    import xml.etree.ElementTree as ET

    from monitor.export import _entry

    row = {"url": "https://x.ru/\x0b1", "item_url": "http://ui/item/1", "evidence": "Суть\x01.",
           "title": "Заголовок\x0b с\x00 мусором", "published": None, "outlets": ["Лента\x02"],
           "sectors": ["water"], "countries": ["JP"]}
    entry = ET.fromstring(_entry(row))
    assert entry.find("title").text == "Заголовок с мусором"
    assert entry.find("summary").text == "Суть."
