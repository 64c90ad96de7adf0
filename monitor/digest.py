"""Daily digest e-mails: each subscriber gets each matching cooperation item exactly once.

Flow: `pending_items` (analysed cooperation items the subscriber has not been sent, matching
their filters) -> `stories` (near copies from several outlets, grouped by their stored story)
-> `compose` (Russian subject, HTML with inlined CSS and a plain-text alternative) ->
`send` over SMTP -> `record_delivery`, only after the server accepted the message. A failed
send is recorded as a failure with a retry time (exponential backoff); nothing is marked
as sent, so the next attempt carries the same items.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

import sqlite_utils

from . import store
from .config import Config, DigestConfig, SmtpConfig, SubscriberConfig
from .gazetteer import country_names
from .highlight import safe_href
from .lemmas import lemmatize
from .search import item_details
from .sectors import sector_names, taxonomy

MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
          "сентября", "октября", "ноября", "декабря"]
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

def pending_items(db: sqlite_utils.Database, subscriber: SubscriberConfig,
                  since: str | None = None) -> list[dict]:
    """Analysed cooperation items matching the subscriber's filters that were never sent
    to them, oldest first. `since` (UTC ISO) bounds first-seen for a new subscriber."""
    where = ["items.is_cooperation = 1", "items.analysed_at IS NOT NULL",
             "NOT EXISTS (SELECT 1 FROM digest_items d WHERE d.item_id = items.id "
             "AND d.subscriber = ?)"]
    params: list = [subscriber.name]
    if since:
        where.append("items.first_seen >= ?")
        params.append(since)
    if subscriber.international_only:
        where.append("items.scope = 'international'")
    if subscriber.min_score:
        where.append("items.cooperation_score >= ?")
        params.append(subscriber.min_score)
    if subscriber.sectors:
        where.append("EXISTS (SELECT 1 FROM item_sectors s WHERE s.item_id = items.id AND "
                     f"s.sector IN ({','.join('?' * len(subscriber.sectors))}))")
        params += subscriber.sectors
    if subscriber.countries:
        where.append("EXISTS (SELECT 1 FROM item_countries c WHERE c.item_id = items.id AND "
                     f"c.country IN ({','.join('?' * len(subscriber.countries))}))")
        params += [c.upper() for c in subscriber.countries]
    if subscriber.keywords:
        phrases = [p for p in map(lemmatize, subscriber.keywords) if p]
        if phrases:
            match = " OR ".join('"' + p.replace('"', '""') + '"' for p in phrases)
            where.append("items.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?)")
            params.append(match)
    ids = [r[0] for r in db.execute(
        f"SELECT items.id FROM items WHERE {' AND '.join(where)} "
        "ORDER BY items.first_seen, items.id", params)]
    return item_details(db, ids)


def stories(items: list[dict]) -> list[Story]:
    """Group items into stories (near copies from several outlets, found with MinHash when
    each item was stored: monitor.stories); each story keeps its highest-scoring item and
    every outlet that carried it."""
    groups: dict[int, list[dict]] = {}
    for item in items:
        groups.setdefault(item["story_id"], []).append(item)
    result = []
    for members in groups.values():
        best = max(members, key=lambda i: (i["cooperation_score"] or 0, -i["id"]))
        sector = best["sectors"][0]["id"] if best["sectors"] else None
        # every member carries the same story outlets (search.item_details), first seen first
        result.append(Story(best, members, list(best["story_outlets"]), sector))
    return result


def build(db: sqlite_utils.Database, config: DigestConfig, subscriber: SubscriberConfig,
          day: date) -> Digest:
    state = _state(db, subscriber.name)
    found = pending_items(db, subscriber, since=state["since"])
    grouped = stories(found)
    order = {s["id"]: n for n, s in enumerate(taxonomy())}
    grouped.sort(key=lambda s: (order.get(s.sector, len(order)),
                                -(s.item["cooperation_score"] or 0)))
    return Digest(subscriber, day, grouped, [i["id"] for i in found])


# --- composing -----------------------------------------------------------------------------

def plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def russian_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


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
            "time": f"{published.day} {MONTHS[published.month - 1]}, {published:%H:%M}",
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
    """Hand the message to the SMTP server; raises on any failure (nothing is recorded)."""
    context = ssl.create_default_context()
    if smtp.ca_file:
        context.load_verify_locations(cafile=smtp.ca_file)
    password = os.environ.get("MONITOR_SMTP_PASSWORD")
    if smtp.security == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
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


def record_failure(db: sqlite_utils.Database, name: str, error: str) -> str:
    """Count a failed send and schedule the retry; returns the retry time (UTC ISO)."""
    failures = (_state(db, name)["failures"] or 0) + 1
    delay = min(RETRY_MAX, RETRY_FIRST * 2 ** (failures - 1))
    retry_at = (datetime.now(timezone.utc) + timedelta(seconds=delay)).replace(microsecond=0)
    with store.transaction(db):
        db.execute("UPDATE digest_state SET failures = ?, retry_at = ?, last_error = ? "
                   "WHERE subscriber = ?", [failures, retry_at.isoformat(), error[:500], name])
    return retry_at.isoformat()


@dataclass
class Outcome:
    subscriber: str
    status: str  # sent | empty | failed | preview | waiting
    stories: int = 0
    detail: str = ""

    def line(self) -> str:
        return {"sent": f"digest: sent {self.stories} stories to {self.subscriber}",
                "empty": f"digest: nothing new for {self.subscriber}, no e-mail",
                "preview": f"digest: preview for {self.subscriber} ({self.stories} stories) "
                           f"in {self.detail}",
                "waiting": f"digest: {self.subscriber} waits for the retry at {self.detail}",
                "failed": f"digest: sending to {self.subscriber} failed: {self.detail}"
                }[self.status]


def deliver(db: sqlite_utils.Database, config: Config, subscriber: SubscriberConfig,
            day: date, *, preview: Path | None = None, respect_retry: bool = False) -> Outcome:
    """Build, send and record one subscriber's digest (or write a preview)."""
    digest_config = config.digest or DigestConfig()
    state = _state(db, subscriber.name)
    if respect_retry and state["retry_at"] and state["retry_at"] > store.utcnow():
        return Outcome(subscriber.name, "waiting", detail=state["retry_at"])
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
    message = compose(digest, digest_config)
    try:
        send(message, config.smtp or SmtpConfig())
    except (smtplib.SMTPException, OSError) as exc:
        retry_at = record_failure(db, subscriber.name, f"{type(exc).__name__}: {exc}")
        return Outcome(subscriber.name, "failed", len(digest.stories),
                       f"{type(exc).__name__}: {exc}; will retry at {retry_at}")
    record_delivery(db, digest, message["Message-ID"])
    return Outcome(subscriber.name, "sent", len(digest.stories))


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
    """`monitor run`'s digest step: deliver every due digest, honouring retry times."""
    outcomes = []
    for subscriber, day in due(db, config, now):
        outcome = deliver(db, config, subscriber, day, respect_retry=True)
        if outcome.status != "waiting":
            report(outcome.line())
        outcomes.append(outcome)
    return outcomes
