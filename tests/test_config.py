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
    ({"digest": {"send_at": "25:00"}}, ["digest, field 'send_at'"]),
])
def test_bad_config_names_file_entry_and_field(write_config, data, expected):
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    for part in expected:
        assert part in message


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
