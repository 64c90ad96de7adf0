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


# --- factRuEval and NEREL ------------------------------------------------------------------

@dataclass
class FactRuDoc:
    """A gold-annotated document (factRuEval-2016 or NEREL)."""

    id: str
    text: str
    spans: list[tuple[int, int, str]]  # gold (start, stop, type), scored as naeval does


def _number(path: Path) -> int:
    return int(re.sub(r"\D", "", path.stem) or 0)


def load_factru(directory: Path, limit: int | None = None) -> list[FactRuDoc]:
    """factRuEval-2016 documents with gold PER/LOC/ORG spans. As in naeval: a Person counts
    with all its spans, an Org with its org_name spans only, a Location or LocOrg with its
    loc_name spans only. A document is a `.txt` with its `.spans` beside it, so the official
    dev and test folders are read as they are (the test folder's `list.txt` is no
    document)."""
    directory = Path(directory)
    books = sorted((p for p in directory.glob("*.txt") if p.with_suffix(".spans").exists()),
                   key=_number)
    if not books:
        raise FileNotFoundError(f"{directory}: no factRuEval documents (book_N.txt with "
                                f"book_N.spans and book_N.objects)")
    docs = []
    for book in books[:limit] if limit else books:
        objects = book.with_suffix(".objects")
        if not objects.exists():
            raise FileNotFoundError(f"{objects}: missing (every factRuEval document has "
                                    f".txt, .spans and .objects)")
        text = book.read_text(encoding="utf-8")
        raw_spans = {}
        for line in book.with_suffix(".spans").read_text(encoding="utf-8").splitlines():
            parts = line.split("#")[0].split()
            if len(parts) >= 4:
                raw_spans[parts[0]] = (parts[1], int(parts[2]), int(parts[3]))
        gold = []
        for line in objects.read_text(encoding="utf-8").splitlines():
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


# NEREL's entity types that are PER, LOC or ORG (the others: dates, professions, events...)
# (the files spell STATE_OR_PROVINCE; its brat configuration abbreviates it STATE_OR_PROV)
NEREL_TYPES = {"PERSON": "PER", "COUNTRY": "LOC", "CITY": "LOC", "STATE_OR_PROV": "LOC",
               "STATE_OR_PROVINCE": "LOC", "LOCATION": "LOC", "DISTRICT": "LOC",
               "ORGANIZATION": "ORG"}


def read_brat(path: Path) -> list[tuple[int, int, str, str]]:
    """The text-bound annotations of a brat `.ann` file: (start, stop, type, text); a
    discontinuous span counts from its first start to its last stop. Relations, events and
    notes are skipped."""
    spans = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("T"):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{path}:{number}: not a brat text-bound annotation: {line!r}")
        kind, _, offsets = fields[1].partition(" ")
        try:
            pairs = [tuple(map(int, piece.split())) for piece in offsets.split(";")]
            start, stop = pairs[0][0], pairs[-1][1]
        except (ValueError, IndexError):
            raise ValueError(f"{path}:{number}: bad offsets {offsets!r}") from None
        spans.append((start, stop, kind, fields[2] if len(fields) > 2 else ""))
    return spans


def outermost(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Spans not inside a longer one ("Министерство обороны США" keeps the ORG, not США)."""
    ordered = sorted(set(spans), key=lambda s: (s[0], -s[1]))
    result, reach = [], -1
    for start, stop, label in ordered:
        if stop <= reach:
            continue  # nested in (or equal to) an earlier span
        result.append((start, stop, label))
        reach = max(reach, stop)
    return result


def load_nerel(directory: Path, limit: int | None = None) -> list[FactRuDoc]:
    """NEREL documents (brat: `N.txt` with `N.ann`) with gold PER/LOC/ORG: PERSON -> PER;
    COUNTRY, CITY, STATE_OR_PROV, LOCATION, DISTRICT -> LOC; ORGANIZATION -> ORG; nested
    entities scored by their outermost span only."""
    directory = Path(directory)
    texts = sorted((p for p in directory.glob("*.txt") if p.with_suffix(".ann").exists()),
                   key=lambda p: (_number(p), p.name))
    if not texts:
        raise FileNotFoundError(f"{directory}: no NEREL documents (N.txt with N.ann)")
    docs = []
    for path in texts[:limit] if limit else texts:
        text = path.read_text(encoding="utf-8")
        spans = [(a, b, NEREL_TYPES[k]) for a, b, k, _ in read_brat(path.with_suffix(".ann"))
                 if k in NEREL_TYPES]
        bad = [(a, b) for a, b, _ in spans if not 0 <= a < b <= len(text)]
        if bad:
            raise ValueError(f"{path.with_suffix('.ann')}: offsets outside the text: {bad[:3]}")
        docs.append(FactRuDoc(id=path.stem, text=text, spans=outermost(spans)))
    return docs


LOADERS = {"factru": load_factru, "nerel": load_nerel}


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
    """The name entities `monitor analyze` outputs for the text (offsets into it): the NER
    spans and the country names it adds. Country adjectives ("kind": "adjective") are
    linked mentions, not names, and neither corpus counts them as PER/LOC/ORG."""
    from .analysis import analyse

    return [(e.start, e.stop, e.type) for e in analyse("", text).entities
            if e.kind != "adjective" and not e.in_title]


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
             on_doc: Callable[[], None] | None = None, fmt: str = "factru") -> dict:
    """PER/LOC/ORG token scores of monitor and plain Natasha on a factRuEval-2016 folder
    (`fmt="factru"`) or a NEREL brat folder (`fmt="nerel"`)."""
    docs = LOADERS[fmt](directory, limit)
    return {
        "documents": len(docs),
        "format": fmt,
        "monitor": {k: v.as_dict() for k, v in score_tokens(docs, predict_monitor, on_doc).items()},
        "natasha": {k: v.as_dict() for k, v in score_tokens(docs, predict_natasha, on_doc).items()},
    }


# --- normal forms --------------------------------------------------------------------------

def load_jsonl(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file; ValueError naming the file and the line for
    a line that is not UTF-8, not JSON or not an object."""
    rows = []
    for number, raw in enumerate(Path(path).read_bytes().splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}:{number}: not UTF-8 (byte {raw[exc.start]:#04x} at "
                             f"column {exc.start + 1})") from None
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: invalid JSON: {exc.msg}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: not a JSON object")
            rows.append(row)
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
        if entity.kind == "adjective":
            continue
        if entity.start <= start < entity.stop or start <= entity.start < stop:
            return entity.party or entity.normal  # an ORG with its country: its party
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


@dataclass
class GoldItem:
    """A labelled item as `cooperation_report` reads it."""

    source: str
    subset: str | None
    label: bool
    countries: list[str] | None
    scope: str | None
    keyword: bool
    evidence: str | None = None


def labelled_posts(labels: Path, texts: Path | None = None) -> list[dict]:
    """Rows of a labels file in the format of tg-news' `labels.jsonl` (`id`,
    `cooperation` yes/no/unsure, `countries`, `scope`, `subset`...) with their texts: from
    the file itself (`title`, `text`) or, by `id`, from `texts` (JSON lines with `id`,
    `text`, optional `title`). A label whose text is missing is an error naming it."""
    rows = load_jsonl(labels)
    if texts is not None:
        by_id = {row["id"]: row for row in load_jsonl(texts)}
        missing = [row.get("id") for row in rows if row.get("id") not in by_id]
        if missing:
            raise ValueError(f"{texts}: no text for {len(missing)} labelled ids, "
                             f"e.g. {missing[:3]}")
        rows = [dict(row, title=by_id[row["id"]].get("title", ""),
                     text=by_id[row["id"]]["text"]) for row in rows]
    for number, row in enumerate(rows, 1):
        if "text" not in row:
            raise ValueError(f"{labels}:{number}: no text (give the texts with --texts)")
    return rows


def in_training_data(rows: list[dict]) -> int:
    """How many of `rows` have a text the shipped cooperation model was trained on (the
    checkout's models/data; 0 where it is not installed), so that figures on them are
    not mistaken for out-of-fold ones."""
    from .modelfiles import MissingModelError, training_data_dir

    try:
        base = training_data_dir()
    except MissingModelError:
        return 0
    texts = {row["text"] for row in load_jsonl(base / "tg-news" / "posts.jsonl")}
    texts |= {row["text"] for row in load_jsonl(base / "cooperation.jsonl")}
    return sum(row.get("text") in texts for row in rows)


def gold_label(row: dict) -> bool | None:
    """A row's label: `is_cooperation`, or `cooperation` yes/no (None: unsure or none)."""
    if "is_cooperation" in row:
        return bool(row["is_cooperation"])
    return {"yes": True, "no": False}.get(row.get("cooperation"))


def eval_cooperation(rows: list[dict], on_item: Callable[[], None] | None = None) -> dict:
    """Score labelled items with the installed model through `analyse`, exactly as stored
    items are tagged, beside the keyword alert. Rows: `title`, `text` and either
    `is_cooperation` or `cooperation` yes/no/unsure (unsure items are not scored), optional
    `countries`, `scope`, `subset`. Figures per subset (see `cooperation_report`)."""
    from .analysis import analyse

    gold, predictions, errors = [], [], []
    for row in rows:
        label = gold_label(row)
        if label is None:
            if on_item:
                on_item()
            continue
        result = analyse(row.get("title", ""), row.get("text", ""))
        coop = result.doc._.cooperation  # countries and scope even when not flagged
        countries = sorted(row["countries"]) if label and row.get("countries") is not None \
            else None
        gold.append(GoldItem("all", row.get("subset"), label, countries,
                             row.get("scope") if label else None,
                             keyword_alert(row.get("title", ""), row.get("text", "")),
                             row.get("evidence") if label else None))
        predictions.append(coop)
        if label != coop.is_cooperation or (countries is not None
                                            and countries != coop.countries):
            errors.append({"id": row.get("id"), "expected": label, "score": coop.score,
                           "expected_countries": countries, "countries": coop.countries,
                           "text": (row.get("title") or row.get("text", ""))[:100]})
        if on_item:
            on_item()
    table = cooperation_report(gold, predictions)
    return {"figures": table, "errors": errors}


_WORDS = re.compile(r"\w+")


def same_sentence(gold: str, found: str | None) -> bool:
    """Is `found` the labelled evidence sentence? Word Jaccard >= 0.5 (markup, quotes and a
    clause more or less do not matter)."""
    from .markup import clean

    a = set(_WORDS.findall(clean(gold).text.lower()))
    b = set(_WORDS.findall((found or "").lower()))
    return bool(a) and len(a & b) / len(a | b) >= 0.5


def cooperation_report(docs: list, predictions: list) -> dict:
    """Figures per data set and subset, beside the keyword alert: precision, recall, F1;
    over the true cooperation items, exact country sets, scope and the evidence sentence.
    `exact_countries` and `scope` judge the model's output whether or not it flagged the
    item; the `_flagged` figures count a missed item as wrong (what a user sees);
    `scope_majority` is what always answering the commonest scope scores. `docs` carry
    `source`, `subset`, `label`, `countries`, `scope`, `keyword`, `evidence`;
    `predictions` carry `is_cooperation`, `countries`, `scope`, `evidence`."""
    import numpy as np

    from .metrics import prf

    def subset_key(d) -> list[str]:
        keys = [d.source]
        if d.subset:
            keys.append(f"{d.source}/{d.subset}")
        return keys

    table: dict[str, dict] = {}
    names = sorted({k for d in docs for k in subset_key(d)})
    for name in names:
        members = [i for i, d in enumerate(docs) if name in subset_key(d)]
        y = np.array([docs[i].label for i in members])
        pred = np.array([predictions[i].is_cooperation for i in members])
        keyword = np.array([docs[i].keyword for i in members])
        entry = {"items": len(members), "cooperation": int(y.sum()),
                 "monitor": prf(y, pred), "keyword_alert": prf(y, keyword)}
        gold = [i for i in members if docs[i].label and docs[i].countries is not None]
        if gold:
            exact = [predictions[i].countries == docs[i].countries for i in gold]
            entry["exact_countries"] = round(float(np.mean(exact)), 4)
            entry["exact_countries_flagged"] = round(float(np.mean(
                [e and predictions[i].is_cooperation for e, i in zip(exact, gold)])), 4)
            scoped = [i for i in gold if docs[i].scope]
            if scoped:
                right = [predictions[i].scope == docs[i].scope for i in scoped]
                entry["scope"] = round(float(np.mean(right)), 4)
                entry["scope_flagged"] = round(float(np.mean(
                    [r and predictions[i].is_cooperation for r, i in zip(right, scoped)])), 4)
                commonest = Counter(docs[i].scope for i in scoped).most_common(1)[0][1]
                entry["scope_majority"] = round(commonest / len(scoped), 4)
        with_evidence = [i for i in members if docs[i].label and docs[i].evidence]
        if with_evidence:
            entry["evidence"] = round(float(np.mean([same_sentence(
                docs[i].evidence, predictions[i].evidence) for i in with_evidence])), 4)
        table[name] = entry
    return table



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
    on labelled rows (`title`, `text`, `sectors`; a row with `is_cooperation` true or
    `cooperation` "yes" is a cooperation item, as the detector would say at run time)."""
    import numpy as np

    from .sectors import load_model, sector_lemmas
    from .analysis import prepare
    from .metrics import sector_metrics

    model = load_model()
    if not rows:
        raise ValueError("no labelled rows to score")
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("sectors"), list):
            raise ValueError(f"item {number}: no `sectors` list")
        unknown = sorted(set(row["sectors"]) - set(model.sectors))
        if unknown:  # a typo would count as a sector no model can find
            raise ValueError(f"item {number}: unknown sector {unknown[0]!r}; valid sectors: "
                             + ", ".join(model.sectors))
    prepared = [prepare(r.get("title", ""), r.get("text", "")) for r in rows]  # as analysed
    probs = model.scores([sector_lemmas(p.title, p.text) for p in prepared])
    y = np.array([[s in r["sectors"] for s in model.sectors] for r in rows], dtype=int)
    cooperation = [bool(gold_label(r)) for r in rows]  # they keep their likeliest sector
    result = sector_metrics(model.sectors, y, model.decide(probs, cooperation))
    result["model_version"] = model.version
    return result
