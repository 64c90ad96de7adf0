"""Precision, recall and F1: the figures every evaluation and model card reports."""

from __future__ import annotations

import numpy as np


def prf(y: np.ndarray, pred: np.ndarray) -> dict:
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    fn = int((~pred & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "support": int(y.sum()), "flagged": int(pred.sum())}


def sector_metrics(sectors: list[str], y: np.ndarray, pred: np.ndarray) -> dict:
    """Per-sector precision/recall/F1 and their micro and macro averages."""
    per = {s: prf(y[:, j], pred[:, j]) for j, s in enumerate(sectors)}
    micro = prf(y.ravel(), pred.ravel())
    return {"per_sector": per, "micro_f1": micro["f1"], "micro_precision": micro["precision"],
            "micro_recall": micro["recall"],
            "macro_f1": round(float(np.mean([m["f1"] for m in per.values()])), 4),
            "items": int(len(y))}


