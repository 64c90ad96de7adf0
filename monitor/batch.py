"""`monitor analyze`: JSON lines in, one JSON line out per input, in the same order.

With several workers the lines are spread over processes that each load the models once;
`imap` keeps the output in input order. A malformed line yields an error object for that
line and the run goes on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from typing import Iterable, Iterator

from .analysis import analyse


def analyse_line(numbered: tuple[int, str]) -> dict:
    """One input line to one output object (an error object when the line is unusable)."""
    number, line = numbered
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"line": number, "error": f"invalid JSON: {exc.msg} at column {exc.colno}"}
    if not isinstance(record, dict):
        return {"line": number, "error": "expected a JSON object with id, title and text"}
    item_id = record.get("id")
    title, text = record.get("title", ""), record.get("text", "")
    if title is None:
        title = ""
    if text is None:
        text = ""
    if not isinstance(title, str) or not isinstance(text, str):
        return {"id": item_id, "line": number, "error": "'title' and 'text' must be strings"}
    if not title and not text:
        return {"id": item_id, "line": number, "error": "neither 'title' nor 'text' given"}
    try:
        result = analyse(title, text).to_json()
    except Exception as exc:  # keep going: one bad text must not end a long batch
        return {"id": item_id, "line": number, "error": f"analysis failed: {exc}"}
    return {"id": item_id, **result}


def _worker_init(parent_pid: int | None = None) -> None:
    """Load the models once per worker; with `parent_pid`, exit when that process is gone."""
    os.environ["OMP_NUM_THREADS"] = "1"
    if parent_pid is not None:
        threading.Thread(target=_exit_without, args=(parent_pid,), daemon=True,
                         name="parent-watch").start()
    from .nlp import natasha_models as load_models

    load_models()


def _exit_without(parent_pid: int, every: float = 1.0) -> None:
    """A worker blocks on its task queue forever if the process that owns the pool is
    killed (kill -9: no shutdown), holding its models' memory; so it checks every second
    that the owner still exists and exits when it does not."""
    while True:
        time.sleep(every)
        try:
            os.kill(parent_pid, 0)
        except (ProcessLookupError, PermissionError):  # gone, or its pid reused by another user
            os._exit(0)


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line


def analyse_lines(lines: Iterable[str], workers: int = 1) -> Iterator[dict]:
    """Yield one result per non-blank input line, in input order."""
    if workers <= 1:
        for numbered in _numbered(lines):
            yield analyse_line(numbered)
        return
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with context.Pool(workers, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
        yield from pool.imap(analyse_line, _numbered(lines), chunksize=4)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))
