"""Entities highlighted in an article's text as HTML, via spaCy's displacy.

The web UI's item page and the digest use this. displacy escapes the text itself, so feed
content can never inject markup; the stored text and entity offsets are used (not the
spaCy Doc's text, which does not keep line breaks).
"""

from __future__ import annotations

from typing import Iterable

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
