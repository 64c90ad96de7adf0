"""Analyse stored items that have no analysis yet: the step after polling.

Items are stored before they are analysed, so this also finishes the work a killed
process left behind.
"""

from __future__ import annotations

from typing import Callable

import sqlite_utils

from . import store
from .analysis import analyse
from .limits import cut_title_and_text


def analyse_text(title: str, text: str):
    """Analysis in a worker process: the result without its spaCy Doc, so it pickles small,
    and the item's search data, so the writer does no CPU work of its own. The caller
    passes the text already cut (`limits.cut_title_and_text`)."""
    result = analyse(title, text)
    result.doc = None
    return result, store.SearchData.of(title, text)


def save_result(db: sqlite_utils.Database, item_id: int, worker_result, *,
                analysed_chars: int | None = None, text_cut: bool = False) -> None:
    """Store an analysis done elsewhere (a worker), analysts' labels applied."""
    result, search = worker_result
    store.apply_labels(db, item_id, result)
    store.save_analysis(db, item_id, result, search, analysed_chars=analysed_chars,
                        text_cut=text_cut)


def analyse_item(db: sqlite_utils.Database, item: dict, analyse: Callable = analyse) -> bool:
    """Analyse one stored item (its text cut to the analysis cap) and save the result; an
    analysis failure is recorded on the item (and reported) instead of stopping the
    service. `analyse`: the analysis function (tests inject one)."""
    title, text, cut = cut_title_and_text(item["title"], item["text"])
    try:
        result = analyse(title, text)
    except Exception as exc:  # a bug or a pathological text must not stall the queue
        store.save_analysis_error(db, item["id"], f"{type(exc).__name__}: {exc}")
        return False
    store.apply_labels(db, item["id"], result)
    store.save_analysis(db, item["id"], result, analysed_chars=len(text), text_cut=cut)
    return True


def analyse_pending(db: sqlite_utils.Database, *, on_item: Callable[[int], None] | None = None,
                    should_stop: Callable[[], bool] = lambda: False,
                    limit: int | None = None, analyse: Callable = analyse) -> int:
    """Analyse pending items one at a time (so a stop request is honoured between items).
    Returns how many were analysed."""
    done = 0
    while not should_stop():
        batch = store.pending_items(db, limit=min(limit - done, 50) if limit else 50)
        if not batch:
            break
        for item in batch:
            if should_stop():
                return done
            analyse_item(db, item, analyse)
            done += 1
            if on_item:
                on_item(item["id"])
            if limit and done >= limit:
                return done
    return done


def reprocess(db: sqlite_utils.Database, *, since: str | None = None,
              on_total: Callable[[int], None] | None = None,
              on_item: Callable[[int], None] | None = None,
              should_stop: Callable[[], bool] = lambda: False) -> int:
    """Re-analyse stored items tagged by other model versions than the current ones (each
    item commits on its own, so an interrupted run resumes where it stopped)."""
    from .analysis import model_version

    ids = store.items_to_reprocess(db, model_version(), since)
    if on_total:
        on_total(len(ids))
    done = 0
    for item_id in ids:
        if should_stop():
            break
        row = db.execute("SELECT id, title, text FROM items WHERE id = ?", [item_id]).fetchone()
        analyse_item(db, {"id": row[0], "title": row[1], "text": row[2]})
        done += 1
        if on_item:
            on_item(item_id)
    return done
