import re

import pytest

from monitor.config import ConfigError, load_config, parse_duration


def test_shipped_feeds_yaml_is_valid():
    from conftest import ROOT

    config = load_config(ROOT / "feeds.yaml")
    assert len(config.feeds) >= 15
    assert all(feed.url.startswith("http") for feed in config.feeds)
    assert len({feed.name for feed in config.feeds}) == len(config.feeds)


def test_defaults_and_durations(write_config):
    path = write_config({"feeds": [
        {"name": "A", "url": "https://a.example/rss"},
        {"name": "B", "url": "https://b.example/rss", "interval": "1h", "enabled": False,
         "tags": ["x"]},
        {"name": "C", "url": "https://c.example/rss", "interval": 5},
    ]})
    config = load_config(path)
    a, b, c = config.feeds
    assert a.interval == 900 and a.enabled and a.tags == []
    assert b.interval == 3600 and not b.enabled and b.tags == ["x"]
    assert c.interval == 300  # a bare number means minutes


@pytest.mark.parametrize("value,seconds", [("900s", 900), ("15m", 900), ("2h", 7200),
                                            ("1d", 86400), (10, 600), ("1.5h", 5400)])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("data,expected", [
    ({"feeds": [{"name": "A", "url": "https://a/"}, {"name": "B", "url": "ftp://b/"}]},
     ["feeds[1] (name 'B')", "field 'url'", "not an http(s) URL"]),
    ({"feeds": [{"name": "A", "url": "https://a/", "intervall": "5m"}]},
     ["feeds[0] (name 'A')", "field 'intervall'", "unknown field"]),
    ({"feeds": [{"name": "A", "url": "https://a/", "interval": "soon"}]},
     ["feeds[0] (name 'A')", "field 'interval'", "not a duration"]),
    ({"feeds": [{"url": "https://a/"}]}, ["feeds[0]", "field 'name'", "Field required"]),
    ({"feeds": [{"name": "A", "url": "https://a/"}, {"name": "A", "url": "https://b/"}]},
     ["duplicate feed name 'A'"]),
    ({"feeds": [{"name": "A", "url": "https://a/", "encoding": "klingon"}]},
     ["field 'encoding'", "unknown encoding"]),
    ({"smtp": {"security": "tls"}}, ["smtp, field 'security'"]),
    ({"digest": {"send_at": "25:00"}},
     ["digest, field 'send_at'", "expected a time of day as HH:MM, 00:00 to 23:59, not '25:00'"]),
    ({"digest": {"subscribers": [{"name": "A", "email": "anna"}]}},
     ["field 'email'", "expected an e-mail address such as anna@example.org, not 'anna'"]),
])
def test_bad_config_names_file_entry_and_field(write_config, data, expected):
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message  # one problem, one line
    for part in expected:
        assert part in message


def test_every_problem_is_named_on_its_own_line(write_config):
    feeds = [{"name": f"F{n}", "url": "ftp://x/"} for n in range(12)]
    path = write_config({"feeds": feeds, "digest": {"send_at": "25:00"}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}: feeds[0] (name 'F0'), field 'url'")
    assert [line.startswith("  feeds[") for line in lines[1:10]] == [True] * 9
    assert lines[10] == "  (and 3 more problems)"  # 12 feeds and send_at: 13 in all


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - name: A\n    url: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"feeds.yaml: line \d+, column \d+: invalid YAML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")


def test_db_path_is_relative_to_config(write_config, tmp_path):
    config = load_config(write_config({"database": "news.db", "feeds": []}))
    assert config.db_path() == tmp_path / "news.db"
    assert config.db_path("/elsewhere/x.db").name == "x.db"
    bare = load_config(write_config({"feeds": []}, name="bare.yaml"))
    assert str(bare.db_path()) == "monitor.db"


# --- durations ----------------------------------------------------------------------------

BAD_DURATIONS = [float("nan"), float("inf"), float("-inf"), -1, 0, "99999999d", "1e400", True,
                 10 ** 400, "soon", None]
DURATION_FIELDS = [
    (lambda v: {"feeds": [{"name": "A", "url": "https://a/", "interval": v}]},
     "feeds[0] (name 'A'), field 'interval'"),
    (lambda v: {"poll": {"timeout": v}}, "poll, field 'timeout'"),
    (lambda v: {"poll": {"connect_timeout": v}}, "poll, field 'connect_timeout'"),
    (lambda v: {"poll": {"max_backoff": v}}, "poll, field 'max_backoff'"),
    (lambda v: {"smtp": {"timeout": v}}, "smtp, field 'timeout'"),
]


@pytest.mark.parametrize("value", BAD_DURATIONS, ids=lambda v: repr(v)[:12])
@pytest.mark.parametrize("make,where", DURATION_FIELDS, ids=lambda x: x if isinstance(x, str) else "")
def test_every_duration_is_finite_positive_and_bounded(write_config, make, where, value):
    path = write_config(make(value))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {where}: ") and "\n" not in message


@pytest.mark.parametrize("field,value,seconds", [
    ("interval", "7d", 7 * 86400), ("interval", "1s", 1), ("max_backoff", "7d", 7 * 86400),
    ("timeout", "10m", 600), ("timeout", 0.5, 0.5), ("timeout", "30s", 30),
    ("connect_timeout", 600, 600),
])
def test_durations_up_to_the_documented_maxima_are_accepted(write_config, field, value,
                                                            seconds):
    feed = {"name": "A", "url": "https://a/"}
    data = {"feeds": [feed], "poll": {}}
    (feed if field == "interval" else data["poll"])[field] = value
    config = load_config(write_config(data))
    target = config.feeds[0] if field == "interval" else config.poll
    assert getattr(target, field) == seconds


@pytest.mark.parametrize("value,expected", [
    ("8d", "at most 7 d"), ("2.5e3m", "not a duration"), (float("nan"), "not a finite duration"),
])
def test_duration_errors_say_why(value, expected):
    with pytest.raises(ValueError, match=expected):
        parse_duration(value)


def test_the_longest_durations_still_schedule():
    from monitor.config import MAX_INTERVAL
    from monitor.poller import next_poll_after

    for errors in (0, 1, 40):
        next_poll_after(MAX_INTERVAL, errors, max_backoff=MAX_INTERVAL, jitter=0.5,
                        retry_after=None)


# --- YAML and names -----------------------------------------------------------------------

@pytest.mark.parametrize("text,line,key", [
    ("feeds:\n  - name: A\n    url: https://a/\n    url: https://b/\n", 4, "url"),
    ("poll: {timeout: 5}\nfeeds: []\npoll: {timeout: 9}\n", 3, "poll"),
    ('feeds:\n  - {name: A, url: "https://a/", name: B}\n', 2, "name"),
    ("digest:\n  subscribers:\n    - name: A\n      email: a@x\n      email: b@x\n", 5,
     "email"),
])
def test_duplicate_yaml_keys_are_refused_with_the_line(tmp_path, text, line, key):
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}, column ")
    assert f"duplicate key {key!r}" in message and "\n" not in message


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text('feeds:\n  - &a {name: A, url: "https://a/", interval: 5m}\n'
                    "  - <<: *a\n    name: B\n    interval: 10m\n", encoding="utf-8")
    assert [(f.name, f.interval) for f in load_config(path).feeds] == [("A", 300), ("B", 600)]


@pytest.mark.parametrize("data,expected", [
    ({"feeds": [{"name": "", "url": "https://a/"}]},
     "feeds[0] (name ''), field 'name': must not be blank"),
    ({"feeds": [{"name": "  \t", "url": "https://a/"}]}, "field 'name': must not be blank"),
    ({"feeds": [{"name": "ТАСС", "url": "https://a/"}, {"name": " тасс ", "url": "https://b/"}]},
     "duplicate feed name 'тасс' (entry 0 has the same name, ignoring case)"),
    ({"digest": {"subscribers": [{"name": " ", "email": "a@x"}]}},
     "digest subscribers[0] (name ' '), field 'name': must not be blank"),
    ({"digest": {"subscribers": [{"name": "Ира", "email": "a@x"},
                                 {"name": "ИРА", "email": "b@x"}]}},
     "duplicate subscriber name 'ИРА'"),
])
def test_names_are_not_blank_and_unique_ignoring_case(write_config, data, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(write_config(data))


@pytest.mark.parametrize("subscriber,expected", [
    ({"sectors": ["nope"]}, "field 'sectors': unknown sector 'nope'; valid sectors: water,"),
    ({"countries": ["JP", "XX"]}, "field 'countries': unknown country 'XX'"),
    ({"keywords": ["водоочистка", "и"]}, "field 'keywords': keyword 'и' has no word to search"),
    ({"keywords": ["(("]}, "keyword '((' has no word to search for"),
])
def test_subscriber_filters_the_digest_cannot_match_are_refused(write_config, subscriber,
                                                                 expected):
    """A sector or country no item can have would leave the digest empty for good, and a
    keyword without a word would drop the filter and send everything."""
    data = {"digest": {"subscribers": [{"name": "Анна", "email": "a@x", **subscriber}]}}
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config(write_config(data))


def test_subscriber_filters_take_ids_codes_and_russian_names(write_config):
    subscriber = {"name": "Анна", "email": "a@x", "sectors": ["water", "Энергетика"],
                  "countries": ["jp", "Япония", "Белоруссии"],
                  "keywords": ["водоочистка", "«обращение с отходами»"]}
    config = load_config(write_config({"digest": {"subscribers": [subscriber]}}))
    assert config.digest.subscribers[0].countries == ["jp", "Япония", "Белоруссии"]


def test_names_lose_surrounding_spaces(write_config):
    config = load_config(write_config({"feeds": [{"name": " ТАСС ", "url": "https://a/"}]}))
    assert config.feeds[0].name == "ТАСС"


# --- other holes: URLs, encodings, numbers -------------------------------------------------

@pytest.mark.parametrize("url,expected", [
    ("http://[::1/", "not a valid URL"),  # httpx raised InvalidURL out of every poll
    ("http://a\x00b/", "control characters"),
    ("https://x.ru/a b", "spaces"),
    ("https://a..b/rss", "invalid host name"),
    ("https://x.ru:70000/", "invalid port"),
    ("https:x.ru", "not an http(s) URL"),
    ("http:///rss", "not an http(s) URL"),
    ("file:///etc/passwd", "not an http(s) URL"),
    ("//x.ru/rss", "not an http(s) URL"),
])
def test_urls_the_client_cannot_request_are_refused(write_config, url, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        load_config(write_config({"feeds": [{"name": "A", "url": url}]}))
    assert "feeds[0] (name 'A'), field 'url'" in str(info.value)


@pytest.mark.parametrize("url", ["HTTPS://TASS.RU/rss", "https://тасс.рф/rss",
                                 "http://127.0.0.1:8080/feed?x=1", "http://[::1]:8080/feed"])
def test_good_urls_are_accepted(write_config, url):
    assert load_config(write_config({"feeds": [{"name": "A", "url": url}]})).feeds[0].url == url


@pytest.mark.parametrize("encoding", ["base64", "rot13", "zlib", "idna"])
def test_codecs_that_are_not_text_encodings_are_refused(write_config, encoding):
    data = {"feeds": [{"name": "A", "url": "https://a/", "encoding": encoding}]}
    with pytest.raises(ConfigError, match="field 'encoding': .*not a text encoding"):
        load_config(write_config(data))


@pytest.mark.parametrize("data,where", [
    ({"poll": {"concurrency": True}}, "poll, field 'concurrency'"),
    ({"poll": {"concurrency": -1}}, "poll, field 'concurrency'"),
    ({"poll": {"concurrency": 0}}, "poll, field 'concurrency'"),
    ({"poll": {"analysis_workers": True}}, "poll, field 'analysis_workers'"),
    ({"poll": {"max_body_bytes": 1e400}}, "poll, field 'max_body_bytes'"),
    ({"poll": {"jitter": float("nan")}}, "poll, field 'jitter'"),
    ({"smtp": {"port": True}}, "smtp, field 'port'"),
])
def test_counts_are_real_numbers_in_range(write_config, data, where):
    with pytest.raises(ConfigError, match=re.escape(where)):
        load_config(write_config(data))


@pytest.mark.parametrize("written, send_at", [("08:00", "08:00"), ("8:00", "08:00"),
                                              ('"8:00"', "08:00"), ("7:30", "07:30"),
                                              ("23:59", "23:59"), ("0:00", "00:00")])
def test_send_at_takes_a_time_as_people_write_it(tmp_path, written, send_at):
    """Unquoted, YAML reads 8:00 as the number 480 (base 60); it is still 08:00."""
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds: []\ndigest:\n  send_at: {written}\n", encoding="utf-8")
    assert load_config(path).digest.send_at == send_at


@pytest.mark.parametrize("written", ["24:00", '"24:00"', '"9:5"', "true", '"noon"'])
def test_send_at_that_is_no_time_of_day_is_refused(tmp_path, written):
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds: []\ndigest:\n  send_at: {written}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="field 'send_at'"):
        load_config(path)
