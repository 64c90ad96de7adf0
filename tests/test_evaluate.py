"""Evaluation and training commands, run on small slices of real data."""

import json

import pytest
from click.testing import CliRunner

from conftest import ROOT, SHARED
from monitor.cli import cli

FACTRU = SHARED / "data" / "factrueval-2016" / "devset"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def factru():
    if not FACTRU.exists():
        pytest.skip(f"{FACTRU} not found (../shared is absent)")
    return FACTRU


def test_factru_loader_reads_gold_spans(factru):
    from monitor.evaluate import load_factru

    [doc] = load_factru(factru, limit=1)
    assert doc.spans and all(0 <= a < b <= len(doc.text) for a, b, _ in doc.spans)
    assert {label for _, _, label in doc.spans} <= {"PER", "LOC", "ORG"}


@pytest.mark.slow
def test_eval_ner_no_type_below_natasha(factru):
    result = invoke("eval", "ner", factru, "--limit", "15", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["documents"] == 15
    for label in ("PER", "LOC", "ORG"):
        assert data["monitor"][label]["f1"] >= data["natasha"][label]["f1"]
        assert data["monitor"][label]["f1"] > 0.5  # a real score, not an empty run


def test_eval_normal_beats_natasha():
    result = invoke("eval", "normal", "--format", "json")
    data = json.loads(result.stdout)
    categories = data["categories"]
    assert categories["all"]["monitor"] > categories["all"]["natasha"]
    for name in ("hyphenated", "org_country_merge", "plural_only_indeclinable",
                 "plural_surname"):
        assert categories[name]["monitor"] > categories[name]["natasha"], name


def test_eval_cooperation_on_a_slice(tmp_path):
    rows = [json.loads(line) for line in
            (ROOT / "models/data/cooperation.jsonl").read_text(encoding="utf-8").splitlines()]
    sample = [r for r in rows if r["is_cooperation"]][:10] + \
        [r for r in rows if not r["is_cooperation"]][:10]
    path = tmp_path / "slice.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in sample), "utf-8")
    data = json.loads(invoke("eval", "cooperation", path, "--format", "json").stdout)
    assert data["monitor"]["items"] == 20 and data["monitor"]["positives"] == 10
    assert data["monitor"]["f1"] >= 0.8
    assert data["monitor"]["precision"] > data["keyword_alert"]["precision"]
    assert data["items_with_countries"] == 10


def test_shipped_cooperation_model_on_the_held_out_articles():
    """Articles no model was trained or tuned on: the shipped model keeps the issue's bar
    (precision and recall >= 0.8) and beats the keyword alert."""
    data = json.loads(invoke("eval", "cooperation", ROOT / "models/data/cooperation_heldout.jsonl",
                             "--format", "json").stdout)
    assert data["monitor"]["items"] == 20
    assert data["monitor"]["precision"] >= 0.8 and data["monitor"]["recall"] >= 0.8
    assert data["monitor"]["f1"] > data["keyword_alert"]["f1"]


@pytest.mark.slow
def test_eval_cooperation_on_the_factru_stream(factru):
    labels = ROOT / "models/data/factrueval_dev_cooperation.jsonl"
    data = json.loads(invoke("eval", "cooperation", labels, "--factru", factru,
                             "--format", "json").stdout)
    assert data["monitor"]["items"] == 122
    assert data["monitor"]["precision"] > data["keyword_alert"]["precision"]
    assert data["monitor"]["f1"] > data["keyword_alert"]["f1"]


def test_labelled_sets_are_well_formed():
    rows = [json.loads(line) for line in
            (ROOT / "models/data/cooperation.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 200
    negatives = [r for r in rows if not r["is_cooperation"]]
    assert len(negatives) * 2 >= len(rows)  # at least half are hard negatives
    assert {r["style"] for r in rows} == {"wire", "ministry", "regional", "business"}
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(isinstance(r["countries"], list) for r in rows if r["is_cooperation"])
    labels = [json.loads(line) for line in (ROOT / "models/data/factrueval_dev_cooperation"
                                            ".jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(set(r) <= {"id", "is_cooperation", "countries"} for r in labels)  # no texts


@pytest.mark.slow
def test_train_cooperation_writes_a_model_that_loads(tmp_path, monkeypatch):
    rows = [json.loads(line) for line in
            (ROOT / "models/data/cooperation.jsonl").read_text(encoding="utf-8").splitlines()]
    sample = [r for r in rows if r["is_cooperation"]][:25] + \
        [r for r in rows if not r["is_cooperation"]][:25]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in sample), "utf-8")
    result = invoke("train", "cooperation", "--data", data, "--out", tmp_path / "models",
                    "--seed", "3")
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "models" / "cooperation.json").read_text("utf-8"))
    assert card["trained_on"]["written"] == {"items": 50, "cooperation": 25}
    assert 0 < card["threshold"] < 1 and card["cross_validation"]["written"]["f1"] > 0.7
    # the same seed gives the same model
    invoke("train", "cooperation", "--data", data, "--out", tmp_path / "again", "--seed", "3")
    again = json.loads((tmp_path / "again" / "cooperation.json").read_text("utf-8"))
    assert again["weights"] == card["weights"]
    # and the detector loads it
    from monitor import cooperation

    monkeypatch.setenv("MONITOR_MODELS", str(tmp_path / "models"))
    cooperation.load_model.cache_clear()
    try:
        assert cooperation.load_model().version == card["version"]
    finally:
        monkeypatch.delenv("MONITOR_MODELS")
        cooperation.load_model.cache_clear()


def test_written_cooperation_sets_are_built_from_their_source(tmp_path):
    """models/data/cooperation*.jsonl are what models/data/src/build_cooperation.py writes,
    so an item edited in the source, or added to a JSONL only, cannot drift apart; and no
    held-out item is in the training set."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "build_cooperation.py", str(tmp_path)], check=True,
                   cwd=ROOT / "models" / "data" / "src", capture_output=True)
    texts = {}
    for name in ("cooperation.jsonl", "cooperation_heldout.jsonl"):
        shipped = (ROOT / "models" / "data" / name).read_text(encoding="utf-8")
        assert (tmp_path / name).read_text(encoding="utf-8") == shipped
        rows = [json.loads(line) for line in shipped.splitlines()]
        assert len({row["id"] for row in rows}) == len(rows)
        texts[name] = {row["text"] for row in rows}
    assert len(texts["cooperation.jsonl"]) >= 200
    assert not texts["cooperation.jsonl"] & texts["cooperation_heldout.jsonl"]
