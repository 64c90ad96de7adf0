"""The command line end to end, against real feeds served from 127.0.0.1."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from feedserver import rss
from monitor import store
from monitor.cli import cli


def invoke(*args, input=None):
    result = CliRunner().invoke(cli, list(map(str, args)), input=input, catch_exceptions=False)
    return result


@pytest.fixture
def seed_feed(feed_server, seed_article):
    title, text = seed_article
    ns = ' xmlns:yandex="http://news.yandex.ru"'
    body = rss([{"title": title, "link": "https://minstroyrf.example/press/ru-jp?utm_source=rss",
                 "guid": "seed-1", "pubDate": "Tue, 18 Feb 2020 10:00:00 +0300",
                 "description": text.split("\n")[0][:150], "yandex:full-text": text}],
               extra_ns=ns)
    return feed_server.add("/seed.xml", body, headers={"Content-Type": "application/rss+xml"})


def test_poll_twice_stores_the_seed_article_once(tmp_path, write_config, seed_feed,
                                                 seed_article):
    config = write_config({"feeds": [{"name": "Минстрой", "url": seed_feed, "local": True}]})
    db = tmp_path / "m.db"
    first = invoke("--config", config, "--db", db, "poll")
    assert first.exit_code == 0, first.output
    assert "Минстрой: 1 entry, 1 new" in first.output
    second = invoke("--config", config, "--db", db, "poll")
    assert second.exit_code == 0
    assert "Минстрой: 1 entry, 0 new" in second.output

    items = json.loads(invoke("--config", config, "--db", db, "search", "--format",
                              "json").stdout)
    assert len(items) == 1
    [item] = items
    assert item["title"] == seed_article[0]
    assert item["url"] == "https://minstroyrf.example/press/ru-jp"
    assert item["feed"] == "Минстрой"
    assert item["published"] == "2020-02-18T07:00:00+00:00"
    normals = {e["normal"] for e in item["entities"]}
    assert {"Россия", "Япония", "Воронеж", "Владивосток", "Санкт-Петербург", "Токио",
            "Егоров"} <= normals
    assert item["text"].count("Напомним, летом 2019 года") == 1
    assert item["text"].count("Замминистра также отметил") == 1
    for key in ("id", "title", "url", "published", "feed", "text", "entities", "sectors",
                "countries", "is_cooperation"):
        assert key in item


def test_failing_feeds_are_reported_and_the_rest_polled(tmp_path, write_config, feed_server):
    ok = feed_server.add("/ok.xml", rss([{"title": "Новость", "link": "https://x.ru/1"}]))
    missing = feed_server.url("/missing.xml")
    config = write_config({"feeds": [
        {"name": "Рабочая", "url": ok, "local": True},
        {"name": "Пропавшая", "url": missing, "local": True},
        {"name": "Мёртвый хост", "url": "http://127.0.0.1:9/rss", "local": True},
    ]})
    result = invoke("--config", config, "--db", tmp_path / "m.db", "poll")
    assert result.exit_code == 0
    assert "Рабочая: 1 entry, 1 new" in result.output
    assert "Пропавшая: FAILED: HTTP 404" in result.output
    assert "Мёртвый хост: FAILED:" in result.output
    assert "1 new item, 1 analysed, 2 failed" in result.output


def test_bad_config_gives_one_clear_line_and_touches_nothing(tmp_path, write_config):
    config = write_config({"feeds": [{"name": "A", "url": "not-a-url"}]})
    db = tmp_path / "m.db"
    result = invoke("--config", config, "--db", db, "poll")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert str(config) in lines[0] and "feeds[0] (name 'A')" in lines[0]
    assert "field 'url'" in lines[0]
    assert not db.exists()


def test_unwritable_database_gives_one_clear_line(tmp_path, write_config):
    config = write_config({"feeds": []})
    result = invoke("--config", config, "--db", tmp_path / "no" / "such" / "dir.db", "poll")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0]
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00not a database\x00" * 512)
    result = invoke("--config", config, "--db", garbage, "poll")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {garbage}: cannot use database: file is not a database"]


COMMANDS = ["poll", "run", "analyze", "search", "feeds", "demo", "serve", "reindex", "train"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself_with_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output
    assert "monitor " + command in result.output


def test_top_level_help_lists_every_command():
    result = invoke("--help")
    for command in COMMANDS:
        assert command in result.output


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Watch Russian-language news" in result.stdout


ANALYZE_INPUT = "\n".join([
    json.dumps({"id": "a", "title": "Россия и Япония", "text": "Встреча прошла в Токио."},
               ensure_ascii=False),
    "{not json",
    json.dumps({"id": "c", "title": "", "text": "Глава Татарстана Рустам Минниханов "
                "посетил Казань."}, ensure_ascii=False),
    json.dumps(["a list"]),
    json.dumps({"id": "e", "title": 5, "text": "x"}),
    "",
    json.dumps({"id": "f", "title": "Сергей Лавров прибыл в Нидерланды", "text": ""},
               ensure_ascii=False),
]) + "\n"


def _check_analyze_output(lines, line_offset=0):
    assert len(lines) == 6  # the blank line is skipped
    a, bad, c, not_object, bad_type, f = lines
    assert a["id"] == "a"
    title_ents = [e for e in a["entities"] if e.get("in_title")]
    assert [(e["normal"], e["start"], e["stop"]) for e in title_ents] == [
        ("Россия", 0, 6), ("Япония", 9, 15)]
    [tokyo] = [e for e in a["entities"] if not e.get("in_title")]
    assert tokyo == {"type": "LOC", "text": "Токио", "normal": "Токио", "start": 17, "stop": 22,
                     "canonical": "Токио", "country": "JP"}
    assert set(bad) == {"line", "error"} and "invalid JSON" in bad["error"]
    assert bad["line"] == 2 + line_offset
    assert c["id"] == "c"
    text = "Глава Татарстана Рустам Минниханов посетил Казань."
    for e in c["entities"]:
        assert text[e["start"]:e["stop"]] == e["text"]
    assert {(e["type"], e["normal"]) for e in c["entities"]} >= {
        ("PER", "Рустам Минниханов"), ("LOC", "Казань")}
    assert "error" in not_object and not_object["line"] == 4 + line_offset
    assert bad_type["id"] == "e" and "must be strings" in bad_type["error"]
    assert f["id"] == "f" and any(e["type"] == "PER" for e in f["entities"])


def test_analyze_keeps_order_and_survives_bad_lines():
    result = invoke("analyze", "-", "--workers", "1", input=ANALYZE_INPUT)
    assert result.exit_code == 0
    _check_analyze_output([json.loads(line) for line in result.stdout.splitlines()])


@pytest.mark.slow
def test_analyze_with_two_worker_processes_keeps_order(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(ANALYZE_INPUT * 3, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "monitor", "analyze", str(source),
                             "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 18
    input_lines_per_copy = ANALYZE_INPUT.count("\n")
    for copy in range(3):
        _check_analyze_output(lines[copy * 6:(copy + 1) * 6],
                              line_offset=copy * input_lines_per_copy)


def test_search_and_feeds_on_an_empty_database(tmp_path, monkeypatch):
    db = tmp_path / "empty.db"
    store.open_db(db).conn.close()
    result = invoke("--config", tmp_path / "none.yaml", "--db", db, "search", "--format", "json")
    assert result.exit_code == 1 and "no such file" in result.output
    monkeypatch.chdir(tmp_path)  # default ./feeds.yaml absent: search works on the database
    result = invoke("--db", db, "search", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    result = invoke("--db", db, "feeds", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


@pytest.mark.parametrize("command", [
    ["search", "Япония"], ["feeds"], ["reindex"], ["label", "1", "--cooperation", "yes"],
    ["reprocess"], ["serve", "--port", "1"],
])
@pytest.mark.parametrize("with_feeds", [False, True])
def test_a_mistyped_db_is_an_error_not_a_new_empty_database(tmp_path, monkeypatch, command,
                                                           write_config, with_feeds):
    """Commands that read stored items never create a database: a typo in --db (or a run
    in the wrong folder) says so instead of answering from an empty new file, whether or
    not the config lists feeds."""
    monkeypatch.chdir(tmp_path)
    if with_feeds:
        write_config({"feeds": [{"name": "A", "url": "https://a.example/rss"}]})
    result = invoke("--db", "mistyped.db", *command)
    assert result.exit_code == 1, result.output
    assert "no database at mistyped.db" in result.output and "monitor poll" in result.output
    assert not (tmp_path / "mistyped.db").exists()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["demo --db", "--db before demo"])
def test_demo_runs_offline(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)  # a demo.db made by mistake would land here
    db = tmp_path / "try.db"
    result = invoke("demo", "--db", db) if where == "demo --db" else invoke("--db", db, "demo")
    assert result.exit_code == 0, result.output
    assert f"Stored in {db}." in result.output and not (tmp_path / "demo.db").exists()
    assert "Polled 3 feeds: 8 new items, 8 analysed, 0 failed." in result.output
    items = json.loads(invoke("--db", db, "search", "--format", "json", "--limit", "50").stdout)
    titles = [item["title"] for item in items]
    # The seed story is carried by two demo feeds (one windows-1251) and stored once.
    assert titles.count("Россия и Япония будут сотрудничать в сфере водоочистки") == 1
    [seed] = [i for i in items if i["title"].startswith("Россия и Япония")]
    assert set(seed["feeds"]) == {"Демо: федеральное агентство", "Демо: Приморские вести"}
    assert "Воронеж" in {e["normal"] for e in seed["entities"]}


def test_feeds_reports_polling_state(tmp_path, write_config, feed_server):
    ok = feed_server.add("/ok.xml", rss([{"title": "Новость", "link": "https://x.ru/1"},
                                         {"title": "Ещё", "link": "https://x.ru/2"}]))
    gone = feed_server.add("/gone.xml", status=410)
    config = write_config({"feeds": [
        {"name": "Рабочая", "url": ok, "local": True},
        {"name": "Закрытая", "url": gone, "local": True},
        {"name": "Выключенная", "url": ok, "local": True, "enabled": False},
    ]})
    db = tmp_path / "m.db"
    invoke("--config", config, "--db", db, "poll")
    rows = {r["name"]: r for r in json.loads(
        invoke("--config", config, "--db", db, "feeds", "--format", "json").stdout)}
    assert set(rows["Рабочая"]) >= {"name", "url", "status", "error_count", "last_error",
                                    "last_polled", "next_poll", "items"}
    assert (rows["Рабочая"]["status"], rows["Рабочая"]["items"]) == ("ok", 2)
    assert rows["Рабочая"]["next_poll"] > rows["Рабочая"]["last_polled"]
    assert rows["Закрытая"]["status"] == "disabled"
    assert "410" in rows["Закрытая"]["last_error"] and rows["Закрытая"]["next_poll"] is None
    assert rows["Выключенная"]["enabled"] is False and rows["Выключенная"]["last_polled"] is None
    table = invoke("--config", config, "--db", db, "feeds").output
    assert "Рабочая" in table and "disabled" in table
    # the table's times are the config's zone's (Moscow by default), and say so
    from monitor.export import local_time

    polled = local_time(rows["Рабочая"]["last_polled"], "Europe/Moscow")
    assert polled.endswith("+03:00") and polled[:16].replace("T", " ") in table
    assert "times in Europe/Moscow" in table


@pytest.mark.parametrize("command", ["serve", "run"])
def test_an_unsafe_web_address_is_refused_before_the_database_is_created(
        tmp_path, write_config, monkeypatch, command):
    monkeypatch.delenv("MONITOR_WEB_PASSWORD", raising=False)
    config = write_config({"feeds": []})
    db = tmp_path / "m.db"
    result = invoke("--config", config, "--db", db, command, "--host", "0.0.0.0")
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without a password" in result.output
    assert not db.exists() and list(tmp_path.iterdir()) == [config]


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_taken_web_port_is_a_clear_error(tmp_path, write_config, command):
    """`monitor run` must not announce a web UI it could not start, nor poll on without it;
    `monitor serve` says the same in one line, not as uvicorn's exit status 3."""
    import socket

    config = write_config({"feeds": []})
    store.open_db(tmp_path / "m.db").conn.close()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("--config", config, "--db", tmp_path / "m.db", command,
                        "--port", str(port))
    assert result.exit_code == 1
    assert f"the web UI could not listen on http://127.0.0.1:{port}/" in result.output
    assert ("--no-web" in result.output) == (command == "run")
    assert "monitor: web UI on" not in result.output


@pytest.mark.parametrize("since", ["yesterday", "2026-13-45", "2026-02-30"])
def test_reprocess_refuses_a_date_that_is_none(tmp_path, since):
    result = invoke("--db", tmp_path / "m.db", "reprocess", "--since", since)
    assert result.exit_code == 2
    assert f"Invalid value for --since: {since!r} is not a date (use YYYY-MM-DD)" \
        in result.output
    assert not (tmp_path / "m.db").exists()


def test_reprocess_since_is_a_day_in_the_configs_time_zone(tmp_path, monkeypatch):
    """--since 2026-01-01 is the start of that day in Moscow, 21:00 UTC the day before."""
    from monitor import ingest

    asked = []
    monkeypatch.setattr(ingest, "reprocess", lambda db, since, **_: asked.append(since) or 0)
    store.open_db(tmp_path / "m.db").conn.close()
    result = invoke("--db", tmp_path / "m.db", "reprocess", "--since", "2026-01-01")
    assert result.exit_code == 0 and "Re-tagged 0 items." in result.output
    assert asked == ["2025-12-31T21:00:00+00:00"]


def _digest_config(write_config):
    return write_config({"feeds": [], "digest": {"subscribers": [
        {"name": "Анна", "email": "anna@example.org"}]}})


def test_digest_names_a_subscriber_ignoring_case(tmp_path, write_config):
    config = _digest_config(write_config)
    result = invoke("--config", config, "--db", tmp_path / "m.db", "digest", "--subscriber", "анна")
    assert result.exit_code == 1 and "no database at" in result.output  # nothing polled yet
    store.open_db(tmp_path / "m.db").conn.close()
    result = invoke("--config", config, "--db", tmp_path / "m.db", "digest", "--subscriber", "анна")
    assert result.exit_code == 0 and result.output.startswith("Анна <anna@example.org>:")
    result = invoke("--config", config, "--db", tmp_path / "m.db", "digest", "--subscriber", "Борис")
    assert result.exit_code == 1 and "no subscriber named Борис" in result.output


@pytest.mark.parametrize("folder", ["/proc/no-such-dir", "{config}/x"])
def test_digest_preview_to_a_folder_that_cannot_be_made_is_an_error(tmp_path, write_config,
                                                                     folder):
    config = _digest_config(write_config)
    folder = folder.format(config=config)  # under a file: not a directory
    store.open_db(tmp_path / "m.db").conn.close()
    result = invoke("--config", config, "--db", tmp_path / "m.db", "digest", "--preview", folder)
    assert result.exit_code == 2
    assert f"Invalid value for --preview: cannot create the folder {folder}:" in result.output


def test_digest_preview_without_a_database_makes_no_folder(tmp_path, write_config):
    config = _digest_config(write_config)
    result = invoke("--config", config, "--db", tmp_path / "m.db", "digest", "--preview",
                    tmp_path / "out")
    assert result.exit_code == 1 and "no database at" in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.db").exists()


def test_poll_names_a_feed_ignoring_case(tmp_path, write_config, feed_server):
    from feedserver import rss

    url = feed_server.add("/f.xml", rss([{"title": "Новость", "link": "https://x.ru/1"}]))
    config = write_config({"feeds": [{"name": "Федеральная лента", "url": url, "local": True}]})
    result = invoke("--config", config, "--db", tmp_path / "m.db", "poll", "--feed",
                    "федеральная  ЛЕНТА")
    assert result.exit_code == 0, result.output
    assert "Федеральная лента: 1 entry, 1 new" in result.output


def test_progress_in_a_log_is_a_line_now_and_then(capsys):
    """Where stderr is no terminal (cron, CI), a long step still says how far it is."""
    from monitor.cli import LogProgress

    now = [0.0]
    progress = LogProgress(clock=lambda: now[0])
    task = progress.add_task("Training", total=10)
    for _ in range(10):
        now[0] += 4.0  # a step every 4 s: lines at 8 s (past 5 s) and at 40 s (30 s later)
        progress.advance(task)
    assert capsys.readouterr().err.splitlines() == ["Training: 2/10 (8 s)",
                                                    "Training: 10/10 (40 s)"]
    quick = progress.add_task("Polling", total=None)
    progress.advance(quick)
    assert capsys.readouterr().err == ""  # a short step says nothing


def test_tables_show_brackets_and_colons_as_written(tmp_path, write_config, feed_server):
    """A title «[/]», an error «[Errno -2]» or «:flag:» is text, not rich's markup or emoji."""
    title = "Россия и Япония [/] договорились [bold]о сотрудничестве :smile:"
    url = feed_server.add("/b.xml", rss([{"title": title, "link": "https://x.ru/b",
                                           "description": "Стороны подписали соглашение."}]))
    config = write_config({"feeds": [{"name": "Лента [/b]", "url": url, "local": True}]})
    db = tmp_path / "m.db"
    assert invoke("--config", config, "--db", db, "poll").exit_code == 0
    table = invoke("--config", config, "--db", db, "search", "--all")
    assert table.exit_code == 0, table.output
    assert "[/]" in table.output and "[bold]о" in table.output and ":smile:" in table.output
    feeds = invoke("--config", config, "--db", db, "feeds")
    assert feeds.exit_code == 0 and "Лента [/b]" in feeds.output
