"""Load and validate `feeds.yaml`: the feed list and the service settings.

A bad file is refused as a whole with one line naming the file, the entry and the field,
so the service never starts half-configured.
"""

from __future__ import annotations

import codecs
import math
import re
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_INTERVAL = 15 * 60  # seconds
MAX_INTERVAL = 7 * 86400  # a feed's interval and poll.max_backoff
MAX_TIMEOUT = 10 * 60  # HTTP and SMTP timeouts
# What a field's pattern asks for, in words (pydantic would show the regular expression).
_PATTERNS = {"send_at": "a time of day as HH:MM, 00:00 to 23:59",
             "email": "an e-mail address such as anna@example.org"}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def parse_duration(value: Any, *, bare: float = 60, minimum: float = 1,
                   maximum: float = MAX_INTERVAL) -> float:
    """Seconds from `900s`, `15m`, `1h`, `1d` or a bare number (of minutes, unless `bare`
    says how many seconds it counts); finite and within [minimum, maximum], because a
    duration of .inf, .nan or ten thousand years breaks the scheduler's date arithmetic."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a duration such as 15m, 1h or 900s")
    try:
        if isinstance(value, str):
            match = _DURATION.match(value)
            if not match:
                raise ValueError(f"{value!r} is not a duration such as 15m, 1h or 900s")
            number, unit = match.groups()
            seconds = float(number) * (_UNIT_SECONDS[unit] if unit else bare)
        else:
            seconds = float(value) * bare
    except OverflowError:  # an integer too big for a float
        seconds = math.inf
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration")
    if seconds < minimum:
        raise ValueError(f"a duration must be at least {_human(minimum)}")
    if seconds > maximum:
        raise ValueError(f"{value!r} is too long: at most {_human(maximum)}")
    return seconds


def _timeout(value: Any) -> float:
    """A timeout: seconds (a bare number) or a duration with a unit, 0.1 s to 10 min."""
    return parse_duration(value, bare=1, minimum=0.1, maximum=MAX_TIMEOUT)


def _name(value: Any) -> Any:
    """A name without surrounding spaces; a blank one is refused."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
    return value


def _unique_names(things: list, kind: str) -> None:
    """Names must differ after stripping and ignoring case: "ТАСС" and "тасс" would be
    indistinguishable in the web UI, the digest and `--feed`."""
    seen: dict[str, int] = {}
    for index, thing in enumerate(things):
        key = thing.name.casefold()
        if key in seen:
            raise ValueError(f"entry {index}: duplicate {kind} name {thing.name!r} "
                             f"(entry {seen[key]} has the same name, ignoring case)")
        seen[key] = index


def check_url(value: str) -> str:
    """An absolute http(s) URL that the HTTP client can request, refused here rather than
    failing (or raising) on every poll."""
    if re.search(r"[\s\x00-\x1f\x7f]", value):
        raise ValueError(f"{value!r} contains spaces or control characters")
    try:
        url = httpx.URL(value)
        host = url.raw_host.decode("ascii")
    except Exception as exc:  # httpx.InvalidURL, IDNA errors
        raise ValueError(f"{value!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not host:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if url.port is not None and not 0 < url.port < 65536:
        raise ValueError(f"{value!r} has an invalid port {url.port}")
    if not all(0 < len(label) <= 63 for label in host.removesuffix(".").split(".")):
        raise ValueError(f"{value!r} has an invalid host name {url.host!r}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeedConfig(_Strict):
    """One feed: where it is, how often to poll it, how to treat it."""

    name: str
    url: str
    interval: float = DEFAULT_INTERVAL
    enabled: bool = True
    tags: list[str] = []
    fulltext: bool = False  # fetch each article page and extract the main text
    local: bool = False  # allow private/loopback addresses (tests and the demo)
    encoding: str | None = None  # override a feed that lies about its charset

    _name = field_validator("name", mode="before")(_name)
    _url = field_validator("url")(check_url)

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown encoding {value!r}") from None
            try:
                b"<".decode(value, "replace")
            except (LookupError, UnicodeError):  # base64, rot13, idna: not a text charset
                raise ValueError(f"{value!r} is not a text encoding") from None
        return value


class PollConfig(_Strict):
    """Limits of the HTTP client and the scheduler (defaults follow Miniflux)."""

    concurrency: int = Field(default=8, ge=1, le=256, strict=True)
    connect_timeout: float = 10.0  # seconds
    timeout: float = 20.0  # seconds, for the whole response
    max_body_bytes: int = Field(default=15 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024,
                                strict=True)
    max_backoff: float = 6 * 3600
    jitter: float = Field(default=0.1, ge=0, le=0.5)  # share of the interval
    analysis_workers: int | None = Field(default=None, ge=1, le=64, strict=True)  # all cores

    _timeouts = field_validator("connect_timeout", "timeout", mode="before")(_timeout)

    @field_validator("max_backoff", mode="before")
    @classmethod
    def _backoff(cls, value: Any) -> float:
        return parse_duration(value)


class SmtpConfig(_Strict):
    """Outgoing mail server; the password comes from MONITOR_SMTP_PASSWORD only."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535, strict=True)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    ca_file: str | None = None  # trust this CA (e.g. a company's own) besides the system's
    connect_timeout: float = 10.0  # seconds: connect, TLS (ssl) and the greeting
    timeout: float = 30.0  # seconds: each later exchange, the message included

    _timeouts = field_validator("connect_timeout", "timeout", mode="before")(_timeout)


class SubscriberConfig(_Strict):
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    sectors: list[str] = []
    countries: list[str] = []
    keywords: list[str] = []
    international_only: bool = False
    min_score: float = Field(default=0.0, ge=0, le=1)
    send_empty: bool = False
    timezone: str | None = None  # overrides digest.timezone for this subscriber

    _name = field_validator("name", mode="before")(_name)

    # A value the digest cannot match would make the subscriber's digest empty forever (a
    # sector or country) or drop the filter (a keyword without a word): refused, as search
    # refuses them. The checks read the taxonomy and the gazetteer when a value is given.
    @field_validator("sectors")
    @classmethod
    def _known_sectors(cls, values: list[str]) -> list[str]:
        from .filters import FilterError, sector_id

        for value in values:
            try:
                sector_id(value)
            except FilterError as exc:
                raise ValueError(str(exc)) from None
        return values

    @field_validator("countries")
    @classmethod
    def _known_countries(cls, values: list[str]) -> list[str]:
        from .filters import country_code

        unknown = [v for v in values if country_code(v) is None]
        if unknown:
            raise ValueError(f"unknown country {unknown[0]!r}: give an ISO 3166 code or a "
                             "Russian name («JP», «Япония»)")
        return values

    @field_validator("keywords")
    @classmethod
    def _searchable_keywords(cls, values: list[str]) -> list[str]:
        from .lemmas import lemmatize
        from .query import STOP_WORDS

        empty = [v for v in values if all(w in STOP_WORDS for w in lemmatize(v).split())]
        if empty:  # "и" would match nearly every item, "((" none
            raise ValueError(f"keyword {empty[0]!r} has no word to search for (only stop "
                             "words or punctuation)")
        return values


class DigestConfig(_Strict):
    sender: str = "monitor@localhost"
    send_at: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "Europe/Moscow"
    base_url: str = "http://127.0.0.1:8001"
    subscribers: list[SubscriberConfig] = []

    @field_validator("send_at", mode="before")
    @classmethod
    def _time_of_day(cls, value: Any) -> Any:
        """YAML reads an unquoted 8:00 as the number 480 (base 60): take it, and "8:00",
        as 08:00."""
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            hours, minutes = divmod(value, 60)
            if hours > 23:
                raise ValueError(f"expected {_PATTERNS['send_at']}, not '{hours}:{minutes:02d}'")
            return f"{hours:02d}:{minutes:02d}"
        if isinstance(value, str) and len(value.strip()) == 4 and value.strip()[1] == ":":
            return "0" + value.strip()
        return value

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
        _unique_names(subscribers, "subscriber")
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
    def _unique_feeds(cls, feeds: list[FeedConfig]) -> list[FeedConfig]:
        _unique_names(feeds, "feed")
        return feeds

    @property
    def timezone(self) -> str:
        """The time zone of dates shown and of day bounds in searches: the digest's."""
        return self.digest.timezone if self.digest else DigestConfig().timezone

    def db_path(self, override: str | Path | None = None) -> Path:
        """The database file: --db, else `database:` relative to the config, else ./monitor.db."""
        if override:
            return Path(override)
        if self.database:
            base = self.path.parent if self.path else Path(".")
            return base / self.database
        return Path("monitor.db")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error
    (PyYAML silently keeps the last one, so a second `url:` would win unnoticed)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given on line {first + 1})",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


MAX_PROBLEMS = 10  # a config error lists this many problems, then counts the rest


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
    elif error["type"] == "string_pattern_mismatch" and str(loc[-1]) in _PATTERNS:
        message = f"expected {_PATTERNS[str(loc[-1])]}, not {error['input']!r}"
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
        data = yaml.load(raw, Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
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
        errors = exc.errors()
        problems = [_describe(error, data) for error in errors[:MAX_PROBLEMS]]
        more = len(errors) - len(problems)
        text = f"{path}: {problems[0]}" + "".join(f"\n  {p}" for p in problems[1:])
        if more:
            text += f"\n  (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(text) from None
    config.path = path
    return config
