"""Daily digest e-mails: each subscriber gets each matching cooperation item exactly once.

Flow: `pending_items` (analysed cooperation items the subscriber has not been sent, matching
their filters) -> `stories` (near copies from several outlets, grouped by their stored story)
-> `compose` (Russian subject, HTML with inlined CSS and a plain-text alternative) ->
`send` over SMTP -> `record_delivery`, only after the server accepted the message. A failed
send is recorded as a failure with a retry time (exponential backoff); nothing is marked
as sent, so the next attempt carries the same items. A permanent refusal (5xx) is not
retried automatically until the subscriber's next day or a change of the settings it
depends on. `monitor run` sends through `Sender`, off its loop.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import smtplib
import ssl
import threading
import time
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import sqlite_utils

from . import store
from .config import Config, DigestConfig, SmtpConfig, SubscriberConfig
from .filters import Filters, conditions, country_code, keywords_condition, sector_key
from .gazetteer import country_names
from .highlight import safe_href
from .russian import MONTHS_GENITIVE, plural
from .search import item_details
from .sectors import sector_names, taxonomy

RETRY_FIRST = 60.0  # seconds before the first retry of a failed send; doubles up to
RETRY_MAX = 3600.0


@dataclass
class Story:
    """One news story: the best item and every outlet that carried it (or a near copy)."""

    item: dict
    items: list[dict]
    outlets: list[str] = field(default_factory=list)
    sector: str | None = None


@dataclass
class Digest:
    subscriber: SubscriberConfig
    day: date
    stories: list[Story]
    item_ids: list[int]

    @property
    def empty(self) -> bool:
        return not self.stories


# --- what to send --------------------------------------------------------------------------

def subscriber_filters(subscriber: SubscriberConfig) -> Filters:
    """A subscriber's `sectors`, `countries`, `international_only` and `min_score` as
    search filters (monitor.filters): any of the sectors, any of the countries (by code or
    name), exactly as `monitor search` and the web UI read them."""
    return Filters(sectors=[sector_key(s) for s in subscriber.sectors],
                   countries=[country_code(c) or c.upper() for c in subscriber.countries],
                   international=subscriber.international_only,
                   min_score=subscriber.min_score)


def pending_items(db: sqlite_utils.Database, subscriber: SubscriberConfig,
                  since: str | None = None) -> list[dict]:
    """Analysed cooperation items matching the subscriber's filters that were never sent
    to them, oldest first. `since` (UTC ISO) bounds first-seen for a new subscriber."""
    where, params = conditions(subscriber_filters(subscriber))
    where += ["items.analysed_at IS NOT NULL",
              "NOT EXISTS (SELECT 1 FROM digest_items d WHERE d.item_id = items.id "
              "AND d.subscriber = ?)"]
    params.append(subscriber.name)
    if since:
        where.append("items.first_seen >= ?")
        params.append(since)
    keywords = keywords_condition(subscriber.keywords)
    if keywords:
        where.append(keywords[0])
        params += keywords[1]
    ids = [r[0] for r in db.execute(
        f"SELECT items.id FROM items WHERE {' AND '.join(where)} "
        "ORDER BY items.first_seen, items.id", params)]
    return item_details(db, ids)


def stories(items: list[dict], sectors: list[str] = ()) -> list[Story]:
    """Group items into stories (near copies from several outlets, found with MinHash when
    each item was stored: monitor.stories); each story keeps its highest-scoring item and
    every outlet that carried it. A story is filed under its item's first sector, or, for
    a subscriber who follows `sectors`, under the first of the item's sectors they follow."""
    groups: dict[int, list[dict]] = {}
    for item in items:
        groups.setdefault(item["story_id"], []).append(item)
    followed = set(sectors)
    result = []
    for members in groups.values():
        best = max(members, key=lambda i: (i["cooperation_score"] or 0, -i["id"]))
        own = [s["id"] for s in best["sectors"]]
        sector = next((s for s in own if s in followed), own[0] if own else None)
        # every member carries the same story outlets (search.item_details), first seen first
        result.append(Story(best, members, list(best["story_outlets"]), sector))
    return result


def build(db: sqlite_utils.Database, config: DigestConfig, subscriber: SubscriberConfig,
          day: date) -> Digest:
    state = _state(db, subscriber.name)
    found = pending_items(db, subscriber, since=state["since"])
    grouped = stories(found, [sector_key(s) for s in subscriber.sectors])
    order = {s["id"]: n for n, s in enumerate(taxonomy())}
    grouped.sort(key=lambda s: (order.get(s.sector, len(order)),
                                -(s.item["cooperation_score"] or 0)))
    return Digest(subscriber, day, grouped, [i["id"] for i in found])


# --- composing -----------------------------------------------------------------------------

def russian_date(day: date) -> str:
    return f"{day.day} {MONTHS_GENITIVE[day.month - 1]} {day.year}"


def subject(digest: Digest) -> str:
    n = len(digest.stories)
    if not n:
        return f"Сотрудничество: обзор за {russian_date(digest.day)} — новых сообщений нет"
    return (f"Сотрудничество: обзор за {russian_date(digest.day)} — {n} "
            f"{plural(n, 'новость', 'новости', 'новостей')}")


def _context(digest: Digest, config: DigestConfig) -> dict:
    names = sector_names()
    countries = country_names()
    zone = ZoneInfo(digest.subscriber.timezone or config.timezone)
    sections: list[dict] = []
    for story in digest.stories:
        title = names.get(story.sector, "Без отрасли") if story.sector else "Без отрасли"
        if not sections or sections[-1]["title"] != title:
            sections.append({"title": title, "stories": []})
        item = story.item
        published = datetime.fromisoformat(item["published"]).astimezone(zone)
        orgs = [e["normal"] for e in item["entities"] if e["type"] == "ORG"][:4]
        item_url = f"{config.base_url.rstrip('/')}/item/{item['id']}"
        sections[-1]["stories"].append({
            "title": item["title"],
            "url": item["url"],
            "href": safe_href(item["url"]),  # None: not http(s), never a link
            "item_url": item_url,
            "item_href": safe_href(item_url),
            "outlets": story.outlets,
            "time": f"{published.day} {MONTHS_GENITIVE[published.month - 1]}, "
                    f"{published:%H:%M}",
            "lead": item["evidence"] or _lead(item["text"]),
            "countries": [countries.get(c, c) for c in item["countries"]],
            "orgs": orgs,
            "sectors": [names.get(s["id"], s["id"]) for s in item["sectors"]],
        })
    return {"subject": subject(digest), "sections": sections, "subscriber": digest.subscriber,
            "count": len(digest.stories), "base_url": config.base_url.rstrip("/"),
            "base_href": safe_href(config.base_url.rstrip("/") + "/"),
            "day": russian_date(digest.day)}


def _lead(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _templates():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("monitor", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.globals["plural"] = plural
    return env


def render(digest: Digest, config: DigestConfig) -> tuple[str, str]:
    """(plain text, HTML with CSS inlined into style attributes for mail clients)."""
    import css_inline

    env = _templates()
    context = _context(digest, config)
    text = env.get_template("digest.txt").render(**context)
    html = css_inline.inline(env.get_template("digest.html").render(**context))
    return text, html


def compose(digest: Digest, config: DigestConfig) -> EmailMessage:
    text, html = render(digest, config)
    message = EmailMessage()
    message["Subject"] = subject(digest)
    message["From"] = config.sender
    message["To"] = email.utils.formataddr((digest.subscriber.name, digest.subscriber.email))
    message["Date"] = email.utils.formatdate(localtime=False)
    # The same subscriber, day and items give the same Message-ID, so a mail system can
    # drop a copy if a crash ever came between the server's acceptance and our record.
    key = f"{digest.subscriber.name}|{digest.day}|{','.join(map(str, digest.item_ids))}"
    domain = config.sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<digest-{hashlib.sha1(key.encode()).hexdigest()[:20]}@{domain}>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# --- sending and recording -----------------------------------------------------------------

def send(message: EmailMessage, smtp: SmtpConfig) -> None:
    """Hand the message to the SMTP server; raises on any failure before the server
    accepted it (nothing is recorded then).

    Connecting, the TLS handshake of `ssl` and the server's greeting get
    `smtp.connect_timeout` (a server that accepts TCP and never greets fails fast); every
    later exchange gets `smtp.timeout`. Once the server answered 250 to the message it is
    delivered: a bad answer to QUIT, or a dropped connection, no longer matters.
    """
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    password = os.environ.get("MONITOR_SMTP_PASSWORD")
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.connect_timeout,
                                  context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.connect_timeout)
    try:
        client.timeout = smtp.timeout
        client.sock.settimeout(smtp.timeout)
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            if not password:
                raise smtplib.SMTPAuthenticationError(
                    535, b"no password: set MONITOR_SMTP_PASSWORD")
            client.login(smtp.username, password)
        refused = client.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
    except BaseException:
        client.close()
        raise
    try:  # accepted: from here on, nothing makes this a failure
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


def permanent(exc: BaseException) -> bool:
    """Whether the server refused for good (a 5xx to AUTH, MAIL, RCPT or DATA): retrying
    the same message with the same settings can only be refused again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, (smtplib.SMTPConnectError, smtplib.SMTPHeloError)):
        return False  # a server that is not ready (or not a mail server) may recover
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and 500 <= code < 600


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(f"{rcpt}: {code} {_decode(text)}"
                           for rcpt, (code, text) in exc.recipients.items())
        return f"{type(exc).__name__}: {detail}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_decode(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def _decode(text) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def settings_key(config: Config, subscriber: SubscriberConfig) -> str:
    """A short fingerprint of what a permanent refusal depends on (the server, login,
    sender and address, and whether a password is set; never the password itself, as the
    database is readable in the web UI): when any of them changes, the refusal lapses."""
    smtp = config.smtp or SmtpConfig()
    sender = (config.digest or DigestConfig()).sender
    parts = [smtp.host, smtp.port, smtp.security, smtp.username, sender, subscriber.email,
             bool(os.environ.get("MONITOR_SMTP_PASSWORD"))]
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


PERMANENT = "permanent"  # digest_state.last_error = "permanent KEY: error" for a 5xx


def _state(db: sqlite_utils.Database, name: str) -> dict:
    row = db.execute("SELECT since, last_day, failures, retry_at, last_error FROM "
                     "digest_state WHERE subscriber = ?", [name]).fetchone()
    if row is None:
        # A new subscriber starts with what arrived in the last day, not the whole archive.
        since = (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0)
        with store.transaction(db):
            db.execute("INSERT OR IGNORE INTO digest_state (subscriber, since) VALUES (?, ?)",
                       [name, since.isoformat()])
        return _state(db, name)
    return dict(zip(("since", "last_day", "failures", "retry_at", "last_error"), row))


def refusal(state: dict) -> tuple[str, str] | None:
    """(settings key, error) of a recorded permanent refusal, else None."""
    error = state.get("last_error") or ""
    if not error.startswith(PERMANENT + " "):
        return None
    key, _, message = error[len(PERMANENT) + 1:].partition(": ")
    return key, message


def record_delivery(db: sqlite_utils.Database, digest: Digest, message_id: str | None) -> None:
    """After the server accepted the digest (or when there was nothing to send): mark its
    items as sent to this subscriber and the day as done, in one transaction."""
    now = store.utcnow()
    with store.transaction(db):
        delivery = None
        if message_id:
            delivery = db.execute(
                "INSERT INTO digest_deliveries (subscriber, day, sent_at, message_id, stories, "
                "items) VALUES (?, ?, ?, ?, ?, ?)",
                [digest.subscriber.name, digest.day.isoformat(), now, message_id,
                 len(digest.stories), len(digest.item_ids)]).lastrowid
        for item_id in digest.item_ids:
            db.execute("INSERT OR IGNORE INTO digest_items (subscriber, item_id, delivery_id) "
                       "VALUES (?, ?, ?)", [digest.subscriber.name, item_id, delivery])
        db.execute("UPDATE digest_state SET last_day = ?, failures = 0, retry_at = NULL, "
                   "last_error = NULL WHERE subscriber = ?",
                   [digest.day.isoformat(), digest.subscriber.name])


def record_failure(db: sqlite_utils.Database, name: str, error: str, *,
                   until: datetime | None = None, key: str | None = None) -> str:
    """Count a failed send and schedule the retry; returns the retry time (UTC ISO).
    A permanent refusal (`until` and the settings `key` given) waits until `until`."""
    failures = (_state(db, name)["failures"] or 0) + 1
    if until is None:
        delay = min(RETRY_MAX, RETRY_FIRST * 2 ** (failures - 1))
        until = datetime.now(timezone.utc) + timedelta(seconds=delay)
    else:
        error = f"{PERMANENT} {key}: {error}"
    retry_at = until.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    with store.transaction(db):
        db.execute("UPDATE digest_state SET failures = ?, retry_at = ?, last_error = ? "
                   "WHERE subscriber = ?", [failures, retry_at, error[:500], name])
    return retry_at


def _next_local_day(subscriber: SubscriberConfig, config: DigestConfig,
                    now: datetime) -> datetime:
    zone = ZoneInfo(subscriber.timezone or config.timezone)
    return datetime.combine(now.astimezone(zone).date() + timedelta(days=1), dtime(0), zone)


@dataclass
class Outcome:
    subscriber: str
    status: str  # sent | empty | failed | refused | blocked | preview | waiting
    stories: int = 0
    detail: str = ""

    def line(self) -> str:
        return {"sent": f"digest: sent {self.stories} stories to {self.subscriber}",
                "empty": f"digest: nothing new for {self.subscriber}, no e-mail",
                "preview": f"digest: preview for {self.subscriber} ({self.stories} stories) "
                           f"in {self.detail}",
                "waiting": f"digest: {self.subscriber} waits for the retry at {self.detail}",
                "failed": f"digest: sending to {self.subscriber} failed: {self.detail}",
                "refused": f"digest: the server refused the digest for {self.subscriber} "
                           f"permanently: {self.detail}",
                "blocked": f"digest: {self.subscriber} is not retried: {self.detail}",
                }[self.status]


@dataclass
class Prepared:
    """A digest composed and ready to hand to the SMTP server."""

    digest: Digest
    message: EmailMessage
    key: str


def prepare(db: sqlite_utils.Database, config: Config, subscriber: SubscriberConfig,
            day: date, *, preview: Path | None = None, respect_retry: bool = False,
            now: datetime | None = None) -> Prepared | Outcome:
    """Build and compose one subscriber's digest; an Outcome when there is nothing to
    send now (a preview written, nothing new, a retry time not reached)."""
    digest_config = config.digest or DigestConfig()
    state = _state(db, subscriber.name)
    key = settings_key(config, subscriber)
    now_iso = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(
        microsecond=0).isoformat()
    if respect_retry and state["retry_at"] and state["retry_at"] > now_iso:
        refused = refusal(state)
        if refused is None:
            return Outcome(subscriber.name, "waiting", detail=state["retry_at"])
        if refused[0] == key:
            return Outcome(subscriber.name, "blocked",
                           detail=f"{refused[1]} (until {state['retry_at']} or the smtp/"
                                  "digest settings change)")
        # the settings changed since the refusal: try again now
    digest = build(db, digest_config, subscriber, day)
    if preview is not None:
        preview.mkdir(parents=True, exist_ok=True)
        message = compose(digest, digest_config)
        stem = preview / f"digest-{_slug(subscriber.name)}-{day.isoformat()}"
        stem.with_suffix(".eml").write_bytes(bytes(message))
        stem.with_suffix(".html").write_text(render(digest, digest_config)[1], encoding="utf-8")
        return Outcome(subscriber.name, "preview", len(digest.stories), str(stem) + ".eml/.html")
    if digest.empty and not subscriber.send_empty:
        record_delivery(db, digest, None)
        return Outcome(subscriber.name, "empty")
    return Prepared(digest, compose(digest, digest_config), key)


def finish(db: sqlite_utils.Database, config: Config, prepared: Prepared,
           error: BaseException | None, now: datetime | None = None) -> Outcome:
    """Record what became of a send: delivered, failed (retried with backoff) or refused
    for good (not retried until the subscriber's next day or a settings change)."""
    digest = prepared.digest
    name, count = digest.subscriber.name, len(digest.stories)
    if error is None:
        record_delivery(db, digest, prepared.message["Message-ID"])
        return Outcome(name, "sent", count)
    text = _error_text(error)
    if permanent(error):
        until = _next_local_day(digest.subscriber, config.digest or DigestConfig(),
                                now or datetime.now(timezone.utc))
        retry_at = record_failure(db, name, text, until=until, key=prepared.key)
        return Outcome(name, "refused", count, f"{text}; not retried until {retry_at} or "
                                               "the smtp/digest settings change")
    retry_at = record_failure(db, name, text)
    return Outcome(name, "failed", count, f"{text}; will retry at {retry_at}")


def sending_status(db: sqlite_utils.Database, config: Config,
                   subscriber: SubscriberConfig) -> str | None:
    """A line on the last failed send of this subscriber's digest, None when all is well."""
    state = _state(db, subscriber.name)
    if not state["last_error"]:
        return None
    refused = refusal(state)
    if refused is None:
        return (f"last send failed ({state['failures']} in a row): {state['last_error']}; "
                f"next try at {state['retry_at']}")
    key, error = refused
    if key != settings_key(config, subscriber):
        return f"refused permanently: {error}; the settings changed since, so it is retried"
    return (f"refused permanently: {error}; not retried until {state['retry_at']} or the "
            "smtp/digest settings change (`monitor digest --send` tries now)")


def deliver(db: sqlite_utils.Database, config: Config, subscriber: SubscriberConfig,
            day: date, *, preview: Path | None = None, respect_retry: bool = False,
            now: datetime | None = None) -> Outcome:
    """Build, send and record one subscriber's digest (or write a preview), in this thread."""
    prepared = prepare(db, config, subscriber, day, preview=preview,
                       respect_retry=respect_retry, now=now)
    if isinstance(prepared, Outcome):
        return prepared
    try:
        send(prepared.message, config.smtp or SmtpConfig())
    except (smtplib.SMTPException, OSError) as exc:
        return finish(db, config, prepared, exc, now)
    return finish(db, config, prepared, None, now)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").lower() or "subscriber"


def local_day(subscriber: SubscriberConfig, config: DigestConfig, now: datetime) -> date:
    return now.astimezone(ZoneInfo(subscriber.timezone or config.timezone)).date()


def due(db: sqlite_utils.Database, config: Config, now: datetime | None = None
        ) -> list[tuple[SubscriberConfig, date]]:
    """Subscribers whose send time has passed today (in their time zone) and who have not
    had today's digest yet: after downtime, the missed digest goes out at once."""
    if not config.digest:
        return []
    now = now or datetime.now(timezone.utc)
    hour, minute = map(int, config.digest.send_at.split(":"))
    result = []
    for subscriber in config.digest.subscribers:
        zone = ZoneInfo(subscriber.timezone or config.digest.timezone)
        local = now.astimezone(zone)
        scheduled = datetime.combine(local.date(), dtime(hour, minute), zone)
        state = _state(db, subscriber.name)
        if local >= scheduled and (state["last_day"] or "") < local.date().isoformat():
            result.append((subscriber, local.date()))
    return result


def send_due(db: sqlite_utils.Database, config: Config, report: Callable[[str], None] = print,
             now: datetime | None = None) -> list[Outcome]:
    """Deliver every due digest in this thread, honouring retry times."""
    outcomes = []
    for subscriber, day in due(db, config, now):
        outcome = deliver(db, config, subscriber, day, respect_retry=True, now=now)
        if outcome.status not in ("waiting", "blocked"):
            report(outcome.line())
        outcomes.append(outcome)
    return outcomes


class Sender:
    """`monitor run`'s digest step. The caller's thread, which owns the database, builds
    and records each due digest; the SMTP exchange runs in a thread of its own, so polling
    and analysis never wait for a slow or silent mail server."""

    def __init__(self, config: Config, report: Callable[[str], None] = print,
                 check_every: float = 30.0) -> None:
        self.config, self.report, self.check_every = config, report, check_every
        self.in_flight: dict[str, tuple[Future, Prepared]] = {}
        self.next_check = 0.0

    def step(self, db: sqlite_utils.Database, now: datetime | None = None) -> list[Outcome]:
        """Record finished sends; every `check_every` seconds, start the due ones."""
        outcomes = self._collect(db, now)
        if time.monotonic() < self.next_check:
            return outcomes
        self.next_check = time.monotonic() + self.check_every
        for subscriber, day in due(db, self.config, now):
            if subscriber.name in self.in_flight:
                continue
            prepared = prepare(db, self.config, subscriber, day, respect_retry=True, now=now)
            if isinstance(prepared, Outcome):
                if prepared.status not in ("waiting", "blocked"):
                    self.report(prepared.line())
                outcomes.append(prepared)
                continue
            future: Future = Future()
            threading.Thread(target=_send_into, name=f"digest-{subscriber.name}", daemon=True,
                             args=(future, prepared.message, self.config.smtp or SmtpConfig())
                             ).start()
            self.in_flight[subscriber.name] = (future, prepared)
        return outcomes

    def _collect(self, db, now=None) -> list[Outcome]:
        outcomes = []
        for name, (future, prepared) in list(self.in_flight.items()):
            if future.done():
                del self.in_flight[name]
                outcome = finish(db, self.config, prepared, future.exception(), now)
                self.report(outcome.line())
                outcomes.append(outcome)
        return outcomes

    def close(self, db: sqlite_utils.Database, timeout: float = 10.0) -> None:
        """At stop: wait up to `timeout` seconds for sends in flight and record them. One
        still running is abandoned unrecorded, so it goes out again after a restart (with
        the same Message-ID, which lets a mail system drop the copy)."""
        if self.in_flight:
            wait([future for future, _ in self.in_flight.values()], timeout=timeout)
        self._collect(db)
        for name in self.in_flight:
            self.report(f"digest: sending to {name} still in progress at stop; it is sent "
                        "again at the next start")
        self.in_flight.clear()


def _send_into(future: Future, message: EmailMessage, smtp: SmtpConfig) -> None:
    """The sending thread's body: the outcome of `send` goes into `future`."""
    try:
        send(message, smtp)
    except BaseException as exc:  # every failure is the caller's to record
        future.set_exception(exc)
    else:
        future.set_result(None)
