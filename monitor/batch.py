"""`monitor analyze`: JSON lines in, one JSON line out per input, in the same order.

With several workers the lines are spread over processes that each load the models once;
`imap` keeps the output in input order. Input is read as bytes and each line decoded on its
own, so a bad line (invalid UTF-8, a lone surrogate, JSON nested too deeply, not an object,
no text, longer than MAX_LINE_BYTES) yields an error object for that line and the run goes
on; every output line is valid UTF-8 JSON.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import threading
import time
from typing import BinaryIO, Iterable, Iterator

from .analysis import analyse
from .limits import cut_title_and_text

MAX_LINE_BYTES = 64 * 2**20  # a 15 MiB feed body, JSON-escaped, fits; longer lines are refused


class BadLine(ValueError):
    """An input line that cannot be analysed; the message says why."""


def _no_constant(name: str):
    raise BadLine(f"invalid JSON: {name} is not a JSON value")


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def parse_line(number: int, line: bytes | str | None) -> dict:
    """One input line as a record, or BadLine."""
    if line is None:
        raise BadLine(f"line longer than {MAX_LINE_BYTES:,} bytes")
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadLine(f"invalid UTF-8 at byte {exc.start + 1}") from None
    if number == 1:
        line = line.removeprefix("\ufeff")  # a byte order mark some editors write
    try:
        record = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise BadLine(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise BadLine("invalid JSON: nested too deeply") from None
    except BadLine:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise BadLine(f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise BadLine("expected a JSON object with id, title and text")
    return record


def _writable_id(value):
    """The record's id if it can be written back as UTF-8 JSON, else None."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        return value
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError):
        return None


def analyse_line(numbered: tuple[int, bytes | str | None]) -> dict:
    """One input line to one output object (an error object when the line is unusable).
    Never raises: whatever the line holds, the result can be written as UTF-8 JSON."""
    number = numbered[0]
    try:
        return _analyse_line(*numbered)
    except BadLine as exc:
        return {"line": number, "error": str(exc)}
    except Exception as exc:  # a last resort: one bad line must not end a long batch
        return {"line": number, "error": f"cannot read the line: {type(exc).__name__}"}


def _analyse_line(number: int, line: bytes | str | None) -> dict:
    record = parse_line(number, line)
    item_id = _writable_id(record.get("id"))
    head = {"id": item_id, "line": number}
    if item_id is None and record.get("id") is not None:
        return {"line": number, "error": "'id' cannot be written as UTF-8 JSON "
                                         "(a lone surrogate?)"}
    title, text = record.get("title", ""), record.get("text", "")
    if title is None:
        title = ""
    if text is None:
        text = ""
    if not isinstance(title, str) or not isinstance(text, str):
        return {**head, "error": "'title' and 'text' must be strings"}
    if _has_surrogate(title) or _has_surrogate(text):
        return {**head, "error": "'title' or 'text' holds a lone surrogate (not Unicode text)"}
    if not title and not text:
        return {**head, "error": "neither 'title' nor 'text' given"}
    title, text, cut = cut_title_and_text(title, text)
    try:
        result = analyse(title, text).to_json()
    except Exception as exc:  # keep going: one bad text must not end a long batch
        return {**head, "error": f"analysis failed: {type(exc).__name__}: {exc}"[:500]}
    return {"id": item_id, **result, **({"text_cut": True} if cut else {})}


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


def read_lines(stream: BinaryIO, max_bytes: int | None = None
               ) -> Iterator[tuple[int, bytes | None]]:
    """(line number, raw bytes) of each non-blank line; None for a line over `max_bytes`
    (default MAX_LINE_BYTES), whose rest is skipped without being held in memory."""
    max_bytes = max_bytes or MAX_LINE_BYTES
    number = 0
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        number += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(2**20)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif line.strip():
            yield number, line


def _numbered(lines: BinaryIO | Iterable[str]) -> Iterator[tuple[int, bytes | str | None]]:
    if isinstance(lines, (io.BufferedIOBase, io.RawIOBase)):
        yield from read_lines(lines)
        return
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, line


def to_json_line(result: dict) -> bytes:
    """One output line, UTF-8 encoded; an object that cannot be written (it should not
    happen) becomes an error object for its line."""
    try:
        return (json.dumps(result, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except (ValueError, TypeError, RecursionError, UnicodeEncodeError) as exc:
        error = {"line": result.get("line"), "error": f"result not writable as JSON: {exc}"}
        return (json.dumps(error, ensure_ascii=True) + "\n").encode("utf-8")


def analyse_lines(lines: BinaryIO | Iterable[str], workers: int = 1) -> Iterator[dict]:
    """Yield one result per non-blank input line, in input order. `lines`: a binary stream
    (each line decoded on its own) or an iterable of str lines."""
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
