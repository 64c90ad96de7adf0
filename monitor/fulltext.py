"""Article pages for feeds marked `fulltext: true`: fetch the page, extract the main text.

Article URLs come from the feed, not from the operator, so they are untrusted: private,
loopback and link-local addresses are refused unless the feed is marked `local`.
"""

from __future__ import annotations

import httpx

from .fetcher import FetchLimits, fetch
from .text import clean_article


def extract_main_text(html: bytes) -> str | None:
    """The article body of an HTML page (trafilatura), without menus and footers."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False,
                               favor_precision=True, deduplicate=True)
    return text or None


def fetch_fulltext(client: httpx.Client, url: str, title: str, *, limits: FetchLimits,
                   allow_private: bool) -> tuple[str | None, str | None]:
    """(clean text, None) or (None, error) for one article page."""
    result = fetch(client, url, limits=limits, allow_private=allow_private)
    if not result.ok:
        return None, result.error or f"HTTP {result.status}"
    content_type = result.headers.get("content-type", "")
    if content_type and "html" not in content_type and "xml" not in content_type:
        return None, f"not an HTML page ({content_type})"
    try:
        text = extract_main_text(result.body)
    except Exception as exc:  # lxml on hostile markup
        return None, f"cannot extract text: {type(exc).__name__}: {exc}"
    if not text:
        return None, "no article text found on the page"
    return clean_article(title, text)[1], None
