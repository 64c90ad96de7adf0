"""Build `models/data/sectors.jsonl`, the sector classifier's labelled news items.

How the data is made (recorded in the model card too): the team wrote, by hand, headlines
and sentences for each sector of `models/sectors.yaml` in the registers of Russian news —
wire agency, ministry press release, regional outlet, business paper — in
`sectors/<id>.txt` (a line `a,b| sentence` carries sectors a and b; otherwise the file's
sector), plus sector-neutral protocol sentences (`_frame.txt`) and items about diplomacy
with no sector (`_none.txt`). This script assembles items of one, two or three sectors
(and none) from them, with varied length, order, datelines and sources.

Every written line belongs to exactly one of six folds (a stable hash of its text), and an
item only combines lines of one fold: cross-validation by fold (0-4) never sees a test
sentence in training, and fold 5 is the held-out split, never used for training or tuning.

    .venv/bin/python models/data/src/build_sectors.py
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "sectors.jsonl"
FOLDS = 6
HELDOUT_FOLD = 5
SEED = 20261125

DATELINES = {
    "wire": ["МОСКВА, {d} — РИА Новости.", "ВЛАДИВОСТОК, {d}. /ТАСС/.", "{d}, Интерфакс.",
             "ПЕКИН, {d} — РИА Новости.", "КАЗАНЬ, {d}. /ТАСС/."],
    "ministry": ["Пресс-служба министерства информирует.", "Официально.",
                 "Новости ведомства."],
    "regional": ["", "Новости региона.", "Как сообщает пресс-служба администрации,"],
    "business": ["", "Сделка.", "Компании и рынки."],
}
DATES = ["12 марта", "3 апреля", "18 мая", "27 июня", "9 июля", "14 августа",
         "2 сентября", "21 октября", "5 ноября", "16 декабря"]


@dataclass
class Line:
    text: str
    sectors: tuple[str, ...]
    fold: int


def fold_of(text: str) -> int:
    return zlib.crc32(text.encode("utf-8")) % FOLDS


def read_pool(path: Path, sector: str | None) -> tuple[list[Line], list[Line]]:
    """(headlines, sentences) of one file."""
    headlines, sentences = [], []
    for raw in path.read_text(encoding="utf-8").splitlines():
        raw = raw.strip()
        if not raw or raw.startswith("#"):
            continue
        labels: tuple[str, ...] = (sector,) if sector else ()
        if raw.startswith("T:"):
            text = raw[2:].strip()
            headlines.append(Line(text, labels, fold_of(text)))
            continue
        if "|" in raw:
            head, _, raw = raw.partition("|")
            labels = tuple(s.strip() for s in head.split(","))
            raw = raw.strip()
        sentences.append(Line(raw, labels, fold_of(raw)))
    return headlines, sentences


def title_from(sentence: str) -> str:
    """A headline made from a sentence, as feeds without titles do: its first clause."""
    clause = sentence.split(", ")[0].rstrip(".")
    return clause if len(clause) > 30 else sentence.rstrip(".")


def build() -> list[dict]:
    rng = random.Random(SEED)
    sectors = sorted(p.stem for p in (HERE / "sectors").glob("*.txt") if not p.stem.startswith("_"))
    pools = {s: read_pool(HERE / "sectors" / f"{s}.txt", s) for s in sectors}
    _, frame = read_pool(HERE / "sectors" / "_frame.txt", None)
    none_titles, none_sentences = read_pool(HERE / "sectors" / "_none.txt", None)
    _, lists = read_pool(HERE / "sectors" / "_lists.txt", None)
    items: list[dict] = []
    for fold in range(FOLDS):
        def pick(lines: list[Line], k: int) -> list[Line]:
            mine = [line for line in lines if line.fold == fold]
            return rng.sample(mine, min(k, len(mine)))

        plans: list[tuple[str, ...]] = []
        for sector in sectors:
            plans += [(sector,)] * 6
        for _ in range(100):
            plans.append(tuple(rng.sample(sectors, 2)))
        for _ in range(30):
            plans.append(tuple(rng.sample(sectors, 3)))
        plans += [()] * 16
        for plan in plans:
            body: list[Line] = []
            per_sector = {1: (2, 4), 2: (1, 3), 3: (1, 2)}.get(len(plan), (0, 0))
            for sector in plan:
                body += pick(pools[sector][1], rng.randint(*per_sector))
            if len(plan) > 1 and rng.random() < 0.4:  # a sentence naming several areas
                body += pick([line for line in lists if set(line.sectors) & set(plan)], 1)
            if not plan:
                body += pick(none_sentences, rng.randint(2, 4))
            if not body:
                continue
            rng.shuffle(body)
            extra = pick(frame, rng.choice((0, 1, 1, 2)))
            for line in extra:
                body.insert(rng.choice((0, len(body))), line)
            main = plan[0] if plan else None
            headlines = pick(pools[main][0] if main else none_titles, 1)
            leads = [line for line in body if line.sectors] or body
            title = headlines[0].text if headlines else title_from(leads[0].text)
            labels = sorted({s for line in body + headlines for s in line.sectors})
            style = rng.choice(list(DATELINES))
            dateline = rng.choice(DATELINES[style]).format(d=rng.choice(DATES))
            text = " ".join(line.text for line in body)
            if rng.random() < 0.3 and len(body) > 2:  # some outlets split paragraphs
                cut = rng.randint(1, len(body) - 1)
                text = (" ".join(line.text for line in body[:cut]) + "\n"
                        + " ".join(line.text for line in body[cut:]))
            items.append({
                "id": f"sec-{len(items) + 1:04d}",
                "title": title,
                "text": (dateline + " " + text).strip(),
                "sectors": labels,
                "style": style,
                "fold": fold,
                "split": "heldout" if fold == HELDOUT_FOLD else "train",
            })
    # The same combination of lines may come out twice within a fold: keep one.
    seen, unique = set(), []
    for item in items:
        key = (item["title"], item["text"].split(" ", 3)[-1])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def main() -> None:
    items = build()
    with OUT.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    from collections import Counter
    counts = Counter(s for item in items for s in item["sectors"])
    split = Counter(item["split"] for item in items)
    print(f"{len(items)} items ({dict(split)}), "
          f"{sum(1 for i in items if not i['sectors'])} with no sector, "
          f"{sum(1 for i in items if len(i['sectors']) > 1)} with several; per sector: "
          + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
