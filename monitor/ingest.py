"""Analyse stored items that have no analysis yet: the step after polling.

Items are stored before they are analysed, so this also finishes the work a killed
process left behind. Each item is claimed before it is analysed (`store.claim_items`), so
two processes (two `monitor poll`, or a poll beside `monitor run`) analyse it once; a
failed try is recorded and retried with backoff, then the item is marked failed
(`store.save_analysis_error`), so one bad item never blocks or crashes the others.
"""

from __future__ import annotations

from typing import Callable

import sqlite_utils

from . import store
from .analysis import analyse
from .limits import cut_title_and_text


def analyse_text(title: str, text: str, cooperation: bool | None = None):
    """Analysis in a worker process: the result without its spaCy Doc, so it pickles small,
    and the item's search data, so the writer does no CPU work of its own. The caller
    passes the text already cut (`limits.cut_title_and_text`) and the analyst's cooperation
    label (`store.cooperation_label`), which the worker cannot read."""
    result = analyse(title, text, cooperation=cooperation)
    result.doc = None
    return result, store.SearchData.of(title, text)


def save_result(db: sqlite_utils.Database, item_id: int, worker_result, *,
                analysed_label: bool | None, analysed_chars: int | None = None,
                text_cut: bool = False, analysed_hash: str | None = None,
                owner: str | None = None) -> None:
    """Store an analysis done elsewhere (a worker); `analysed_label`: the cooperation label
    the worker was given, `owner`: the claim's holder (`store.save_analysis`)."""
    result, search = worker_result
    store.save_analysis(db, item_id, result, search, analysed_label=analysed_label,
                        analysed_chars=analysed_chars, text_cut=text_cut,
                        analysed_hash=analysed_hash, owner=owner)


def analyse_item(db: sqlite_utils.Database, item: dict, analyse: Callable = analyse,
                 owner: str | None = None) -> bool:
    """Analyse one stored item (its text cut to the analysis cap) and save the result; an
    analysis failure is recorded on the item (and reported) instead of stopping the
    service. An analyst's cooperation label reaches the sector decision (the cooperation
    floor). `analyse`: the analysis function (tests inject one); `owner`: who claimed the
    item (`store.claim_items`), None for a re-tag without a claim."""
    title, text, cut = cut_title_and_text(item["title"], item["text"])
    try:
        label = store.cooperation_label(db, item["id"])
        result = analyse(title, text, cooperation=label)
        store.save_analysis(db, item["id"], result, analysed_chars=len(text), text_cut=cut,
                            analysed_hash=item.get("content_hash"), analysed_label=label,
                            owner=owner)
    except Exception as exc:  # a bug or a pathological text must not stall the queue
        store.save_analysis_error(db, item["id"], f"{type(exc).__name__}: {exc}", owner)
        return False
    return True


def analyse_pending(db: sqlite_utils.Database, *, on_item: Callable[[int], None] | None = None,
                    should_stop: Callable[[], bool] = lambda: False,
                    limit: int | None = None, analyse: Callable = analyse) -> int:
    """Analyse pending items one at a time, each claimed first (so a stop request is
    honoured between items, and a concurrent analyser takes other items). An item that
    fails waits for its backoff, so the run goes on with the next ones. Returns how many
    tries were made (`limit` bounds them)."""
    owner = store.new_owner()
    done = 0
    try:
        while not should_stop() and not (limit and done >= limit):
            claimed = store.claim_items(db, owner, 1)
            if not claimed:
                break
            analyse_item(db, claimed[0], analyse, owner)
            done += 1
            if on_item:
                on_item(claimed[0]["id"])
    finally:
        store.release_claims(db, owner)  # after an exception or a stop: nothing left held
    return done


def reprocess(db: sqlite_utils.Database, *, since: str | None = None,
              on_total: Callable[[int], None] | None = None,
              on_item: Callable[[int], None] | None = None,
              should_stop: Callable[[], bool] = lambda: False,
              analyse: Callable = analyse) -> int:
    """Re-analyse stored items tagged by other model versions than the current ones (each
    item commits on its own, so an interrupted run resumes where it stopped). An item
    whose re-tag went out of date meanwhile (an analyst's "yes" or a fuller text came
    during it) is claimed and analysed again at once rather than left for the next poll
    (unless a service claimed it first).
    `analyse`: the analysis function (tests inject one)."""
    from .analysis import model_version

    ids = store.items_to_reprocess(db, model_version(), since)
    if on_total:
        on_total(len(ids))
    done = 0
    owner = store.new_owner()
    try:
        for item_id in ids:
            if should_stop():
                break
            row = db.execute("SELECT id, title, text, content_hash FROM items WHERE id = ?",
                             [item_id]).fetchone()
            analyse_item(db, {"id": row[0], "title": row[1], "text": row[2],
                              "content_hash": row[3]}, analyse)
            pending = db.execute("SELECT analysed_at IS NULL FROM items WHERE id = ?",
                                 [item_id]).fetchone()[0]
            if pending:  # out of date meanwhile: claimed first, as a service may want it
                for again in store.claim_items(db, owner, 1, item_ids=[item_id]):
                    analyse_item(db, again, analyse, owner)
            done += 1
            if on_item:
                on_item(item_id)
    finally:
        store.release_claims(db, owner)
    return done
