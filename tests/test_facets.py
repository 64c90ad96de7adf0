"""Facet counts on a second connection (monitor/facets.py): the same counts as on one,
and the first connection's own count whenever the second saw something else."""

import threading

import pytest
import sqlite_utils

from monitor import facets, store
from monitor.search import HITS, SearchQuery, _fill, _prepare, search
from monitor.query import parse

from test_search import synthetic_db  # noqa: F401 - the 3,000-item fixture

MONTH = "substr(h.published, 1, 7)"


def _both(db, fill):
    """The facets counted here and, meanwhile, on the connection `fill` fills."""
    return facets.finish(db, facets.start(db, fill, HITS, MONTH, 20), HITS, MONTH, 20)


def _filled(db, text):
    query, parsed = SearchQuery(text=text), parse(text)
    _prepare(db, None)
    _fill(db, query, parsed, None)
    return query, parsed


@pytest.mark.parametrize("text", ["газ", "газ OR порт", "вода нефть"])
def test_counts_on_two_connections_equal_the_counts_on_one(synthetic_db, text):
    db = store.open_db(synthetic_db)
    query, parsed = _filled(db, text)
    alone = facets.count(db, HITS, MONTH, 20)
    threads = []

    def fill(other):
        threads.append(threading.current_thread().name)
        _prepare(other, None)
        _fill(other, query, parsed, None, ranked=False)

    both = _both(db, fill)
    assert threads and threads[0].startswith("monitor-facets")  # it did run there
    assert both == alone and alone["country"] and alone["org"]


def test_another_match_set_there_is_not_used(synthetic_db):
    """The second connection may see another state of the file (a commit in between):
    its counts are used only for the very same matches."""
    db = store.open_db(synthetic_db)
    _filled(db, "газ")
    alone = facets.count(db, HITS, MONTH, 20)

    def fill_other(other):
        _filled(other, "порт")

    assert _both(db, fill_other) == alone


def test_a_failure_there_is_counted_here(synthetic_db):
    db = store.open_db(synthetic_db)
    _filled(db, "газ")

    def broken(other):
        raise RuntimeError("no second connection today")

    assert _both(db, broken) == \
        facets.count(db, HITS, MONTH, 20)


def test_a_database_in_memory_is_counted_alone():
    db = sqlite_utils.Database(memory=True)
    store.migrate(db)
    calls = []
    result = search(db, SearchQuery(text="газ"), facets=True)
    assert result.total == 0 and set(result.facets) == set(facets.FACETS)
    assert facets._file_of(db) is None
    assert facets.start(db, calls.append, HITS, MONTH, 20) is None
    assert _both(db, calls.append) == facets.count(db, HITS, MONTH, 20) and calls == []
