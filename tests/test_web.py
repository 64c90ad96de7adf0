"""The web UI in a real headless Chromium (Debian's), driven by Playwright, against a real
`monitor serve` process over a database built by polling loopback feeds."""

import base64
import contextlib
import os
import shutil
import sqlite3
import socket
import subprocess
import sys
import time
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
import yaml
from click.testing import CliRunner

from feedserver import FeedServer, rss
from monitor.cli import cli
from monitor.russian import MONTHS_SHORT
from monitor.sectors import sector_names
from monitor.web import UnsafeBind, check_bind

ARTICLES = [
    {"title": "Россия и Япония будут сотрудничать в сфере водоочистки",
     "link": "https://news.example/water", "pubDate": "Sun, 01 Feb 2026 09:00:00 +0300",
     "description": "Минстрой России и японские компании договорились о совместных проектах "
                    "по очистке сточных вод в Воронеже и Владивостоке."},
    {"title": "Россия и Китай подписали соглашение о поставках газа",
     "link": "https://news.example/gas", "pubDate": "Tue, 05 May 2026 09:00:00 +0300",
     "description": "«Газпром» и китайская CNPC заключили соглашение о поставках газа."},
    # The title's *text* contains a script tag (entity-escaped in the feed): it must be
    # shown as text, never run.
    {"title": "&lt;script&gt;alert('x')&lt;/script&gt; Россия и Индия договорились о "
              "сотрудничестве",
     "link": "https://news.example/xss", "pubDate": "Wed, 06 May 2026 09:00:00 +0300",
     "description": "<p>Стороны подписали меморандум о сотрудничестве "
                    "<img src=x onerror=alert(1)> в образовании.</p>"},
]

# Another outlet's rewrite of the gas story (own link, own last sentence): a near copy.
GAS_COPY = {"title": "Россия и Китай подписали соглашение о поставках газа",
            "link": "https://other.example/gas-deal", "pubDate": "Tue, 05 May 2026 10:00:00 +0300",
            "description": "«Газпром» и китайская CNPC заключили соглашение о поставках газа. "
                           "Об этом сообщила пресс-служба компании."}


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(db, *, env=None, host="127.0.0.1", config=None):
    """A real `monitor serve` process over `db` (with `config`, a feeds.yaml, if given);
    yields its base URL once it answers."""
    port = _free_port()
    options = ["--config", str(config)] if config else []
    proc = subprocess.Popen([sys.executable, "-m", "monitor", *options, "--db", str(db), "serve",
                             "--host", host, "--port", str(port)],
                            env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(base + "/-/versions.json", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        else:
            proc.kill()
        if proc.poll() is not None:
            pytest.fail("monitor serve did not start: " + (proc.stdout.read() or ""))
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _poll(tmp, feeds: dict) -> Path:
    """A database made by `monitor poll` over loopback feeds {name: items}."""
    server = FeedServer()
    try:
        config = tmp / "feeds.yaml"
        config.write_text(yaml.safe_dump({"feeds": [
            {"name": name, "url": server.add(f"/{n}.xml", rss(items)), "local": True}
            for n, (name, items) in enumerate(feeds.items())]}, allow_unicode=True), "utf-8")
        db = tmp / "m.db"
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db), "poll"])
        assert result.exit_code == 0, result.output
    finally:
        server.close()
    return db


# More outlets carrying the India story (the same URL: the same item), one with a long name:
# the outlet facet has more values than it shows before «ещё»
MORE_FEEDS = ["Лента В", "Лента Г", "Лента Д", "Лента Е", "Лента Ж", "Лента З"]
LONG_FEED = ("Информационное агентство Приморского края и всего Дальневосточного федерального "
             "округа «Новости регионов»")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db = _poll(tmp_path_factory.mktemp("web"), {"Лента А": ARTICLES,
                                                "Лента Б": ARTICLES[:1] + [GAS_COPY],
                                                LONG_FEED: ARTICLES[2:],
                                                **{name: ARTICLES[2:] for name in MORE_FEEDS}})
    with serving(db, env={"MONITOR_WEB_HOSTS": "monitor.lan, box.lan:9000"}) as base:
        yield {"base": base, "db": db}


@pytest.fixture(scope="module")
def browser():
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium); "
                    ".ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


@pytest.mark.slow
def test_search_facet_and_item_page(site, page):
    page.goto(site["base"] + "/")
    page.fill("input[name=q]", "водоочистку")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    titles = page.locator("article.item h2").all_inner_texts()
    assert titles == ["Россия и Япония будут сотрудничать в сфере водоочистки"]
    assert "Найдено: 1" in page.inner_text(".summary")

    # a facet narrows the results and shows as an active filter
    page.goto(site["base"] + "/")
    assert len(page.locator("article.item").all()) == 3  # 4 items, the gas story's 2 as one
    page.locator("[data-facet=country] a", has_text="Япония").click()
    page.wait_for_load_state()
    assert "country=JP" in page.url
    assert page.locator("article.item h2").all_inner_texts() == [titles[0]]
    assert page.inner_text(".active") == "Страна: Япония ✕"  # a Russian name, not the code

    # the item page: entities highlighted, both outlets listed
    page.click("article.item h2 a")
    page.wait_for_load_state()
    assert page.inner_text("h1.item-title") == titles[0]
    marks = page.locator(".entities-text mark").all_inner_texts()
    assert any("Воронеж" in m for m in marks) and any("Владивосток" in m for m in marks)
    # the organisation and its country are marked apart, a country adjective as a place
    assert any(m.startswith("Минстрой") and "России" not in m and "ОРГ" in m for m in marks)
    assert any(m.startswith("России") and "МЕСТО" in m for m in marks)
    assert any(m.startswith("японские") and "МЕСТО" in m for m in marks)
    rows = page.locator("table.sources tr").all_inner_texts()
    assert len(rows) == 3 and "Лента А" in rows[1] + rows[2] and "Лента Б" in rows[1] + rows[2]
    page.screenshot(path=str(site["db"].parent / "item.png"))


@pytest.mark.slow
def test_near_copies_show_as_one_story_with_every_outlet(site, page):
    page.goto(site["base"] + "/?q=газ")
    metas = page.locator("article.item .meta").all_inner_texts()
    assert len(metas) == 1 and "2 источника" in metas[0]  # one entry per story
    page.locator("article.item .meta a.sources").first.click()
    page.wait_for_load_state()
    rows = page.locator("table.sources tr").all_inner_texts()
    assert len(rows) == 3
    assert sorted(row.split("\t")[0] for row in rows[1:]) == ["Лента А", "Лента Б"]
    assert sum("своя версия" in row for row in rows) == 1  # the other outlet's own copy
    # the water story is one item carried by both feeds: one story, two outlets
    page.goto(site["base"] + "/?q=водоочистка")
    assert "2 источника" in page.inner_text("article.item .meta")


@pytest.mark.slow
def test_feed_html_is_never_rendered(site, page):
    page.goto(site["base"] + "/?q=Индия")
    [title] = page.locator("article.item h2").all_inner_texts()
    assert title == "<script>alert('x')</script> Россия и Индия договорились о сотрудничестве"
    assert page.locator("article.item script").count() == 0
    assert page.locator("img").count() == 0
    page.click("article.item h2 a")
    page.wait_for_load_state()
    assert page.inner_text("h1.item-title").startswith("<script>alert('x')</script>")
    assert page.locator("main script, main img").count() == 0
    assert page.dialogs == []


@pytest.mark.slow
def test_overview_and_exports(site, page):
    page.goto(site["base"] + "/overview")
    assert page.locator("[data-chart=country] svg polyline").count() >= 2
    data = httpx.get(site["base"] + "/search.json", params={"q": "газ"}).json()
    assert data["total"] == 1 and data["matches"] == 2  # one story, two publications
    assert data["items"][0]["countries"] == ["CN", "RU"] and data["items"][0]["more"] == 1
    assert [sorted(i["story_outlets"]) for i in data["items"]] == [["Лента А", "Лента Б"]]
    csv_text = httpx.get(site["base"] + "/search.csv").text
    assert csv_text.splitlines()[0].startswith("\ufeffid,title,url,item_url,outlets")
    # Datasette underneath: tables, SQL, with the lemmatising function
    sql = httpx.get(site["base"] + "/m.json", params={
        "sql": "select monitor_lemmas('японских компаний') as l", "_shape": "array"}).json()
    assert sql == [{"l": "японский компания"}]


@pytest.mark.slow
def test_read_only(site):
    count = lambda: httpx.get(site["base"] + "/m.json", params={  # noqa: E731
        "sql": "select count(*) as n from items", "_shape": "array"}).json()[0]["n"]
    before = count()
    response = httpx.get(site["base"] + "/m.json", params={"sql": "delete from items"})
    assert response.status_code >= 400 or "error" in response.text.lower()
    assert count() == before == 4


def test_refuses_other_addresses_without_password(monkeypatch, tmp_path):
    monkeypatch.delenv("MONITOR_WEB_PASSWORD", raising=False)
    check_bind("127.0.0.1")
    with pytest.raises(UnsafeBind, match="MONITOR_WEB_PASSWORD"):
        check_bind("0.0.0.0")
    db = tmp_path / "m.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "refusing to listen on 0.0.0.0" in result.output
    assert not db.exists()  # refused before the database was created
    monkeypatch.setenv("MONITOR_WEB_PASSWORD", "secret")
    check_bind("0.0.0.0")


def test_a_blank_password_counts_as_none(monkeypatch, tmp_path):
    for blank in ("", "   ", " \t\n"):
        monkeypatch.setenv("MONITOR_WEB_PASSWORD", blank)
        check_bind("127.0.0.1")
        with pytest.raises(UnsafeBind, match="refusing to listen on 0.0.0.0"):
            check_bind("0.0.0.0")
    db = tmp_path / "m.db"
    result = CliRunner().invoke(cli, ["--db", str(db), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1, result.output
    assert "MONITOR_WEB_PASSWORD is blank" in result.output and not db.exists()


@pytest.mark.slow
def test_password_protects_every_page(tmp_path):
    db = tmp_path / "m.db"
    from monitor import store

    store.open_db(db).conn.close()
    with serving(db, env={"MONITOR_WEB_PASSWORD": "пароль secret"}) as base:
        assert httpx.get(base + "/", timeout=5).status_code == 401
        assert httpx.get(base + "/m.json", timeout=2).status_code == 401
        ok = ("monitor", "пароль secret")
        assert httpx.get(base + "/", auth=ok, timeout=5).status_code == 200
        assert httpx.get(base + "/", auth=("monitor", "wrong"), timeout=5).status_code == 401
        assert httpx.get(base + "/", auth=("admin", ok[1]), timeout=5).status_code == 401
        token = base64.b64encode(":".join(ok).encode()).decode()
        # the scheme is case-insensitive (RFC 7235); bad headers are a 401, never a 500
        for header, status in [(f"basic {token}", 200), (f"BASIC  {token}", 200),
                               (b"Basic \xc3\xa9\xff", 401), ("Basic !!!notbase64", 401),
                               ("Basic " + base64.b64encode(b"\xff\xfe").decode(), 401),
                               ("Bearer " + token, 401), ("Basic", 401), ("", 401)]:
            response = httpx.get(base + "/", headers={"Authorization": header}, timeout=5)
            assert response.status_code == status, (header, response.status_code)
        # with a password, the password guards: any Host name may carry it
        assert httpx.get(base + "/", auth=ok, headers={"Host": "monitor.example"},
                         timeout=5).status_code == 200


@pytest.mark.slow
def test_a_blank_password_on_loopback_leaves_the_ui_open_to_loopback_names_only(tmp_path):
    db = tmp_path / "m.db"
    from monitor import store

    store.open_db(db).conn.close()
    with serving(db, env={"MONITOR_WEB_PASSWORD": " \t "}) as base:
        assert httpx.get(base + "/", timeout=5).status_code == 200
        assert httpx.get(base + "/", headers={"Host": "evil.example"},
                         timeout=5).status_code == 400


@pytest.mark.slow
def test_unknown_host_names_are_refused_without_a_password(site):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends
    `Host: evil.example:PORT`; only this server's own names are answered."""
    base = site["base"]
    port = base.rsplit(":", 1)[1]

    def status(host, path="/"):
        return httpx.get(base + path, headers={"Host": host}, timeout=5).status_code

    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}",
                 f"localhost:{port}.evil.example", f"127.0.0.1:{int(port) + 1}",
                 "box.lan:9001", "box.lan"):
        assert status(host) == 400, host
        assert status(host, "/m.json") == 400, host
    refused = httpx.get(base + "/", headers={"Host": "evil.example"}, timeout=5)
    assert "MONITOR_WEB_HOSTS" in refused.text and "Неизвестное имя" in refused.text
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}",
                 f"[::1]:{port}", "monitor.lan", "monitor.lan:8443", "box.lan:9000"):
        assert status(host) == 200, host


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/item/999999", "/item/abc", "/item/%D9%A3", "/item/1" + "0" * 30])
def test_an_item_that_is_not_there_is_a_russian_404(site, path):
    page = httpx.get(site["base"] + path, timeout=10)
    assert page.status_code == 404 and "Нет такой новости" in page.text
    assert "нет в базе" in page.text and "← к поиску" in page.text


BAD_PAGING = [{"limit": "abc"}, {"limit": "0"}, {"limit": "-1"}, {"limit": "1e3"},
              {"limit": "٣"}, {"limit": "9" * 5000}, {"offset": "-5"}, {"offset": "x"},
              {"offset": "1" + "0" * 30}, {"offset": "99999999999"}]


@pytest.mark.slow
def test_bad_paging_is_a_400_with_a_russian_message(site):
    base = site["base"]
    for params in BAD_PAGING:
        page = httpx.get(base + "/", params=params, timeout=10)
        assert page.status_code == 400, (params, page.status_code)
        assert page.headers["content-type"].startswith("text/html")
        assert "должен быть целым числом" in page.text, params
        if "limit" in params:  # a large limit is capped, not refused: the message says so
            assert "больше 200 считается за 200" in page.text
        for export in ("/search.json", "/search.csv"):
            response = httpx.get(base + export, params=params, timeout=10)
            assert response.status_code == 400, (export, params, response.status_code)
            assert "должен быть целым числом" in response.json()["error"]
            [(field, value)] = params.items()
            assert response.json()["field"] == field
            assert response.json()["value"] == value[:40]
    # a limit above the cap is capped, not refused, and never bypasses it
    for limit in ("100000", "9" * 25):
        data = httpx.get(base + "/search.json", params={"limit": limit, "all": "1"}).json()
        assert 0 < len(data["items"]) <= 200 and data["total"] == 3  # stories
    assert httpx.get(base + "/", params={"limit": "2", "offset": "2"}).status_code == 200
    assert httpx.get(base + "/search.json", params={"offset": "50"}).json()["items"] == []


# --- hostile links ------------------------------------------------------------------------

HOSTILE = [" JaVaScRiPt:alert(document.domain)", "java\tscript:alert(2)",
           "data:text/html,<script>alert(3)</script>", "vbscript:msgbox(4)",
           "javascript&#58;alert(5)", "&#106;avascript:alert(6)", "\x01javascript:alert(7)"]
SAFE_SOURCE = "https://ok.example/india-energy"


class _Links(HTMLParser):
    """Every href/src/action attribute of a page, as a browser reads it (entities decoded)."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value or "" for name, value in attrs if name in ("href", "src",
                                                                       "action")]


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    """One story carried by eight outlets; its stored URLs are hostile (as an old or
    careless parser could have stored them), except one outlet's."""
    story = {"title": "Россия и Индия договорились о сотрудничестве в энергетике",
             "link": "https://news.example/india-energy",
             "description": "«Росатом» и индийская NPCIL подписали соглашение о "
                            "сотрудничестве в строительстве АЭС в Индии."}
    names = [f"Лента {n}" for n in range(len(HOSTILE) + 1)]
    db = _poll(tmp_path_factory.mktemp("hostile"), {name: [story] for name in names})
    with sqlite3.connect(db) as conn:
        [item_id] = [r[0] for r in conn.execute("SELECT id FROM items")]
        conn.execute("UPDATE items SET url = ? WHERE id = ?", [HOSTILE[0], item_id])
        feed_ids = [r[0] for r in conn.execute(
            "SELECT feed_id FROM item_sources WHERE item_id = ? ORDER BY feed_id", [item_id])]
        for feed_id, url in zip(feed_ids, HOSTILE + [SAFE_SOURCE]):
            conn.execute("UPDATE item_sources SET url = ? WHERE item_id = ? AND feed_id = ?",
                         [url, item_id, feed_id])
    with serving(db) as base:
        yield {"base": base, "item": item_id}


@pytest.mark.slow
def test_hostile_urls_are_never_links_on_the_item_page(hostile_site):
    base, item_id = hostile_site["base"], hostile_site["item"]
    html = httpx.get(f"{base}/item/{item_id}", timeout=10).text
    links = links_of(html)
    for link in links:  # only our own pages and http(s) addresses
        assert link.startswith(("/", "#", "http://", "https://")), link
    assert SAFE_SOURCE in links  # a real outlet URL is still a link
    assert sum(link.startswith(("http://", "https://")) for link in links) == 1
    # the hostile addresses are shown as text (escaped), not dropped
    assert "vbscript:msgbox(4)" in html and "data:text/html,&lt;script&gt;" in html
    # the export keeps the stored URL as it is
    data = httpx.get(f"{base}/search.json", params={"q": "Индия"}, timeout=10).json()
    assert [i["url"] for i in data["items"]] == [HOSTILE[0]]


@pytest.mark.slow
def test_no_clickable_script_link_in_chromium(hostile_site, page):
    page.goto(f"{hostile_site['base']}/item/{hostile_site['item']}")
    protocols = page.eval_on_selector_all("a", "as => as.map(a => a.protocol)")
    assert protocols and set(protocols) <= {"http:", "https:"}, protocols
    assert page.locator("a", has_text="оригинал").count() == 0
    assert "адрес оригинала" in page.inner_text(".meta")
    rows = page.locator("table.sources tr").all_inner_texts()
    assert len(rows) == len(HOSTILE) + 2
    for text in page.locator("table.sources .unsafe-url").all():
        text.click()  # text, not a link: nothing runs, nothing navigates
    assert page.dialogs == [] and page.url.endswith(f"/item/{hostile_site['item']}")


# --- the analyst's view: Russian, paging, the way back, small screens ----------------------

def _query(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)


def _total(site, **params) -> int:
    return httpx.get(site["base"] + "/search.json", params=params, timeout=10).json()["total"]


@pytest.mark.slow
def test_chips_and_facets_are_in_russian(site, page):
    this_year = date.today().year
    page.goto(site["base"] + f"/?sector=energy&country=cn&since={this_year}-11-01"
              f"&until={this_year}-11-30&international=1")
    chips = page.locator(".active a").all_inner_texts()
    assert chips == ["Отрасль: Энергетика ✕", "Страна: Китай ✕", "с 1 ноября по 30 ноября ✕",
                     "Только международное ✕"]
    page.goto(site["base"] + "/?since=2025-11-01&until=2025-11-30")
    assert page.locator(".active a").all_inner_texts() == ["с 1 ноября 2025 по 30 ноября 2025 ✕"]
    # a chip's ✕ removes that filter only
    page.goto(site["base"] + "/?sector=energy&country=CN")
    page.locator(".active a", has_text="Страна: Китай").click()
    page.wait_for_load_state()
    assert _query(page.url) == [("sector", "energy")]

    page.goto(site["base"] + "/")
    ids = set(sector_names())
    sectors = page.locator("[data-facet=sector] a .label").all_inner_texts()
    countries = page.locator("[data-facet=country] a .label").all_inner_texts()
    months = page.locator("[data-facet=month] a .label").all_inner_texts()
    assert sectors and not ids & set(sectors) and "Энергетика" in sectors
    assert {"Россия", "Китай", "Япония", "Индия"} <= set(countries)
    assert not any(len(c) == 2 and c.isupper() for c in countries)
    assert months == ["май 2026", "февраль 2026"]
    # the item chips and the overview legends too
    assert "Китай" in page.locator("article.item .chip.country").all_inner_texts()
    page.goto(site["base"] + "/overview")
    legend = page.inner_text("[data-chart=sector] .legend")
    assert "Энергетика" in legend and "energy" not in legend


@pytest.mark.slow
def test_a_chosen_facet_clicked_again_is_removed(site, page):
    page.goto(site["base"] + "/")
    page.locator("[data-facet=sector] a", has_text="Энергетика").click()
    page.wait_for_load_state()
    assert _query(page.url) == [("sector", "energy")]
    chosen = page.locator("[data-facet=sector] a.chosen")
    assert chosen.count() == 1 and "Энергетика" in chosen.inner_text()
    # no link anywhere on the page repeats a parameter
    for href in page.eval_on_selector_all("a[href^='/?']", "as => as.map(a => a.href)"):
        pairs = _query(href)
        assert len(pairs) == len(set(pairs)), href
    chosen.click()
    page.wait_for_load_state()
    assert ("sector", "energy") not in _query(page.url)
    assert page.locator("[data-facet=sector] a.chosen").count() == 0
    # another sector and country add to the chosen ones
    page.goto(site["base"] + "/?country=CN")
    page.locator("[data-facet=country] a", has_text="Россия").click()
    page.wait_for_load_state()
    assert _query(page.url) == [("country", "CN"), ("country", "RU")]
    page.locator("[data-facet=feed] a", has_text="Лента Б").click()
    page.wait_for_load_state()
    page.locator("[data-facet=feed] a", has_text="Лента Б").click()
    page.wait_for_load_state()
    assert ("feed", "Лента Б") not in _query(page.url)


@pytest.mark.slow
def test_facet_counts_never_run_into_long_labels(site, page):
    page.goto(site["base"] + "/")
    link = page.locator("[data-facet=feed] a", has_text="Приморского края")
    if not link.is_visible():
        page.click("[data-facet=feed] summary")  # behind «ещё»
    label = link.locator(".label").bounding_box()
    count = link.locator(".count").bounding_box()
    assert label["height"] > 25  # the long name wraps, on its own side
    assert label["x"] + label["width"] <= count["x"]
    page.set_viewport_size({"width": 360, "height": 800})
    label = link.locator(".label").bounding_box()
    count = link.locator(".count").bounding_box()
    assert label["x"] + label["width"] <= count["x"] and count["x"] + count["width"] <= 360


def test_every_sector_is_in_the_facet_the_rest_behind_more():
    from monitor.web import FACET_SHOWN, _facet_links

    class Args:
        def get(self, name):
            return None

        def getlist(self, name):
            return ["health"] if name == "sector" else []

    class Request:
        query_string, args = "sector=health", Args()

    values = [(sector, 20 - n) for n, sector in enumerate(sector_names())]
    facet = _facet_links(Request(), {"sector": values})["sector"]
    assert len(facet["shown"]) + len(facet["more"]) == len(values) == 16
    # the chosen value is always shown, whatever its rank
    assert [f["value"] for f in facet["shown"]][-1] == "health" and \
        len(facet["shown"]) == FACET_SHOWN + 1
    assert all(not f["chosen"] for f in facet["more"])


@pytest.mark.slow
def test_more_opens_the_rest_of_a_facet(site, page):
    from monitor.web import FACET_SHOWN

    page.goto(site["base"] + "/")
    facet = page.locator("[data-facet=feed]")
    assert facet.locator("a").count() == 3 + len(MORE_FEEDS) > FACET_SHOWN
    assert facet.locator("a:visible").count() == FACET_SHOWN
    summary = facet.locator("details.more summary")
    assert summary.inner_text() == f"ещё {3 + len(MORE_FEEDS) - FACET_SHOWN}"
    summary.click()
    assert facet.locator("a:visible").count() == 3 + len(MORE_FEEDS)


@pytest.mark.slow
def test_bad_paging_is_a_russian_400_page_in_the_browser(site, page):
    for params in ("limit=abc", "offset=abc", "limit=0"):
        response = page.goto(site["base"] + "/?q=газ&" + params)
        assert response.status == 400, params
        assert page.get_attribute("html", "lang") == "ru"
        assert "должен быть целым числом" in page.inner_text(".error")
        assert page.input_value("input[name=q]") == "газ"
        assert page.locator("article.item").count() == 0
    # the form does not carry the bad value into the next search
    page.goto(site["base"] + "/?q=газ&limit=abc")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "limit" not in dict(_query(page.url)) and page.locator("article.item").count() >= 1


@pytest.mark.slow
def test_a_query_error_is_a_russian_400(site):
    for q, words in [('"японских компаний', "кавычка"), ("-санкции", "хотя бы одно слово")]:
        response = httpx.get(site["base"] + "/", params={"q": q}, timeout=10)
        assert response.status_code == 400, q
        assert words in response.text and "Запрос не выполнен" in response.text
    response = httpx.get(site["base"] + "/", params={"since": "2026-13-01"}, timeout=10)
    assert response.status_code == 400 and "«2026-13-01» — не дата" in response.text


def test_errors_say_the_exceptions_russian_text():
    from monitor.web import _error_text

    class WithAttribute(ValueError):
        russian = "неизвестная отрасль «nosuch»"

    class WithMethod(ValueError):
        def russian(self):
            return "неизвестная страна «Japan»"

    assert _error_text(WithAttribute("unknown sector 'nosuch'")) == "неизвестная отрасль «nosuch»"
    assert _error_text(WithMethod("unknown country")) == "неизвестная страна «Japan»"
    assert _error_text(ValueError("something else")) == "something else"


@pytest.mark.slow
def test_help_page_documents_the_query_language(site, page):
    page.goto(site["base"] + "/")
    page.click("a.help-link")
    page.wait_for_load_state()
    assert page.url.endswith("/help")
    assert page.inner_text("h1") == "Как искать"
    text = page.inner_text("main")
    for example in ('"японские компании"', "водоочистка OR канализация",
                    "(водоочистка OR канализация) Япония", "Китай -санкции", "мос*",
                    "Кот-д'Ивуар", '"в Японии"', "Белоруссия", "КНР", "sector=water",
                    "country=JP", "since=2026-11-01"):
        assert example in text, example
    # every sector ID with its Russian name
    rows = page.locator("table.sectors tr").all_inner_texts()
    assert len(rows) == 16 and "water\tВодоснабжение и водоочистка" in rows


@pytest.mark.slow
def test_the_month_facet_ends_february_on_its_last_day(site, page):
    page.goto(site["base"] + "/")
    page.locator("[data-facet=month] a", has_text="февраль 2026").click()
    page.wait_for_load_state()
    assert dict(_query(page.url)) == {"since": "2026-02-01", "until": "2026-02-28"}
    assert page.locator(".error").count() == 0
    assert page.locator("article.item h2").all_inner_texts() == [ARTICLES[0]["title"]]
    assert page.locator(".active a").all_inner_texts()[0].startswith(
        "с 1 февраля" if date.today().year == 2026 else "с 1 февраля 2026")
    page.locator("[data-facet=month] a.chosen").click()  # clicked again: off
    page.wait_for_load_state()
    assert _query(page.url) == []


def test_month_bounds_come_from_the_calendar():
    from monitor.web import _month_bounds

    assert _month_bounds("2026-02") == ("2026-02-01", "2026-02-28")
    assert _month_bounds("2024-02") == ("2024-02-01", "2024-02-29")
    assert _month_bounds("2026-04") == ("2026-04-01", "2026-04-30")
    assert _month_bounds("2026-12") == ("2026-12-01", "2026-12-31")
    assert _month_bounds("2026-13") is None and _month_bounds("") is None


@pytest.mark.slow
def test_page_numbers_with_back_and_forward(site, page):
    total = _total(site, all="1")
    assert total >= 3
    page.goto(site["base"] + "/?all=1&limit=1")
    assert page.inner_text("nav.pages .current") == "1"
    assert page.locator("nav.pages a.prev").count() == 0
    numbers = page.locator("nav.pages .number, nav.pages .current").all_inner_texts()
    assert numbers[0] == "1" and numbers[-1] == str(total)
    seen = []
    for number in range(1, total + 1):
        seen += page.eval_on_selector_all("article.item h2 a", "as => as.map(a => a.pathname)")
        assert page.inner_text("nav.pages .current") == str(number)
        if number < total:
            page.click("nav.pages a.next")
            page.wait_for_load_state()
    assert len(seen) == total == len(set(seen))  # every result once
    assert page.locator("nav.pages a.next").count() == 0
    page.click("nav.pages a.prev")
    page.wait_for_load_state()
    assert page.inner_text("nav.pages .current") == str(total - 1)
    assert dict(_query(page.url)) == {"all": "1", "limit": "1", "offset": str(total - 2)}


@pytest.mark.slow
def test_a_page_past_the_end_leads_back_to_the_last(site, page):
    total = _total(site)
    page.goto(site["base"] + "/?offset=100")
    notice = page.inner_text(".notice")
    assert "ничего нет" in notice and f"найдено {total}" in notice
    assert page.locator(".summary").count() == 0  # not «Найдено: N» over an empty page
    page.click("a.last-page")
    page.wait_for_load_state()
    assert page.locator("article.item").count() == total  # 20 a page: the one page
    assert "offset" not in dict(_query(page.url))


@pytest.mark.slow
def test_the_item_page_leads_back_to_the_search(site, page):
    page.goto(site["base"] + "/?q=газ&country=CN&limit=1")
    page.click("article.item h2 a")
    page.wait_for_load_state()
    assert page.url.split("?")[0].rsplit("/", 2)[1] == "item"
    # another outlet's own version keeps the way back too
    page.locator("table.sources a", has_text="своя версия").click()
    page.wait_for_load_state()
    page.click("a.back")
    page.wait_for_load_state()
    assert _query(page.url) == [("q", "газ"), ("country", "CN"), ("limit", "1")]
    assert page.input_value("input[name=q]") == "газ"
    assert page.inner_text(".active") == "Страна: Китай ✕"
    # from the start page, back is the start page; a hostile `back` stays on this site
    page.goto(site["base"] + "/")
    page.click("article.item h2 a")
    page.wait_for_load_state()
    assert page.get_attribute("a.back", "href") == "/"
    item = page.url
    page.goto(item + "?back=" + quote("//evil.example/x?q=1"))
    assert page.get_attribute("a.back", "href").startswith("/?")


@pytest.mark.slow
def test_times_are_in_the_configured_time_zone(site, page, tmp_path):
    # 09:00 +03:00 is 09:00 in Moscow (the default, as in the digest), 16:00 in Vladivostok
    page.goto(site["base"] + "/?q=водоочистка")
    assert "1 февраля" in page.inner_text("article.item .meta time")
    assert "09:00" in page.inner_text("article.item .meta time")
    assert "Europe/Moscow" in page.inner_text("footer")
    config = tmp_path / "feeds.yaml"
    config.write_text("digest:\n  timezone: Asia/Vladivostok\n", "utf-8")
    with serving(site["db"], config=config) as base:
        page.goto(base + "/?q=водоочистка")
        assert "16:00" in page.inner_text("article.item .meta time")
        page.click("article.item h2 a")
        page.wait_for_load_state()
        assert "16:00" in page.inner_text(".meta time")
        assert "Asia/Vladivostok" in page.inner_text("footer")


@pytest.mark.slow
def test_the_overview_follows_the_filters(site, page):
    page.goto(site["base"] + "/overview")
    countries = page.inner_text("[data-chart=country] .legend")
    # Russia is in every story: left out, and said so
    assert "Россия" not in countries and "Китай" in countries
    assert "Россия — есть в каждой найденной новости" in page.inner_text("[data-chart=country]")
    for unfiltered in ("/overview?limit=abc", "/overview?q=&offset=5"):  # no condition
        page.goto(site["base"] + unfiltered)
        assert "По этим условиям" not in page.inner_text(".summary"), unfiltered
    page.goto(site["base"] + "/overview?country=CN")
    assert "По этим условиям: 1 сюжет" in page.inner_text(".summary")
    chart = page.inner_text("[data-chart=country]")
    assert "Китай — выбрана в фильтре" in chart
    assert "Китай" not in page.inner_text("[data-chart=country] .legend")
    assert page.locator(".active a").all_inner_texts() == ["Страна: Китай ✕"]
    sectors = page.inner_text("[data-chart=sector] .legend")
    assert "Энергетика" in sectors and "Водоснабжение" not in sectors
    # a chip's ✕ stays on the overview; the search link keeps the filters
    assert page.get_attribute(".active a", "href") == "/overview"
    page.click("text=Эти новости списком")
    page.wait_for_load_state()
    assert _query(page.url) == [("country", "CN")]
    # up to now: the current month is on the axis, marked as partial
    page.goto(site["base"] + "/overview")
    assert page.locator("[data-chart=sector] .partial-note").is_visible()
    assert page.locator("[data-chart=sector] svg rect.partial").count() == 1
    # axis labels: Russian month names, every month between the first and the last
    page.goto(site["base"] + "/overview?until=2026-05-31")
    assert page.locator("[data-chart=sector] .partial-note").count() == 0
    labels = page.eval_on_selector_all("[data-chart=sector] svg text",
                                        "ts => ts.map(t => t.textContent)")
    assert ["фев", "мар", "апр", "май"] == [t for t in labels if t in MONTHS_SHORT]
    # and no label is cut off at the picture's edges
    for box in page.eval_on_selector_all(
            "[data-chart] svg text",
            "ts => ts.map(t => { const b = t.getBBox(); const s = t.ownerSVGElement; "
            "return [b.x, b.x + b.width, s.width.baseVal.value, b.y] })"):
        assert 0 <= box[0] and box[1] <= box[2] and box[3] >= 0, box


def test_the_chart_marks_the_current_month_and_names_its_series():
    from monitor.web import _chart

    rows = [("2026-10", "CN", 3), ("2026-12", "CN", 1), ("2026-10", "JP", 1),
            ("2026-11", "<b>", 2)]
    chart = _chart(rows, labels={"CN": "Китай", "JP": "Япония"}, current_month="2026-12")
    assert chart["partial"] and 'class="partial"' in chart["svg"]
    assert chart["svg"].count('stroke-dasharray="4 3"') == 3  # each series' last segment
    assert [l["name"] for l in chart["legend"]] == ["Китай", "<b>", "Япония"]
    assert "<b>" not in chart["svg"] and "&lt;b&gt;" in chart["svg"]  # escaped
    assert "Китай, декабрь 2026: 1" in chart["svg"]
    past = _chart(rows, current_month="2027-01")
    assert not past["partial"] and "dasharray" not in past["svg"]
    # extended to the current month: its months count 0, it is the partial one
    later = _chart(rows, current_month="2027-02", through="2027-02")
    assert later["partial"] and later["svg"].count("<title>CN, ") == 5  # Oct .. Feb
    # two years: the year under the first month and under January
    years = _chart([("2025-11", "CN", 1), ("2026-02", "CN", 2)])["svg"]
    assert years.count(">2025<") == 1 and years.count(">2026<") == 1 and ">янв<" in years
    assert _chart([])["empty"]
    # more series than drawn: the page is told how many there are (it says so)
    many = _chart([("2026-10", f"S{i}", i + 1) for i in range(8)], top=6)
    assert many["series"] == 8 and [l["name"] for l in many["legend"]][:2] == ["S7", "S6"]
    assert len(many["legend"]) == 6


@pytest.mark.slow
def test_layout_fits_a_360_px_screen(site, browser, tmp_path):
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="ru-RU")
    page = context.new_page()
    try:
        for path in ("/", "/?q=газ&country=CN&sector=energy&since=2026-05-01&until=2026-05-31",
                     "/?all=1&limit=1&offset=1", "/?offset=100", "/?limit=abc", "/overview",
                     "/overview?sector=energy", "/help", "/item/1", "/item/999999"):
            page.goto(site["base"] + path)
            width, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert width <= inner == 360, (path, width)
            page.screenshot(path=str(tmp_path / "360.png"), full_page=True)
        # the results come first, the facets below them
        page.goto(site["base"] + "/")
        results = page.locator("article.item").first.bounding_box()
        facets = page.locator("[data-facet=sector]").bounding_box()
        assert results["y"] < facets["y"] and facets["width"] > 300
        # and on a wide screen, the facets beside the results
        page.set_viewport_size({"width": 1600, "height": 900})
        results = page.locator("article.item").first.bounding_box()
        facets = page.locator("[data-facet=sector]").bounding_box()
        assert facets["x"] + facets["width"] < results["x"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 1600
    finally:
        context.close()


# --- the engine on the page (#18): stories, OR sectors, refused filters, Atom ---------------

def _story_titles(site, **params) -> dict[int, str]:
    """{best item id: title} of every story the search finds (its JSON page, 200 a page)."""
    data = httpx.get(site["base"] + "/search.json", params={**params, "limit": "200"},
                     timeout=10).json()
    return {item["id"]: item["title"] for item in data["items"]}


@pytest.mark.slow
def test_a_story_is_one_entry_and_more_opens_its_other_publications(site, page):
    page.goto(site["base"] + "/?q=газ")
    [entry] = page.locator("article.item").all()  # two matched publications, one story
    assert "Найдено: 1 сюжет, 2 публикации" in page.inner_text(".summary")
    more = entry.locator("details.story-more")
    assert more.locator("summary").inner_text() == "ещё 1 публикация этого сюжета"
    other = more.locator("li a").first
    assert not other.is_visible()  # closed until asked for
    more.locator("summary").click()
    assert other.is_visible()
    best = entry.locator("h2 a").get_attribute("href").split("?")[0]
    href = other.get_attribute("href")
    assert href.split("?")[0] != best and "back=" in href  # the other one, keeping the way back
    data = httpx.get(site["base"] + "/search.json", params={"q": "газ"}).json()
    assert href.split("?")[0] == f"/item/{data['items'][0]['more_ids'][0]}"
    other.click()
    page.wait_for_load_state()
    # the other publication is the other outlet's copy, listed among the story's sources
    assert page.inner_text("h1.item-title") == GAS_COPY["title"]
    assert any("other.example/gas-deal" in a for a in page.eval_on_selector_all(
        "table.sources a", "as => as.map(a => a.href)"))
    # a story without other matched publications has no «ещё»
    page.goto(site["base"] + "/?q=водоочистка")
    assert page.locator("article.item details.story-more").count() == 0
    # facets count stories: the gas story once under China and under its outlets
    page.goto(site["base"] + "/?q=газ")
    china = page.locator("[data-facet=country] a", has_text="Китай").locator(".count")
    assert china.inner_text() == "1"
    feeds = page.locator("[data-facet=feed] a .count").all_inner_texts()
    assert feeds == ["1", "1"]  # Лента А and Лента Б each carried the one story


@pytest.mark.slow
def test_two_sectors_find_the_stories_of_either(site, page):
    energy, education = _story_titles(site, sector="energy"), _story_titles(site,
                                                                             sector="education")
    assert energy and education and set(energy) != set(education)
    page.goto(site["base"] + "/?sector=energy")
    assert page.locator("article.item").count() == len(energy)
    page.goto(site["base"] + "/?sector=energy&sector=education")
    shown = page.eval_on_selector_all("article.item h2 a",
                                      "as => as.map(a => a.pathname.split('/').pop())")
    assert sorted(map(int, shown)) == sorted(set(energy) | set(education))  # any of them
    assert f"Найдено: {len(set(energy) | set(education))}" in page.inner_text(".summary")
    assert page.locator(".active a").all_inner_texts() == ["Отрасль: Энергетика ✕",
                                                           "Отрасль: Образование ✕"]
    chosen = page.locator("[data-facet=sector] a.chosen .label").all_inner_texts()
    assert sorted(chosen) == ["Образование", "Энергетика"]
    # the facet counts stories of either sector: each sector's own count
    counts = dict(zip(page.locator("[data-facet=sector] a .label").all_inner_texts(),
                      page.locator("[data-facet=sector] a .count").all_inner_texts()))
    assert counts["Энергетика"] == str(len(energy))
    assert counts["Образование"] == str(len(education))
    # the CLI means the same: repeated --sector is any of them
    result = CliRunner().invoke(cli, ["--db", str(site["db"]), "search", "--sector", "energy",
                                      "--sector", "education", "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    assert sorted(i["id"] for i in json.loads(result.stdout)) == \
        sorted(set(energy) | set(education))


@pytest.mark.slow
def test_a_bad_filter_is_a_russian_400_listing_the_valid_values(site, page):
    response = page.goto(site["base"] + "/?q=газ&sector=nosuch")
    assert response.status == 400
    error = page.inner_text(".error")
    assert "Неизвестная отрасль «nosuch»" in error
    assert all(f"{name} ({sid})" in error for sid, name in sector_names().items())
    assert page.input_value("input[name=q]") == "газ"
    assert page.locator("article.item").count() == 0
    response = page.goto(site["base"] + "/?feed=ТАСС")
    assert response.status == 400
    error = page.inner_text(".error")
    assert "Неизвестный источник «ТАСС»" in error and "Лента А" in error and "Лента Б" in error
    response = page.goto(site["base"] + "/?country=Нарния")
    assert response.status == 400
    assert "Неизвестная страна «Нарния»" in page.inner_text(".error")
    assert "Япония (JP)" in page.inner_text(".error")
    # a valid value in another form is no error: a Russian name, a code in lower case
    assert page.goto(site["base"] + "/?country=Китай&sector=Энергетика").status == 200
    assert page.locator("article.item").count() == 1
    response = page.goto(site["base"] + "/overview?sector=nosuch")
    assert response.status == 400 and "Неизвестная отрасль" in page.inner_text("main")


@pytest.mark.slow
def test_the_atom_feed_of_the_search_on_the_page_is_read_by_feedparser(site, page):
    import feedparser

    page.goto(site["base"] + "/?q=Россия&all=1")
    feed_link = page.get_attribute("link[rel=alternate][type='application/atom+xml']", "href")
    assert feed_link == page.get_attribute(".exports a[type='application/atom+xml']", "href")
    response = httpx.get(site["base"] + feed_link, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "monitor: Россия"
    # one entry per story on the page, each linking to its page here
    titles = page.locator("article.item h2").all_inner_texts()
    assert len(feed.entries) == len(titles) == 3
    assert sorted(e.title for e in feed.entries) == sorted(titles)
    # each entry is one of the page's stories (by the story's best match or another of
    # its matched publications: the feed is newest first), every story once
    pages = [int(link.href.rsplit("/", 1)[1]) for e in feed.entries for link in e.links
             if link.href.startswith(site["base"] + "/item/")]
    stories = httpx.get(site["base"] + "/search.json", params={"q": "Россия", "all": "1"},
                        timeout=10).json()["items"]
    story_of = {i: s["id"] for s in stories for i in [s["id"], *s["more_ids"]]}
    assert len(pages) == len(feed.entries)
    assert sorted(story_of[i] for i in pages) == sorted(s["id"] for s in stories)
