"""Search filters: one meaning for the CLI, the web UI (results, facets, exports) and the
digest. A filter is validated (`validate`) and turned into SQL conditions on `items`
(`conditions`) here and nowhere else.

- sectors: any of them (OR); a sector ID (`water`) or its Russian name («Водоснабжение…»).
- countries: any of them (OR), among the item's cooperating countries; an ISO code (`CN`)
  or any name the gazetteer knows («Китай», «КНР», «Белоруссия»).
- org / person: an organisation's or person's normal or canonical name containing the text.
- feed: an outlet that carried the item (its name, case-insensitive).
- since / until: publication date (YYYY-MM-DD, whole days in the configured time zone) or
  an ISO date-time, both inclusive.
- international: only international cooperation; include_all: also non-cooperation items;
  min_score: the cooperation score at least this (the digest's subscribers).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlite_utils

DEFAULT_TIMEZONE = "Europe/Moscow"

FIELD_NAMES_RU = {"sector": "отрасль", "country": "страна", "feed": "источник",
                  "since": "дата «с»", "until": "дата «по»"}


class FilterError(ValueError):
    """A filter value that means nothing: `field`, the `value` given and the `valid` values
    (empty when any value of the right form would do). str() is English (the CLI),
    russian() Russian (the web UI)."""

    def __init__(self, field: str, value: str, valid: list[str], message: str,
                 russian: str):
        super().__init__(message)
        self.field, self.value, self.valid = field, value, valid
        self.russian_text = russian

    def russian(self) -> str:
        return self.russian_text


@dataclass
class Filters:
    sectors: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    org: str | None = None
    person: str | None = None
    feed: str | None = None
    since: str | None = None  # ISO date or datetime, inclusive
    until: str | None = None  # ISO date (the whole day) or datetime, inclusive
    international: bool = False
    include_all: bool = False  # also items that are not cooperation
    min_score: float = 0.0


FILTER_FIELDS = [f for f in Filters.__dataclass_fields__]


def filters_of(obj) -> Filters:
    """The filters of a SearchQuery (or anything with the same attributes)."""
    return Filters(**{name: getattr(obj, name) for name in FILTER_FIELDS})


def zone_of(timezone_name: str | ZoneInfo | None) -> ZoneInfo:
    if isinstance(timezone_name, ZoneInfo):
        return timezone_name
    return ZoneInfo(timezone_name or DEFAULT_TIMEZONE)


# --- valid values ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _sectors() -> dict[str, str]:
    """Casefolded sector ID or Russian name -> ID."""
    from .sectors import sector_names

    table = {}
    for sector_id, name in sector_names().items():
        table[sector_id.casefold()] = sector_id
        table[name.casefold()] = sector_id
    return table


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """Casefolded ISO code or any country name (and its lemmas) -> ISO code (the
    gazetteer's names, precomputed: monitor.query.names)."""
    from .query import names

    table = {}
    for code, country in names()["countries"].items():
        table[code.casefold()] = code
        for name in country["names"]:
            table.setdefault(name.casefold(), code)
        for lemmas in country["lemmas"]:
            table.setdefault(lemmas, code)
    return table


def country_code(value: str) -> str | None:
    """The ISO code of a country given by code or by any of its names («Белоруссии» too)."""
    from .lemmas import lemmatize

    key = " ".join(value.split()).casefold()
    table = _countries()
    return table.get(key) or table.get(lemmatize(value))


def _valid_sectors_text(russian: bool) -> str:
    from .sectors import sector_names

    if russian:
        return ", ".join(f"{name} ({sid})" for sid, name in sector_names().items())
    return ", ".join(sector_names())


def sector_key(value: str) -> str:
    """The sector ID of an ID or Russian name; the value itself when it is neither."""
    return _sectors().get(" ".join(value.split()).casefold(), value)


def sector_id(value: str) -> str:
    from .sectors import sector_ids

    found = _sectors().get(" ".join(value.split()).casefold())
    if found is None:
        raise FilterError(
            "sector", value, sector_ids(),
            f"unknown sector {value!r}; valid sectors: {_valid_sectors_text(False)}",
            f"Неизвестная отрасль «{value}». Возможные значения: {_valid_sectors_text(True)}.")
    return found


def _country(value: str) -> str:
    from .gazetteer import country_names

    code = country_code(value)
    if code is None:
        names = country_names()
        valid = sorted(names)
        raise FilterError(
            "country", value, valid,
            f"unknown country {value!r}: give an ISO 3166 code or a Russian name; "
            f"valid codes: {', '.join(valid)}",
            f"Неизвестная страна «{value}». Укажите код ISO 3166 или название по-русски. "
            "Возможные значения: "
            + ", ".join(f"{names[c]} ({c})" for c in sorted(valid, key=names.get)) + ".")
    return code


def feed_names(db: sqlite_utils.Database) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM feeds ORDER BY name")]


def _feed(db: sqlite_utils.Database, value: str) -> str:
    names = feed_names(db)
    wanted = " ".join(value.split()).casefold()
    for name in names:
        if " ".join(name.split()).casefold() == wanted:
            return name
    raise FilterError(
        "feed", value, names,
        f"unknown feed {value!r}; feeds: {', '.join(names) or '(none yet)'}",
        f"Неизвестный источник «{value}». Возможные значения: "
        f"{', '.join(names) or '(пока нет ни одного)'}.")


def day_bound(value: str, *, end: bool, zone: ZoneInfo, field: str = "since") -> str:
    """The UTC ISO time a date filter stands for: a YYYY-MM-DD is the start (or the last
    second) of that day in `zone`; a date-time without an offset is in `zone` too."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(0),
                                      zone)
            if end:
                moment -= timedelta(seconds=1)
        else:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except (ValueError, OverflowError):
        raise FilterError(field, value, [],
                          f"{value!r} is not a date (use YYYY-MM-DD)",
                          f"«{value}» — не дата (нужен вид ГГГГ-ММ-ДД, например 2026-11-30)"
                          ) from None
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def validate(db: sqlite_utils.Database | None, filters, zone=None):
    """The same filters (a Filters or SearchQuery, copied) with every value checked and
    normalised: sector IDs, ISO codes, the feed's stored name, dates in order. Raises
    FilterError naming the field, the value and the valid values. Without `db` the feed
    is not checked."""
    zone = zone_of(zone)
    sectors = list(dict.fromkeys(sector_id(s) for s in filters.sectors if s.strip()))
    countries = list(dict.fromkeys(_country(c) for c in filters.countries if c.strip()))
    feed = filters.feed.strip() if filters.feed and filters.feed.strip() else None
    if feed and db is not None:
        feed = _feed(db, feed)
    since = filters.since.strip() if filters.since and filters.since.strip() else None
    until = filters.until.strip() if filters.until and filters.until.strip() else None
    start = day_bound(since, end=False, zone=zone, field="since") if since else None
    stop = day_bound(until, end=True, zone=zone, field="until") if until else None
    if start and stop and start > stop:
        raise FilterError("until", until, [],
                          f"--since {since} is after --until {until}",
                          f"дата «с» ({since}) позже даты «по» ({until})")
    org = filters.org.strip() if filters.org and filters.org.strip() else None
    person = filters.person.strip() if filters.person and filters.person.strip() else None
    return replace(filters, sectors=sectors, countries=countries, feed=feed, since=since,
                   until=until, org=org, person=person)


# --- SQL ------------------------------------------------------------------------------------

def _marks(values: list) -> str:
    return ",".join("?" * len(values))


def sector_condition(sectors: list[str], alias: str = "items") -> tuple[str, list]:
    return (f"EXISTS (SELECT 1 FROM item_sectors s WHERE s.item_id = {alias}.id "
            f"AND s.sector IN ({_marks(sectors)}))", list(sectors))


def country_condition(countries: list[str], alias: str = "items") -> tuple[str, list]:
    codes = [c.upper() for c in countries]
    return (f"EXISTS (SELECT 1 FROM item_countries c WHERE c.item_id = {alias}.id "
            f"AND c.country IN ({_marks(codes)}))", codes)


def keywords_condition(keywords: list[str], alias: str = "items") -> tuple[str, list] | None:
    """Any of the keywords (each a phrase, in any inflection), or None when none has a
    word: the digest's subscribers' `keywords:`."""
    from .lemmas import lemmatize

    phrases = [p for p in map(lemmatize, keywords) if p]
    if not phrases:
        return None
    match = " OR ".join('"' + p.replace('"', '""') + '"' for p in phrases)
    return (f"{alias}.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)", [match])


def register_functions(conn) -> None:
    """The SQL functions the conditions use (on any connection, Datasette's included)."""
    conn.create_function("monitor_casefold", 1, lambda t: (t or "").casefold(),
                         deterministic=True)


def conditions(filters, zone=None, alias: str = "items") -> tuple[list[str], list]:
    """SQL conditions on `alias` (the items table) and their parameters, to AND together.
    Expects validated filters (`validate`: the feed's stored name); needs
    `register_functions` on the connection for org and person."""
    zone = zone_of(zone)
    where, params = [], []
    if not filters.include_all:
        where.append(f"{alias}.is_cooperation = 1")
    if filters.international:
        where.append(f"{alias}.scope = 'international'")
    if filters.min_score:
        where.append(f"{alias}.cooperation_score >= ?")
        params.append(filters.min_score)
    if filters.sectors:
        sql, values = sector_condition(filters.sectors, alias)
        where.append(sql)
        params += values
    if filters.countries:
        sql, values = country_condition(filters.countries, alias)
        where.append(sql)
        params += values
    for value, kind in ((filters.org, "ORG"), (filters.person, "PER")):
        if value:
            where.append(
                "EXISTS (SELECT 1 FROM item_entities ie JOIN entities e ON e.id = ie.entity_id "
                f"WHERE ie.item_id = {alias}.id AND e.type = ? AND "
                "(instr(monitor_casefold(e.normal), ?) > 0 "
                " OR instr(monitor_casefold(coalesce(e.canonical, '')), ?) > 0))")
            params += [kind, value.casefold(), value.casefold()]
    if filters.feed:
        where.append("EXISTS (SELECT 1 FROM item_sources src JOIN feeds f ON f.id = src.feed_id "
                     f"WHERE src.item_id = {alias}.id AND f.name = ?)")
        params.append(filters.feed)
    if filters.since:
        where.append(f"{alias}.published >= ?")
        params.append(day_bound(filters.since, end=False, zone=zone, field="since"))
    if filters.until:
        where.append(f"{alias}.published <= ?")
        params.append(day_bound(filters.until, end=True, zone=zone, field="until"))
    return where, params
