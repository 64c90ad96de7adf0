from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"


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
