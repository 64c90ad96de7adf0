"""`monitor analyze` (monitor/batch.py): every bad line gets its own error, the run goes on."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import batch
from monitor.cli import cli

TESTS = Path(__file__).resolve().parent

GOOD = json.dumps({"id": "ok", "title": "Россия и Япония", "text": "Встреча прошла в Токио."},
                  ensure_ascii=False).encode("utf-8")

# (name, raw line, words the error must hold)
BAD_LINES = [
    ("invalid UTF-8", b'{"id": "b", "text": "\xd0\xd0 \xff\xfe \xc0\xaf"}', "invalid UTF-8"),
    ("binary junk", b"PK\x03\x04\x00\x00\x08\x00\x1f\x8b\x08\x00\xde\xad\xbe\xef", "invalid"),
    ("encoded surrogate", b'{"id": "e", "text": "\xed\xa0\x80"}', "invalid UTF-8"),
    ("lone surrogate in id", '{"id": "\\ud800", "text": "Москва"}'.encode(), "'id'"),
    ("lone surrogate in text", '{"id": "t", "text": "\\udc00 Москва"}'.encode(), "lone surrogate"),
    ("deeply nested array", b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    ("deeply nested id", b'{"id": ' + b"[" * 5_000 + b"]" * 5_000 + b', "text": "x"}',
     "nested too deeply"),
    ("not an object", b'["a", "list"]', "expected a JSON object"),
    ("missing text", b'{"id": "m"}', "neither 'title' nor 'text'"),
    ("text not a string", b'{"id": "n", "text": {"a": 1}}', "must be strings"),
    ("NaN", b'{"id": NaN, "text": "x"}', "NaN is not a JSON value"),
    ("huge integer", b'{"id": 1' + b"0" * 5_000 + b', "text": "x"}', "invalid JSON"),
    ("huge line", b'{"id": "h", "text": "' + "я".encode() * 600_000 + b'"}', "line longer than"),
]


def _analyze(data: bytes, workers: int) -> list[dict]:
    result = CliRunner().invoke(cli, ["analyze", "-", "--workers", str(workers)], input=data,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    result.stdout_bytes.decode("utf-8")  # strict: output is valid UTF-8
    return [json.loads(line) for line in result.stdout_bytes.splitlines()]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("name,line,error", BAD_LINES, ids=[b[0] for b in BAD_LINES])
def test_a_bad_line_gets_its_error_and_the_run_goes_on(monkeypatch, name, line, error, workers):
    monkeypatch.setattr(batch, "MAX_LINE_BYTES", 1_000_000, raising=False)  # "huge line" is 1.2 MB
    first, bad, last = _analyze(b"\n".join([GOOD, line, b"", GOOD]) + b"\n", workers)
    assert first["id"] == last["id"] == "ok" and first["entities"] == last["entities"]
    assert bad["line"] == 2 and error in bad["error"], bad
    assert "entities" not in bad


def test_a_byte_order_mark_and_crlf_line_ends_are_read():
    lines = _analyze(b"\xef\xbb\xbf" + GOOD + b"\r\n" + GOOD + b"\r\n", 1)
    assert [line["id"] for line in lines] == ["ok", "ok"]


def test_every_bad_line_at_once_with_two_worker_processes(tmp_path):
    """A real `monitor analyze --workers 2` process over all the bad lines (the huge one at
    the real limit): one output line per input line, in order, all valid UTF-8 JSON."""
    source = tmp_path / "in.jsonl"
    huge = b'{"id": "h", "text": "' + b"x" * (batch.MAX_LINE_BYTES + 10) + b'"}'
    bad = [line for name, line, _ in BAD_LINES if name != "huge line"] + [huge]
    with source.open("wb") as out:
        for line in bad:
            out.write(GOOD + b"\n" + line + b"\n")
        out.write(GOOD + b"\n")
    result = subprocess.run([sys.executable, "-m", "monitor", "analyze", str(source),
                             "--workers", "2"], capture_output=True, timeout=240)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    lines = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(lines) == 2 * len(bad) + 1
    assert all(line["id"] == "ok" for line in lines[::2])
    assert [line["line"] for line in lines[1::2]] == list(range(2, 2 * len(bad) + 1, 2))
    assert all("error" in line for line in lines[1::2])
    assert "line longer than" in lines[-2]["error"]


@pytest.mark.slow
def test_a_10_mb_line_is_cut_and_analysed_in_bounded_memory(tmp_path):
    """Before the cap, `monitor analyze` on a 5 MB line ran for over 300 s at 4 GB."""
    sys.path.insert(0, str(TESTS))
    from newstext import news_text

    source = tmp_path / "huge.jsonl"
    text = news_text(10_000_000)
    source.write_text(json.dumps({"id": "huge", "title": "Сводка", "text": text},
                                 ensure_ascii=False) + "\n" + GOOD.decode() + "\n",
                      encoding="utf-8")
    # A parent of its own measures the command's peak RSS (RUSAGE_CHILDREN: its one child).
    measure = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode;"
               " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
               " sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "monitor",
                             "analyze", str(source), "--workers", "1"], capture_output=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    peak_mb = int(result.stderr.split()[-1]) / 1024
    assert peak_mb < 1536, f"peak RSS {peak_mb:.0f} MB"
    huge, good = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert huge["id"] == "huge" and huge["text_cut"] is True and huge["entities"]
    assert all(text[e["start"]:e["stop"]] == e["text"] for e in huge["entities"]
               if not e.get("in_title"))
    assert good["id"] == "ok" and "text_cut" not in good
