"""Article pages for feeds marked `fulltext: true`: fetch the page, extract the main text.

Article URLs come from the feed, not from the operator, so they are untrusted: private,
loopback and link-local addresses are refused unless the feed is marked `local`.
"""

from __future__ import annotations

from typing import NamedTuple

import httpx

from .fetcher import FetchLimits, fetch
from .text import clean_article


class Page(NamedTuple):
    """What fetching one article page gave: its clean text, or the error and whether
    asking again later may help (not for a link that can never be fetched)."""

    text: str | None
    error: str | None = None
    retry: bool = True


def extract_main_text(html: bytes) -> str | None:
    """The article body of an HTML page (trafilatura), without menus and footers."""
    import trafilatura

    text = trafilatura.extract(html, include_comments=False, include_tables=False,
                               favor_precision=True, deduplicate=True)
    return text or None


def fetch_fulltext(client: httpx.Client, url: str, title: str, *, limits: FetchLimits,
                   allow_private: bool) -> Page:
    """The clean text of one article page, or why there is none."""
    result = fetch(client, url, limits=limits, allow_private=allow_private)
    if not result.ok:
        # a bad or blocked link, or a page the server says is gone, stays so
        return Page(None, result.error or f"HTTP {result.status}",
                    retry=not (result.bad_link or result.gone))
    content_type = result.headers.get("content-type", "")
    if content_type and "html" not in content_type and "xml" not in content_type:
        return Page(None, f"not an HTML page ({content_type})", retry=False)
    try:
        text = extract_main_text(result.body)
    except Exception as exc:  # lxml on hostile markup
        return Page(None, f"cannot extract text: {type(exc).__name__}: {exc}")
    if not text:
        return Page(None, "no article text found on the page")
    return Page(clean_article(title, text)[1])
