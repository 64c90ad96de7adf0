"""`monitor run`: poll every feed on its own schedule and analyse what arrives, until stopped.

One thread (the caller's) owns the database; fetches run in a bounded thread pool. Between
fetch completions the loop sends digests that fall due and analyses pending items one at a time, so a slow feed never stalls
the others and a stop request (SIGINT/SIGTERM) is honoured between two items.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import (FIRST_COMPLETED, Future, ProcessPoolExecutor,
                                ThreadPoolExecutor, wait)
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, NamedTuple

import sqlite_utils

from . import digest, store, stories
from .config import Config
from .fetcher import make_client
from .batch import default_workers
from .ingest import analyse_item, analyse_text, save_result
from .limits import cut_title_and_text
from .poller import (PollSummary, article_job, due_feeds, fetch_feed, limits_from,
                     record_poll, seconds_until_next_poll)
from .wording import counted


DIGEST_CHECK_SECONDS = 30.0  # how often the loop looks for digests that fall due
PRUNE_SECONDS = 3600.0  # how often old items' story signatures are dropped


class StopFlag:
    """Set by SIGINT/SIGTERM (or by a test); the loop checks it between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self, *_args) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()

    def install(self) -> None:
        """Route SIGINT and SIGTERM to this flag (main thread only)."""
        signal.signal(signal.SIGINT, self.set)
        signal.signal(signal.SIGTERM, self.set)


def analysis_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes that each load the models once (forkserver: no fetch threads or
    open database are inherited) and exit if this process is killed."""
    from .batch import _worker_init

    context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_worker_init, initargs=(os.getpid(),))


class Handed(NamedTuple):
    """What an analysis worker was given, for storing its result (`ingest.save_result`)."""

    item_id: int
    chars: int  # of the text, after the analysis cap
    cut: bool  # was the text cut to the cap?
    content_hash: str
    label: bool | None  # the analyst's cooperation label


def _pump_analysis(db, workers: ProcessPoolExecutor, analysing: dict, capacity: int,
                   report: Callable[[str], None], owner: str) -> bool:
    """Store finished analyses and hand claimed items to free workers (two per worker
    queued, so none idles while the main thread stores). Returns False when the pool is
    broken (a worker died, e.g. killed for its memory): the caller starts a new one."""
    broken = False
    for future in [f for f in analysing if f.done()]:
        handed = analysing.pop(future)
        item_id = handed.item_id
        try:
            save_result(db, item_id, future.result(), analysed_label=handed.label,
                        analysed_chars=handed.chars, text_cut=handed.cut,
                        analysed_hash=handed.content_hash, owner=owner)
        except Exception as exc:  # the worker failed on this text: record it, go on
            broken |= isinstance(exc, BrokenProcessPool)
            state = store.save_analysis_error(db, item_id, f"{type(exc).__name__}: {exc}",
                                              owner)
            report(f"monitor: analysis of item {item_id} failed ({state}): {exc}")
    room = capacity - len(analysing)
    if broken or room <= 0:
        return not broken
    for item in store.claim_items(db, owner, room):
        title, text, cut = cut_title_and_text(item["title"], item["text"])
        label = store.cooperation_label(db, item["id"])
        try:
            future = workers.submit(analyse_text, title, text, label)
        except BrokenProcessPool:
            store.release_claims(db, owner, [item["id"]])
            broken = True
            continue
        analysing[future] = Handed(item["id"], len(text), cut, item["content_hash"], label)
    return not broken


def _stop_pool(processes: ProcessPoolExecutor) -> None:
    """Terminate the workers at once: their mid-text analyses are redone later."""
    for process in list(getattr(processes, "_processes", {}).values()):
        process.terminate()
    # waiting for the terminated workers takes moments and lets the pool's queues be
    # freed, so a quick exit afterwards (monitor run) leaks none of their semaphores
    processes.shutdown(wait=True, cancel_futures=True)


def run_service(db: sqlite_utils.Database, config: Config, *, stop: Callable[[], bool],
                report: Callable[[str], None] = print,
                on_poll: Callable[[PollSummary], None] | None = None,
                idle_wait: float = 1.0, workers: int | None = None) -> None:
    """Run until `stop()` is true. Feeds are synced from the config first.

    The thread pool runs two kinds of network jobs, at most `poll.concurrency` at once: feed
    fetches (when a feed falls due) and article-page fetches (feeds with `fulltext: true`).
    Analysis runs in `workers` processes (default `poll.analysis_workers`, else all cores;
    1: in this process); results are stored by this thread, items stay pending until then.
    """
    store.sync_feeds(db, config.feeds)
    limits = limits_from(config)
    client = make_client(limits)
    pool = ThreadPoolExecutor(max_workers=config.poll.concurrency, thread_name_prefix="fetch")
    in_flight: dict[Future, tuple[str, object]] = {}  # future -> ("feed", name) | ("article", id)
    workers = workers or config.poll.analysis_workers or default_workers()
    processes = analysis_pool(workers) if workers > 1 else None
    analysing: dict[Future, Handed] = {}  # analysis future -> what its worker was given
    owner = store.new_owner()  # this service's claims on the items it analyses
    next_prune = 0.0
    # digests are sent off this loop (digest.Sender): a silent mail server stalls nothing
    digests = digest.Sender(config, report, DIGEST_CHECK_SECONDS) if config.digest else None
    report(f"monitor: {counted(sum(f.enabled for f in config.feeds), 'feed')} enabled, "
           f"{counted(workers, 'analysis worker')}, "
           f"database {store.db_filename(db)}; Ctrl-C stops")
    try:
        while not stop():
            _submit_due_work(db, config, pool, client, limits, in_flight)

            for future in [f for f in in_flight if f.done()]:
                kind, _key = in_flight.pop(future)
                if kind == "feed":
                    summary = record_poll(db, future.result(), config)
                    report(summary.line())
                    if on_poll:
                        on_poll(summary)
                else:
                    item_id, page = future.result()
                    store.save_fulltext(db, item_id, page.text, page.error, retry=page.retry)

            if stop():
                break
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_SECONDS
                with store.transaction(db):
                    stories.prune(db, store.utcnow())
            if digests:
                digests.step(db)
            if processes is None:
                claimed = store.claim_items(db, owner, 1)
                if claimed:
                    analyse_item(db, claimed[0], owner=owner)
                    continue
            elif not _pump_analysis(db, processes, analysing, 2 * workers, report, owner):
                report("monitor: an analysis worker died; starting new workers")
                _stop_pool(processes)
                for item_id, *_rest in analysing.values():
                    store.save_analysis_error(db, item_id, "the analysis worker died", owner)
                analysing.clear()
                processes = analysis_pool(workers)
            # Wait for a fetch or an analysis to finish, or the next feed to fall due.
            until_due = seconds_until_next_poll(db)
            timeout = idle_wait if until_due is None else min(idle_wait, max(until_due, 0.05))
            waitables = list(in_flight) + list(analysing)
            if waitables:
                wait(waitables, timeout=timeout, return_when=FIRST_COMPLETED)
            else:
                time.sleep(timeout)
    finally:
        # Fetches and analyses still running are abandoned: nothing of theirs was stored,
        # so the next start simply does them again.
        pool.shutdown(wait=False, cancel_futures=True)
        if digests:
            digests.close(db)  # record a send that finishes in time; abandon a hung one
        if processes is not None:
            _stop_pool(processes)
        store.release_claims(db, owner)
        client.close()
        report("monitor: stopped")


def _submit_due_work(db, config, pool, client, limits, in_flight) -> None:
    """Fill free fetch slots: due feeds first, then pending article pages."""
    busy = set(in_flight.values())
    free = config.poll.concurrency - len(in_flight)
    for feed in due_feeds(db, config):
        if free <= 0:
            return
        if ("feed", feed.name) in busy:
            continue
        row = store.feed_by_name(db, feed.name)
        in_flight[pool.submit(fetch_feed, client, feed, row, limits)] = ("feed", feed.name)
        free -= 1
    if free > 0:
        for item in store.fulltext_pending(db, limit=free + len(in_flight)):
            if free <= 0:
                return
            if ("article", item["id"]) in busy:
                continue
            in_flight[pool.submit(article_job, client, config, item, limits)] = \
                ("article", item["id"])
            free -= 1
