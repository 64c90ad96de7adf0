"""Daily digests over a real SMTP server (aiosmtpd on 127.0.0.1), on a database built by
polling loopback feeds."""

import datetime as dt
import email
import email.policy
import shutil
import socket
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from feedserver import FeedServer, rss
from monitor import digest, store
from monitor.cli import cli
from monitor.config import load_config

SYNDICATED = ("Россия и Вьетнам договорились о совместном строительстве АЭС. Госкорпорация "
              "«Росатом» и министерство промышленности и торговли Вьетнама подписали "
              "соглашение о сотрудничестве в строительстве атомной электростанции и подготовке "
              "кадров для атомной энергетики страны.")
WATER = {"title": "Россия и Япония будут сотрудничать в сфере водоочистки",
         "link": "https://news.example/water",
         "description": "Минстрой России и японские компании договорились о совместных проектах "
                        "по очистке сточных вод в Воронеже и Владивостоке, сообщил замминистра "
                        "Егоров."}


def feed(outlet: int, extra=()):
    """One outlet's feed: its own copy of the syndicated story (own URL, own last words)."""
    story = {"title": "Россия и Вьетнам построят АЭС",
             "link": f"https://outlet{outlet}.example/vn-npp",
             "description": SYNDICATED + [" Сообщает ТАСС.", " Об этом сообщили в Росатоме.",
                                          ""][outlet]}
    return rss([story, *extra])


class Inbox:
    """aiosmtpd handler keeping what it accepted; can refuse the first N messages."""

    def __init__(self, refuse: int = 0):
        self.messages: list = []
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(
            envelope.content, policy=email.policy.default)))
        return "250 OK"

    def to(self, address):
        return [m for rcpts, m in self.messages if address in rcpts]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(scope="module")
def polled(tmp_path_factory):
    """A database holding the three outlets' copies of one story and a water story."""
    server = FeedServer()
    tmp = tmp_path_factory.mktemp("digest")
    try:
        urls = [server.add(f"/{n}.xml", feed(n, [WATER] if n == 0 else []))
                for n in range(3)]
        config = tmp / "feeds.yaml"
        config.write_text(yaml.safe_dump({"feeds": [
            {"name": name, "url": url, "local": True}
            for name, url in zip(["ТАСС", "Интерфакс", "Вести"], urls)]},
            allow_unicode=True), "utf-8")
        result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(tmp / "m.db"),
                                          "poll"])
        assert result.exit_code == 0, result.output
    finally:
        server.close()
    return tmp / "m.db"


@pytest.fixture
def setup(polled, tmp_path, smtp):
    """A fresh copy of the polled database and a config pointing at the SMTP server."""
    controller, inbox = smtp
    db_path = tmp_path / "m.db"
    copy_db(polled, db_path)

    def config(subscribers=None, **smtp_options):
        data = {"feeds": [], "smtp": {"host": "127.0.0.1", "port": controller.port,
                                      "timeout": 5, **smtp_options},
                "digest": {"sender": "monitor@example.org", "base_url": "http://ui.example",
                           "send_at": "08:00", "subscribers": subscribers or [
                               {"name": "Анна", "email": "anna@example.org",
                                "sectors": ["water"], "countries": ["JP"]},
                               {"name": "Борис", "email": "boris@example.org",
                                "sectors": ["defense"]},
                               {"name": "Вера", "email": "vera@example.org",
                                "keywords": ["атомной электростанции"]}]}}
        path = tmp_path / "feeds.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
        return path

    def run(config_path, *args):
        return CliRunner().invoke(cli, ["--config", str(config_path), "--db", str(db_path),
                                        "digest", *args])

    return config, run, inbox, db_path


def copy_db(source: Path, target: Path) -> None:
    """Copy a WAL-mode database with SQLite's backup API (a file copy could miss the WAL)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def parts(message):
    return {part.get_content_type(): part.get_content() for part in message.walk()
            if not part.is_multipart()}


def test_right_subscribers_get_one_multipart_message_and_a_second_run_sends_nothing(setup):
    config, run, inbox, db_path = setup
    path = config()
    result = run(path, "--send")
    assert result.exit_code == 0, result.output
    assert len(inbox.to("anna@example.org")) == 1, (result.output, inbox.messages)
    [anna] = inbox.to("anna@example.org")
    assert inbox.to("boris@example.org") == []  # nothing matched: no e-mail
    assert "nothing new for Борис" in result.output
    assert anna.get_content_type() == "multipart/alternative"
    body = parts(anna)
    assert set(body) == {"text/plain", "text/html"}
    assert WATER["title"] in body["text/plain"] and WATER["title"] in body["text/html"]
    assert "https://news.example/water" in body["text/html"]
    item_id = store.open_db(db_path).execute(
        "SELECT id FROM items WHERE url = ?", [WATER["link"]]).fetchone()[0]
    assert f"http://ui.example/item/{item_id}" in body["text/plain"]
    assert "Водоснабжение и водоочистка" in body["text/html"]  # grouped by sector
    assert "style=" in body["text/html"] and "<style" not in body["text/html"]  # CSS inlined
    assert "1 новость" in anna["Subject"]
    assert "АЭС" not in body["text/plain"]  # not in Анна's filters
    assert "Минстрой России" in body["text/html"]  # the organisation chip is its party

    again = run(path, "--send")
    assert again.exit_code == 0
    assert len(inbox.messages) == 2  # Анна and Вера once each, nothing more
    assert "nothing new for Анна" in again.output


def test_a_syndicated_story_appears_once_naming_all_three_outlets(setup):
    config, run, inbox, _ = setup
    assert run(config(), "--send", "--subscriber", "Вера").exit_code == 0
    [vera] = inbox.to("vera@example.org")
    text = parts(vera)["text/plain"]
    assert text.count("Россия и Вьетнам построят АЭС") == 1
    for outlet in ("ТАСС", "Интерфакс", "Вести"):
        assert outlet in text
    assert "3 источника" in parts(vera)["text/html"]


def test_a_refused_first_attempt_is_delivered_once_on_the_retry(setup):
    config, run, inbox, db_path = setup
    inbox.refuse = 1
    path = config()
    first = run(path, "--send", "--subscriber", "Анна")
    assert first.exit_code == 1
    assert "sending to Анна failed" in first.output and "will retry at" in first.output
    db = store.open_db(db_path)
    assert db.execute("SELECT count(*) FROM digest_items").fetchone()[0] == 0
    assert db.execute("SELECT failures FROM digest_state WHERE subscriber = 'Анна'"
                      ).fetchone()[0] == 1
    # The service waits for the retry time; then the same items go out once.
    cfg = load_config(path)
    waiting = digest.deliver(db, cfg, cfg.digest.subscribers[0], dt.date.today(),
                             respect_retry=True)
    assert waiting.status == "waiting" and len(inbox.to("anna@example.org")) == 0
    second = run(path, "--send", "--subscriber", "Анна")
    assert second.exit_code == 0, second.output
    assert len(inbox.to("anna@example.org")) == 1
    assert run(path, "--send", "--subscriber", "Анна").output.startswith("digest: nothing new")
    assert len(inbox.to("anna@example.org")) == 1


def test_a_dead_smtp_server_loses_nothing(setup):
    config, run, _, db_path = setup
    path = config(port=free_port())  # nothing listens there
    result = run(path, "--send", "--subscriber", "Анна")
    assert result.exit_code == 1
    assert "ConnectionRefusedError" in result.output
    assert store.open_db(db_path).execute("SELECT count(*) FROM digest_items").fetchone()[0] == 0


def test_preview_writes_eml_and_html_and_records_nothing(setup, tmp_path):
    config, run, inbox, db_path = setup
    result = run(config(), "--preview", str(tmp_path / "out"), "--subscriber", "Анна")
    assert result.exit_code == 0, result.output
    [eml] = (tmp_path / "out").glob("*.eml")
    [html] = (tmp_path / "out").glob("*.html")
    assert WATER["title"] in html.read_text(encoding="utf-8")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].username == "anna"
    assert inbox.messages == []
    assert store.open_db(db_path).execute("SELECT count(*) FROM digest_items").fetchone()[0] == 0


def test_run_sends_at_send_at_in_the_subscribers_zone_and_catches_up(setup):
    config, _, inbox, db_path = setup
    path = config([{"name": "Анна", "email": "anna@example.org", "sectors": ["water"],
                    "timezone": "Asia/Vladivostok"}])
    cfg, db = load_config(path), store.open_db(db_path)
    day = dt.date.today()
    vladivostok = dt.timezone(dt.timedelta(hours=10))
    before = dt.datetime.combine(day, dt.time(7, 59), vladivostok)
    assert digest.due(db, cfg, before) == []
    late = dt.datetime.combine(day, dt.time(13, 0), vladivostok)  # the service was down at 8
    assert [s.name for s, _ in digest.due(db, cfg, late)] == ["Анна"]
    lines = []
    digest.send_due(db, cfg, lines.append, now=late)
    assert lines == ["digest: sent 1 stories to Анна"] and len(inbox.messages) == 1
    assert digest.due(db, cfg, late + dt.timedelta(hours=1)) == []  # once a day
    tomorrow = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(8, 0), vladivostok)
    assert [s.name for s, _ in digest.due(db, cfg, tomorrow)] == ["Анна"]


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the client trusts it via smtp.ca_file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_with_login(polled, tmp_path, monkeypatch):
    import ssl

    cert, key = _certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"monitor" and auth_data.password == b"s3cret"
        logins.append((auth_data.login, ok))
        return AuthResult(success=ok, handled=False)  # the server answers 535 itself

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)
    controller.start()
    try:
        db_path = tmp_path / "m.db"
        copy_db(polled, db_path)
        path = tmp_path / "feeds.yaml"
        path.write_text(yaml.safe_dump({
            "smtp": {"host": "127.0.0.1", "port": controller.port, "security": "starttls",
                     "username": "monitor", "ca_file": str(cert), "timeout": 5},
            "digest": {"sender": "monitor@example.org", "subscribers": [
                {"name": "Анна", "email": "anna@example.org", "countries": ["JP"]}]}},
            allow_unicode=True), "utf-8")
        args = ["--config", str(path), "--db", str(db_path), "digest", "--send"]
        monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "wrong")
        refused = CliRunner().invoke(cli, args)
        assert refused.exit_code == 1 and "SMTPAuthenticationError" in refused.output
        monkeypatch.setenv("MONITOR_SMTP_PASSWORD", "s3cret")
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert [ok for _, ok in logins][-1] is True and not any(ok for _, ok in logins[:-1])
        [message] = inbox.to("anna@example.org")
        assert WATER["title"] in parts(message)["text/plain"]
    finally:
        controller.stop()


def test_digest_html_renders_in_chromium(setup, tmp_path):
    """Looked at, not only parsed: the HTML is rendered by headless Chromium to a PNG."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's)")
    from playwright.sync_api import sync_playwright

    config, run, _, _ = setup
    assert run(config(), "--preview", str(tmp_path), "--subscriber", "Вера").exit_code == 0
    [html] = tmp_path.glob("*.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 720, "height": 900})
        page.goto(html.as_uri())
        heading = page.locator("h1")
        assert "Сотрудничество" in heading.inner_text()
        assert page.locator(".story").count() == 1
        color = heading.evaluate("e => getComputedStyle(e.parentElement).backgroundColor")
        assert color == "rgb(31, 78, 121)"  # the inlined style applies
        png = tmp_path / "digest.png"
        page.screenshot(path=str(png), full_page=True)
        browser.close()
    assert png.stat().st_size > 10_000


HOSTILE_URLS = [" JaVaScRiPt:alert(document.domain)", "java\tscript:alert(1)",
                "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
                "javascript&#58;alert(1)"]


@pytest.mark.parametrize("hostile", HOSTILE_URLS)
def test_a_hostile_item_url_is_never_a_link_in_the_digest(setup, tmp_path, hostile):
    from html.parser import HTMLParser

    config, run, _, db_path = setup
    with store.open_db(db_path).conn as conn:
        conn.execute("UPDATE items SET url = ? WHERE url = ?", [hostile, WATER["link"]])
    assert run(config(), "--preview", str(tmp_path), "--subscriber", "Анна").exit_code == 0
    [html_file] = tmp_path.glob("*.html")
    [eml] = tmp_path.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = parts(message)
    links = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            links.extend(value or "" for name, value in attrs if name == "href")

    for html in (html_file.read_text(encoding="utf-8"), body["text/html"]):
        links.clear()
        Links().feed(html)
        assert links and all(link.startswith("http://ui.example/") for link in links), links
        assert WATER["title"] in html  # the story is there, only not linked out
    text = body["text/plain"]
    assert WATER["title"] in text and "Источник:" not in text
    assert "script" not in text.lower() and "В мониторинге: http://ui.example/item/" in text


class QuitRefused(Inbox):
    """Accepts the message (250), then answers QUIT badly or hangs up on it."""

    def __init__(self, answer: str):
        super().__init__()
        self.answer = answer

    async def handle_QUIT(self, server, session, envelope):
        if self.answer == "drop":
            server.transport.close()
            return "221 unheard"
        return self.answer


@pytest.mark.parametrize("answer", ["500 5.5.1 Error: QUIT refused", "drop"])
def test_a_message_accepted_with_250_is_sent_whatever_quit_gets(polled, tmp_path, answer):
    inbox = QuitRefused(answer)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        db_path = tmp_path / "m.db"
        copy_db(polled, db_path)
        path = tmp_path / "feeds.yaml"
        path.write_text(yaml.safe_dump({
            "smtp": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
            "digest": {"sender": "monitor@example.org", "subscribers": [
                {"name": "Анна", "email": "anna@example.org", "countries": ["JP"]}]}},
            allow_unicode=True), "utf-8")
        args = ["--config", str(path), "--db", str(db_path), "digest", "--send"]
        first = CliRunner().invoke(cli, args)
        assert first.exit_code == 0, first.output
        assert first.output.strip() == "digest: sent 1 stories to Анна"
        second = CliRunner().invoke(cli, args)
        assert second.exit_code == 0 and "nothing new for Анна" in second.output
        assert len(inbox.to("anna@example.org")) == 1
        db = store.open_db(db_path)
        assert db.execute("SELECT count(*) FROM digest_deliveries").fetchone()[0] == 1
        assert db.execute("SELECT failures, last_error FROM digest_state").fetchone() == (0, None)
    finally:
        controller.stop()


class RefusesRecipients(Inbox):
    """Answers 550 to every RCPT TO, counting the attempts."""

    def __init__(self):
        super().__init__()
        self.rcpts: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append(address)
        return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address


def test_a_permanent_550_is_not_retried_and_shows_in_the_status(polled, tmp_path):
    inbox = RefusesRecipients()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        db_path = tmp_path / "m.db"
        copy_db(polled, db_path)
        path = tmp_path / "feeds.yaml"

        def write(email_address):
            path.write_text(yaml.safe_dump({
                "smtp": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
                "digest": {"sender": "monitor@example.org", "send_at": "08:00",
                           "timezone": "Europe/Moscow", "subscribers": [
                               {"name": "Анна", "email": email_address, "countries": ["JP"]}]}},
                allow_unicode=True), "utf-8")
            return load_config(path)

        cfg, db = write("gone@example.org"), store.open_db(db_path)
        moscow = dt.timezone(dt.timedelta(hours=3))
        today = dt.datetime.now(moscow).date()
        morning = dt.datetime.combine(today, dt.time(9, 0), moscow)
        lines = []
        [first] = digest.send_due(db, cfg, lines.append, now=morning)
        assert first.status == "refused" and inbox.rcpts == ["gone@example.org"]
        assert "550 5.1.1" in lines[0] and "permanently" in lines[0]
        # hours later, far past any backoff of a temporary failure: no new attempt
        for hours in (1, 3, 14):
            [later] = digest.send_due(db, cfg, lines.append, now=morning + dt.timedelta(hours=hours))
            assert later.status == "blocked"
        assert inbox.rcpts == ["gone@example.org"] and len(lines) == 1
        assert db.execute("SELECT count(*) FROM digest_items").fetchone()[0] == 0  # nothing lost
        status = CliRunner().invoke(cli, ["--config", str(path), "--db", str(db_path), "digest"])
        assert status.exit_code == 0
        assert "refused permanently" in status.output and "550 5.1.1" in status.output
        assert "not retried until" in status.output

        # the next day, it is tried again (with every item still pending)
        tomorrow = morning + dt.timedelta(days=1)
        [again] = digest.send_due(db, cfg, lines.append, now=tomorrow)
        assert again.status == "refused" and len(inbox.rcpts) == 2
        # a corrected address is tried at once
        cfg = write("anna@example.org")
        [fixed] = digest.send_due(db, cfg, lines.append, now=tomorrow + dt.timedelta(hours=1))
        assert fixed.status == "refused" and inbox.rcpts[-1] == "anna@example.org"
        assert len(inbox.rcpts) == 3
    finally:
        controller.stop()


@pytest.mark.parametrize("follows, filed", [((), "energy"), (("water",), "water"),
                                            (("waste", "water"), "waste")])
def test_a_story_is_filed_under_the_sector_its_subscriber_follows(follows, filed):
    """A story tagged energy, waste and water: a subscriber of water reads it under water,
    one who follows no sector under its first sector, energy."""
    item = {"id": 1, "story_id": 1, "cooperation_score": 0.9, "story_outlets": ["ТАСС"],
            "sectors": [{"id": "energy"}, {"id": "waste"}, {"id": "water"}]}
    [story] = digest.stories([item], list(follows))
    assert story.sector == filed
