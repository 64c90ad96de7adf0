import pytest

from monitor.analysis import analyse
from monitor.highlight import entities_html, safe_href


def test_entities_are_marked_and_feed_html_is_escaped():
    text = "Россия и <script>alert(1)</script> Япония подписали соглашение в Токио."
    html = entities_html(text, analyse("", text).entities)
    assert html.count("<mark") == 3  # Россия, Япония, Токио
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "МЕСТО" in html


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
    "java\nscript:alert(1)", "\x00javascript:alert(1)", "\x01 javascript:alert(1)",
    "javascript&#58;alert(1)", "&#106;avascript:alert(1)", "javascript&colon;alert(1)",
    "data:text/html,<script>alert(1)</script>", "DATA:text/html;base64,PHNjcmlwdD4=",
    "vbscript:msgbox(1)", "VBScript:msgbox(1)", "file:///etc/passwd", "ftp://x.ru/",
    "//evil.example/", "/item/1", "http:javascript:alert(1)", "https:///path",
    "http://[::1", "", "   ", None, 42])
def test_safe_href_refuses_all_but_http_links(url):
    assert safe_href(url) is None


@pytest.mark.parametrize("url, href", [
    ("https://x.ru/a?b=1&c=2", "https://x.ru/a?b=1&c=2"),
    ("HTTP://X.RU/", "HTTP://X.RU/"),
    ("  https://x.ru/\n", "https://x.ru/"),
    ("ht\ttps://x.ru/", "https://x.ru/"),  # what the browser would open, checked
    ("http://127.0.0.1:8001/item/1", "http://127.0.0.1:8001/item/1")])
def test_safe_href_keeps_http_links_as_the_browser_reads_them(url, href):
    assert safe_href(url) == href
