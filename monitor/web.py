"""The analysts' web UI: a Datasette plugin plus `serve()` to run it.

Datasette serves the SQLite store read-only (tables, SQL, JSON and CSV export, stable links);
this plugin adds the lemmatising SQL functions and three pages in Russian:
`/` (search with facets), `/item/<id>` (the story, its entities highlighted, all sources)
and `/overview` (items per sector and per country over time).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

from datasette import Response, hookimpl

from .gazetteer import country_names
from .highlight import safe_href
from .sectors import sector_names
from .lemmas import lemmatize, search_lemma
from .filters import DEFAULT_TIMEZONE, FilterError, register_functions
from .query import QueryError
from .search import SearchQuery, item_details, overview, search, story_sources

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
FACET_LIMIT = 12
MAX_LIMIT = 200  # results per page (and in /search.json), whatever `limit` asks
PLUGIN = "monitor-web"
MAX_OFFSET = 1_000_000_000


class UnsafeBind(Exception):
    """Refused to listen on a non-local address without a password."""


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
        (r"^/item/(?P<item_id>\d+)$", item_page),
        (r"^/overview$", overview_page),
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
    """A bad `limit` or `offset` (the message is in Russian, for the page)."""


def _int_arg(request, name: str, default: int, low: int, high: int | None) -> int:
    """An integer query parameter in [low, high]; above `high` it is capped (None: refused)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    bound = f"от {low} до {high or MAX_OFFSET}"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 30:
        raise PagingError(f"параметр {name} должен быть целым числом {bound}, а не «{raw[:40]}»")
    value = int(raw)
    if value < low or (high is None and value > MAX_OFFSET):
        raise PagingError(f"параметр {name} должен быть целым числом {bound}")
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


def zone(datasette) -> str:
    """The time zone of the UI (the config's, given to `make_datasette`)."""
    return (datasette.plugin_config(PLUGIN) or {}).get("timezone") or DEFAULT_TIMEZONE


def error_text(exc: Exception) -> str:
    """The Russian message of a QueryError, FilterError or PagingError."""
    return exc.russian() if hasattr(exc, "russian") else str(exc)


def _run(datasette, query: SearchQuery):
    """Run a search with its facets, in one pass, on a read-only connection of Datasette's.
    Raises QueryError or FilterError (see `error_text`)."""
    database = datasette.get_database(_db_name(datasette))
    tz = zone(datasette)

    def work(conn):
        import sqlite_utils

        # Datasette's connections only read: the answer may be kept for the next page
        result = search(sqlite_utils.Database(conn), query, zone=tz, facets=True, cache=True)
        return result, result.facets

    return database.execute_fn(work)


def _link(request, **changes) -> str:
    """The current search URL with some parameters changed (None removes one)."""
    from urllib.parse import parse_qsl

    params = parse_qsl(request.query_string, keep_blank_values=False)
    keys = set(changes)
    kept = [(k, v) for k, v in params if k not in keys and k != "offset"]
    for key, value in changes.items():
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            kept.append((key, v))
    return "/?" + urlencode(kept)


async def search_page(datasette, request):
    status, error, result, facets = 200, None, None, {}
    try:
        query = _query_from(request)
    except PagingError as exc:
        query, status, error = _query_from(request, paging=False), 400, str(exc)
    if error is None:
        try:
            result, facets = await _run(datasette, query)
        except (QueryError, FilterError) as exc:
            status, error = 400, error_text(exc)
    facet_links = {}
    for name, values in facets.items():
        links = []
        for value, count in values if name == "sector" else values[:FACET_LIMIT]:
            if name == "month":
                year, month = value.split("-")
                last = "31" if month in ("01", "03", "05", "07", "08", "10", "12") else \
                    "30" if month != "02" else "29"
                href = _link(request, since=f"{value}-01", until=f"{value}-{last}")
            elif name in ("sector", "country"):
                href = _link(request, **{name: [*request.args.getlist(name), value]})
            else:
                href = _link(request, **{name: value})
            links.append({"value": value, "count": count, "href": href})
        facet_links[name] = links
    page = query.offset // query.limit + 1
    context = {
        "q": query.text or "", "query": query, "result": result, "error": error,
        "facets": facet_links, "page": page,
        "next_link": _link(request, offset=str(query.offset + query.limit))
        if result and query.offset + query.limit < result.total else None,
        "json_link": "/search.json?" + request.query_string,
        "csv_link": "/search.csv?" + request.query_string,
        "active": [(k, v) for k, values in _active(request) for v in values],
        "clear_links": {f"{k}={v}": _link(request, **{k: [x for x in request.args.getlist(k)
                                                          if x != v] or None})
                        for k, values in _active(request) for v in values},
        "sector_names": sector_names(),
        "country_names": country_names(),
        "database": _db_name(datasette),
    }
    return Response.html(await datasette.render_template("monitor_search.html", context,
                                                         request=request), status=status)


def _active(request):
    for key in ("sector", "country", "org", "person", "feed", "since", "until"):
        values = request.args.getlist(key)
        if values:
            yield key, values


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
    body = {"error": error_text(exc)}
    if isinstance(exc, FilterError):
        body.update(field=exc.field, value=exc.value, valid=exc.valid)
    return _json(body, status=400)


async def search_export(datasette, request):
    """The whole result set, streamed (monitor.export): /search.csv, /search.jsonl,
    /search.atom; `limit` and `offset` cut it when given."""
    from datasette.utils.asgi import AsgiStream

    from . import export

    fmt = request.url_vars["format"]
    database = datasette.get_database(_db_name(datasette))
    tz = zone(datasette)
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


async def item_page(datasette, request):
    from .highlight import entities_html

    item_id = request.url_vars["item_id"]
    database = datasette.get_database(_db_name(datasette))

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
        return Response.html("<h1>Нет такой новости</h1>", status=404)
    item, sources, mentions = found
    context = {"item": item, "sources": sources,
               "text_html": entities_html(item["text"], mentions),
               "sector_names": sector_names(), "country_names": country_names(),
               "database": _db_name(datasette)}
    return Response.html(await datasette.render_template("monitor_item.html", context,
                                                         request=request))


async def overview_page(datasette, request):
    database = datasette.get_database(_db_name(datasette))

    tz = zone(datasette)
    try:
        query = _query_from(request, paging=False)
    except PagingError:
        query = SearchQuery()

    def work(conn):
        import sqlite_utils

        db = sqlite_utils.Database(conn)
        try:  # stories per month, of the page's search (every cooperation item by default)
            by = overview(db, query, zone=tz)
        except (QueryError, FilterError):
            by = overview(db, SearchQuery(), zone=tz)
        totals = conn.execute("SELECT count(*), sum(is_cooperation = 1) FROM items").fetchone()
        return by, totals

    by, totals = await database.execute_fn(work)
    charts = {name: _chart(rows) for name, rows in by.items()}
    context = {"charts": charts, "total": totals[0] or 0, "cooperation": totals[1] or 0,
               "database": _db_name(datasette)}
    return Response.html(await datasette.render_template("monitor_overview.html", context,
                                                         request=request))


COLORS = ["#2f6fb3", "#d9822b", "#3c9a5f", "#b23b3b", "#7b5ea7", "#8c6d3f", "#d16ba5",
          "#6b6b6b"]


def _chart(rows: list[tuple[str, str, int]], top: int = 6, width: int = 640,
           height: int = 220) -> dict:
    """A small SVG line chart: items per month for the `top` most frequent series."""
    totals = Counter()
    for _month, series, count in rows:
        totals[series] += count
    names = [name for name, _ in totals.most_common(top)]
    months = sorted({month for month, _, _ in rows if month})
    if not months or not names:
        return {"svg": "", "legend": [], "empty": True}
    values = {(m, s): c for m, s, c in rows}
    peak = max(values.get((m, s), 0) for m in months for s in names) or 1
    pad, inner_w, inner_h = 30, width - 40, height - 40
    step = inner_w / max(1, len(months) - 1)
    lines = []
    for index, name in enumerate(names):
        points = " ".join(
            f"{pad + i * step:.1f},{pad + inner_h - inner_h * values.get((m, name), 0) / peak:.1f}"
            for i, m in enumerate(months))
        lines.append(f'<polyline fill="none" stroke="{COLORS[index % len(COLORS)]}" '
                     f'stroke-width="2" points="{points}"/>')
    labels = "".join(
        f'<text x="{pad + i * step:.1f}" y="{height - 5}" font-size="10" '
        f'text-anchor="middle">{m}</text>' for i, m in enumerate(months)
        if len(months) <= 12 or i % max(1, len(months) // 12) == 0)
    axis = (f'<text x="2" y="{pad + 4}" font-size="10">{peak}</text>'
            f'<line x1="{pad}" y1="{pad + inner_h}" x2="{width - 10}" y2="{pad + inner_h}" '
            f'stroke="#999"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'role="img">{axis}{"".join(lines)}{labels}</svg>')
    legend = [{"name": n, "color": COLORS[i % len(COLORS)], "total": totals[n]}
              for i, n in enumerate(names)]
    return {"svg": svg, "legend": legend, "empty": False}


# --- serving --------------------------------------------------------------------------------

def make_datasette(db_path: Path, timezone: str | None = None):
    """A Datasette over the store: read-only, with this plugin's pages and SQL functions;
    dates in `timezone` (the config's)."""
    from datasette.app import Datasette
    from datasette.plugins import pm

    import monitor.web as plugin

    if not pm.is_registered(plugin):
        pm.register(plugin, name="monitor-web")
    return Datasette(
        [str(db_path)],
        settings={"sql_time_limit_ms": 3000, "default_page_size": 50,
                  "allow_download": False},
        metadata={"title": "monitor — сотрудничество в новостях",
                  "description": "Новости о сотрудничестве стран, регионов и организаций",
                  "plugins": {PLUGIN: {"timezone": timezone or DEFAULT_TIMEZONE}}},
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
    """Serve the web UI until interrupted."""
    import uvicorn

    check_bind(host)
    app = protect(make_datasette(db_path, timezone).app(), host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def serve_in_thread(db_path: Path, host: str = "127.0.0.1", port: int = 8001,
                    timezone: str | None = None):
    """Start the web UI in a daemon thread (for `monitor run`); returns the uvicorn server."""
    import threading

    import uvicorn

    check_bind(host)
    app = protect(make_datasette(db_path, timezone).app(), host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # the main thread owns signals
    thread = threading.Thread(target=server.run, name="web", daemon=True)
    thread.start()
    return server
