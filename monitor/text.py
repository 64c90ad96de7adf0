"""Plain text out of feed HTML, and the clean-ups every article gets before analysis."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
    "tr", "table", "section", "article", "header", "footer", "figure", "figcaption", "hr",
    "pre", "dd", "dt",
}
_SKIP = {"script", "style", "noscript", "template", "iframe", "svg", "head"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b\u2009\u202f]+")
# Control characters, lone surrogates and non-characters: never text, and XML (an Atom
# export), e-mail and terminals choke on them. Tabs, line ends, \f and \v are spaces above.
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def html_to_text(markup: str | None) -> str:
    """Visible text of an HTML fragment: one paragraph per line, entities decoded."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return normalize_whitespace(markup)
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
        raw = "".join(parser.parts)
    except Exception:  # malformed beyond what HTMLParser tolerates: strip tags crudely
        raw = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return normalize_whitespace(raw)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces inside lines, drop empty lines, keep paragraph breaks; drop
    control characters."""
    text = CONTROL.sub("", text.replace("\r\n", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _paragraph_key(paragraph: str) -> str:
    return re.sub(r"\W+", " ", paragraph.casefold()).strip()


def dedupe_paragraphs(text: str) -> str:
    """Drop paragraphs that repeat an earlier one (feeds often paste a block twice)."""
    seen: set[str] = set()
    kept = []
    for paragraph in text.split("\n"):
        key = _paragraph_key(paragraph)
        if not key:
            continue
        if key in seen:
            continue
        seen.add(key)
        kept.append(paragraph)
    return "\n".join(kept)


def clean_article(title: str, text: str) -> tuple[str, str]:
    """The title and body as stored: whitespace normalised, repeated paragraphs once,
    and a body that merely repeats the title dropped."""
    title = normalize_whitespace(title).replace("\n", " ")
    text = dedupe_paragraphs(normalize_whitespace(text))
    paragraphs = text.split("\n") if text else []
    if paragraphs and _paragraph_key(paragraphs[0]) == _paragraph_key(title):
        paragraphs = paragraphs[1:]
    return title, "\n".join(paragraphs)


# Query parameters that only track the reader, never select the article.
_TRACKING = re.compile(
    r"^(utm_\w+|yclid|ysclid|gclid|dclid|fbclid|msclkid|mc_cid|mc_eid|_openstat|igshid|"
    r"from|ref|rss|_ga|_gl|at_medium|at_campaign|cmpid|smid)$",
    re.IGNORECASE,
)


def canonical_url(url: str | None) -> str | None:
    """The article URL without tracking parameters, fragment or default port.

    Host and scheme are lower-cased and the remaining parameters sorted, so two feeds that
    link the same article with different tracking tails yield one URL. An IPv6 host keeps
    its brackets. A link that is not a usable http(s) URL (another scheme, no host, a bad
    port, unbalanced brackets) is returned as given, stripped: it still identifies the item,
    and fetching it fails with a reason on that item alone.
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is no number or out of range
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _TRACKING.match(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))
