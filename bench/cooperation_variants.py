"""Detector variants the model card reports as tried, on real labelled news.

Same protocol as `bench/cooperation_real.py` for the detector's document score alone (5
outer folds grouped by story, Platt calibration and threshold from 4 inner folds of each
training part), scored on the 1,484 hand-labelled posts and their `stream` subset. The
baseline (no option) is the shipped document score (TF-IDF and the mean word vector at
`train.VECTOR_WEIGHT`) without the best sentence's share, which the shipped model may add
(`train.SENTENCE_WEIGHTS`; `bench/cooperation_real.py` measures that). Variants:
- `--vector-weight W`: the document's unit mean word vector (`coop_features.document_vector`,
  Natasha's news embedding) beside the TF-IDF features at weight W (0 = TF-IDF alone);
- `--drop SOURCE`: leave a source out of every training part (e.g. `tg-news-extra`, the
  helper-labelled posts); it is still never scored;
- `--stack`: the document's score and the evidence model's best sentence combined by a
  free logistic regression on both out-of-fold scores (the shipped model instead picks the
  sentence's weight among a few by the inner folds, under a floor for the other sources).

    .venv/bin/python bench/cooperation_variants.py --vector-weight 0 --factru ../shared/data/factrueval-2016/devset
    .venv/bin/python bench/cooperation_variants.py --drop tg-news-extra --factru ../shared/data/factrueval-2016/devset
    .venv/bin/python bench/cooperation_variants.py --stack --factru ../shared/data/factrueval-2016/devset
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from monitor import train
from monitor.metrics import prf
from monitor.modelfiles import training_data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vector-weight", type=float, default=train.VECTOR_WEIGHT)
    parser.add_argument("--drop", default="", help="comma-separated sources left out of training")
    parser.add_argument("--stack", action="store_true",
                        help="combine the document's score with the best sentence's")
    parser.add_argument("--seeds", default="13,1")
    parser.add_argument("--factru", type=Path, default=None,
                        help="also train on the factRuEval dev stream (texts from this folder)")
    args = parser.parse_args()
    started = time.monotonic()
    docs = train.read_sources(train.cooperation_sources(training_data_dir(), args.factru))
    print(f"{len(docs)} items analysed in {time.monotonic() - started:.0f} s")
    groups = train.story_groups(docs)
    y = np.array([d.label for d in docs])
    flat = [[g for grams in d.grams for g in grams] for d in docs]
    weights = np.array([d.weight for d in docs])
    real = np.array([d.source in train.REAL for d in docs])
    keep = np.array([d.source not in args.drop.split(",") for d in docs])
    dense = (sparse.csr_matrix(np.array([d.vector for d in docs]) * args.vector_weight)
             if args.vector_weight else None)

    def matrix(vectorizer, index, fit=False):
        texts = [flat[i] for i in index]
        x = vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts)
        return sparse.hstack([x, dense[index]]).tocsr() if dense is not None else x

    def fit(index):
        vectorizer = TfidfVectorizer(analyzer=lambda g: g, min_df=train.MIN_DF,
                                     sublinear_tf=True)
        x = matrix(vectorizer, index, fit=True)
        model = LogisticRegression(C=train.DETECTOR_C, class_weight="balanced",
                                   max_iter=5000).fit(x, y[index], sample_weight=weights[index])
        if not args.stack:
            return lambda other: model.decision_function(matrix(vectorizer, other)).reshape(-1, 1)
        sentences = train._fit_sentence([docs[i] for i in index], 13)
        return lambda other: np.column_stack([
            model.decision_function(matrix(vectorizer, other)),
            [max((sentences.raw(g, v)
                  for g, v in zip(docs[i].grams, docs[i].sentence_vectors, strict=True)),
                 default=sentences.intercept) for i in other]])

    hand = np.array([d.source == "tg-news" for d in docs])
    stream = hand & np.array([d.subset == "stream" for d in docs])
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        flagged = np.zeros(len(docs), bool)
        for train_index, test_index in train._folds(docs, groups, 5, seed):
            train_index = train_index[keep[train_index]]
            raw = np.zeros((len(train_index), 2 if args.stack else 1))
            inner = train._folds([docs[i] for i in train_index], groups[train_index], 4, seed)
            for a, b in inner:
                raw[b] = fit(train_index[a])(train_index[b])
            platt = LogisticRegression(C=1e4, max_iter=1000).fit(raw, y[train_index])
            calibrated = platt.predict_proba(raw)[:, 1]
            part_real = real[train_index]
            threshold = train._best_threshold(y[train_index][part_real], calibrated[part_real])
            scores = platt.predict_proba(fit(train_index)(test_index))[:, 1]
            flagged[test_index] = scores >= threshold
        all_posts, on_stream = prf(y[hand], flagged[hand]), prf(y[stream], flagged[stream])
        runs.append([all_posts["precision"], all_posts["recall"], all_posts["f1"],
                     on_stream["precision"], on_stream["f1"]])
        print(f"seed {seed}: hand-labelled P {all_posts['precision']} R {all_posts['recall']} "
              f"F1 {all_posts['f1']}; stream P {on_stream['precision']} F1 {on_stream['f1']}")
    mean = np.round(np.mean(runs, axis=0), 3)
    print(f"mean: P {mean[0]} R {mean[1]} F1 {mean[2]}; stream P {mean[3]} F1 {mean[4]} "
          f"({vars(args)}, {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
