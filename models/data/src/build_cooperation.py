"""Write ../cooperation.jsonl (or the path given) from the hand-written items in this folder.

    python models/data/src/build_cooperation.py
"""

import json
import random
import sys
from pathlib import Path

from coop_long import LONG_NEGATIVE, LONG_POSITIVE
from coop_negative import NEGATIVE
from coop_positive import POSITIVE

rows = []
for number, (style, title, text, countries) in enumerate(POSITIVE, 1):
    rows.append({"id": f"coop-p{number:03d}", "style": style, "title": title, "text": text,
                 "is_cooperation": True, "countries": sorted(countries)})
for number, (style, title, text, kind) in enumerate(NEGATIVE, 1):
    rows.append({"id": f"coop-n{number:03d}", "style": style, "title": title, "text": text,
                 "is_cooperation": False, "negative_kind": kind})
# whole articles (see coop_long.py), kept after the short items so their ids stay
for number, (style, title, text, countries) in enumerate(LONG_POSITIVE, 1):
    rows.append({"id": f"coop-lp{number:03d}", "style": style, "title": title, "text": text,
                 "is_cooperation": True, "countries": sorted(countries)})
for number, (style, title, text, kind) in enumerate(LONG_NEGATIVE, 1):
    rows.append({"id": f"coop-ln{number:03d}", "style": style, "title": title, "text": text,
                 "is_cooperation": False, "negative_kind": kind})
random.Random(2026).shuffle(rows)
out = Path(sys.argv[1]) if len(sys.argv) > 1 else \
    Path(__file__).resolve().parent.parent / "cooperation.jsonl"
with out.open("w", encoding="utf-8") as f:
    for row in rows:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
positives = len(POSITIVE) + len(LONG_POSITIVE)
print(f"{out}: {len(rows)} items, {positives} cooperation, {len(rows) - positives} not")
