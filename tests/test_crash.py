"""Killing the service with SIGKILL at awkward moments loses and doubles nothing."""

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import count
from feedserver import rss

FEEDS, ITEMS = 8, 15


def _serve_feeds(feed_server):
    feeds = []
    for f in range(FEEDS):
        items = [{"title": f"Новость {f}-{i}: Россия и Китай обсудили поставки в Хабаровске",
                  "link": f"https://news.example/{f}/{i}", "guid": f"{f}-{i}",
                  "description": f"Стороны встретились в Пекине. Выпуск {f}-{i}."}
                 for i in range(ITEMS)]
        # Every other feed also carries an item of its neighbour: cross-feed duplicates.
        items.append({"title": f"Новость {(f + 1) % FEEDS}-0: Россия и Китай обсудили "
                               "поставки в Хабаровске",
                      "link": f"https://news.example/{(f + 1) % FEEDS}/0?utm_source=x"})
        feeds.append({"name": f"Лента {f}", "url": feed_server.add(f"/{f}.xml", rss(items)),
                      "local": True, "interval": "1h"})

    def slow(handler):  # keeps a fetch in flight when the process is killed
        time.sleep(1.5)
        body = rss([{"title": "Медленная новость", "link": "https://news.example/slow"}])
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    feeds.append({"name": "Медленная", "url": feed_server.add("/slow.xml", handler=slow),
                  "local": True, "interval": "1h"})
    return feeds


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: [state, parent pid, ...]; [] once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    return _stat(pid)[:1] not in ([], ["Z"])  # a zombie has exited


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, their children...), read from /proc."""
    parents = {int(p.name): int(fields[1]) for p in Path("/proc").glob("[0-9]*")
               if (fields := _stat(p.name))}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", ["first items stored", "analysis half done"])
def test_kill_9_then_restart_loses_and_doubles_nothing(tmp_path, write_config, feed_server,
                                                       kill_when):
    config = write_config({"feeds": _serve_feeds(feed_server)})
    db = tmp_path / "m.db"
    expected = FEEDS * ITEMS + 1
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                             "--db", str(db), "run"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stored = count(db, "SELECT count(*) FROM items")
            analysed = count(db, "SELECT count(*) FROM items WHERE analysed_at IS NOT NULL")
            if kill_when == "first items stored" and stored > 0:
                break
            if kill_when == "analysis half done" and analysed >= stored // 2 and stored > 20:
                break
            time.sleep(0.02)
        workers = _descendants(proc.pid)  # the analysis pool: forkserver and workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the killed service's workers must not live on holding the models' memory
    deadline = time.monotonic() + 20
    while workers and time.monotonic() < deadline:
        workers = {pid for pid in workers if _alive(pid)}
        time.sleep(0.2)
    assert not workers, f"orphaned worker processes: {sorted(workers)}"
    analysed_at_kill = count(db, "SELECT count(*) FROM items WHERE analysed_at IS NOT NULL")
    assert analysed_at_kill < expected, "the kill came too late to test anything"

    restart = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config),
                              "--db", str(db), "poll"], capture_output=True, text=True,
                             timeout=300)
    assert restart.returncode == 0, restart.stderr

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == expected
    assert conn.execute("SELECT count(DISTINCT key) FROM items").fetchone()[0] == expected
    assert conn.execute("SELECT count(*) FROM items WHERE analysed_at IS NULL").fetchone()[0] == 0
    # Every item has exactly one source row per feed that carries it; the shared items two.
    per_item = dict(conn.execute("SELECT item_id, count(*) FROM item_sources GROUP BY item_id"))
    assert sorted(set(per_item.values())) == [1, 2]
    assert sum(1 for n in per_item.values() if n == 2) == FEEDS
    # Entities were written once per analysis, not once per attempt.
    dup = conn.execute("""SELECT count(*) FROM (SELECT item_id, start, in_title, count(*) c
                          FROM item_entities GROUP BY item_id, start, in_title HAVING c > 1)"""
                       ).fetchone()[0]
    assert dup == 0
