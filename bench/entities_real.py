"""Entities on real annotated news: `monitor analyze`'s entities beside plain Natasha, and
country linking on NEREL.

NER: token precision/recall/F1 per type (PER, LOC, ORG) of exactly the name entities
`monitor analyze` outputs, beside plain Natasha (Segmenter + NewsNERTagger) on the same
texts in the same run (`evaluate.eval_ner`), on each factRuEval-2016 folder given (dev,
test) and on a NEREL folder (brat, outermost spans; `evaluate.load_nerel`).

Country linking (NEREL): every gold COUNTRY mention, nested ones included («России» in
«Президент России», «российско-» in a compound), is *linked* when an entity of the output
overlapping it carries a country code, and *right* when one of those codes is its code.
NEREL has no codes: `--codes` gives them, a JSON object mapping a mention's text as written
("Соединённых Штатах") to its ISO code, or "DOC:START" keys for a mention whose text is
ambiguous (Конго); a mention without a code is listed and counts as unlinked. Name forms
and adjective forms («американских», «Литовская», «российско-») are counted apart and
together.

    .venv/bin/python bench/entities_real.py --factru ../shared/data/factrueval-2016/devset \
        --factru factRuEval-2016/testset --nerel NEREL/NEREL-v1.0/test --codes codes.json
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from monitor.analysis import analyse
from monitor.evaluate import eval_ner, load_nerel, read_brat

ADJECTIVE = re.compile(r"((ск|цк)(ий|ая|ое|ие|ого|ой|ому|ую|их|им|ими|ом|ые|ых|ым)|-)$")


def form(mention: str) -> str:
    """"adjective" for «американских», «Литовская», «российско-», else "name"."""
    one_word = " " not in mention.strip()
    if mention[:1].islower() or (one_word and ADJECTIVE.search(mention.strip())):
        return "adjective"
    return "name"


def country_linking(directory: Path, codes: dict[str, str]) -> dict:
    """Linked and right shares of NEREL's gold COUNTRY mentions, by form."""
    counts = {f: {"mentions": 0, "linked": 0, "right": 0, "wrong": 0}
              for f in ("name", "adjective", "all")}
    unlinked, wrong, missing_code = [], [], []
    for doc in load_nerel(directory):
        path = directory / f"{doc.id}.ann"
        entities = analyse("", doc.text).entities
        for start, stop, kind, _ in read_brat(path):
            if kind != "COUNTRY":
                continue
            mention = doc.text[start:stop]
            gold = codes.get(f"{doc.id}:{start}") or codes.get(mention)
            if gold is None:
                missing_code.append(f"{doc.id}:{start} {mention}")
            found = {e.country for e in entities
                     if e.country and not e.in_title and e.start < stop and start < e.stop}
            for key in (form(mention), "all"):
                c = counts[key]
                c["mentions"] += 1
                c["linked"] += bool(found)
                c["right"] += gold in found
                c["wrong"] += bool(found) and gold not in found
            if not found:
                unlinked.append(f"{doc.id}:{start} {mention}")
            elif gold not in found:
                wrong.append(f"{doc.id}:{start} {mention} -> {sorted(found)} (gold {gold})")
    for c in counts.values():
        n = c["mentions"] or 1
        c.update(linked_share=round(c["linked"] / n, 4), right_share=round(c["right"] / n, 4),
                 wrong_share=round(c["wrong"] / n, 4))
    return {"documents": len(load_nerel(directory)), "forms": counts, "unlinked": unlinked,
            "wrong": wrong, "missing_code": missing_code}


def print_ner(name: str, result: dict) -> None:
    print(f"\n{name}: {result['documents']} documents, token F1 (P / R)")
    print(f"{'type':5} {'monitor':>24} {'plain Natasha':>24}  difference")
    for label in ("PER", "LOC", "ORG"):
        ours, theirs = result["monitor"][label], result["natasha"][label]
        cell = lambda s: f"{s['f1']:.4f} ({s['precision']:.3f} / {s['recall']:.3f})"  # noqa: E731
        print(f"{label:5} {cell(ours):>24} {cell(theirs):>24}  {ours['f1'] - theirs['f1']:+.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factru", type=Path, action="append", default=[],
                        help="a factRuEval-2016 folder (repeatable: dev, test)")
    parser.add_argument("--nerel", type=Path, default=None, help="a NEREL brat folder")
    parser.add_argument("--codes", type=Path, default=None,
                        help="JSON: NEREL country mention (or DOC:START) -> ISO code")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    figures: dict = {}
    for directory in args.factru:
        started = time.monotonic()
        figures[f"factru:{directory}"] = result = eval_ner(directory)
        print_ner(f"factRuEval-2016 {directory}", result)
        print(f"  ({time.monotonic() - started:.0f} s)")
    if args.nerel:
        figures["nerel"] = result = eval_ner(args.nerel, fmt="nerel")
        print_ner(f"NEREL {args.nerel}", result)
        codes = json.loads(args.codes.read_text(encoding="utf-8")) if args.codes else {}
        figures["country_linking"] = linking = country_linking(args.nerel, codes)
        print(f"\nNEREL country mentions ({linking['documents']} documents): "
              "linked / right code / wrong code")
        for key, c in linking["forms"].items():
            print(f"  {key:9} {c['mentions']:4} mentions: {c['linked_share']:.3f} / "
                  f"{c['right_share']:.3f} / {c['wrong_share']:.3f}")
        for name in ("unlinked", "wrong", "missing_code"):
            if linking[name]:
                print(f"  {name}: " + "; ".join(linking[name]))
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), "utf-8")


if __name__ == "__main__":
    main()
