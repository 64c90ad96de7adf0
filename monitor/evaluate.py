"""Evaluation: entities on factRuEval-2016, normal forms, cooperation on labelled sets.

Every evaluation runs monitor beside plain Natasha (or the keyword alert) on the same data
in the same run, so the comparison is never stale.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

TYPES = ("PER", "LOC", "ORG")


# --- factRuEval ------------------------------------------------------------------------

@dataclass
class FactRuDoc:
    id: str
    text: str
    spans: list[tuple[int, int, str]]  # gold (start, stop, type), scored as naeval does


def load_factru(directory: Path, limit: int | None = None) -> list[FactRuDoc]:
    """factRuEval-2016 documents with gold PER/LOC/ORG spans. As in naeval: a Person counts
    with all its spans, an Org with its org_name spans only, a Location or LocOrg with its
    loc_name spans only."""
    directory = Path(directory)
    books = sorted(directory.glob("*.txt"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if not books:
        raise FileNotFoundError(f"{directory}: no factRuEval book_N.txt files")
    docs = []
    for book in books[:limit] if limit else books:
        text = book.read_text(encoding="utf-8")
        raw_spans = {}
        for line in book.with_suffix(".spans").read_text(encoding="utf-8").splitlines():
            parts = line.split("#")[0].split()
            if len(parts) >= 4:
                raw_spans[parts[0]] = (parts[1], int(parts[2]), int(parts[3]))
        gold = []
        for line in book.with_suffix(".objects").read_text(encoding="utf-8").splitlines():
            parts = line.split("#")[0].split()
            if len(parts) < 3:
                continue
            kind, span_ids = parts[1], parts[2:]
            wanted = {"Person": (None, "PER"), "Org": ("org_name", "ORG"),
                      "Location": ("loc_name", "LOC"), "LocOrg": ("loc_name", "LOC")}.get(kind)
            if wanted is None:
                continue
            span_type, label = wanted
            for span_id in span_ids:
                if span_id not in raw_spans:
                    continue
                stype, start, length = raw_spans[span_id]
                if span_type is None or stype == span_type:
                    gold.append((start, start + length, label))
        docs.append(FactRuDoc(id=book.stem, text=text, spans=gold))
    return docs


def _token_tags(text: str, spans: Iterable[tuple[int, int, str]]) -> list[set[str]]:
    from razdel import tokenize

    tokens = list(tokenize(text))
    tags = [set() for _ in tokens]
    spans = sorted(spans)
    for i, token in enumerate(tokens):
        for start, stop, label in spans:
            if start > token.start:
                break
            if start <= token.start and token.stop <= stop:
                tags[i].add(label)
    # spans that start inside a token (rare) still mark it
    for start, stop, label in spans:
        for i, token in enumerate(tokens):
            if token.start < stop and start < token.stop and start > token.start:
                tags[i].add(label)
    return tags


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "tp": self.tp, "fp": self.fp, "fn": self.fn}


def score_tokens(docs: list[FactRuDoc],
                 predict: Callable[[str], list[tuple[int, int, str]]],
                 on_doc: Callable[[], None] | None = None) -> dict[str, Score]:
    scores = {t: Score() for t in TYPES}
    for doc in docs:
        gold = _token_tags(doc.text, doc.spans)
        pred = _token_tags(doc.text, predict(doc.text))
        for g, p in zip(gold, pred):
            for label in TYPES:
                if label in g and label in p:
                    scores[label].tp += 1
                elif label in p:
                    scores[label].fp += 1
                elif label in g:
                    scores[label].fn += 1
        if on_doc:
            on_doc()
    return scores


def predict_monitor(text: str) -> list[tuple[int, int, str]]:
    """monitor's mentions; a merged "МИД России" is scored as its parts (ORG + LOC), the
    way factRuEval annotates it."""
    from .nlp import process, token_offsets

    doc = process("", text)
    shift = doc.user_data["text_start"]
    spans = []
    for ent in doc.ents:
        for start, end, label in ent._.parts or [(ent.start, ent.end, ent.label_)]:
            a, b = token_offsets(doc, start, end)
            spans.append((a - shift, b - shift, label))
    return spans


def predict_natasha(text: str) -> list[tuple[int, int, str]]:
    """Plain Natasha: Doc.segment + tag_ner, as its README shows."""
    from natasha import Doc

    from .nlp import natasha_models

    models = natasha_models()
    doc = Doc(text)
    doc.segment(models.segmenter)
    doc.tag_ner(models.ner_tagger)
    return [(span.start, span.stop, span.type) for span in doc.spans]


def eval_ner(directory: Path, limit: int | None = None,
             on_doc: Callable[[], None] | None = None) -> dict:
    docs = load_factru(directory, limit)
    return {
        "documents": len(docs),
        "monitor": {k: v.as_dict() for k, v in score_tokens(docs, predict_monitor, on_doc).items()},
        "natasha": {k: v.as_dict() for k, v in score_tokens(docs, predict_natasha, on_doc).items()},
    }


# --- normal forms --------------------------------------------------------------------------

def load_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
    return rows


def natasha_normal(text: str, start: int, stop: int) -> str | None:
    """Plain Natasha's normal form (segment, morph, syntax, NER, normalize) of the span
    starting at `start`, or None when its NER did not find it."""
    from natasha import Doc

    from .nlp import natasha_models

    models = natasha_models()
    doc = Doc(text)
    doc.segment(models.segmenter)
    doc.tag_morph(models.morph_tagger)
    doc.parse_syntax(models.syntax_parser)
    doc.tag_ner(models.ner_tagger)
    vocab = _morph_vocab()
    for span in doc.spans:
        if span.start <= start < span.stop or start <= span.start < stop:
            span.normalize(vocab)
            return span.normal
    return None


_vocab = None


def _morph_vocab():
    global _vocab
    if _vocab is None:
        from natasha import MorphVocab

        _vocab = MorphVocab()
    return _vocab


def monitor_normal(text: str, start: int, stop: int) -> str | None:
    from .entities import doc_entities
    from .nlp import process

    for entity in doc_entities(process("", text)):
        if entity.start <= start < entity.stop or start <= entity.start < stop:
            return entity.normal
    return None


def eval_normal(path: Path) -> dict:
    """Exact-match accuracy of normal forms per category, monitor beside plain Natasha.
    Each case: {"category", "text", "mention", "normal"}; the mention is found in the text."""
    cases = load_jsonl(path)
    by_category: dict[str, Counter] = {}
    failures = []
    for case in cases:
        start = case["text"].index(case["mention"])
        stop = start + len(case["mention"])
        ours = monitor_normal(case["text"], start, stop)
        theirs = natasha_normal(case["text"], start, stop)
        counter = by_category.setdefault(case["category"], Counter())
        counter["cases"] += 1
        counter["monitor"] += ours == case["normal"]
        counter["natasha"] += theirs == case["normal"]
        if ours != case["normal"]:
            failures.append({"text": case["mention"], "expected": case["normal"], "got": ours})
    table = {name: {"cases": c["cases"], "monitor": round(c["monitor"] / c["cases"], 3),
                    "natasha": round(c["natasha"] / c["cases"], 3)}
             for name, c in sorted(by_category.items())}
    total = sum(c["cases"] for c in by_category.values())
    table["all"] = {"cases": total,
                    "monitor": round(sum(c["monitor"] for c in by_category.values()) / total, 3),
                    "natasha": round(sum(c["natasha"] for c in by_category.values()) / total, 3)}
    return {"categories": table, "monitor_failures": failures}


# --- cooperation ---------------------------------------------------------------------------

KEYWORD_ALERT = re.compile(r"сотруднич|соглашени|меморандум|партн[её]р|совместн", re.I)


def keyword_alert(title: str, text: str) -> bool:
    """The baseline analysts use today: flag anything with a cooperation keyword."""
    return bool(KEYWORD_ALERT.search(f"{title}\n{text}"))


def _binary(pairs: list[tuple[bool, bool]]) -> dict:
    tp = sum(1 for gold, pred in pairs if gold and pred)
    fp = sum(1 for gold, pred in pairs if not gold and pred)
    fn = sum(1 for gold, pred in pairs if gold and not pred)
    score = Score(tp, fp, fn)
    return {"precision": round(score.precision, 4), "recall": round(score.recall, 4),
            "f1": round(score.f1, 4), "flagged": tp + fp, "positives": tp + fn,
            "items": len(pairs)}


def eval_cooperation(rows: list[dict], on_item: Callable[[], None] | None = None) -> dict:
    """Score labelled items {"id", "title", "text", "is_cooperation", "countries"?}:
    precision/recall/F1 of monitor and of the keyword alert, and, over the true positives
    that carry gold countries, how often monitor's country set is exactly right."""
    from .analysis import analyse

    ours, alert, exact, with_countries, errors = [], [], 0, 0, []
    for row in rows:
        result = analyse(row.get("title", ""), row.get("text", ""))
        gold = bool(row["is_cooperation"])
        ours.append((gold, bool(result.is_cooperation)))
        alert.append((gold, keyword_alert(row.get("title", ""), row.get("text", ""))))
        if gold and row.get("countries") is not None:
            with_countries += 1
            if sorted(row["countries"]) == result.countries:
                exact += 1
            else:
                errors.append({"id": row.get("id"), "expected": sorted(row["countries"]),
                               "got": result.countries})
        if gold != bool(result.is_cooperation):
            errors.append({"id": row.get("id"), "expected_cooperation": gold,
                           "score": result.cooperation_score,
                           "title": row.get("title", "")[:100]})
        if on_item:
            on_item()
    return {
        "monitor": _binary(ours),
        "keyword_alert": _binary(alert),
        "exact_countries": round(exact / with_countries, 4) if with_countries else None,
        "items_with_countries": with_countries,
        "errors": errors,
    }


def factru_cooperation_rows(directory: Path, labels_path: Path) -> list[dict]:
    """factRuEval texts joined with our cooperation labels (ids and labels only are ours)."""
    labels = {row["id"]: row for row in load_jsonl(labels_path)}
    rows = []
    for doc in load_factru(directory):
        if doc.id in labels:
            label = labels[doc.id]
            rows.append({"id": doc.id, "title": "", "text": doc.text,
                         "is_cooperation": label["is_cooperation"],
                         "countries": label.get("countries")})
    return rows


def evaluate_sectors(rows: list[dict]) -> dict:
    """Per-sector precision/recall/F1 and micro/macro averages of the installed sector model
    on labelled rows (`title`, `text`, `sectors`)."""
    import numpy as np

    from .sectors import load_model, sector_lemmas
    from .train import sector_metrics

    model = load_model()
    if model is None:
        raise ValueError("no sector model in models/ (run `monitor train sectors`)")
    if not rows:
        raise ValueError("no labelled rows to score")
    probs = model.scores([sector_lemmas(r.get("title", ""), r.get("text", "")) for r in rows])
    y = np.array([[s in r["sectors"] for s in model.sectors] for r in rows], dtype=int)
    result = sector_metrics(model.sectors, y, probs >= model.thresholds)
    result["model_version"] = model.version
    return result
