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
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from feedserver import FeedServer, rss
from monitor.cli import cli
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
def serving(db, *, env=None, host="127.0.0.1"):
    """A real `monitor serve` process over `db`; yields its base URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--db", str(db), "serve",
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


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    db = _poll(tmp_path_factory.mktemp("web"), {"Лента А": ARTICLES,
                                                "Лента Б": ARTICLES[:1] + [GAS_COPY]})
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
    assert "JP" in page.inner_text(".active")

    # the item page: entities highlighted, both outlets listed
    page.click("article.item h2 a")
    page.wait_for_load_state()
    assert page.inner_text("h1.item-title") == titles[0]
    marks = page.locator(".entities-text mark").all_inner_texts()
    assert any("Воронеж" in m for m in marks) and any("Владивосток" in m for m in marks)
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
        for export in ("/search.json", "/search.csv"):
            response = httpx.get(base + export, params=params, timeout=10)
            assert response.status_code == 400, (export, params, response.status_code)
            assert "должен быть целым числом" in response.json()["error"]
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
