"""Feed content rendered safely as HTML: entities highlighted via spaCy's displacy, and
links only to http(s) addresses.

The web UI's item page and the digest use this. displacy escapes the text itself, so feed
content can never inject markup; the stored text and entity offsets are used (not the
spaCy Doc's text, which does not keep line breaks). Every template and renderer turns a
feed's URL into a link through `safe_href`, so `javascript:` and the like never become one.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import urlsplit

from spacy import displacy

COLORS = {"PER": "#f4c27a", "LOC": "#9fd3f4", "ORG": "#b9e4a3"}
LABELS_RU = {"PER": "ПЕРС", "LOC": "МЕСТО", "ORG": "ОРГ"}


def entities_html(text: str, entities: Iterable, *, russian_labels: bool = True) -> str:
    """`text` with each entity (objects or dicts with type/start/stop) marked up."""
    ents = []
    for entity in entities:
        get = entity.get if isinstance(entity, dict) else lambda k: getattr(entity, k)
        if get("in_title"):
            continue
        label = get("type")
        ents.append({"start": get("start"), "end": get("stop"),
                     "label": LABELS_RU.get(label, label) if russian_labels else label})
    ents.sort(key=lambda e: (e["start"], -e["end"]))
    kept, last_end = [], -1
    for ent in ents:  # displacy cannot draw overlapping spans
        if ent["start"] >= last_end:
            kept.append(ent)
            last_end = ent["end"]
    colors = {(LABELS_RU[k] if russian_labels else k): v for k, v in COLORS.items()}
    return displacy.render({"text": text, "ents": kept, "title": None}, style="ent",
                           manual=True, options={"colors": colors}, page=False)


# What a browser ignores when it reads a URL (WHATWG URL standard): leading and trailing C0
# controls and spaces, and ASCII tabs and newlines anywhere ("java\tscript:" is javascript:).
_URL_EDGES = "".join(map(chr, range(0x21)))
_URL_IGNORED = re.compile(r"[\t\n\r]")


def safe_href(url: object) -> str | None:
    """`url` as a link target if it is an absolute http(s) URL with a host, else None.

    Checked as a browser would read it (edges and tabs/newlines dropped, scheme in any
    case), and the cleaned form is returned, so the link goes exactly where was checked.
    Anything else (javascript:, data:, vbscript:, entity-encoded tricks such as
    "javascript&#58;", relative or host-less URLs) is shown as text, never as a link.
    """
    if not isinstance(url, str):
        return None
    cleaned = _URL_IGNORED.sub("", url.strip(_URL_EDGES))
    try:
        parts = urlsplit(cleaned)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        return None  # other control characters: no legitimate feed URL has them
    return cleaned
