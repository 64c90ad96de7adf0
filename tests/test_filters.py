"""Search filters (monitor/filters.py): validation with the valid values, names of
countries and sectors, day bounds in the time zone, and one meaning in the digest too."""

import pytest

from monitor import store
from monitor.config import FeedConfig, SubscriberConfig
from monitor.filters import (FilterError, Filters, conditions, country_code, day_bound,
                             validate, zone_of)


@pytest.fixture
def db(tmp_path):
    db = store.open_db(tmp_path / "f.db")
    store.sync_feeds(db, [FeedConfig(name="ТАСС Новости", url="https://a.example/rss"),
                          FeedConfig(name="Лента", url="https://b.example/rss")])
    return db


@pytest.mark.parametrize("field,kwargs,value", [
    ("sector", {"sectors": ["water", "nosuch"]}, "nosuch"),
    ("country", {"countries": ["Japan"]}, "Japan"),
    ("country", {"countries": ["XX"]}, "XX"),
    ("feed", {"feed": "ТАСС"}, "ТАСС"),
])
def test_unknown_values_name_the_field_and_the_valid_values(db, field, kwargs, value):
    with pytest.raises(FilterError) as error:
        validate(db, Filters(**kwargs))
    exc = error.value
    assert (exc.field, exc.value) == (field, value) and isinstance(exc, ValueError)
    assert value in str(exc) and value in exc.russian()
    valid = {"sector": ["water", "defense"], "country": ["JP", "CN", "BY"],
             "feed": ["ТАСС Новости", "Лента"]}[field]
    for v in valid:
        assert v in exc.valid and v in str(exc) and v in exc.russian()
    assert {"sector": "отрасль", "country": "страна", "feed": "источник"}[field] \
        in exc.russian().lower()


def test_names_become_codes_and_ids(db):
    f = validate(db, Filters(countries=["Китай", "КНР", "cn", "Белоруссия", "Беларусь",
                                        "Республика Беларусь", "Белоруссии", "BY"],
                             sectors=["WATER", "water", " energy "], feed="тасс  новости"))
    assert f.countries == ["CN", "BY"] and f.sectors == ["water", "energy"]
    assert f.feed == "ТАСС Новости"
    assert country_code("Японии") == "JP" and country_code("Japan") is None


def test_dates_in_order_and_in_the_time_zone(db):
    with pytest.raises(FilterError) as error:
        validate(db, Filters(since="2026-05-02", until="2026-05-01"))
    assert error.value.field == "until" and "позже" in error.value.russian()
    validate(db, Filters(since="2026-05-01", until="2026-05-01"))  # one whole day
    with pytest.raises(FilterError, match="not a date"):
        validate(db, Filters(since="2026-02-30"))
    moscow = zone_of("Europe/Moscow")
    assert day_bound("2026-05-01", end=False, zone=moscow) == "2026-04-30T21:00:00+00:00"
    assert day_bound("2026-05-01", end=True, zone=moscow) == "2026-05-01T20:59:59+00:00"
    assert day_bound("2026-05-01T12:00", end=False, zone=moscow) == "2026-05-01T09:00:00+00:00"
    assert day_bound("2026-05-01", end=False, zone=zone_of("UTC")) == \
        "2026-05-01T00:00:00+00:00"


def test_sectors_and_countries_are_any_of_them(db):
    where, params = conditions(Filters(sectors=["water", "energy"], countries=["JP", "CN"]))
    assert sum("item_sectors" in w for w in where) == 1 and "IN (?,?)" in where[1]
    assert params == ["water", "energy", "JP", "CN"]


def test_the_digest_reads_a_subscriber_as_the_search_reads_filters():
    from monitor.digest import subscriber_filters

    sub = SubscriberConfig(name="А", email="a@example.org", sectors=["water", "waste"],
                           countries=["Китай", "jp"], international_only=True, min_score=0.5)
    f = subscriber_filters(sub)
    assert f.countries == ["CN", "JP"] and f.sectors == ["water", "waste"]
    where, params = conditions(f)
    assert "items.scope = 'international'" in where and 0.5 in params
