"""Russian wording of dates, ranges, months and local times (monitor/russian.py)."""

from datetime import date
from zoneinfo import ZoneInfo

from monitor.russian import date_range, day_text, local_time, month_text, plural

TODAY = date(2026, 12, 1)


def test_plural_forms():
    assert [plural(n, "новость", "новости", "новостей") for n in (1, 2, 5, 11, 12, 21, 24, 111)] \
        == ["новость", "новости", "новостей", "новостей", "новостей", "новость", "новости",
            "новостей"]


def test_days_and_ranges_say_the_year_only_when_it_is_not_this_one():
    assert day_text(date(2026, 11, 1), TODAY) == "1 ноября"
    assert day_text(date(2025, 11, 1), TODAY) == "1 ноября 2025"
    assert date_range("2026-11-01", "2026-11-30", TODAY) == "с 1 ноября по 30 ноября"
    assert date_range("2025-12-01", None, TODAY) == "с 1 декабря 2025"
    assert date_range(None, "2026-02-28", TODAY) == "по 28 февраля"
    # a datetime bound shows its day; what is not a date is shown as given
    assert date_range("2026-05-05T10:00:00+00:00", "вчера", TODAY) == "с 5 мая по вчера"


def test_months():
    assert month_text("2026-02") == "февраль 2026"
    assert month_text("2026-02", TODAY) == "февраль"
    assert month_text("2025-12", TODAY) == "декабрь 2025"
    assert month_text("2026-13") == "2026-13"


def test_local_time_is_in_the_readers_zone():
    utc = "2026-02-01T06:00:00+00:00"
    assert local_time(utc, ZoneInfo("Europe/Moscow"), TODAY) == "1 февраля, 09:00"
    assert local_time(utc, ZoneInfo("Asia/Vladivostok"), TODAY) == "1 февраля, 16:00"
    # a naive time is UTC; the day may change with the zone
    assert local_time("2025-12-31T22:30:00", ZoneInfo("Europe/Moscow"), TODAY) == \
        "1 января, 01:30"
    assert local_time("2025-12-31T20:30:00", ZoneInfo("Europe/Moscow"), TODAY) == \
        "31 декабря 2025, 23:30"
    assert local_time(None, ZoneInfo("UTC"), TODAY) == ""
    assert local_time("not a time", ZoneInfo("UTC"), TODAY) == "not a time"
