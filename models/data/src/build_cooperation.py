"""Write ../cooperation.jsonl (training) and ../cooperation_heldout.jsonl (never trained or
tuned on) from the hand-written items in this folder, or both into the folder given.

    python models/data/src/build_cooperation.py
"""

import json
import random
import sys
from pathlib import Path

from coop_heldout import HELDOUT_NEGATIVE, HELDOUT_POSITIVE
from coop_long import LONG_NEGATIVE, LONG_POSITIVE
from coop_negative import NEGATIVE
from coop_positive import POSITIVE


def rows(prefix: str, positive: list, negative: list) -> list[dict]:
    """Labelled rows with ids `coop-{prefix}p001`..., `coop-{prefix}n001`..."""
    result = []
    for number, (style, title, text, countries) in enumerate(positive, 1):
        result.append({"id": f"coop-{prefix}p{number:03d}", "style": style, "title": title,
                       "text": text, "is_cooperation": True, "countries": sorted(countries)})
    for number, (style, title, text, kind) in enumerate(negative, 1):
        result.append({"id": f"coop-{prefix}n{number:03d}", "style": style, "title": title,
                       "text": text, "is_cooperation": False, "negative_kind": kind})
    return result


def write(path: Path, items: list[dict]) -> None:
    random.Random(2026).shuffle(items)
    with path.open("w", encoding="utf-8") as f:
        for row in items:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    positives = sum(row["is_cooperation"] for row in items)
    print(f"{path}: {len(items)} items, {positives} cooperation, {len(items) - positives} not")


folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
# short items, then whole articles (see coop_long.py), so earlier ids stay
write(folder / "cooperation.jsonl",
      rows("", POSITIVE, NEGATIVE) + rows("l", LONG_POSITIVE, LONG_NEGATIVE))
write(folder / "cooperation_heldout.jsonl", rows("h", HELDOUT_POSITIVE, HELDOUT_NEGATIVE))
