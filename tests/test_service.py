"""`monitor run`: scheduled polling in a real process, stopped by a signal."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from feedserver import rss
from monitor import store
from monitor.config import (Config, DigestConfig, FeedConfig, PollConfig, SmtpConfig,
                            SubscriberConfig)
from monitor.service import StopFlag, run_service


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _analysed(db_path):
    try:
        conn = sqlite3.connect(db_path)
        return conn.execute("SELECT count(*) FROM items WHERE analysed_at IS NOT NULL"
                            ).fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_run_polls_analyses_and_stops_on_sigterm(tmp_path, write_config, feed_server):
    url = feed_server.add("/a.xml", rss([
        {"title": "Россия и Казахстан подписали соглашение", "link": "https://x.ru/1",
         "description": "Стороны подписали соглашение в Астане."}]))
    config = write_config({"feeds": [{"name": "A", "url": url, "local": True,
                                      "interval": "1s"}]})
    db = tmp_path / "m.db"
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                             "--db", str(db), "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert _wait_for(lambda: _analysed(db) == 1), "item was not analysed in time"
        # The 1 s interval means the feed is polled again: nothing is stored twice.
        assert _wait_for(lambda: len(feed_server.requests_to("/a.xml")) >= 2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "A: 1 entry, 1 new" in output
    assert "monitor: stopped" in output
    assert _analysed(db) == 1


def test_each_feed_keeps_its_own_interval(tmp_path, feed_server):
    fast = feed_server.add("/fast.xml", rss([{"title": "Быстрая", "link": "https://x.ru/f"}]))
    slow = feed_server.add("/slow.xml", rss([{"title": "Медленная", "link": "https://x.ru/s"}]))
    config = Config(poll=PollConfig(jitter=0), feeds=[
        FeedConfig(name="fast", url=fast, interval="1s", local=True),
        FeedConfig(name="slow", url=slow, interval="1h", local=True)])
    db = store.open_db(tmp_path / "m.db")
    stop = StopFlag()
    timer = threading.Timer(3.5, stop.set)
    timer.start()
    run_service(db, config, stop=stop, report=lambda line: None, idle_wait=0.1, workers=1)
    timer.cancel()
    assert len(feed_server.requests_to("/slow.xml")) == 1
    assert len(feed_server.requests_to("/fast.xml")) >= 3
    assert store.count_items(db) == 2
    assert not store.pending_items(db)


class SilentServer:
    """A TCP server on loopback that accepts and never says a word (no SMTP greeting);
    records when each connection came and when the client hung up."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[list[float]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            record = [time.monotonic()]
            self.connections.append(record)
            threading.Thread(target=self._hold, args=(conn, record), daemon=True).start()

    @staticmethod
    def _hold(conn, record):
        with conn:
            conn.settimeout(60)
            try:
                while conn.recv(1024):
                    pass
            except OSError:
                pass
            record.append(time.monotonic())

    def close(self):
        self.sock.close()


@pytest.mark.slow
def test_run_stops_at_once_while_a_fetch_hangs(tmp_path, write_config, feed_server):
    """SIGTERM while a feed's server accepts and never answers: `run` stops in seconds,
    not after the fetch's 60 s timeout, and what was stored stays."""
    silent = SilentServer()
    good = feed_server.add("/a.xml", rss([{"title": "Новость", "link": "https://x.ru/1"}]))
    config = write_config({"poll": {"timeout": "60s"}, "feeds": [
        {"name": "A", "url": good, "local": True},
        {"name": "Silent", "url": f"http://127.0.0.1:{silent.port}/feed.xml", "local": True}]})
    db = tmp_path / "m.db"
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config),
                             "--db", str(db), "run", "--no-web"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert _wait_for(lambda: silent.connections and _analysed(db) == 1)
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=50)
    finally:
        if proc.poll() is None:
            proc.kill()
        silent.close()
    assert time.monotonic() - stopping < 10, output
    assert proc.returncode == 0, output
    assert "monitor: stopped" in output
    assert "leaked" not in output  # the analysis workers' semaphores were cleaned up
    assert _analysed(db) == 1


def _digest_config(port, feed_url, **smtp):
    return Config(
        poll=PollConfig(jitter=0),
        feeds=[FeedConfig(name="A", url=feed_url, interval="1s", local=True)],
        smtp=SmtpConfig(host="127.0.0.1", port=port, **smtp),
        digest=DigestConfig(send_at="00:00", timezone="UTC", subscribers=[
            SubscriberConfig(name="Анна", email="anna@example.org", send_empty=True)]))


@pytest.mark.slow
def test_a_silent_smtp_server_stalls_neither_polling_nor_the_loop(tmp_path, feed_server):
    polls: list[float] = []

    def feed(handler):
        polls.append(time.monotonic())
        body = rss([])
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    silent = SilentServer()
    try:
        config = _digest_config(silent.port, feed_server.add("/a.xml", handler=feed),
                                connect_timeout=3, timeout=60)
        db = store.open_db(tmp_path / "m.db")
        stop, lines = StopFlag(), []
        timer = threading.Timer(5.5, stop.set)
        timer.start()
        run_service(db, config, stop=stop, report=lines.append, idle_wait=0.1, workers=1)
        timer.cancel()
    finally:
        silent.close()
    [(accepted, hung_up)] = silent.connections  # one attempt; the retry waits a minute
    assert hung_up - accepted < 3 + 2  # the greeting timeout, not smtp.timeout (60 s)
    assert sum(accepted < t < hung_up for t in polls) >= 2, (polls, accepted, hung_up)
    [failure] = [line for line in lines if line.startswith("digest:")]
    assert "sending to Анна failed" in failure and "timed out" in failure
    state = db.execute("SELECT failures, retry_at FROM digest_state").fetchone()
    assert state[0] == 1 and state[1]


@pytest.mark.slow
def test_run_sends_a_due_digest_once_from_its_sending_thread(tmp_path, feed_server):
    from aiosmtpd.controller import Controller

    received = []

    class Inbox:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.rcpt_tos)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = _digest_config(port, feed_server.add("/a.xml", rss([])), timeout=5)
        db = store.open_db(tmp_path / "m.db")
        for _ in range(2):  # a restart the same day sends nothing more
            stop, lines = StopFlag(), []
            timer = threading.Timer(2.0, stop.set)
            timer.start()
            run_service(db, config, stop=stop, report=lines.append, idle_wait=0.1, workers=1)
            timer.cancel()
    finally:
        controller.stop()
    assert received == [["anna@example.org"]]
    assert db.execute("SELECT count(*) FROM digest_deliveries").fetchone()[0] == 1


def _grandchildren() -> set[int]:
    """Processes two levels below this one: the analysis workers under the forkserver."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    children = {pid for pid, parent in parents.items() if parent == os.getpid()}
    return {pid for pid, parent in parents.items() if parent in children}


@pytest.mark.slow
def test_a_dead_analysis_worker_is_replaced_and_every_item_analysed(tmp_path, feed_server,
                                                                   monkeypatch):
    """A worker killed (as the kernel kills one out of memory) broke the process pool and,
    with it, the service; now its items are retried on new workers."""
    monkeypatch.setattr(store, "RETRY_SECONDS", 0.1)
    url = feed_server.add("/a.xml", rss([
        {"title": f"Россия и Китай обсудили поставки {i}", "link": f"https://x.ru/{i}",
         "description": f"Стороны встретились в Пекине. Выпуск {i}."} for i in range(6)]))
    config = Config(poll=PollConfig(jitter=0),
                    feeds=[FeedConfig(name="A", url=url, interval="1h", local=True)])
    db = store.open_db(tmp_path / "m.db")
    stop, lines, errors = StopFlag(), [], []

    def serve():
        try:
            run_service(db, config, stop=stop, report=lines.append, idle_wait=0.1, workers=2)
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert _wait_for(lambda: len(_grandchildren()) >= 2 or errors), "no workers started"
        os.kill(min(_grandchildren()), signal.SIGKILL)
        assert _wait_for(lambda: _analysed(tmp_path / "m.db") == 6 or errors, timeout=120), \
            lines
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert any("analysis worker died" in line for line in lines), lines
    assert _analysed(tmp_path / "m.db") == 6
    assert db.execute("SELECT count(*) FROM items WHERE claimed_by IS NOT NULL").fetchone()[0] == 0
