"""Russian wording for what readers see: dates, date ranges, months, local times, plurals.

One place for it, so the web UI says «с 1 ноября по 30 ноября» and «5 мая, 09:00» the same
way on every page.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

MONTHS_GENITIVE = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
                   "сентября", "октября", "ноября", "декабря"]
MONTHS = ["январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь",
          "октябрь", "ноябрь", "декабрь"]
MONTHS_SHORT = ["янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя",
                "дек"]


def plural(n: int, one: str, few: str, many: str) -> str:
    """The form of a noun for n: 1 новость, 2 новости, 5 новостей (11-14 take `many`)."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def day_text(day: date, today: date) -> str:
    """«1 ноября», with the year when it is not the current one («1 ноября 2025»)."""
    text = f"{day.day} {MONTHS_GENITIVE[day.month - 1]}"
    return text if day.year == today.year else f"{text} {day.year}"


def _as_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def date_range(since: str | None, until: str | None, today: date) -> str:
    """«с 1 ноября по 30 ноября», «с 1 ноября», «по 30 ноября» for ISO dates (a value that
    is not a date is shown as given)."""
    parts = []
    for word, value in (("с", since), ("по", until)):
        if value:
            day = _as_day(value)
            parts.append(f"{word} {day_text(day, today) if day else value}")
    return " ".join(parts)


def month_text(month: str, today: date | None = None) -> str:
    """'2026-02' -> «февраль 2026» (without the year when `today` is in that year)."""
    try:
        year, number = int(month[:4]), int(month[5:7])
        name = MONTHS[number - 1]
    except (ValueError, IndexError):
        return month
    return name if today is not None and today.year == year else f"{name} {year}"


def local_time(value: str | None, zone: ZoneInfo, today: date) -> str:
    """An ISO timestamp (UTC if it has no offset) in the reader's zone: «5 мая, 09:00», with
    the year when it is not the current one («5 мая 2025, 09:00»)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(zone)
    return f"{day_text(local.date(), today)}, {local:%H:%M}"
