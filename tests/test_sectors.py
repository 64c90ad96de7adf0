"""The sector classifier: its data, the shipped model, explanations, and analysts' labels."""

import json
import shutil
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FLOOR_TEXT, ROOT
from feedserver import rss
from monitor import sectors, store
from monitor.cli import cli
from monitor.sectors import sector_lemmas

DATA = ROOT / "models" / "data" / "sectors.jsonl"
REQUIRED_SEED_SECTORS = {"water", "waste", "energy", "urban", "transport"}


def rows():
    return [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


def test_taxonomy_ids_are_the_shared_specs():
    shared = ROOT.parent / "shared" / "spec" / "sectors.yaml"
    if not shared.exists():
        pytest.skip("../shared is absent")
    import yaml

    assert [s["id"] for s in yaml.safe_load(shared.read_text(encoding="utf-8"))] \
        == sectors.sector_ids()


def test_training_data_has_enough_items_per_sector_and_a_heldout_split():
    data = rows()
    counts = Counter(s for row in data for s in row["sectors"])
    assert len(data) >= 1300
    assert set(counts) == set(sectors.sector_ids())
    assert min(counts.values()) >= 80
    assert sum(1 for row in data if not row["sectors"]) >= 50  # items with no sector
    assert sum(1 for row in data if len(row["sectors"]) > 1) >= 300
    heldout = [row for row in data if row["split"] == "heldout"]
    assert 150 <= len(heldout) < len(data) / 4
    assert {row["fold"] for row in heldout} == {5}


def test_real_posts_train_the_sectors_with_their_news_sectors():
    """The real posts' sector labels are well formed, never repeat a cooperation post, and
    near copies of one story share a fold, so the real-news figure stays out of fold."""
    from monitor.lemmas import lemmatize
    from monitor.train import REAL_SECTOR_WEIGHT, REAL_TOPIC_WEIGHT, real_sector_rows

    tg = ROOT / "models" / "data" / "tg-news"
    labels = [json.loads(line) for line in
              (tg / "sector_labels.jsonl").read_text(encoding="utf-8").splitlines()]
    posts = {json.loads(line)["id"] for line in
             (tg / "posts.jsonl").read_text(encoding="utf-8").splitlines()}
    assert len({r["id"] for r in labels}) == len(labels) >= 3000
    assert {r["id"] for r in labels} <= posts
    assert all(set(r["sectors"]) <= set(sectors.sector_ids()) and len(r["sectors"]) <= 3
               for r in labels)
    assert sum(1 for r in labels if not r["sectors"]) > len(labels) / 5  # news of no sector
    rows = real_sector_rows(tg)
    by_source = Counter(r["source"] for r in rows)
    checks = sum(1 for r in labels if r.get("check"))
    assert by_source["real"] >= 190
    assert by_source["real_topic"] == len(labels) - checks
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["weight"] for r in rows if r["source"] == "real"} == {REAL_SECTOR_WEIGHT}
    assert {r["weight"] for r in rows if r["source"] == "real_topic"} == {REAL_TOPIC_WEIGHT}
    from monitor.train import story_groups_of

    from monitor.analysis import prepare

    read = [prepare("", r["text"]) for r in rows]  # grouped as training groups its items
    groups = story_groups_of([lemmatize(f"{p.title}\n{p.text}") for p in read])
    fold_of = {}
    for row, group in zip(rows, groups.tolist()):
        assert fold_of.setdefault(group, row["fold"]) == row["fold"]
    assert len(set(groups.tolist())) < len(rows)  # there are near copies to keep together


def test_model_card_reports_every_sector():
    card = json.loads((ROOT / "models" / "sectors.json").read_text(encoding="utf-8"))
    assert card["version"] == sectors.model_version()
    for part in ("cross_validation", "heldout"):
        assert set(card[part]["per_sector"]) == set(sectors.sector_ids())
    assert card["cross_validation"]["macro_f1"] >= 0.85
    # the real cooperation posts are scored out of fold, also with nested thresholds
    assert card["data"]["real_cooperation_posts"] >= 190
    assert card["data"]["real_other_posts"] >= 3000
    assert card["real"]["nested"]["items"] == card["real"]["items"] \
        == card["data"]["real_cooperation_posts"]
    # the cooperation floor was chosen on them, and again inside each fold for `nested`
    assert card["params"]["cooperation_floor"] in card["params"]["cooperation_floors_tried"]
    assert len(card["real"]["nested"]["floors"]) == 5
    assert card["real"]["without_floor"]["items"] == card["real"]["items"]


def test_seed_article_gets_its_sectors_with_reasons(seed_article):
    tags = sectors.classify(*seed_article)
    ids = [t["id"] for t in tags]
    assert REQUIRED_SEED_SECTORS <= set(ids)
    # headline first («…в сфере водоочистки»), then the others by score
    assert ids[0] == "water"
    assert [t["score"] for t in tags[1:]] == sorted((t["score"] for t in tags[1:]), reverse=True)
    by_id = {t["id"]: t for t in tags}
    assert any("вод" in term for term in by_id["water"]["terms"])
    assert all(t["terms"] for t in tags)


@pytest.mark.parametrize("title, text, sector", [
    ("В Уфе откроется новая больница", "Клиника примет пациентов с онкологическими заболеваниями.",
     "health"),
    ("Университеты договорились об обмене студентами",
     "Вузы двух стран запустят программу двойных дипломов магистратуры.", "education"),
    ("Пограничники провели совместные учения",
     "Учения по охране государственной границы прошли на горном участке.", "defense"),
])
def test_plain_news_gets_the_obvious_sector(title, text, sector):
    assert sectors.classify(title, text)[0]["id"] == sector


def test_the_word_vectors_join_the_tfidf_scores():
    """A sector's raw score is its TF-IDF regression's plus its word-vector regression's
    over the text's lemmas (the headline's score gets the same share)."""
    import dataclasses

    model = sectors.load_model()
    assert model.vector_coef.shape == (300, len(model.sectors))
    assert np.abs(model.vector_coef).sum() > 0
    lemmas = [sector_lemmas("Норвегия передала Украине зенитные комплексы",
                            "Поставка включает ракеты и пусковые установки."),
              sector_lemmas("", "")]
    raw, lead, _ = model.raw(lemmas)
    plain = dataclasses.replace(model, vector_coef=None, vector_intercept=None)
    raw_tfidf, lead_tfidf, _ = plain.raw(lemmas)
    meaning = sectors.lemma_vectors(lemmas) @ model.vector_coef + model.vector_intercept
    assert raw == pytest.approx(raw_tfidf + meaning, abs=1e-5)
    assert lead[0] == pytest.approx(lead_tfidf[0] + meaning[0], abs=1e-5)
    assert not sectors.lemma_vectors(lemmas)[1].any()  # no words: no meaning, no NaN
    defense = model.sectors.index("defense")
    assert meaning[0][defense] > meaning[0].mean()


def test_the_floor_adds_only_a_cooperation_items_likeliest_sector():
    thresholds = np.array([0.5, 0.4, 0.3])
    probs = np.array([[0.10, 0.30, 0.05],   # best over threshold: 0.75, sector 1
                      [0.10, 0.30, 0.05],   # the same, not cooperation
                      [0.10, 0.12, 0.05],   # best 0.3 of its threshold: under the floor
                      [0.60, 0.30, 0.05],   # sector 0 passes: nothing added
                      [0.40, 0.35, 0.05]])  # sector 1 (0.875 of its threshold), not 0 (0.8)
    passed = sectors.with_floor(probs, thresholds, 0.5,
                                np.array([True, False, True, True, True]))
    assert passed.tolist() == [[False, True, False], [False, False, False],
                               [False, False, False], [True, False, False],
                               [False, True, False]]
    assert not sectors.with_floor(probs, thresholds, 1.0, np.ones(5, bool))[[0, 2, 4]].any()


def test_the_floor_is_saved_with_the_model(tmp_path, monkeypatch):
    import dataclasses

    card = json.loads((ROOT / "models" / "sectors.json").read_text(encoding="utf-8"))
    model = sectors.load_model()
    assert model.cooperation_floor == card["params"]["cooperation_floor"]
    shutil.copytree(ROOT / "models", tmp_path / "models")
    sectors.save_model(dataclasses.replace(model, cooperation_floor=0.7), tmp_path / "models",
                       card)
    monkeypatch.setenv("MONITOR_MODELS", str(tmp_path / "models"))
    sectors.load_model.cache_clear()
    try:
        assert sectors.load_model().cooperation_floor == 0.7
    finally:
        sectors.load_model.cache_clear()


def test_an_analyst_who_says_no_cooperation_drops_the_floors_sector(tmp_path):
    from monitor.analysis import analyse
    from monitor.config import FeedConfig

    db = store.open_db(tmp_path / "m.db")
    store.sync_feeds(db, [FeedConfig(name="Лента", url="https://news.example/rss")])
    [(item_id, _)] = store.add_items(db, store.feed_by_name(db, "Лента")["id"], [store.NewItem(
        key="https://news.example/1", url="https://news.example/1", guid=None, title="",
        text=FLOOR_TEXT, published=None)])
    analysis = analyse("", FLOOR_TEXT)
    assert [(t["id"], t.get("floor")) for t in analysis.sectors] == [("transport", True)]
    store.apply_labels(db, item_id, analysis)  # no label yet: the model's word stands
    assert [t["id"] for t in analysis.sectors] == ["transport"]
    store.add_labels(db, item_id, cooperation=False)
    store.apply_labels(db, item_id, analysis)
    assert analysis.sectors == [] and analysis.is_cooperation is False


@pytest.mark.parametrize("text, sector", [
    (FLOOR_TEXT, "transport"),
    ("Власти Приморья и японская компания договорились о поставках электробусов.",
     "transport"),
])
def test_a_cooperation_item_keeps_its_likeliest_sector(text, sector):
    """Under every threshold, the sector still counts for an item that reports cooperation
    (it is about something), not for other news."""
    model = sectors.load_model()
    assert 0.3 <= model.cooperation_floor < 1.0
    assert sectors.classify("", text) == []
    assert [t["id"] for t in sectors.classify("", text, cooperation=True)] == [sector]
    from monitor.analysis import analyse

    analysis = analyse("", text)
    assert analysis.is_cooperation and [s["id"] for s in analysis.sectors] == [sector]


def test_a_diplomatic_courtesy_has_no_sector():
    assert sectors.classify("Губернатор принял генерального консула",
                            "Стороны обсудили перспективы развития отношений.") == []


def test_fast_features_equal_scikit_learns():
    model = sectors.load_model()
    texts = [sector_lemmas(r["title"], r["text"]).replace("\n", " ") for r in rows()[:40]]
    doc_word, doc_char, *_ = model.matrices(texts)
    from sklearn.feature_extraction.text import TfidfVectorizer

    for features, matrix, options in (
            (model.word, doc_word, {"token_pattern": r"\S+"}),
            (model.char, doc_char, {"analyzer": "char_wb"})):
        reference = TfidfVectorizer(vocabulary=features.vocabulary_, sublinear_tf=True,
                                    lowercase=False, ngram_range=features.ngram_range, **options)
        reference.idf_ = features.idf_
        assert np.allclose(matrix.toarray(), reference.transform(texts).toarray(), atol=1e-5)


def test_model_file_with_unexpected_types_is_refused(tmp_path, monkeypatch):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    for name in ("sectors.yaml", "sectors.json"):
        shutil.copy(ROOT / "models" / name, tmp_path / name)
    sio.dump({"word": FunctionTransformer(func=json.loads)}, tmp_path / "sectors.skops")
    monkeypatch.setenv("MONITOR_MODELS", str(tmp_path))
    sectors.load_model.cache_clear()
    try:
        with pytest.raises(ValueError, match="refusing to load"):
            sectors.load_model()
    finally:
        monkeypatch.delenv("MONITOR_MODELS")
        sectors.load_model.cache_clear()


def test_analyze_output_carries_sectors():
    line = json.dumps({"id": "x", "title": "Россия и Египет построят опреснительную станцию",
                       "text": "Станция обеспечит пресной водой 200 тысяч жителей."},
                      ensure_ascii=False)
    result = CliRunner().invoke(cli, ["analyze", "-", "--workers", "1"], input=line + "\n")
    out = json.loads(result.stdout.splitlines()[0])
    assert out["sectors"][0]["id"] == "water"
    assert set(out["sectors"][0]) == {"id", "score", "terms"}
    assert "+sectors-" in out["model_version"]


def test_label_command_rejects_unknown_sectors_and_items(tmp_path):
    db = tmp_path / "m.db"
    store.open_db(db)
    result = CliRunner().invoke(cli, ["--db", str(db), "label", "1", "--sector", "wat"])
    assert result.exit_code != 0 and "unknown sector wat" in result.output
    result = CliRunner().invoke(cli, ["--db", str(db), "label", "1", "--sector", "water"])
    assert result.exit_code != 0 and "no item with id 1" in result.output
    result = CliRunner().invoke(cli, ["--db", str(db), "label", "1", "--sector", "water",
                                      "--sector", "energy", "--not-sector", "Water"])
    assert result.exit_code == 2 and "both name water" in result.output
    result = CliRunner().invoke(cli, ["--db", str(db), "label", "1", "--not-sector", "wat"])
    assert result.exit_code == 2 and "Invalid value for --not-sector: unknown sector wat" \
        in result.output
    # a Russian name is the sector too: the item, not the sector, is what is missing here
    result = CliRunner().invoke(cli, ["--db", str(db), "label", "1", "--sector", "Энергетика"])
    assert result.exit_code != 0 and "no item with id 1" in result.output


@pytest.mark.slow
def test_label_train_reprocess_changes_the_items_tags(tmp_path, feed_server, write_config,
                                                      monkeypatch):
    """An analyst says a story about a bridge is also about tourism: the label applies at
    once, the retrained model learns it, and reprocessing keeps it."""
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)
    monkeypatch.setenv("MONITOR_MODELS", str(models))
    sectors.load_model.cache_clear()
    url = feed_server.add("/f.xml", rss([{
        "title": "Мост через Амур откроют для грузовиков",
        "link": "https://news.example/bridge",
        "description": "Россия и Китай договорились открыть мост Благовещенск — Хэйхэ для "
                       "грузового движения, сообщили в Минтрансе."}]))
    config = write_config({"feeds": [{"name": "Лента", "url": url, "local": True}]})
    db_path = tmp_path / "m.db"
    run = lambda *args: CliRunner().invoke(cli, ["--config", str(config), "--db",  # noqa: E731
                                                 str(db_path), *args])
    try:
        assert run("poll").exit_code == 0
        db = store.open_db(db_path)
        item_id, version_before = db.execute("SELECT id, model_version FROM items").fetchone()
        before = {r[0] for r in db.execute("SELECT sector FROM item_sectors")}
        assert "transport" in before and "culture" not in before
        lemmas = sector_lemmas(*db.execute("SELECT title, text FROM items").fetchone())
        culture = sectors.sector_ids().index("culture")
        score_before = sectors.load_model().scores([lemmas])[0][culture]

        result = run("label", str(item_id), "--sector", "culture", "--not-sector", "trade")
        assert result.exit_code == 0, result.output
        assert "culture" in result.output
        result = run("train", "sectors")
        assert result.exit_code == 0, result.output
        assert "1 analysts' labels" in result.output
        assert sectors.model_version() != version_before.rsplit("sectors-", 1)[1]
        score_after = sectors.load_model().scores([lemmas])[0][culture]
        assert score_after > score_before  # the model itself learned from the label

        result = run("reprocess")
        assert result.exit_code == 0, result.output
        assert "Re-tagged 1 item" in result.output
        after = {r[0] for r in db.execute("SELECT sector FROM item_sectors")}
        assert "culture" in after and "trade" not in after and "transport" in after
        version = db.execute("SELECT model_version FROM items").fetchone()[0]
        assert version != version_before and sectors.model_version() in version
        assert "Re-tagged 0 items" in run("reprocess").output  # nothing left: resumable
    finally:
        sectors.load_model.cache_clear()
