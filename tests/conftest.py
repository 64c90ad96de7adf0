from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"
# A cooperation item whose one sector (transport) is under its threshold: the sector
# model's cooperation floor keeps it (tests of the floor in sectors, store and evaluate)
FLOOR_TEXT = "Россия и Монголия обсудили сотрудничество в сфере авиаперевозок."

# An article page with site chrome around its text, for the full-text tests.
ARTICLE_PAGE = """<html><head><meta charset="utf-8"><title>Статья</title></head><body>
<nav>Главная | Новости | Контакты</nav>
<article><h1>{title}</h1>
<p>Власти Приморского края и японские компании подписали соглашение о строительстве
станции очистки сточных вод во Владивостоке. Проект оценивается в 3 млрд рублей.</p>
<p>Японская сторона предоставит оборудование и технологии, российская обеспечит
строительство и эксплуатацию. Запуск станции запланирован на 2028 год.</p>
</article><footer>© Все права защищены</footer></body></html>"""


def count(db_path, sql: str) -> int:
    """A count from a database another process is writing (0 while it cannot be read)."""
    import sqlite3

    try:
        conn = sqlite3.connect(db_path, timeout=5)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.fixture
def clock(monkeypatch):
    """The store's clock, moved by the test."""
    from monitor import store

    now = [datetime.now(timezone.utc).replace(microsecond=0)]
    monkeypatch.setattr(store, "utcnow", lambda: now[0].isoformat())
    return now


@pytest.fixture
def feed_server():
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def write_config(tmp_path):
    """Write a feeds.yaml into tmp_path from a dict; returns its path."""

    def write(data: dict, name: str = "feeds.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def seed_article() -> tuple[str, str]:
    """(title, text) of the seed article from ../shared; skips when it is absent."""
    path = SHARED / "seed" / "seed-article.txt"
    if not path.exists():
        pytest.skip(f"{path} not found (../shared is absent)")
    title, text = path.read_text(encoding="utf-8").strip().split("\n", 1)
    return title, text
