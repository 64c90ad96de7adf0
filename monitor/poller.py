"""Polling: fetch feeds concurrently, store their new items, keep per-feed state.

The work is split so that only one thread writes the database:
`fetch_feed` (network and parsing, any thread) -> `record_poll` (database, the caller's thread).
Analysis of the stored items happens later (`ingest.analyse_pending`), off the fetching path.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

import httpx
import sqlite_utils

from . import store
from .config import Config, FeedConfig
from .fetcher import FetchLimits, FetchResult, fetch, make_client
from .fulltext import Page, fetch_fulltext
from .parse import ParsedFeed, parse_feed
from .wording import counted


@dataclass
class FeedPoll:
    """The outcome of fetching and parsing one feed, before anything is stored."""

    feed: FeedConfig
    feed_id: int
    fetch: FetchResult
    parsed: ParsedFeed | None = None
    parse_error: str | None = None


@dataclass
class PollSummary:
    """What polling one feed did, for the one-line report and for tests."""

    name: str
    status: str  # ok | not_modified | error | disabled
    http_status: int = 0
    entries: int = 0
    new: int = 0
    error: str | None = None
    warning: str | None = None
    moved_to: str | None = None
    next_poll: str | None = None
    elapsed: float = 0.0
    new_ids: list[int] = field(default_factory=list)

    def line(self) -> str:
        if self.status == "ok":
            text = f"{self.name}: {counted(self.entries, 'entry', 'entries')}, {self.new} new"
            if self.moved_to:
                text += f", moved permanently to {self.moved_to}"
            if self.warning:
                text += f" (feed is malformed but was read: {self.warning[:120]})"
        elif self.status == "not_modified":
            text = f"{self.name}: not modified"
        elif self.status == "disabled":
            text = f"{self.name}: DISABLED: {self.error}"
        else:
            text = f"{self.name}: FAILED: {self.error}"
            if self.next_poll:
                text += f" (next try {self.next_poll})"
        return f"{text} [{self.elapsed:.1f} s]"


def limits_from(config: Config) -> FetchLimits:
    p = config.poll
    return FetchLimits(connect_timeout=p.connect_timeout, timeout=p.timeout,
                       max_body_bytes=p.max_body_bytes)


def fetch_feed(client: httpx.Client, feed: FeedConfig, row: dict,
               limits: FetchLimits) -> FeedPoll:
    """Network and parsing for one feed; touches no database, safe in any thread, never
    raises (a failure becomes the feed's error). Only feeds marked `local` may reach
    private addresses, so a redirect cannot turn a public feed into a request inside."""
    try:
        result = fetch(client, row["url"], etag=row.get("etag"),
                       last_modified=row.get("last_modified"), limits=limits,
                       allow_private=feed.local)
    except Exception as exc:  # a bug must cost this feed's poll, not the whole run
        result = FetchResult(url=row["url"], final_url=row["url"],
                             error=f"fetch failed: {type(exc).__name__}: {exc}")
    if result.blocked and row["url"] == result.final_url:
        result.error += " (mark the feed `local: true` to poll it)"
    poll = FeedPoll(feed=feed, feed_id=row["id"], fetch=result)
    if result.ok:
        try:
            poll.parsed = parse_feed(result.body, result.headers, base_url=result.final_url,
                                     encoding=feed.encoding)
        except Exception as exc:  # feedparser is tolerant; this is a last resort
            poll.parse_error = f"cannot parse feed: {type(exc).__name__}: {exc}"
        else:
            why = poll.parsed.not_a_feed()
            if why:  # a feed URL that now serves a web page must not look healthy
                content_type = result.headers.get("content-type") or "none"
                poll.parse_error = f"not a feed (Content-Type: {content_type}): {why}"
                poll.parsed = None
    return poll


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def next_poll_after(interval: float, error_count: int, *, max_backoff: float,
                    jitter: float, retry_after: float | None = None,
                    now: datetime | None = None) -> str:
    """When to poll next: the interval, doubled per consecutive error up to max_backoff,
    never sooner than Retry-After, plus random jitter so feeds do not march in step."""
    now = now or datetime.now(timezone.utc)
    delay = interval if error_count == 0 else min(max_backoff, interval * 2 ** min(error_count - 1, 20))
    delay = max(delay, min(interval, 60.0) if error_count else 0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    delay += random.uniform(0, jitter * delay)
    return _iso(now + timedelta(seconds=delay))


def record_poll(db: sqlite_utils.Database, poll: FeedPoll, config: Config) -> PollSummary:
    """Store a feed's new items, then its polling state (items first: a crash in between
    only means the next poll re-reads items that are already stored)."""
    result, feed = poll.fetch, poll.feed
    row = db["feeds"].get(poll.feed_id)
    now = store.utcnow()
    summary = PollSummary(name=feed.name, status="ok", http_status=result.status,
                          elapsed=result.elapsed)
    state: dict = {"last_polled": now, "last_http_status": result.status or None}
    ok = (result.ok and poll.parsed is not None) or result.not_modified
    if ok:
        if poll.parsed is not None:
            pairs = store.add_items(db, poll.feed_id, poll.parsed.items,
                                    fulltext=feed.fulltext)
            summary.entries = len(poll.parsed.items)
            summary.new_ids = [item_id for item_id, is_new in pairs if is_new]
            summary.new = len(summary.new_ids)
            summary.warning = poll.parsed.warning
            # Validators are saved only with a full body: a 304 keeps the ones we sent,
            # but Miniflux-style, a 304 may still refresh Last-Modified.
            state.update(etag=result.etag, last_modified=result.last_modified)
        else:
            summary.status = "not_modified"
            if result.last_modified:
                state["last_modified"] = result.last_modified
            if result.etag:
                state["etag"] = result.etag
        if result.permanent_redirect and result.final_url != row["url"]:
            state["url"] = result.final_url
            summary.moved_to = result.final_url
        state.update(status="ok", error_count=0, last_error=None, last_success=now,
                     next_poll=next_poll_after(feed.interval, 0,
                                               max_backoff=config.poll.max_backoff,
                                               jitter=config.poll.jitter))
    elif result.gone:
        summary.status = "disabled"
        summary.error = "HTTP 410 Gone: the publisher removed this feed"
        state.update(status="disabled", disabled_reason=summary.error, last_error=summary.error,
                     error_count=row["error_count"] + 1, next_poll=None)
    else:
        summary.status = "error"
        summary.error = poll.parse_error or result.error or f"HTTP {result.status}"
        errors = row["error_count"] + 1
        summary.next_poll = next_poll_after(
            feed.interval, errors, max_backoff=config.poll.max_backoff,
            jitter=config.poll.jitter, retry_after=result.retry_after)
        if result.retry_after is not None:
            summary.error += f" (server asks to retry after {result.retry_after:.0f} s)"
        state.update(status="error", error_count=errors, last_error=summary.error,
                     next_poll=summary.next_poll)
    store.update_feed(db, poll.feed_id, **state)
    return summary


def poll_feeds(db: sqlite_utils.Database, config: Config, feeds: Iterable[FeedConfig],
               *, on_result: Callable[[PollSummary], None] | None = None,
               client: httpx.Client | None = None,
               should_stop: Callable[[], bool] = lambda: False) -> list[PollSummary]:
    """Fetch the given feeds concurrently (config.poll.concurrency) and record each result
    as it arrives. Returns the summaries in completion order."""
    feeds = list(feeds)
    limits = limits_from(config)
    own_client = client is None
    client = client or make_client(limits)
    summaries: list[PollSummary] = []
    pool = ThreadPoolExecutor(max_workers=config.poll.concurrency, thread_name_prefix="fetch")
    try:
        pending: set[Future] = set()
        queue = list(feeds)
        while queue or pending:
            while queue and len(pending) < config.poll.concurrency * 2 and not should_stop():
                feed = queue.pop(0)
                row = store.feed_by_name(db, feed.name)
                pending.add(pool.submit(fetch_feed, client, feed, row, limits))
            if should_stop():
                queue.clear()
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                summary = record_poll(db, future.result(), config)
                summaries.append(summary)
                if on_result:
                    on_result(summary)
    finally:
        _abandon(pool)
        if own_client:
            client.close()
    return summaries


def _abandon(pool: ThreadPoolExecutor) -> None:
    """Shut a fetch pool down without waiting: after a stop request or Ctrl-C, jobs not
    started are dropped and running ones are left to their deadline (nothing of theirs is
    stored, so the next poll does them again). After normal completion all are done."""
    pool.shutdown(wait=False, cancel_futures=True)


def article_job(client: httpx.Client, config: Config, item: dict,
                limits: FetchLimits) -> tuple[int, Page]:
    """Fetch one pending article page; returns (item id, page). Any thread; never raises,
    so one hostile link costs its own item's page and nothing else."""
    feed = next((f for f in config.feeds if f.name == item["feed"]), None)
    allow_private = bool(feed and feed.local)
    try:
        page = fetch_fulltext(client, item["url"], item["title"], limits=limits,
                              allow_private=allow_private)
    except Exception as exc:  # a bug: recorded on the item, which goes on to analysis
        page = Page(None, f"article fetch failed: {type(exc).__name__}: {exc}")
    return item["id"], page


def fetch_articles(db: sqlite_utils.Database, config: Config, *,
                   client: httpx.Client | None = None,
                   on_item: Callable[[dict, str | None], None] | None = None,
                   should_stop: Callable[[], bool] = lambda: False) -> int:
    """Fetch every pending article page (feeds with `fulltext: true`) concurrently and
    store each outcome; `on_item(item, error)` hears of each (error None when fetched)."""
    items = store.fulltext_pending(db)
    if not items:
        return 0
    limits = limits_from(config)
    own_client = client is None
    client = client or make_client(limits)
    done = 0
    pool = ThreadPoolExecutor(max_workers=config.poll.concurrency,
                              thread_name_prefix="article")
    try:
        jobs = [(item, pool.submit(article_job, client, config, item, limits))
                for item in items]
        for item, future in jobs:
            if should_stop():
                break
            item_id, page = future.result()
            store.save_fulltext(db, item_id, page.text, page.error, retry=page.retry)
            done += 1
            if on_item:
                on_item(item, page.error)
    finally:
        _abandon(pool)
        if own_client:
            client.close()
    return done


def enabled_feeds(db: sqlite_utils.Database, config: Config,
                  names: Iterable[str] | None = None) -> list[FeedConfig]:
    """The feeds `monitor poll` should poll now: enabled in the config and not disabled
    by the publisher (410), or exactly the ones named (ignoring case, as names are unique
    ignoring case)."""
    key = lambda name: " ".join(name.split()).casefold()  # noqa: E731 (names are unique so)
    wanted = {key(name): name for name in names or []}
    unknown = set(wanted) - {key(f.name) for f in config.feeds}
    if unknown:
        raise KeyError(", ".join(sorted(wanted[k] for k in unknown)))
    rows = {row["name"]: row for row in db["feeds"].rows}
    chosen = []
    for feed in config.feeds:
        if wanted:
            if key(feed.name) in wanted:
                chosen.append(feed)
        elif feed.enabled and rows.get(feed.name, {}).get("status") != "disabled":
            chosen.append(feed)
    return chosen


def due_feeds(db: sqlite_utils.Database, config: Config, now: str | None = None) -> list[FeedConfig]:
    """Enabled feeds whose next_poll has come."""
    now = now or store.utcnow()
    due = {row["name"] for row in db.query(
        "SELECT name FROM feeds WHERE enabled = 1 AND status != 'disabled'"
        " AND (next_poll IS NULL OR next_poll <= ?)", [now])}
    return [feed for feed in config.feeds if feed.name in due]


def seconds_until_next_poll(db: sqlite_utils.Database) -> float | None:
    row = db.execute(
        "SELECT min(next_poll) FROM feeds WHERE enabled = 1 AND status != 'disabled'"
    ).fetchone()
    if not row or not row[0]:
        return None
    when = datetime.fromisoformat(row[0])
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def sleep_until(deadline: float, should_stop: Callable[[], bool], step: float = 0.2) -> None:
    while time.monotonic() < deadline and not should_stop():
        time.sleep(min(step, max(0.0, deadline - time.monotonic())))
