"""Load and validate `feeds.yaml`: the feed list and the service settings.

A bad file is refused as a whole with one line naming the file, the entry and the field,
so the service never starts half-configured.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_INTERVAL = 15 * 60  # seconds

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 60, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def parse_duration(value: Any) -> float:
    """Seconds from `900s`, `15m`, `1h`, `1d` or a bare number of minutes."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 1h or 900s")
    if isinstance(value, (int, float)):
        seconds = float(value) * 60
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 15m, 1h or 900s")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 1:
        raise ValueError("a duration must be at least one second")
    return seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeedConfig(_Strict):
    """One feed: where it is, how often to poll it, how to treat it."""

    name: str = Field(min_length=1)
    url: str
    interval: float = DEFAULT_INTERVAL
    enabled: bool = True
    tags: list[str] = []
    fulltext: bool = False  # fetch each article page and extract the main text
    local: bool = False  # allow private/loopback addresses (tests and the demo)
    encoding: str | None = None  # override a feed that lies about its charset

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            import codecs

            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
        return value


class PollConfig(_Strict):
    """Limits of the HTTP client and the scheduler (defaults follow Miniflux)."""

    concurrency: int = Field(default=8, ge=1, le=256)
    connect_timeout: float = Field(default=10.0, gt=0)
    timeout: float = Field(default=20.0, gt=0)
    max_body_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    max_backoff: float = 6 * 3600
    jitter: float = Field(default=0.1, ge=0, le=0.5)  # share of the interval
    analysis_workers: int | None = Field(default=None, ge=1, le=64)  # default: all cores

    @field_validator("max_backoff", mode="before")
    @classmethod
    def _backoff(cls, value: Any) -> float:
        return parse_duration(value)


class SmtpConfig(_Strict):
    """Outgoing mail server; the password comes from MONITOR_SMTP_PASSWORD only."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    ca_file: str | None = None  # trust this CA (e.g. a company's own) besides the system's
    connect_timeout: float = Field(default=10.0, gt=0)  # connect, TLS (ssl) and greeting
    timeout: float = Field(default=30.0, gt=0)  # each later exchange, the message included


class SubscriberConfig(_Strict):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    sectors: list[str] = []
    countries: list[str] = []
    keywords: list[str] = []
    international_only: bool = False
    min_score: float = Field(default=0.0, ge=0, le=1)
    send_empty: bool = False
    timezone: str | None = None  # overrides digest.timezone for this subscriber


class DigestConfig(_Strict):
    sender: str = "monitor@localhost"
    send_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "Europe/Moscow"
    base_url: str = "http://127.0.0.1:8001"
    subscribers: list[SubscriberConfig] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r} (use names like Europe/Moscow)")
        return value

    @field_validator("subscribers")
    @classmethod
    def _unique_subscribers(cls, subscribers: list[SubscriberConfig]) -> list[SubscriberConfig]:
        names = [s.name for s in subscribers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"subscriber names must be unique: {', '.join(duplicates)}")
        for subscriber in subscribers:
            if subscriber.timezone:
                cls._known_zone(subscriber.timezone)
        return subscribers


class Config(_Strict):
    """The whole of `feeds.yaml`."""

    database: str | None = None
    poll: PollConfig = PollConfig()
    feeds: list[FeedConfig] = []
    smtp: SmtpConfig | None = None
    digest: DigestConfig | None = None
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("feeds")
    @classmethod
    def _unique_names(cls, feeds: list[FeedConfig]) -> list[FeedConfig]:
        seen: set[str] = set()
        for index, feed in enumerate(feeds):
            if feed.name in seen:
                raise ValueError(f"entry {index}: duplicate feed name {feed.name!r}")
            seen.add(feed.name)
        return feeds

    def db_path(self, override: str | Path | None = None) -> Path:
        """The database file: --db, else `database:` relative to the config, else ./monitor.db."""
        if override:
            return Path(override)
        if self.database:
            base = self.path.parent if self.path else Path(".")
            return base / self.database
        return Path("monitor.db")


def _describe(error: dict, data: Any) -> str:
    """Turn one pydantic error into 'feeds[3] (name 'X'), field 'url': reason'."""
    loc = list(error["loc"])
    where = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, int):
            label = f"{where.pop() if where else ''}[{part}]"
            try:
                node = node[part]
                if isinstance(node, dict) and "name" in node and i < len(loc) - 1:
                    label += f" (name {node['name']!r})"
            except (IndexError, KeyError, TypeError):
                pass
            where.append(label)
        else:
            where.append(str(part))
            try:
                node = node[part]
            except (KeyError, TypeError, IndexError):
                node = None
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    if len(where) >= 2:
        entry, field = " ".join(where[:-1]), where[-1]
        return f"{entry}, field {field!r}: {message}"
    return f"{where[0] if where else 'top level'}: {message}"


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raise ConfigError naming file, entry and field."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if isinstance(data, list):  # a bare list of feeds is accepted too
        data = {"feeds": data}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'feeds:' list at the top")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(f"{path}: {_describe(first, data)}{suffix}") from None
    config.path = path
    return config
