"""Evaluation and training commands, run on small slices of real data."""

import json
import shutil

import pytest
from click.testing import CliRunner

from conftest import FLOOR_TEXT, ROOT, SHARED
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
    """`monitor analyze`'s entities against plain Natasha (Segmenter + NewsNERTagger) on
    the whole factRuEval-2016 dev set: not below it on any type."""
    result = invoke("eval", "ner", factru, "--output", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["documents"] == 122
    for label in ("PER", "LOC", "ORG"):
        assert data["monitor"][label]["f1"] >= data["natasha"][label]["f1"], label
        assert data["monitor"][label]["f1"] > 0.7  # a real score, not an empty run


def test_eval_ner_scores_what_analyze_outputs():
    from monitor.analysis import analyse
    from monitor.evaluate import predict_monitor

    text = "Глава МИД России Сергей Лавров прибыл в Анкару. Американские эксперты ждут."
    entities = analyse("", text).entities
    assert predict_monitor(text) == [(e.start, e.stop, e.type) for e in entities
                                     if e.kind != "adjective"]
    # the NER's spans, not a merged "МИД России": the country is a location of its own
    assert (text.index("России"), text.index("России") + 6, "LOC") in predict_monitor(text)
    assert (0, 5, "ORG") not in predict_monitor(text)  # "Глава" is no part of it


def _factru_doc(directory, number, text, spans, objects):
    (directory / f"book_{number}.txt").write_text(text, encoding="utf-8")
    (directory / f"book_{number}.spans").write_text("\n".join(spans) + "\n", encoding="utf-8")
    (directory / f"book_{number}.objects").write_text("\n".join(objects) + "\n",
                                                       encoding="utf-8")


def test_factru_test_folder_is_read_as_published(tmp_path):
    from monitor.evaluate import load_factru

    text = "Сергей Лавров прилетел в Токио."
    _factru_doc(tmp_path, 7, text,
                ["1 name 0 6 1 1 # Сергей", "2 surname 7 6 2 1 # Лавров",
                 "3 loc_name 25 5 5 1 # Токио"],
                ["10 Person 1 2 # Сергей Лавров", "11 Location 3 # Токио"])
    (tmp_path / "list.txt").write_text("book_7\n", encoding="utf-8")  # as in testset/
    (tmp_path / "book_7.tokens").write_text("", encoding="utf-8")
    [doc] = load_factru(tmp_path)
    assert doc.id == "book_7"
    assert sorted(doc.spans) == [(0, 6, "PER"), (7, 13, "PER"), (25, 30, "LOC")]
    result = invoke("eval", "ner", tmp_path, "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["documents"] == 1 and data["monitor"]["LOC"]["f1"] == 1.0


def test_factru_document_without_objects_is_a_clear_error(tmp_path):
    (tmp_path / "book_1.txt").write_text("Текст.", encoding="utf-8")
    (tmp_path / "book_1.spans").write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "ner", str(tmp_path)])
    assert result.exit_code != 0 and "book_1.objects: missing" in result.output
    (tmp_path / "book_1.spans").unlink()
    result = CliRunner().invoke(cli, ["eval", "ner", str(tmp_path)])
    assert result.exit_code != 0 and "no factRuEval documents" in result.output


NEREL = ROOT / "tests" / "data" / "nerel"


def test_nerel_loader_maps_types_and_keeps_outermost_spans():
    from monitor.evaluate import load_nerel

    docs = {d.id: d for d in load_nerel(NEREL)}
    assert sorted(docs) == ["101", "102", "103"]
    text = docs["101"].text
    got = [(text[a:b], label) for a, b, label in sorted(docs["101"].spans)]
    # "Министр иностранных дел России" is a PROFESSION (not scored): its России counts;
    # "МИД Японии" and "Министерства обороны США" are ORGs and hide their countries
    assert got == [("России", "LOC"), ("Сергей Лавров", "PER"), ("Москве", "LOC"),
                   ("МИД Японии", "ORG"), ("Министерства обороны США", "ORG")]
    assert ("Воронежской области", "LOC") in [
        (docs["102"].text[a:b], label) for a, b, label in docs["102"].spans]


def test_eval_ner_reads_nerel_folders():
    result = invoke("eval", "ner", NEREL, "--format", "nerel", "--output", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["documents"] == 3 and data["format"] == "nerel"
    assert data["monitor"]["PER"]["f1"] == 1.0
    assert data["monitor"]["LOC"]["f1"] > 0.8
    table = invoke("eval", "ner", NEREL, "--format", "nerel")
    assert "NEREL, 3 documents" in table.output


def test_a_bad_brat_line_is_a_clear_error(tmp_path):
    (tmp_path / "1.txt").write_text("Россия", encoding="utf-8")
    (tmp_path / "1.ann").write_text("T1\tCOUNTRY x y\tРоссия\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "ner", str(tmp_path), "--format", "nerel"])
    assert result.exit_code != 0 and "1.ann:1: bad offsets" in result.output
    (tmp_path / "1.ann").write_text("T1\tCOUNTRY 0 60\tРоссия\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "ner", str(tmp_path), "--format", "nerel"])
    assert result.exit_code != 0 and "offsets outside the text" in result.output


def test_eval_normal_beats_natasha():
    result = invoke("eval", "normal", "--format", "json")
    data = json.loads(result.stdout)
    categories = data["categories"]
    assert categories["all"]["monitor"] > categories["all"]["natasha"]
    for name in ("hyphenated", "org_country_merge", "plural_only_indeclinable",
                 "plural_surname"):
        assert categories[name]["monitor"] > categories[name]["natasha"], name


TG = ROOT / "tests" / "data" / "tg-news"


def test_eval_cooperation_reads_labels_with_texts_apart():
    """A user's own labelled news in the format of labels.jsonl, texts in another file:
    unsure items are not scored, figures per subset beside the keyword alert."""
    result = invoke("eval", "cooperation", TG / "labels.jsonl", "--texts", TG / "posts.jsonl",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)["figures"]
    assert figures["all"]["items"] == 18 and figures["all"]["cooperation"] == 8
    assert {"all/intl", "all/stream"} <= set(figures)
    assert figures["all/intl"]["items"] + figures["all/stream"]["items"] == 18
    # the figures are those of the items analysed one by one
    from monitor.analysis import analyse
    from monitor.evaluate import labelled_posts, keyword_alert

    rows = [r for r in labelled_posts(TG / "labels.jsonl", TG / "posts.jsonl")
            if r["cooperation"] != "unsure"]
    ours = [analyse("", r["text"]).doc._.cooperation for r in rows]
    tp = sum(r["cooperation"] == "yes" and c.is_cooperation for r, c in zip(rows, ours))
    assert figures["all"]["monitor"]["flagged"] == sum(c.is_cooperation for c in ours)
    assert figures["all"]["monitor"]["recall"] == round(tp / 8, 4)
    assert figures["all"]["keyword_alert"]["flagged"] == sum(
        keyword_alert("", r["text"]) for r in rows)
    exact = [c.countries == sorted(r["countries"]) for r, c in zip(rows, ours)
             if r["cooperation"] == "yes"]
    assert figures["all"]["exact_countries"] == round(sum(exact) / 8, 4)
    table = invoke("eval", "cooperation", TG / "labels.jsonl", "--texts", TG / "posts.jsonl")
    assert "keyword alert F1" in table.output and "intl" in table.output
    unsure = sum(r["cooperation"] == "unsure" for r in labelled_posts(TG / "labels.jsonl",
                                                                       TG / "posts.jsonl"))
    assert f"18 labelled items ({unsure} unsure left out)" in table.output
    # these real posts are a sample of the training data: the command says so
    assert f"{18 + unsure} items of this file are in the model's training data" in table.output


def test_eval_cooperation_names_a_label_without_text(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text((TG / "posts.jsonl").read_text("utf-8").split("\n", 1)[1], "utf-8")
    result = invoke("eval", "cooperation", TG / "labels.jsonl", "--texts", posts)
    assert result.exit_code != 0 and "no text for 1 labelled ids" in result.output


def test_shipped_cooperation_model_on_the_held_out_articles():
    """Written articles no model was trained or tuned on: the shipped model keeps the bar
    (precision and recall >= 0.8) and beats the keyword alert."""
    data = json.loads(invoke("eval", "cooperation", ROOT / "models/data/cooperation_heldout.jsonl",
                             "--format", "json").stdout)["figures"]["all"]
    assert data["items"] == 20
    assert data["monitor"]["precision"] >= 0.8 and data["monitor"]["recall"] >= 0.8
    assert data["monitor"]["f1"] > data["keyword_alert"]["f1"]


@pytest.mark.slow
def test_eval_cooperation_on_the_factru_stream(factru):
    labels = ROOT / "models/data/factrueval_dev_cooperation.jsonl"
    data = json.loads(invoke("eval", "cooperation", labels, "--factru", factru,
                             "--format", "json").stdout)["figures"]["all"]
    assert data["items"] == 122
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


def _real_rows(n_yes: int, n_no: int, skip_yes: int = 0, skip_no: int = 0) -> list[dict]:
    from monitor.evaluate import labelled_posts

    tg = ROOT / "models" / "data" / "tg-news"
    rows = labelled_posts(tg / "labels.jsonl", tg / "posts.jsonl")
    yes = [r for r in rows if r["cooperation"] == "yes"][skip_yes:skip_yes + n_yes]
    no = [r for r in rows if r["cooperation"] == "no"][skip_no:skip_no + n_no]
    return yes + no


@pytest.mark.slow
def test_the_learned_detector_learns_from_real_posts(tmp_path, monkeypatch):
    """Trained on 300 real posts, the model beats the keyword alert on 200 others it never
    saw (and no near copy of), and its evidence model finds their labelled evidence more
    often than the headline is it; the same seed gives the same model, and the detector
    loads and uses it."""
    from monitor import coop_model, train
    from monitor.analysis import analyse

    docs = train.read_labelled(_real_rows(50, 250), "tg-news")
    card = train.train_cooperation(docs, tmp_path / "a", seed=3, folds=3)
    assert card["trained_on"]["tg-news"] == {"items": 300, "cooperation": 50}
    figures = card["cross_validation"]["figures"]["tg-news"]
    assert figures["monitor"]["f1"] > figures["keyword_alert"]["f1"]
    again = train.train_cooperation(docs, tmp_path / "b", seed=3, evaluate=False)
    assert again["version"] == card["version"]
    # unseen: later posts, without near copies of any training post
    from monitor.analysis import prepare
    from monitor.lemmas import lemmatize

    candidates = _real_rows(30, 170, skip_yes=50, skip_no=250)
    read = [prepare("", r["text"]) for r in candidates]
    groups = train.story_groups_of([d.lemmas for d in docs]
                                   + [lemmatize(f"{p.title}\n{p.text}") for p in read])
    seen = set(groups[:len(docs)].tolist())
    unseen = [r for r, g in zip(candidates, groups[len(docs):].tolist()) if g not in seen]
    assert len(unseen) > 150
    for name in ("sectors.skops", "sectors.json", "sectors.yaml"):  # analyse needs them too
        shutil.copy(ROOT / "models" / name, tmp_path / "a" / name)
    monkeypatch.setenv("MONITOR_MODELS", str(tmp_path / "a"))
    coop_model.load_model.cache_clear()
    try:
        assert coop_model.load_model().version == card["version"]
        results = [analyse("", r["text"]) for r in unseen]
        ours = [(r["cooperation"] == "yes", a.is_cooperation) for r, a in zip(unseen, results)]
    finally:
        monkeypatch.delenv("MONITOR_MODELS")
        coop_model.load_model.cache_clear()
    from monitor.evaluate import keyword_alert

    def f1(pairs):
        tp = sum(g and p for g, p in pairs)
        return 2 * tp / (2 * tp + sum(g != p for g, p in pairs))

    alert = [(r["cooperation"] == "yes", keyword_alert("", r["text"])) for r in unseen]
    assert f1(ours) > f1(alert)
    # the evidence model finds the labelled sentence more often than taking the headline
    from monitor.evaluate import same_sentence

    true = [(r, a) for r, a in zip(unseen, results) if r["cooperation"] == "yes" and r["evidence"]]
    found = sum(same_sentence(r["evidence"], a.evidence) for r, a in true)
    headline = sum(same_sentence(r["evidence"], prepare("", r["text"]).title) for r, _ in true)
    assert len(true) >= 20 and found > headline


def test_folds_never_split_a_story():
    """Near copies of one story are one group, and no group is on both sides of a split,
    in the outer folds or in the folds inside a training part."""
    from types import SimpleNamespace

    from monitor import train

    import random

    words = ("страна регион завод порт газ нефть банк договор визит суд матч школа музей "
             "поезд мост выставка учёный вуз рынок цена налог флот армия").split()
    rng = random.Random(5)
    texts = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(60)]
    texts += [texts[i] + " сообщает агентство" for i in range(0, 60, 3)]  # near copies
    groups = train.story_groups_of(texts)
    assert all(groups[60 + k] == groups[3 * k] for k in range(20))
    docs = [SimpleNamespace(source="tg-news", label=i % 4 == 0) for i in range(len(texts))]
    for train_index, test_index in train._folds(docs, groups, 5, 13):
        assert not set(groups[train_index]) & set(groups[test_index])
        inner = [docs[i] for i in train_index]
        for a, b in train._folds(inner, groups[train_index], 4, 13):
            assert not set(groups[train_index][a]) & set(groups[train_index][b])


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


def test_eval_sectors_keeps_a_cooperation_items_likeliest_sector(tmp_path):
    """`monitor eval sectors` judges a cooperation item as `analyze` tags it."""
    row = {"title": "", "text": FLOOR_TEXT, "sectors": ["transport"]}
    recall = {}
    for cooperation in (False, True):
        path = tmp_path / f"{cooperation}.jsonl"
        path.write_text(json.dumps(dict(row, is_cooperation=cooperation), ensure_ascii=False)
                        + "\n", encoding="utf-8")
        result = CliRunner().invoke(cli, ["eval", "sectors", str(path), "--format", "json"])
        assert result.exit_code == 0, result.output
        recall[cooperation] = json.loads(result.output)["micro_recall"]
    assert recall == {False: 0.0, True: 1.0}


@pytest.mark.parametrize("content, expected", [
    (b'{"title": "a", "text": "b", "sectors": []}\n\xff\xfe\n',
     ":2: not UTF-8 (byte 0xff at column 1)"),
    (b'{"title": "a", "text": "b", "sectors": []}\n{oops\n', ":2: invalid JSON"),
    (b'[1, 2]\n', ":1: not a JSON object"),
    (b'{"title": "a", "text": "b", "sectors": ["water", "nope"]}\n',
     "item 1: unknown sector 'nope'; valid sectors: water, energy"),
])
def test_eval_sectors_reports_a_bad_file_without_a_traceback(tmp_path, content, expected):
    from click.testing import CliRunner

    from monitor.cli import cli

    path = tmp_path / "labels.jsonl"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["eval", "sectors", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # no crash
    assert expected in result.output


def test_eval_cooperation_on_new_texts_says_nothing_of_training(tmp_path):
    labels = tmp_path / "mine.jsonl"
    labels.write_text(json.dumps({"title": "", "text": "Казань и Ташкент подписали соглашение "
                                  "о побратимстве и культурном обмене.", "is_cooperation": True,
                                  "countries": ["RU", "UZ"]}, ensure_ascii=False) + "\n", "utf-8")
    result = invoke("eval", "cooperation", labels)
    assert result.exit_code == 0, result.output
    assert "1 labelled item (model" in result.output and "training data" not in result.output
