"""The `monitor` command line: argument parsing and output only; the work is in the library."""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from . import __version__
from .config import Config, ConfigError, load_config
from .wording import counted

DEFAULT_CONFIG = "feeds.yaml"


@dataclass
class Context:
    config_path: str
    db_override: str | None
    _config: Config | None = field(default=None, repr=False)

    def config(self, *, required: bool = True) -> Config:
        """The validated config; without a file, an empty one where that makes sense."""
        if self._config is None:
            path = Path(self.config_path)
            if not path.exists() and not required and self.config_path == DEFAULT_CONFIG:
                self._config = Config()
            else:
                try:
                    self._config = load_config(path)
                except ConfigError as exc:
                    raise click.ClickException(str(exc)) from None
        return self._config

    def db_path(self):
        return self.config(required=False).db_path(self.db_override)

    def db(self, *, required_config: bool = False, existing: bool = False):
        """The opened (and migrated) database; `existing`: refuse to create one, so that a
        mistyped --db is an error, not an empty result from a new file."""
        from . import store

        config = self.config(required=required_config)
        path = config.db_path(self.db_override)
        if existing:
            require_database(path)
        try:
            return store.open_db(path)
        except store.StoreError as exc:
            raise click.ClickException(str(exc)) from None


pass_ctx = click.make_pass_decorator(Context)


def require_database(path) -> None:
    """A command that reads stored items stops when there is no database to read."""
    if str(path) != ":memory:" and not Path(path).exists():
        raise click.ClickException(
            f"no database at {path}: `monitor poll` or `monitor run` creates it from the "
            "feeds in feeds.yaml (or point --db or 'database:' in the config at an existing "
            "one; `monitor demo` makes demo.db from sample feeds)")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
              metavar="PATH", help="Feed list and settings (YAML).")
@click.option("--db", "db_path", default=None, metavar="PATH",
              help="SQLite database file. Default: 'database:' in the config, else ./monitor.db.")
@click.version_option(__version__, prog_name="monitor")
@click.pass_context
def cli(ctx: click.Context, config_path: str, db_path: str | None) -> None:
    """Watch Russian-language news for reports of cooperation.

    \b
    Start with the offline demo, then the real feeds:
      monitor demo
      monitor poll                   # poll every feed in feeds.yaml once
      monitor run                    # keep polling on schedule until Ctrl-C
      monitor search водоочистка     # look through what was stored
    """
    ctx.obj = Context(config_path=config_path, db_override=db_path)


def _progress():
    """A progress bar on a terminal; in a log (cron, CI) a line now and then instead."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return LogProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


class LogProgress:
    """Progress for a log: rich's bar shows nothing there, so a long step says how far it
    is, first after FIRST seconds and then every EVERY seconds (short steps stay silent)."""

    FIRST, EVERY = 5.0, 30.0

    def __init__(self, clock=None) -> None:
        import time

        self.clock = clock or time.monotonic
        self.tasks: list[dict] = []

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def add_task(self, description: str, total: int | None = None) -> int:
        now = self.clock()
        self.tasks.append({"description": description, "total": total, "done": 0,
                           "start": now, "next": now + self.FIRST})
        return len(self.tasks) - 1

    def update(self, task: int, total: int | None = None) -> None:
        self.tasks[task]["total"] = total

    def advance(self, task: int, steps: int = 1) -> None:
        state = self.tasks[task]
        state["done"] += steps
        now = self.clock()
        if now >= state["next"]:
            state["next"] = now + self.EVERY
            total = state["total"] if state["total"] is not None else "?"
            click.echo(f"{state['description']}: {state['done']}/{total} "
                       f"({now - state['start']:.0f} s)", err=True)


def poll_and_analyse(db, config: Config, feed_names=()) -> list:
    """Poll the chosen feeds once, print a line per feed, then analyse new items."""
    from . import store
    from .ingest import analyse_pending
    from .poller import enabled_feeds, fetch_articles, poll_feeds

    store.sync_feeds(db, config.feeds)
    try:
        feeds = enabled_feeds(db, config, feed_names)
    except KeyError as exc:
        raise click.ClickException(f"no feed named {exc.args[0]} in the config") from None
    with _progress() as progress:
        task = progress.add_task("Polling feeds", total=len(feeds))

        def on_result(summary):
            click.echo(summary.line())
            progress.advance(task)

        summaries = poll_feeds(db, config, feeds, on_result=on_result)
        articles = store.fulltext_pending(db)
        if articles:
            task = progress.add_task("Fetching article pages", total=len(articles))

            def on_article(item, error):
                if error:  # the item goes on to analysis with its feed's text
                    click.echo(f"{item['feed']}: article page {item['url']} not fetched: "
                               f"{error}")
                progress.advance(task)

            fetch_articles(db, config, on_item=on_article)
        pending = len(store.pending_items(db))
        task = progress.add_task("Analysing items", total=pending)
        analysed = analyse_pending(db, on_item=lambda _id: progress.advance(task))
    failed = sum(s.status in ("error", "disabled") for s in summaries)
    new = sum(s.new for s in summaries)
    click.echo(f"Polled {counted(len(summaries), 'feed')}: {counted(new, 'new item')}, "
               f"{analysed} analysed, {failed} failed.")
    return summaries


@cli.command()
@click.option("--feed", "feed_names", multiple=True, metavar="NAME",
              help="Poll only this feed (repeatable), even if disabled.")
@pass_ctx
def poll(ctx: Context, feed_names: tuple[str, ...]) -> None:
    """Poll every enabled feed once now, analyse new items and store them.

    Prints one line per feed. Exits 0 even when some feeds fail (each failure is said);
    non-zero only when the config or the database is unusable, or 130 after Ctrl-C, which
    stops at once: what was stored stays, and items not yet analysed (or still waiting
    for their article page) are finished by the next poll or run.

    \b
    Example:
      monitor poll
      monitor --config feeds.yaml --db news.db poll --feed ТАСС
    """
    config = ctx.config()
    db = ctx.db(required_config=True)
    try:
        poll_and_analyse(db, config, feed_names)
    except KeyboardInterrupt:
        click.echo("monitor: interrupted. Everything stored so far is kept; items not yet "
                   "analysed stay pending for the next `monitor poll` or `monitor run`.",
                   err=True)
        # Fetches still running would be waited for at exit (up to poll.timeout); their
        # results are not wanted, and the database is safe at any moment (see test_crash).
        os._exit(130)


WEB_OPTIONS = [
    click.option("--host", default="127.0.0.1", show_default=True,
                 help="Address of the web UI; any other than localhost needs "
                      "MONITOR_WEB_PASSWORD."),
    click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True),
]


def _check_bind(host: str) -> None:
    """Refuse an unsafe web address as a clean error, before anything is touched."""
    from .web import UnsafeBind, check_bind

    try:
        check_bind(host)
    except UnsafeBind as exc:
        raise click.ClickException(str(exc)) from None


def web_options(function):
    for option in reversed(WEB_OPTIONS):
        function = option(function)
    return function


@cli.command()
@web_options
@click.option("--web/--no-web", default=True, show_default=True,
              help="Also serve the web UI (as `monitor serve` does).")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Analysis processes (default: poll.analysis_workers, else all cores).")
@pass_ctx
def run(ctx: Context, host: str, port: int, web: bool, workers: int | None) -> None:
    """Run the service: poll each feed on its schedule, analyse new items and serve the web
    UI, until stopped.

    Ctrl-C or SIGTERM stops it cleanly between two items; nothing stored is lost and a
    restart carries on where it stopped.

    \b
    Example:
      monitor run                       # web UI on http://127.0.0.1:8001
      monitor --config feeds.yaml --db /var/lib/monitor/monitor.db run --no-web
    """
    from .service import StopFlag, run_service
    from .web import UnsafeBind, WebStartError, serve_in_thread

    config = ctx.config()
    if web:
        _check_bind(host)  # before the database is created or migrated
    db = ctx.db(required_config=True)
    server = None
    if web:
        try:
            server = serve_in_thread(config.db_path(ctx.db_override), host, port,
                                     timezone=config.timezone)
        except (UnsafeBind, WebStartError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"monitor: web UI on http://{host}:{port}/")
    stop = StopFlag()
    stop.install()
    try:
        run_service(db, config, stop=stop, report=lambda line: click.echo(line),
                    workers=workers)
    finally:
        if server is not None:
            server.should_exit = True
    _exit_past_hung_fetches(db)


def _exit_past_hung_fetches(db) -> None:
    """After a stop, leave at once even if a fetch still waits on a silent server: Python
    would join its thread at exit (up to poll.timeout), and nothing of it is wanted (the
    database holds everything stored; the fetch is done again at the next start)."""
    import threading

    if any(t.is_alive() and not t.daemon and t is not threading.main_thread()
           for t in threading.enumerate()):
        db.conn.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@cli.command()
@web_options
@pass_ctx
def serve(ctx: Context, host: str, port: int) -> None:
    """Serve the analysts' web UI (in Russian) over the database, read-only.

    Search with facets by sector, country, organisation, outlet and month; each item with
    its entities highlighted and all its sources; an overview with charts; the query
    language at /help; times in the config's digest.timezone (default Europe/Moscow);
    Datasette's tables, SQL, JSON and CSV underneath. Listens on 127.0.0.1 unless told otherwise, and
    refuses any other address without MONITOR_WEB_PASSWORD (login "monitor").

    \b
    Example:
      monitor serve                      # http://127.0.0.1:8001/
      MONITOR_WEB_PASSWORD=secret monitor serve --host 0.0.0.0 --port 8080
    """
    from . import store
    from .web import UnsafeBind, WebStartError, serve as serve_web

    config = ctx.config(required=False)
    path = config.db_path(ctx.db_override)
    _check_bind(host)  # before the database is migrated
    require_database(path)
    store.open_db(path).conn.close()  # migrate before serving read-only
    try:
        serve_web(path, host, port, timezone=config.timezone)
    except (UnsafeBind, WebStartError) as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("source", default="-", type=click.File("rb"))
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: all cores).")
def analyze(source, workers: int | None) -> None:
    """Analyse articles given as JSON lines; print one JSON line per input line, in order
    (blank lines are skipped, as JSON Lines readers do; error lines give the line number).

    Each input line is {"id": ..., "title": ..., "text": ...}. Each output line holds the id
    and the entities ({"type", "text", "normal", "start", "stop"}, offsets into the text;
    title entities carry "in_title": true and offsets into the title): the NER's spans, an
    ORG with its country, region or city carrying its "party" ("МИД России",
    "Администрация Приморского края"), and the country adjectives
    ("kind": "adjective") and names ("source": "gazetteer") the NER missed. A line that cannot be
    analysed (not UTF-8, not a JSON object, no text, ...) gets {"line": N, "error": ...} and
    the run goes on. Texts over 100,000 characters are analysed up to a paragraph or
    sentence end near that cap, and their line says "text_cut": true.

    \b
    Example:
      echo '{"id": 1, "title": "Россия и Япония", "text": "Встреча прошла в Токио."}' \\
        | monitor analyze -
      monitor analyze articles.jsonl --workers 2 > entities.jsonl
    """
    from .batch import analyse_lines, default_workers, to_json_line

    workers = workers or default_workers()
    out = sys.stdout.buffer  # bytes: UTF-8 whatever the locale says
    for result in analyse_lines(source, workers=workers):
        out.write(to_json_line(result))
        out.flush()


def _cells(*values) -> list:
    """Table cells shown as they are: rich would read «[/]» or «[Errno 2]» in a news title,
    a feed name or an error as its markup (and fail), and «:flag:» as an emoji code."""
    from rich.text import Text

    return [Text(str(value)) for value in values]


def _format_items(items: list[dict], fmt: str, zone=None) -> str:
    if fmt == "json":
        return json.dumps(items, ensure_ascii=False, indent=2)
    from rich.console import Console
    from rich.table import Table

    from .export import local_time

    table = Table(show_lines=False, expand=False)
    for column in ("id", "published", "feed", "title", "countries", "snippet"):
        table.add_column(column, overflow="fold")
    for item in items:
        feed = item["feed"] or ""
        if len(item["story_outlets"]) > 1:  # outlets of the story, near copies included
            feed += f" (+{len(item['story_outlets']) - 1})"
        title = item["title"]
        if item.get("more"):
            title += f" (+{item['more']} more)"
        text = item.get("snippet") or ", ".join(dict.fromkeys(
            e["normal"] for e in item["entities"]))
        published = (local_time(item["published"], zone) or "")[:16].replace("T", " ")
        table.add_row(*_cells(item["id"], published, feed, title, " ".join(item["countries"]),
                              text[:160]))
    buffer = io.StringIO()
    Console(file=buffer, width=160, force_terminal=False).print(table)
    return buffer.getvalue().rstrip("\n")


def _search_help(f):
    """The query language's help (monitor.query) appended to the command's help."""
    from .query import QUERY_HELP

    f.__doc__ = f.__doc__ + "\n\n    \b\n    " + QUERY_HELP.replace("\n", "\n    ")
    return f


class SearchCommand(click.Command):
    """`monitor search` reads a word after a single dash as a negation of the query
    («-санкции», «-China»), not as short options (click would find -h in «-China»)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, split_query_words(self.get_params(ctx), args))


def split_query_words(params, args: list[str]) -> list[str]:
    """`args` with the options (and their values) first, then `--` and the query words in
    their order, so that a word starting with one dash stays a query word."""
    takes_value = {}
    for param in params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not (param.is_flag or param.count)
    options, words = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            words += args[i + 1:]
            break
        name = arg.split("=", 1)[0]
        if name in takes_value:
            options.append(arg)
            if takes_value[name] and "=" not in arg and i + 1 < len(args):
                i += 1
                options.append(args[i])
        elif arg.startswith("--"):
            raise click.NoSuchOption(name)  # a mistyped option, not a query word
        else:
            words.append(arg)  # a word, or a negation («-санкции»)
        i += 1
    return options + (["--", *words] if words else [])


@cli.command(cls=SearchCommand)
@click.argument("query", nargs=-1)
@click.option("--sector", "sectors", multiple=True, metavar="ID",
              help="Only items in this sector: an ID or its Russian name (repeatable: any "
                   "of them).")
@click.option("--country", "countries", multiple=True, metavar="ISO",
              help="Only items where this country cooperates: an ISO code or any Russian "
                   "name, e.g. CN, Китай, КНР (repeatable: any of them).")
@click.option("--org", metavar="NAME", help="Only items naming this organisation.")
@click.option("--person", metavar="NAME", help="Only items naming this person.")
@click.option("--feed", metavar="NAME", help="Only items carried by this feed.")
@click.option("--since", metavar="DATE",
              help="Published on or after DATE (YYYY-MM-DD, in the config's time zone).")
@click.option("--until", metavar="DATE",
              help="Published on or before DATE (YYYY-MM-DD, the whole day).")
@click.option("--international", is_flag=True, help="Only international cooperation.")
@click.option("--all", "include_all", is_flag=True,
              help="Include items that are not about cooperation.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "jsonl", "atom"]),
              default="table", show_default=True,
              help="table and json: one page; csv, jsonl and atom: the whole result set "
                   "(atom: the 100 newest stories) unless --limit or --offset is given.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Stories per page (default 20; exports: all).")
@click.option("--offset", type=click.IntRange(min=0), default=None,
              help="Stories to skip (default 0).")
@pass_ctx
@_search_help
def search(ctx: Context, query: tuple[str, ...], sectors, countries, org, person, feed,
           since, until, international, include_all, fmt: str, limit: int | None,
           offset: int | None) -> None:
    """Search cooperation items; without a query, list the latest.

    One result per story (the same news from several outlets, near copies included), with
    the number of its further publications. Words match in any inflection («водоочистку»
    finds «водоочистки»). Best matches first (title counts three times), newest first
    without a query. Times are shown in the config's time zone (digest.timezone, default
    Europe/Moscow). An unknown sector, country or feed, or --since after --until, is an
    error (exit 2) listing the valid values. The query may be one quoted argument or
    several words, negations included (monitor search газ -санкции).

    \b
    Example:
      monitor search                                   # latest cooperation items
      monitor search "японских компаний" --country JP --since 2026-03-01
      monitor search 'водоочистка OR отходы -санкции' --sector water --sector waste
      monitor search --all --feed ТАСС --format csv > items.csv     # every match
      monitor search Белоруссия --format atom > belarus.atom
    """
    from .export import export
    from .filters import FilterError
    from .query import QueryError
    from .search import SearchQuery
    from .search import search as run_search

    query = " ".join(query) or None
    config = ctx.config(required=False)
    zone = config.timezone
    q = SearchQuery(text=query, sectors=list(sectors), countries=list(countries), org=org,
                    person=person, feed=feed, since=since, until=until,
                    international=international, include_all=include_all,
                    limit=limit or 20, offset=offset or 0)
    db = ctx.db(existing=True)
    try:
        if fmt in ("csv", "jsonl", "atom"):
            base_url = config.digest.base_url if config.digest else "http://127.0.0.1:8001"
            chunks = export(db, q, fmt, base_url=base_url, zone=zone, limit=limit,
                            offset=offset or 0, title=f"monitor: {query or 'поиск'}")
            out = sys.stdout.buffer  # UTF-8 whatever the locale says
            for chunk in chunks:
                out.write(chunk.encode("utf-8"))
            out.flush()
            return
        result = run_search(db, q, zone=zone)
    except FilterError as exc:
        raise click.UsageError(str(exc)) from None
    except QueryError as exc:
        raise click.UsageError(f"bad query: {exc}") from None
    if result.ignored:
        click.echo(f"Not searched: {', '.join(result.ignored)}", err=True)
    if fmt == "table":
        if not result.items:
            click.echo("No items found." + ("" if include_all else
                                             " (Only cooperation items are searched; "
                                             "--all searches everything.)"), err=True)
            if result.total:
                click.echo(f"{result.total} stories in all; the last page starts at "
                           f"--offset {result.last_offset}.", err=True)
            return
        click.echo(_format_items(result.items, fmt, zone))
        click.echo(f"{len(result.items)} of {counted(result.total, 'story', 'stories')} "
                   f"({counted(result.matches, 'matching item')})", err=True)
        return
    click.echo(_format_items(result.items, fmt, zone))


@cli.command()
@pass_ctx
def reindex(ctx: Context) -> None:
    """Rebuild the full-text search index and the stories from the stored items.

    Both are kept up to date as items are analysed; rebuild them after changing the
    lemmatiser, restoring a database from elsewhere, or upgrading a database made before
    stories existed (its near copies are then grouped as new items are).

    \b
    Example:
      monitor reindex
      monitor --db archive.db reindex
    """
    from . import store

    db = ctx.db(existing=True)
    with _progress() as progress:
        task = progress.add_task("Indexing items", total=store.count_items(db))
        count = store.reindex(db, on_item=lambda: progress.advance(task))
    click.echo(f"Indexed {counted(count, 'item')}.")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@pass_ctx
def feeds(ctx: Context, fmt: str) -> None:
    """Show each feed's polling state: status, errors, last and next poll, item count, and
    its items' failures: analyses given up after 5 tries (failed), analyses waiting to be
    tried again (retrying), article pages given up, and the newest item error. The table
    shows times in the config's time zone (digest.timezone); --format json in UTC.

    \b
    Example:
      monitor feeds
      monitor feeds --format json | jq '.[] | select(.status == "error")'
    """
    from . import store

    config = ctx.config(required=False)
    db = ctx.db(existing=True)  # a mistyped --db must not become an empty new database
    if config.feeds:
        store.sync_feeds(db, config.feeds)
    rows = [{
        "name": row["name"], "url": row["url"], "enabled": bool(row["enabled"]),
        "status": row["status"], "error_count": row["error_count"],
        "last_error": row["last_error"], "last_polled": row["last_polled"],
        "next_poll": row["next_poll"], "items": row["items"],
        "items_failed": row["items_failed"], "items_retrying": row["items_retrying"],
        "pages_failed": row["pages_failed"], "last_item_error": row["last_item_error"],
    } for row in store.feed_rows(db)]
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    from .export import local_time

    zone = config.timezone
    when = lambda value: (local_time(value, zone) or "-")[:16].replace("T", " ")  # noqa: E731
    table = Table(caption=f"times in {zone}")
    for column in ("name", "status", "items", "errors", "last polled", "next poll", "last error",
                   "failed", "last item error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = row["status"] if row["enabled"] else f"{row['status']} (off)"
        failed = []  # analyses given up (and waiting to be retried), pages given up
        if row["items_failed"] or row["items_retrying"]:
            failed.append(counted(row["items_failed"], "item") + (
                f" (+{row['items_retrying']} retrying)" if row["items_retrying"] else ""))
        if row["pages_failed"]:
            failed.append(counted(row["pages_failed"], "page"))
        next_poll = when(row["next_poll"]) if row["enabled"] else "-"  # off: not polled
        table.add_row(*_cells(row["name"], status, row["items"], row["error_count"],
                              when(row["last_polled"]), next_poll,
                              (row["last_error"] or "")[:80], ", ".join(failed) or "-",
                              (row["last_item_error"] or "")[:80]))
    Console(width=160).print(table)


@cli.command()
@click.option("--db", "demo_db", default=None, metavar="PATH",
              help="Database for the demo, kept apart from your real one (default: the "
                   "global --db, else demo.db).")
@pass_ctx
def demo(ctx: Context, demo_db: str | None) -> None:
    """Run monitor offline on bundled sample feeds served from 127.0.0.1.

    Serves three sample feeds written by the monitor team (one carries the seed article
    "Россия и Япония будут сотрудничать в сфере водоочистки", one is windows-1251, one is
    Atom), polls them, analyses the items and shows what was stored. Needs no network.

    \b
    Example:
      monitor demo
      monitor demo --db try.db && monitor --db try.db search Япония
    """
    from . import store
    from .demo import demo_config, demo_feed_dir, serve_directory
    from .search import SearchQuery
    from .search import search as run_search

    # `monitor --db try.db demo` means try.db too; the config's database is not the demo's
    demo_db = demo_db or ctx.db_override or "demo.db"
    try:
        db = store.open_db(demo_db)
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from None
    with serve_directory(demo_feed_dir()) as base_url:
        click.echo(f"Serving sample feeds at {base_url}")
        config = demo_config(base_url)
        poll_and_analyse(db, config)
    items = run_search(db, SearchQuery(include_all=True, limit=20)).items
    click.echo(_format_items(items, "table"))
    click.echo(f"\nStored in {demo_db}. Try: monitor --db {demo_db} search Япония --format json")


def _print_table(title: str, columns: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*_cells(*row))
    Console(width=140).print(table)


@cli.group(name="eval")
def eval_group() -> None:
    """Measure monitor against labelled data, beside the baseline it must beat.

    \b
    Example:
      monitor eval ner ../shared/data/factrueval-2016/devset
      monitor eval normal
      monitor eval cooperation models/data/cooperation.jsonl
    """


@eval_group.command(name="ner")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "corpus", type=click.Choice(["factru", "nerel"]), default="factru",
              show_default=True, help="factru: a factRuEval-2016 folder (dev or test as "
              "published); nerel: a NEREL brat folder (N.txt + N.ann).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N documents.")
@click.option("--output", "fmt", type=click.Choice(["table", "json"]), default="table")
def eval_ner_command(directory: str, corpus: str, limit: int | None, fmt: str) -> None:
    """Token-level precision/recall/F1 per entity type, monitor beside plain Natasha
    (Segmenter + NewsNERTagger) in the same run. monitor is scored on exactly the
    name entities `monitor analyze` outputs (country adjectives aside). factRuEval is
    scored as naeval does (Person whole, Org by org_name, Location/LocOrg by loc_name);
    NEREL maps PERSON -> PER, COUNTRY/CITY/STATE_OR_PROV/LOCATION/DISTRICT -> LOC,
    ORGANIZATION -> ORG and scores outermost spans.

    \b
    Example:
      monitor eval ner ../shared/data/factrueval-2016/devset
      monitor eval ner factRuEval-2016/testset --limit 10 --output json
      monitor eval ner NEREL/NEREL-v1.0/test --format nerel
    """
    from .evaluate import LOADERS, eval_ner

    try:
        total = len(LOADERS[corpus](Path(directory), limit))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    with _progress() as progress:
        task = progress.add_task("Scoring documents", total=total * 2)
        result = eval_ner(Path(directory), limit, on_doc=lambda: progress.advance(task),
                          fmt=corpus)
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    rows = []
    for label in ("PER", "LOC", "ORG"):
        ours, theirs = result["monitor"][label], result["natasha"][label]
        rows.append([label, ours["precision"], ours["recall"], ours["f1"], theirs["f1"],
                     f"{ours['f1'] - theirs['f1']:+.4f}"])
    corpus_name = {"factru": "factRuEval-2016", "nerel": "NEREL"}[corpus]
    _print_table(f"{corpus_name}, {result['documents']} documents",
                 ["type", "precision", "recall", "F1 monitor", "F1 Natasha", "difference"], rows)


@eval_group.command(name="normal")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def eval_normal_command(path: str | None, fmt: str) -> None:
    """Exact-match accuracy of entity normal forms per category, monitor beside plain
    Natasha (segment, morph, syntax, NER, normalize). Default data:
    models/data/normal_forms.jsonl.

    \b
    Example:
      monitor eval normal
      monitor eval normal my_cases.jsonl --format json
    """
    from .modelfiles import models_dir
    from .evaluate import eval_normal

    result = eval_normal(Path(path) if path else models_dir() / "data" / "normal_forms.jsonl")
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _print_table("Normal forms (exact match)", ["category", "cases", "monitor", "Natasha"],
                 [[name, c["cases"], c["monitor"], c["natasha"]]
                  for name, c in result["categories"].items()])
    for failure in result["monitor_failures"]:
        click.echo(f"  miss: {failure['text']!r}: expected {failure['expected']!r}, "
                   f"got {failure['got']!r}")


def _cooperation_rows(path: str, factru: str | None, texts: str | None) -> list[dict]:
    from .evaluate import factru_cooperation_rows, labelled_posts

    try:
        if factru:
            return factru_cooperation_rows(Path(factru), Path(path))
        return labelled_posts(Path(path), Path(texts) if texts else None)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None


@eval_group.command(name="sectors")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def eval_sectors_command(path: str | None, fmt: str) -> None:
    """Score the sector classifier on labelled items: per-sector precision, recall, F1.

    FILE holds JSON lines {"title", "text", "sectors": [IDs]}, optionally
    "is_cooperation": true (a cooperation item keeps its likeliest sector, as `analyze`
    does); rows with "split" score only when it is "heldout". Default: the held-out split
    of models/data/sectors.jsonl, which training never sees.

    \b
    Examples:
      monitor eval sectors
      monitor eval sectors my_labelled_news.jsonl --format json
    """
    from .modelfiles import models_dir
    from .evaluate import evaluate_sectors, load_jsonl

    try:
        rows = load_jsonl(Path(path) if path else models_dir() / "data" / "sectors.jsonl")
        rows = [r for r in rows if r.get("split", "heldout") == "heldout"]
        result = evaluate_sectors(rows)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'sector':<12} {'P':>6} {'R':>6} {'F1':>6} {'support':>8}")
    for sector, m in result["per_sector"].items():
        click.echo(f"{sector:<12} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} "
                   f"{m['support']:>8}")
    click.echo(f"micro-F1 {result['micro_f1']:.3f}, macro-F1 {result['macro_f1']:.3f} on "
               f"{result['items']} items (model {result['model_version']})")


@eval_group.command(name="cooperation")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--texts", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON lines with id and text (and title) when PATH holds only labels.")
@click.option("--factru", type=click.Path(exists=True, file_okay=False), default=None,
              help="factRuEval directory: PATH then holds only ids and labels for its texts.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--errors/--no-errors", default=False, help="List the items monitor got wrong.")
def eval_cooperation_command(path: str, texts: str | None, factru: str | None, fmt: str,
                             errors: bool) -> None:
    """Score the installed cooperation model on your own labelled news, beside the keyword
    alert ("сотруднич", "соглашени", "меморандум", "партнёр", "совместн"): precision,
    recall and F1 per subset, and over the true cooperation items how often the
    countries are exactly right and the scope (international / domestic) is right.

    Labels in the format of models/data/tg-news/labels.jsonl (`id`, `cooperation`
    yes/no/unsure, `countries`, `scope`, optional `subset`; unsure items are not scored)
    or JSON lines with title, text, is_cooperation, countries.

    \b
    Examples:
      monitor eval cooperation my-labels.jsonl --texts my-posts.jsonl
      monitor eval cooperation models/data/cooperation_heldout.jsonl
      monitor eval cooperation models/data/factrueval_dev_cooperation.jsonl \\
        --factru ../shared/data/factrueval-2016/devset
    """
    from .evaluate import eval_cooperation

    rows = _cooperation_rows(path, factru, texts)
    with _progress() as progress:
        task = progress.add_task("Analysing items", total=len(rows))
        result = eval_cooperation(rows, on_item=lambda: progress.advance(task))
    if fmt == "json":
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    table = []
    for name, r in result["figures"].items():
        m, k = r["monitor"], r["keyword_alert"]
        table.append([name.replace("all/", "") if name != "all" else "all", r["items"],
                      r["cooperation"], m["precision"], m["recall"], m["f1"], k["f1"],
                      r.get("exact_countries", "-"), r.get("scope", "-")])
    from .evaluate import gold_label

    unsure = sum(gold_label(row) is None for row in rows)
    _print_table(f"Cooperation, {counted(len(rows) - unsure, 'labelled item')}"
                 + (f" ({unsure} unsure left out)" if unsure else "")
                 + f" (model {_coop_version()})",
                 ["subset", "items", "cooperation", "precision", "recall", "F1",
                  "keyword alert F1", "exact countries", "scope"], table)
    from .evaluate import in_training_data

    seen = in_training_data(rows)
    if seen:
        click.echo(f"Note: {counted(seen, 'item')} of this file {'is' if seen == 1 else 'are'} "
                   "in the model's training data, so these figures are not out of fold; the "
                   "out-of-fold figures are in models/README.md.", err=True)
    if errors:
        for error in result["errors"]:
            click.echo("  " + json.dumps(error, ensure_ascii=False))


def _coop_version() -> str:
    from .coop_model import load_model

    return load_model().version


@cli.command()
@click.argument("what", type=click.Choice(["sectors", "cooperation", "all"]), default="all")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Sectors: the written training set (default: models/data/sectors.jsonl).")
@click.option("--factru", type=click.Path(exists=True, file_okay=False), default=None,
              help="Cooperation: also train on the factRuEval dev stream (texts from this "
                   "directory, labels from models/data/factrueval_dev_cooperation.jsonl).")
@click.option("--labels/--no-labels", default=True, show_default=True,
              help="Use analysts' labels stored in the database (see `monitor label`).")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Cooperation: run the nested, grouped cross-validation for the card "
                   "(about five times the training time).")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Where to write the models (default: models/).")
@pass_ctx
def train(ctx: Context, what: str, data: str | None, factru: str | None, labels: bool,
          evaluate: bool, seed: int, out: str | None) -> None:
    """Train the models in models/ from the labelled data (reproducible with --seed).

    The cooperation model learns from the real labelled news of models/data/tg-news/, the
    written set models/data/cooperation.jsonl and analysts' labels (x5); it is written to
    models/cooperation.skops with its card models/cooperation.json, whose figures come
    from a cross-validation grouped by story, each threshold chosen inside its training
    part. The sector classifier learns from models/data/sectors.jsonl, the real cooperation
    posts' sectors, the sectors of other real posts (tg-news/sector_labels.jsonl), the
    sector vocabulary and analysts' labels. Run `monitor reprocess`
    afterwards to re-tag stored items.

    \b
    Examples (how the shipped models were made):
      monitor train sectors
      monitor train cooperation --factru ../shared/data/factrueval-2016/devset
    """
    from . import store
    from .evaluate import load_jsonl
    from .modelfiles import MissingModelError, models_dir, training_data_dir
    from .sectors import sector_ids
    from .train import (ANALYST_WEIGHT, cooperation_sources, load_sector_lexicon, read_sources,
                        real_sector_rows, train_cooperation, train_sectors)

    try:
        base = training_data_dir()
    except MissingModelError as exc:
        raise click.ClickException(str(exc)) from None
    out_dir = Path(out) if out else models_dir()
    db = ctx.db() if labels and Path(ctx.db_path()).exists() else None
    if what in ("sectors", "all"):
        written = load_jsonl(Path(data) if data else base / "sectors.jsonl")
        real = real_sector_rows(base / "tg-news")
        analyst = store.labelled_items(db) if db else []
        folds = len({r.get("fold") for r in written if r.get("split") != "heldout"})
        with _progress() as progress:
            task = progress.add_task("Training the sector classifier", total=folds + 2)
            card = train_sectors(written, load_sector_lexicon(base / "sector_terms.yaml"),
                                 sector_ids(), out_dir, analyst=analyst, real=real, seed=seed,
                                 on_step=lambda _step: progress.advance(task))
        cv, held, on_real = card["cross_validation"], card["heldout"], card.get("real")
        click.echo(f"sector model {card['version']}: cross-validated macro-F1 {cv['macro_f1']}, "
                   f"micro-F1 {cv['micro_f1']}"
                   + (f"; held-out micro-F1 {held['micro_f1']}, macro-F1 {held['macro_f1']}"
                      if held else "")
                   + (f"; real cooperation posts, out of fold: micro-F1 {on_real['micro_f1']}"
                      f" (nested thresholds: {on_real['nested']['micro_f1']})"
                      if on_real else "")
                   + f" ({len(written)} written items, {len(real)} real posts, "
                     f"{len(analyst)} analysts' labels)")
    if what in ("cooperation", "all"):
        analysts = store.cooperation_labels(db) if db else []
        sources = cooperation_sources(base, Path(factru) if factru else None, analysts)
        with _progress() as progress:
            task = progress.add_task("Analysing labelled items",
                                     total=sum(map(len, sources.values())))
            docs = read_sources(sources, on_item=lambda: progress.advance(task))
        for doc in docs:
            if doc.source == "analysts":
                doc.weight = ANALYST_WEIGHT
        with _progress() as progress:
            task = progress.add_task("Cross-validating and fitting", total=6 if evaluate else 1)
            card = train_cooperation(docs, out_dir, seed=seed, evaluate=evaluate,
                                     on_fold=lambda: progress.advance(task))
        click.echo(f"cooperation model {card['version']}: threshold "
                   f"{card['detector']['threshold']} ({len(docs)} labelled items)")
        figures = (card["cross_validation"] or {}).get("figures", {})
        for name, m in figures.items():
            click.echo(f"  {name}: out of fold P {m['monitor']['precision']}, R "
                       f"{m['monitor']['recall']}, F1 {m['monitor']['f1']} (keyword alert F1 "
                       f"{m['keyword_alert']['f1']}); exact countries "
                       f"{m.get('exact_countries', '-')}, scope {m.get('scope', '-')}")


@cli.command()
@click.argument("item_id", metavar="ITEM", type=int)
@click.option("--sector", "sectors", multiple=True, metavar="ID",
              help="The item belongs to this sector (repeatable).")
@click.option("--not-sector", "not_sectors", multiple=True, metavar="ID",
              help="The item does not belong to this sector (repeatable).")
@click.option("--cooperation", type=click.Choice(["yes", "no"]), default=None,
              help="Whether the item reports cooperation.")
@pass_ctx
def label(ctx: Context, item_id: int, sectors, not_sectors, cooperation: str | None) -> None:
    """Correct an item's tags. The labels apply to that item at once and teach the models at
    the next `monitor train`; `monitor reprocess` then re-tags the other items. A
    `--cooperation yes` can also give the item its likeliest sector (the cooperation floor),
    which only an analysis decides: the next `monitor reprocess` re-tags the item for it.

    \b
    Example:
      monitor label 42 --sector water --not-sector energy --cooperation yes
    """
    from . import store
    from .filters import sector_key
    from .sectors import sector_ids

    known = set(sector_ids())
    for values, hint in ((sectors, "--sector"), (not_sectors, "--not-sector")):
        unknown = [s for s in values if sector_key(s) not in known]
        if unknown:
            raise click.BadParameter(f"unknown sector {', '.join(unknown)}; sectors: "
                                     f"{', '.join(sorted(known))} (or their Russian names)",
                                     param_hint=hint)
    # IDs or Russian names in any case, as `search --sector` takes them
    sectors = [sector_key(s) for s in sectors]
    not_sectors = [sector_key(s) for s in not_sectors]
    both = sorted(set(sectors) & set(not_sectors))
    if both:
        raise click.UsageError(f"--sector and --not-sector both name {', '.join(both)}: "
                               "say which one holds")
    if not (sectors or not_sectors or cooperation):
        raise click.UsageError("nothing to label: give --sector, --not-sector or --cooperation")
    db = ctx.db(existing=True)
    try:
        store.add_labels(db, item_id, sectors=sectors, not_sectors=not_sectors,
                         cooperation=None if cooperation is None else cooperation == "yes")
    except store.StoreError as exc:
        raise click.ClickException(str(exc)) from None
    tags = store.relabel_stored(db, item_id)
    title = db.execute("SELECT title FROM items WHERE id = ?", [item_id]).fetchone()[0]
    click.echo(f"Labelled item {item_id} «{title}»: sectors now {', '.join(tags) or '-'}"
               + (f", cooperation {cooperation}" if cooperation else ""))


@cli.command()
@click.option("--subscriber", "names", multiple=True, metavar="NAME",
              help="Only this subscriber (repeatable; default: all in feeds.yaml).")
@click.option("--send", "do_send", is_flag=True,
              help="Send now over SMTP and record what was sent.")
@click.option("--preview", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write each digest as DIR/digest-NAME-DATE.eml and .html; send nothing.")
@pass_ctx
def digest(ctx: Context, names, do_send: bool, preview: str | None) -> None:
    """Build the daily digest e-mail of each subscriber in feeds.yaml.

    Each subscriber gets the cooperation items matching their filters that they have not
    been sent yet, the same story from several outlets once. Without --send or --preview,
    only says what each digest would hold and how the last failed send went. `monitor run`
    sends them daily at digest.send_at (a digest the server refused with 5xx is not
    retried until the next day or a settings change; --send always tries).

    \b
    Examples:
      monitor digest --preview out/
      monitor digest --subscriber Анна --send
    """
    from datetime import datetime, timezone

    from . import digest as digests

    if do_send and preview:
        raise click.UsageError("--send and --preview exclude each other")
    config = ctx.config()
    if not config.digest or not config.digest.subscribers:
        raise click.ClickException(f"{config.path}: no digest subscribers configured "
                                   "(see `digest:` in README)")
    wanted = {name.strip().casefold(): name for name in names}  # unique ignoring case
    chosen = [s for s in config.digest.subscribers if not names or s.name.casefold() in wanted]
    missing = set(wanted) - {s.name.casefold() for s in chosen}
    if missing:
        raise click.ClickException(
            f"no subscriber named {', '.join(sorted(wanted[m] for m in missing))}")
    require_database(config.db_path(ctx.db_override))  # before a preview folder is made
    if preview:
        try:  # before anything is built: a folder that cannot be made is the user's typo
            Path(preview).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot create the folder {preview}: "
                                     f"{exc.strerror or exc}", param_hint="--preview") from None
    db = ctx.db(existing=True)
    now = datetime.now(timezone.utc)
    failed = False
    for subscriber in chosen:
        day = digests.local_day(subscriber, config.digest, now)
        if do_send or preview:
            outcome = digests.deliver(db, config, subscriber, day,
                                      preview=Path(preview) if preview else None)
            click.echo(outcome.line())
            failed |= outcome.status in ("failed", "refused")
        else:
            built = digests.build(db, config.digest, subscriber, day)
            click.echo(f"{subscriber.name} <{subscriber.email}>: {digests.subject(built)} "
                       f"({counted(len(built.item_ids), 'item')})")
            status = digests.sending_status(db, config, subscriber)
            if status:
                click.echo(f"  {status}")
    if failed:
        sys.exit(1)


@cli.command()
@click.option("--since", metavar="DATE", default=None,
              help="Only items published on or after DATE (YYYY-MM-DD, in the config's "
                   "time zone).")
@pass_ctx
def reprocess(ctx: Context, since: str | None) -> None:
    """Re-tag stored items with the current models (after `monitor train`).

    Only items tagged by another model version are redone, one commit per item, so an
    interrupted run continues where it stopped. Analysts' labels stay in force.

    \b
    Example:
      monitor train sectors && monitor reprocess --since 2026-01-01
    """
    from .filters import FilterError, day_bound, zone_of
    from .ingest import reprocess as run_reprocess

    if since is not None:
        try:  # "yesterday" or 2026-13-45 must not re-tag nothing and say it did
            zone = zone_of(ctx.config(required=False).timezone)
            since = day_bound(since, end=False, zone=zone)
        except FilterError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    db = ctx.db(existing=True)
    with _progress() as progress:
        task = progress.add_task("Re-tagging items", total=None)
        count = run_reprocess(db, since=since,
                              on_total=lambda n: progress.update(task, total=n),
                              on_item=lambda _id: progress.advance(task))
    click.echo(f"Re-tagged {counted(count, 'item')}.")


def main() -> None:
    cli(prog_name="monitor")


if __name__ == "__main__":
    main()
