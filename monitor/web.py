"""The analysts' web UI: a Datasette plugin plus `serve()` to run it.

Datasette serves the SQLite store read-only (tables, SQL, JSON and CSV export, stable links);
this plugin adds the lemmatising SQL functions and four pages in Russian:
`/` (search with facets), `/item/<id>` (the story, its entities highlighted, all sources),
`/overview` (stories per sector and per country over time, for the same filters as a
search) and `/help` (the query language). Times are shown in the configured time zone.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hmac
import json
import os
import time
from collections import Counter
from datetime import date, datetime
from html import escape
from pathlib import Path
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from datasette import Response, hookimpl

from .gazetteer import country_names
from .highlight import safe_href
from .sectors import sector_names
from .lemmas import lemmatize, search_lemma
from .filters import (DEFAULT_TIMEZONE, FilterError, country_code, register_functions,
                      sector_key)
from .query import QUERY_HELP_RU, QUERY_NOTES_RU, QueryError
from .russian import MONTHS_SHORT, date_range, local_time, month_text, plural
from .search import SearchQuery, item_details, overview, search, story_sources

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
FACET_LIMIT = 12
FACET_SHOWN = 8  # values a facet shows before «ещё N»
PLUGIN = "monitor-web"
MAX_LIMIT = 200  # results per page (and in /search.json), whatever `limit` asks
MAX_OFFSET = 1_000_000_000


class UnsafeBind(Exception):
    """Refused to listen on a non-local address without a password."""


class WebStartError(Exception):
    """The web UI's server did not start (its port in use, say)."""


# --- plugin hooks -----------------------------------------------------------------------

@hookimpl
def prepare_connection(conn):
    """SQL functions for Datasette's SQL editor: monitor_lemmas('японских компаний')."""
    conn.create_function("monitor_lemmas", 1, lambda t: lemmatize(t or ""), deterministic=True)
    conn.create_function("monitor_lemma", 1, lambda w: search_lemma(w or ""), deterministic=True)
    register_functions(conn)


@hookimpl
def prepare_jinja2_environment(env):
    """`|safe_href` for templates: a feed's URL becomes a link only if it is http(s)."""
    env.filters["safe_href"] = safe_href


@hookimpl
def register_routes():
    return [
        (r"^/$", search_page),
        (r"^/search\.json$", search_json),
        (r"^/search\.(?P<format>csv|jsonl|atom)$", search_export),
        (r"^/item/(?P<item_id>[^/]+)$", item_page),  # not a number: our Russian 404
        (r"^/overview$", overview_page),
        (r"^/help$", help_page),
    ]


# --- access: Host check and password ------------------------------------------------------

def web_password() -> str | None:
    """MONITOR_WEB_PASSWORD, or None when unset or blank (a blank password guards nothing)."""
    value = os.environ.get("MONITOR_WEB_PASSWORD")
    return value if value and value.strip() else None


def allowed_hosts(host: str, port: int) -> tuple[set[str], set[str]]:
    """Host header values the password-less UI answers, as (exact values, names allowed on
    any port): the loopback names and the bound address with the port (bare too on port
    80), and MONITOR_WEB_HOSTS's extra names (comma- or space-separated; `name:port` is
    exact, a bare name matches any port)."""
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host.lower()}
    exact = {f"{name}:{port}" for name in names} | (names if port == 80 else set())
    any_port = set()
    for extra in os.environ.get("MONITOR_WEB_HOSTS", "").replace(",", " ").lower().split():
        (exact if _split_port(extra)[1] else any_port).add(extra)
    return exact, any_port


def _split_port(value: str) -> tuple[str, str]:
    """('name', 'port') of a Host value; port '' when absent ([::1]:8001 works too)."""
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return name, port
    return value, ""


def host_allowed(value: str, allowed: tuple[set[str], set[str]]) -> bool:
    exact, any_port = allowed
    value = value.strip().lower()
    return value in exact or _split_port(value)[0] in any_port


def basic_auth_ok(header: bytes, password: str) -> bool:
    """Whether an Authorization header carries monitor:`password`. Never raises: any
    scheme case ("basic"), bad base64 and non-ASCII bytes are just a wrong login."""
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    user, sep, given = decoded.partition(b":")
    # both compared, always, in constant time over bytes (str needs ASCII)
    user_ok = hmac.compare_digest(user, b"monitor")
    password_ok = hmac.compare_digest(given, password.encode("utf-8"))
    return bool(sep) and user_ok and password_ok


def protect(app, host: str, port: int):
    """The ASGI app behind the access rules: with a password, HTTP Basic auth on every
    request; without one (loopback only), the Host header must name this server, so a
    page on another site cannot reach the UI by DNS rebinding."""
    password = web_password()
    allowed = allowed_hosts(host, port)

    async def refuse(send, status: int, text: str, headers=()) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [
            *headers, [b"content-type", b"text/plain; charset=utf-8"]]})
        await send({"type": "http.response.body", "body": text.encode("utf-8")})

    async def guarded(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if password is not None:
            if not basic_auth_ok(headers.get(b"authorization", b""), password):
                return await refuse(send, 401, "Нужен пароль (пользователь monitor)",
                                    [[b"www-authenticate", b'Basic realm="monitor"']])
        elif not host_allowed(headers.get(b"host", b"").decode("latin-1"), allowed):
            return await refuse(
                send, 400, "Неизвестное имя сайта в заголовке Host. Откройте интерфейс по "
                f"адресу http://127.0.0.1:{port}/ или добавьте имя в MONITOR_WEB_HOSTS.")
        await app(scope, receive, send)

    return guarded


# --- pages --------------------------------------------------------------------------------

def _db_name(datasette) -> str:
    return next(name for name in datasette.databases if name != "_internal")


class PagingError(ValueError):
    """A bad `limit` or `offset` (the message is in Russian, for the page); `field` names
    the parameter, `value` what it was given."""

    def __init__(self, message: str, field: str, value: str):
        super().__init__(message)
        self.field, self.value = field, value


def _int_arg(request, name: str, default: int, low: int, high: int | None) -> int:
    """An integer query parameter in [low, high]; above `high` it is capped (None: refused)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    # a limit above `high` is capped, not refused: the message says so
    bound = f"от {low} (больше {high} считается за {high})" if high is not None \
        else f"от {low} до {MAX_OFFSET}"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 30:
        raise PagingError(f"параметр {name} должен быть целым числом {bound}, а не «{raw[:40]}»",
                          name, raw[:40])
    value = int(raw)
    if value < low or (high is None and value > MAX_OFFSET):
        raise PagingError(f"параметр {name} должен быть целым числом {bound}", name, raw[:40])
    return min(value, high) if high is not None else value


def _query_from(request, *, paging: bool = True, cap: bool = True) -> SearchQuery:
    """The search asked for in the URL; raises PagingError for a bad limit or offset
    (paging=False: the default page instead; cap=False: no MAX_LIMIT, for exports)."""
    args = request.args
    limit = _int_arg(request, "limit", 20, 1, MAX_LIMIT if cap else None) if paging else 20
    offset = _int_arg(request, "offset", 0, 0, None) if paging else 0
    return SearchQuery(
        text=args.get("q") or None,
        sectors=list(dict.fromkeys(args.getlist("sector"))),
        countries=list(dict.fromkeys(args.getlist("country"))),
        org=args.get("org") or None,
        person=args.get("person") or None,
        feed=args.get("feed") or None,
        since=args.get("since") or None,
        until=args.get("until") or None,
        international=args.get("international") == "1",
        include_all=args.get("all") == "1",
        limit=limit,
        offset=offset,
    )


def _run(datasette, query: SearchQuery):
    """Run a search with its facets, in one pass, on a read-only connection of Datasette's.
    Raises QueryError or FilterError (see `_error_text`)."""
    database = datasette.get_database(_db_name(datasette))
    zone = _zone(datasette).key

    def work(conn):
        import sqlite_utils

        # Datasette's connections only read: the answer may be kept for the next page
        result = search(sqlite_utils.Database(conn), query, zone=zone, facets=True, cache=True)
        return result, result.facets

    return database.execute_fn(work)


# --- what the reader sees: Russian names, local times, links --------------------------------

def _zone(datasette) -> ZoneInfo:
    """The UI's time zone: the config's `digest.timezone` (as the digest uses), else Moscow."""
    name = (datasette.plugin_config(PLUGIN) or {}).get("timezone") or DEFAULT_TIMEZONE
    return ZoneInfo(name)


def _common(datasette) -> dict:
    """What every page's template needs: Russian names, the reader's zone, today there and
    `when(iso)` giving a time as «5 мая, 09:00» in that zone."""
    zone = _zone(datasette)
    today = datetime.now(zone).date()
    return {"database": _db_name(datasette), "sector_names": sector_names(),
            "country_names": country_names(), "zone": zone.key, "today": today,
            "when": lambda value: local_time(value, zone, today)}


def _link(request, _path: str = "/", **changes) -> str:
    """The current search URL (on `_path`) with some parameters changed (None removes one);
    the page goes back to the first unless `offset` is one of the changes."""
    params = parse_qsl(request.query_string, keep_blank_values=False)
    kept = [(k, v) for k, v in params if k not in changes and k not in ("offset", "back")]
    for key, value in changes.items():
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            kept.append((key, v))
    query = urlencode(kept)
    return _path + ("?" + query if query else "")


def _active(request):
    for key in ("sector", "country", "org", "person", "feed", "since", "until"):
        values = request.args.getlist(key)
        if values:
            yield key, values


CHIP_NAMES = {"sector": "Отрасль", "country": "Страна", "org": "Организация",
              "person": "Человек", "feed": "Источник"}


def _chips(request, today: date, path: str = "/") -> list[dict]:
    """The active filters as chips in Russian («Страна: Китай», «с 1 ноября по 30 ноября»),
    each with the link (on `path`) that removes it."""
    sectors, countries = sector_names(), country_names()
    chips = []
    for key, values in _active(request):
        if key in ("since", "until"):
            continue
        for value in dict.fromkeys(values):
            name = (sectors.get(value, value) if key == "sector" else
                    countries.get(value.upper(), value) if key == "country" else value)
            rest = [v for v in values if v != value] or None
            chips.append({"label": f"{CHIP_NAMES[key]}: {name}",
                          "href": _link(request, path, **{key: rest})})
    since, until = request.args.get("since"), request.args.get("until")
    if since or until:
        chips.append({"label": date_range(since, until, today),
                      "href": _link(request, path, since=None, until=None)})
    if request.args.get("international") == "1":
        chips.append({"label": "Только международное",
                      "href": _link(request, path, international=None)})
    if request.args.get("all") == "1":
        chips.append({"label": "Все новости, не только о сотрудничестве",
                      "href": _link(request, path, all=None)})
    return chips


def _hidden(request) -> list[tuple[str, str]]:
    """The parameters a new query from the search form keeps: all but the query, the page
    and a `limit` that is not a page size (it would refuse the new search again)."""
    return [(k, v) for k, v in parse_qsl(request.query_string)
            if k not in ("q", "offset", "back")
            and (k != "limit" or (v.isascii() and v.isdigit() and 0 < int(v[:30])))]


def _month_bounds(month: str) -> tuple[str, str] | None:
    """'2026-02' -> ('2026-02-01', '2026-02-28'): the month's first and last day."""
    try:
        year, number = int(month[:4]), int(month[5:7])
        last = calendar.monthrange(year, number)[1]
    except (ValueError, IndexError, TypeError, calendar.IllegalMonthError):
        return None
    return f"{year:04d}-{number:02d}-01", f"{year:04d}-{number:02d}-{last:02d}"


def _facet_links(request, facets: dict) -> dict[str, dict]:
    """Each facet's values as links with Russian labels: a value not chosen narrows the
    search to it (a sector or country is added to those chosen), a chosen one is marked
    and its link removes it. {name: {"shown": [...], "more": [...]}}: the first
    FACET_SHOWN values (and any chosen one) shown, the rest behind «ещё N»."""
    sectors, countries = sector_names(), country_names()
    result = {}
    for name, values in facets.items():
        links = []
        for value, count in values:
            if value is None or value == "":
                continue
            value = str(value)
            label = value
            if name == "month":
                bounds = _month_bounds(value)
                if bounds is None:
                    continue
                label = month_text(value)
                chosen = (request.args.get("since"), request.args.get("until")) == bounds
                href = (_link(request, since=None, until=None) if chosen else
                        _link(request, since=bounds[0], until=bounds[1]))
            elif name in ("sector", "country"):
                # a value given by name or in another case is the same value
                fold = ((lambda v: country_code(v) or v.upper()) if name == "country"
                        else sector_key)
                given = request.args.getlist(name)
                chosen = any(fold(v) == fold(value) for v in given)
                others = [v for v in given if fold(v) != fold(value)]
                href = _link(request, **{name: (others or None) if chosen else
                                         [*given, value]})
                names = sectors if name == "sector" else countries
                label = names.get(value, value)
            else:
                chosen = (request.args.get(name) or "").casefold() == value.casefold()
                href = _link(request, **{name: None if chosen else value})
            links.append({"value": value, "label": label, "count": count, "href": href,
                          "chosen": chosen})
        shown = [link for i, link in enumerate(links) if i < FACET_SHOWN or link["chosen"]]
        result[name] = {"shown": shown, "more": [link for link in links if link not in shown]}
    return result


def _pages(request, result) -> dict | None:
    """Page numbers around the current page (the first and last always), with back and
    forward links, from the engine's paging (`result.total` stories, `last_offset`); None
    when everything fits on one page."""
    size = result.limit
    last = result.last_offset // size + 1
    current = result.offset // size + 1
    if last == 1 and current == 1:
        return None

    def href(number: int) -> str:
        return _link(request, offset=str((number - 1) * size) if number > 1 else None)

    wanted = sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
    numbers, previous = [], 0
    for number in wanted:
        if number > previous + 1:
            numbers.append(None)  # a gap: …
        numbers.append({"number": number, "href": href(number), "current": number == current})
        previous = number
    return {"numbers": numbers, "last": last, "current": current,
            "last_href": href(last),
            "prev": href(min(current - 1, last)) if current > 1 else None,
            "next": href(current + 1) if current < last else None}


def _error_text(exc: Exception) -> str:
    """What to tell the reader about a refused search: the exception's `russian` (attribute
    or method: QueryError, FilterError) if it has one, else its message (PagingError's is
    Russian already)."""
    russian = getattr(exc, "russian", None)
    if callable(russian):
        russian = russian()
    return str(russian) if russian else str(exc)


MORE_SHOWN = 10  # a story's other publications listed under «ещё N публикаций»


async def _other_publications(datasette, result):
    """{item id: [the story's other matched publications (details), at most MORE_SHOWN]}
    for the page's stories."""
    wanted = {item["id"]: item["more_ids"][:MORE_SHOWN] for item in result.items
              if item.get("more_ids")}
    if not wanted:
        return {}
    database = datasette.get_database(_db_name(datasette))

    def work(conn):
        import sqlite_utils

        details = {d["id"]: d for d in item_details(
            sqlite_utils.Database(conn), [i for ids in wanted.values() for i in ids])}
        return {item: [details[i] for i in ids if i in details]
                for item, ids in wanted.items()}

    return await database.execute_fn(work)


async def search_page(datasette, request):
    common = _common(datasette)
    status, error, result, facets = 200, None, None, {}
    try:
        query = _query_from(request)
    except ValueError as exc:  # PagingError, or a filter value refused
        status, error = 400, _error_text(exc)
        query = SearchQuery(text=request.args.get("q") or None,
                            include_all=request.args.get("all") == "1")
    others = {}
    if error is None:
        try:
            result, facets = await _run(datasette, query)
        except (QueryError, FilterError) as exc:  # an unknown filter value, a bad query
            status, error = 400, _error_text(exc)
        else:
            others = await _other_publications(datasette, result)
    pages = _pages(request, result) if result else None
    context = {
        **common,
        "q": query.text or "", "query": query, "result": result, "error": error,
        # every sector (there are 16; the page opens the rest with «ещё»), the top of the others
        "facets": _facet_links(request, {name: values if name == "sector" else
                                         values[:FACET_LIMIT]
                                         for name, values in facets.items()}),
        "chips": _chips(request, common["today"]),
        "hidden": _hidden(request), "pages": pages, "others": others,
        "past_end": bool(result and result.offset and result.offset >= result.total),
        # an item's page links back to this search
        "back": urlencode({"back": request.query_string}) if request.query_string else "",
        "json_link": "/search.json?" + request.query_string,
        "csv_link": "/search.csv?" + request.query_string,
        "jsonl_link": "/search.jsonl?" + request.query_string,
        "atom_link": "/search.atom?" + request.query_string,
        "overview_link": _link(request, _path="/overview"),
        "all_link": _link(request, all="1"),
        "plural": plural,
    }
    return Response.html(await datasette.render_template("monitor_search.html", context,
                                                         request=request), status=status)


async def _error_page(datasette, request, status: int, title: str, message: str,
                      links=()) -> Response:
    """A page in Russian saying what went wrong, with links to go on."""
    context = {**_common(datasette), "title": title, "message": message, "links": links}
    return Response.html(await datasette.render_template("monitor_error.html", context,
                                                         request=request), status=status)


async def search_json(datasette, request):
    """One page of the search, as the page shows it: {"total" (stories), "matches"
    (items), "offset", "limit", "last_offset", "items" (item details, one per story), "facets"}.
    A bad query, filter or page is a 400 {"error": Russian text, "field", "valid"}."""
    try:
        result, facets = await _run(datasette, _query_from(request))
    except (QueryError, FilterError, PagingError) as exc:
        return _json_error(exc)
    items = [{k: v for k, v in item.items() if k != "snippet_html"} for item in result.items]
    return _json({"total": result.total, "matches": result.matches,
                  "offset": result.offset, "limit": result.limit,
                  "last_offset": result.last_offset, "ignored": result.ignored,
                  "items": items,
                  "facets": {k: [list(v) for v in vs] for k, vs in facets.items()}})


def _json(data, status: int = 200):
    """JSON as readable UTF-8 (Datasette's Response.json escapes every non-ASCII letter)."""
    return Response(json.dumps(data, ensure_ascii=False, default=repr), status=status,
                    content_type="application/json; charset=utf-8")


def _json_error(exc: Exception):
    body = {"error": _error_text(exc)}
    if isinstance(exc, FilterError):
        body.update(field=exc.field, value=exc.value, valid=exc.valid)
    elif isinstance(exc, PagingError):
        body.update(field=exc.field, value=exc.value)
    elif isinstance(exc, QueryError):
        body.update(field="q")
    return _json(body, status=400)


async def search_export(datasette, request):
    """The whole result set, streamed (monitor.export): /search.csv, /search.jsonl,
    /search.atom; `limit` and `offset` cut it when given."""
    from datasette.utils.asgi import AsgiStream

    from . import export

    fmt = request.url_vars["format"]
    database = datasette.get_database(_db_name(datasette))
    tz = _zone(datasette).key
    try:
        query = _query_from(request, cap=False)
        limit = query.limit if (request.args.get("limit") or "").strip() else None
    except PagingError as exc:
        return _json_error(exc)

    def plan(conn):
        import sqlite_utils

        return export.plan(sqlite_utils.Database(conn), query, fmt, zone=tz, limit=limit,
                           offset=query.offset)

    try:
        hits = await database.execute_fn(plan)
    except (QueryError, FilterError) as exc:
        return _json_error(exc)
    base = f"{request.scheme}://{request.host}"
    writer = export.Writer(fmt, title=f"monitor: {query.text or 'поиск'}",
                           self_url=f"{base}{request.path}?{request.query_string}",
                           alternate_url=f"{base}/?{request.query_string}")

    async def stream(out):
        first = True
        for part in export.chunks(hits) if hits else [[]]:
            def fetch(conn, part=part):
                import sqlite_utils

                return export.rows(sqlite_utils.Database(conn), part, base, tz)

            data = await database.execute_fn(fetch)
            if first:
                await out.write(writer.head(data))
                first = False
            await out.write(writer.body(data))
        tail = writer.tail()
        if tail:
            await out.write(tail)

    headers = {"content-disposition": f'inline; filename="monitor-search.{fmt}"'} \
        if fmt != "atom" else {}
    return AsgiStream(stream, headers=headers, content_type=export.FORMATS[fmt])


def _back(request) -> tuple[str, str]:
    """The search an item page was opened from: (link back to it, `back=` parameter to pass
    on). Only a query string is taken, so the link stays on this site's search page."""
    back = request.args.get("back") or ""
    if not back:
        return "/", ""
    query = urlencode(parse_qsl(back))
    return ("/?" + query if query else "/"), urlencode({"back": query})


async def item_page(datasette, request):
    from .highlight import entities_html

    item_id = request.url_vars["item_id"]
    database = datasette.get_database(_db_name(datasette))
    back_href, back = _back(request)
    missing = ("Нет такой новости", f"Новости № {item_id[:20]} нет в базе.",
               [(back_href, "← к поиску")])
    if not (item_id.isascii() and item_id.isdigit()) or len(item_id) > 18:
        return await _error_page(datasette, request, 404, *missing)  # or beyond SQLite's ints

    def work(conn):
        import sqlite_utils

        db = sqlite_utils.Database(conn)
        details = item_details(db, [int(item_id)])
        if not details:
            return None
        # every outlet of the story: this item's sources and its near copies' (stories.py)
        sources = story_sources(db, details[0]["story_id"])
        mentions = [dict(r) for r in db.query(
            "SELECT e.type, ie.start, ie.stop, ie.in_title FROM item_entities ie "
            "JOIN entities e ON e.id = ie.entity_id WHERE ie.item_id = ?", [int(item_id)])]
        return details[0], sources, mentions

    found = await database.execute_fn(work)
    if found is None:
        return await _error_page(datasette, request, 404, *missing)
    item, sources, mentions = found
    context = {**_common(datasette), "item": item, "sources": sources,
               "text_html": entities_html(item["text"], mentions),
               "back_href": back_href, "back": back}
    return Response.html(await datasette.render_template("monitor_item.html", context,
                                                         request=request))


async def overview_page(datasette, request):
    """Charts of stories per month by sector and by country, for the search in the URL
    (the same parameters as `/`); a country filtered on, or one on every story found (as
    Russia mostly is), is left out of the country chart, where it would only dwarf the
    others."""
    common = _common(datasette)
    query = _query_from(request, paging=False)
    database = datasette.get_database(_db_name(datasette))
    zone = common["zone"]

    def work(conn):
        import sqlite_utils

        db = sqlite_utils.Database(conn)
        # the engine's stories per month (near copies count once), of the page's search;
        # the search's own answer (kept, cache=True) gives the number of stories
        found = search(db, SearchQuery(**{**query.__dict__, "limit": 1}), zone=zone,
                       cache=True).total
        by = overview(db, query, zone=zone)
        totals = conn.execute("SELECT count(*), sum(is_cooperation = 1) FROM items").fetchone()
        return by, found, totals

    try:
        by, found, totals = await database.execute_fn(work)
    except (QueryError, FilterError) as exc:
        return await _error_page(datasette, request, 400, "Обзор не построен",
                                 _error_text(exc), [("/overview", "Обзор без фильтров"),
                                                    ("/help", "Как искать")])
    names = common["country_names"]
    per_country = Counter()
    for _month, country, count in by["country"]:
        per_country[country] += count
    chosen = {code for code in map(country_code, query.countries) if code}
    others = set(per_country) - chosen
    everywhere = {c for c in others if per_country[c] == found}
    if everywhere == others:  # nothing else to show: keep them
        everywhere = set()
    left_out = [(names.get(c, c), "выбрана в фильтре" if c in chosen else
                 "есть в каждой найденной новости")
                for c in sorted(per_country, key=lambda c: -per_country[c])
                if c in chosen or c in everywhere]
    country_rows = [r for r in by["country"] if r[1] not in chosen and r[1] not in everywhere]
    current = common["today"].strftime("%Y-%m")
    # up to now, unless the search ends earlier
    through = None if query.until else current
    charts = {"country": _chart(country_rows, labels=names, current_month=current,
                                through=through),
              "sector": _chart(by["sector"], labels=common["sector_names"],
                               current_month=current, through=through)}
    # a search or a filter asked for (paging alone, or blank values, is no condition)
    filtered = any(key not in ("limit", "offset") and any(v.strip() for v in
                                                           request.args.getlist(key))
                   for key in request.args.keys())
    context = {**common, "charts": charts, "total": totals[0] or 0,
               "cooperation": totals[1] or 0, "found": found, "left_out": left_out,
               "chips": _chips(request, common["today"], "/overview"),
               "hidden": _hidden(request), "q": query.text or "",
               "filtered": filtered, "search_link": _link(request), "plural": plural}
    return Response.html(await datasette.render_template("monitor_overview.html", context,
                                                         request=request))


async def help_page(datasette, request):
    """The query language (the engine's own description, monitor.query) and the filters,
    in Russian."""
    context = {**_common(datasette), "query_help": QUERY_HELP_RU, "query_notes": QUERY_NOTES_RU}
    return Response.html(await datasette.render_template(
        "monitor_help.html", context, request=request))


COLORS = ["#2f6fb3", "#d9822b", "#3c9a5f", "#b23b3b", "#7b5ea7", "#8c6d3f", "#d16ba5",
          "#6b6b6b"]


def _months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` ('2026-02' .. '2026-05'), both included."""
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _chart(rows: list[tuple[str, str, int]], top: int = 6, width: int = 640,
           height: int = 240, *, labels: dict | None = None,
           current_month: str | None = None, through: str | None = None) -> dict:
    """A small SVG line chart: counts per month of the `top` most frequent series.

    Every month from the first to the last is on the x axis (short Russian names, the
    year under the first and under each January); the y axis has every count up to 5,
    else 0, the middle and the peak, with grid lines; labels stay inside the picture.
    `labels` names the series (Russian names for IDs). `through` ('2026-12') extends the axis to that month (months
    without items count 0). The current month, still partial, is shaded and its segment
    dashed, so a drop there is not read as a fall.
    """
    labels = labels or {}
    totals = Counter()
    for _month, series, count in rows:
        totals[series] += count
    names = [name for name, _ in totals.most_common(top)]
    present = sorted({month for month, _, _ in rows if month and _month_bounds(month)})
    if not present or not names:
        return {"svg": "", "legend": [], "empty": True, "partial": False, "series": 0}
    months = _months_between(present[0], max(present[-1], through or "")
                             if through and _month_bounds(through) else present[-1])
    values = {(m, s): c for m, s, c in rows}
    peak = max(values.get((m, s), 0) for m in months for s in names) or 1
    left, right, top_pad, bottom = 44, 24, 16, 40
    inner_w, inner_h = width - left - right, height - top_pad - bottom
    step = inner_w / (len(months) - 1) if len(months) > 1 else inner_w

    def x(i: int) -> float:
        return left + i * step if len(months) > 1 else left + inner_w / 2

    def y(value: float) -> float:
        return top_pad + inner_h - inner_h * value / peak

    parts = []
    partial = current_month is not None and months[-1] == current_month
    if partial:
        x0 = max(left, x(len(months) - 1) - step / 2) if len(months) > 1 else left
        x1 = width - right
        parts.append(f'<rect class="partial" x="{x0:.1f}" y="{top_pad}" '
                     f'width="{x1 - x0:.1f}" height="{inner_h}" fill="#eef1f5">'
                     '<title>текущий месяц ещё не закончился</title></rect>'
                     f'<text x="{x1 - 2:.1f}" y="{top_pad + 12}" font-size="11" '
                     'fill="#5b6b7b" text-anchor="end">неполный</text>')
    for tick in range(peak + 1) if peak <= 5 else (0, peak // 2, peak):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" '
                     f'y2="{y(tick):.1f}" stroke="{"#999" if tick == 0 else "#e3e7ec"}"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="12" '
                     f'fill="#5b6b7b" text-anchor="end">{tick}</text>')
    every = -(-len(months) // 12)  # at most 12 month labels
    shown_year = None
    for i, month in enumerate(months):
        if i % every:
            continue
        year = month[:4]
        parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" font-size="12" '
                     f'text-anchor="middle">{MONTHS_SHORT[int(month[5:7]) - 1]}</text>')
        if year != shown_year:
            parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 31}" font-size="11" '
                         f'fill="#5b6b7b" text-anchor="middle">{year}</text>')
            shown_year = year
    for index, name in enumerate(names):
        color = COLORS[index % len(COLORS)]
        label = escape(str(labels.get(name, name)))
        points = [f"{x(i):.1f},{y(values.get((m, name), 0)):.1f}" for i, m in enumerate(months)]
        solid = points[:-1] if partial and len(points) > 1 else points
        if len(solid) > 1:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                         f'points="{" ".join(solid)}"/>')
        if partial and len(points) > 1:
            parts.append(f'<polyline class="partial-line" fill="none" stroke="{color}" '
                         f'stroke-width="2" stroke-dasharray="4 3" '
                         f'points="{" ".join(points[-2:])}"/>')
        for i, m in enumerate(months):
            count = values.get((m, name), 0)
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(count):.1f}" r="3" fill="{color}">'
                         f'<title>{label}, {month_text(m)}: {count}</title></circle>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>')
    legend = [{"name": labels.get(n, n), "color": COLORS[i % len(COLORS)], "total": totals[n]}
              for i, n in enumerate(names)]
    # `series`: how many there are in all, so the page says when only the top are drawn
    return {"svg": svg, "legend": legend, "empty": False, "partial": partial,
            "series": len(totals)}


# --- serving --------------------------------------------------------------------------------

def make_datasette(db_path: Path, timezone: str | None = None):
    """A Datasette over the store: read-only, with this plugin's pages and SQL functions;
    times shown and day bounds of searches in `timezone` (an IANA name, the config's
    `Config.timezone`; default Europe/Moscow)."""
    timezone = timezone or DEFAULT_TIMEZONE
    ZoneInfo(timezone)  # an unknown zone fails here, not on the first page
    from datasette.app import Datasette
    from datasette.plugins import pm

    import monitor.web as plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, name=PLUGIN)
    return Datasette(
        [str(db_path)],
        settings={"sql_time_limit_ms": 3000, "default_page_size": 50,
                  "allow_download": False},
        metadata={"title": "monitor — сотрудничество в новостях",
                  "description": "Новости о сотрудничестве стран, регионов и организаций",
                  "plugins": {PLUGIN: {"timezone": timezone}}},
        template_dir=str(Path(__file__).parent / "templates"),
    )


def check_bind(host: str) -> None:
    """Refuse a non-loopback address unless a (non-blank) password guards the UI."""
    if host in LOCAL_HOSTS or web_password():
        return
    if os.environ.get("MONITOR_WEB_PASSWORD") is not None:
        raise UnsafeBind(
            f"refusing to listen on {host} without a password: MONITOR_WEB_PASSWORD is blank; "
            "set a real password (login 'monitor') or bind 127.0.0.1")
    raise UnsafeBind(
        f"refusing to listen on {host} without a password: set MONITOR_WEB_PASSWORD "
        "(login 'monitor') or bind 127.0.0.1")


def serve(db_path: Path, host: str = "127.0.0.1", port: int = 8001,
          timezone: str | None = None) -> None:
    """Serve the web UI until interrupted; WebStartError when it cannot listen."""
    import uvicorn

    check_bind(host)
    app = protect(make_datasette(db_path, timezone).app(), host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    try:
        server.run()
    except SystemExit:  # uvicorn's exit (status 3) when it cannot listen
        if not server.started:
            raise WebStartError(_cannot_listen(host, port, "")) from None
        raise


def _cannot_listen(host: str, port: int, alternative: str) -> str:
    return (f"the web UI could not listen on http://{host}:{port}/ (is the port in use? "
            f"choose another with --port{alternative})")


def serve_in_thread(db_path: Path, host: str = "127.0.0.1", port: int = 8001,
                    timezone: str | None = None, start_timeout: float = 30.0):
    """Start the web UI in a daemon thread (for `monitor run`) and wait until it listens;
    returns the uvicorn server. Raises WebStartError when it does not start."""
    import threading

    import uvicorn

    check_bind(host)
    app = protect(make_datasette(db_path, timezone).app(), host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # the main thread owns signals

    def run() -> None:
        try:
            server.run()
        except SystemExit:  # uvicorn's exit when it cannot listen: reported below
            pass

    thread = threading.Thread(target=run, name="web", daemon=True)
    thread.start()
    # uvicorn logs why it cannot listen (a port in use) and ends: the service must not go
    # on as if the UI it announced were up
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise WebStartError(_cannot_listen(host, port,
                                               ", or run without the UI: --no-web"))
        time.sleep(0.02)
    return server
