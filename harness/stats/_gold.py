"""Against gold labels: precision, recall, F1 per backend; paired bootstrap of the difference per pair.
A parse failure is a wrong answer (never coerced to a label)."""

from __future__ import annotations

import warnings

import numpy as np

from harness.stats._agreement import proportion_cis
from harness.stats._bootstrap import percentile_interval, ratio
from harness.stats._labels import LabelCube
from harness.stats._results import GoldDifference, GoldScores, LabelScore


def gold_codes(cube: LabelCube) -> np.ndarray:
    return np.unique(cube.gold[cube.gold >= 0])


def _gold_grid(cube: LabelCube) -> np.ndarray:
    return np.broadcast_to(cube.gold[:, None], cube.codes.shape[:2])


def scores(cube: LabelCube, confidence: float) -> list[GoldScores]:
    golds = gold_codes(cube)
    if golds.size == 0:
        return []
    gold = _gold_grid(cube)
    out = []
    for ib, backend in enumerate(cube.backends):
        pred = cube.codes[:, :, ib]
        keep = (pred >= 0) & (gold >= 0)
        p, g = pred[keep], gold[keep]
        n, correct = int(keep.sum()), int((p == g).sum())
        wilson, _ = proportion_cis(correct, n, confidence)
        per_label, f1s = [], []
        for code in np.union1d(golds, np.unique(p)):
            tp = int(((p == code) & (g == code)).sum())
            predicted, support = int((p == code).sum()), int((g == code).sum())
            precision_ci, _ = proportion_cis(tp, predicted, confidence)
            recall_ci, _ = proportion_cis(tp, support, confidence)
            f1 = 2 * tp / (predicted + support) if predicted + support else None
            if code in golds and f1 is not None:
                f1s.append(f1)
            per_label.append(LabelScore(cube.labels[code], support, predicted, tp,
                                        tp / predicted if predicted else None, precision_ci,
                                        tp / support if support else None, recall_ci, f1))
        out.append(GoldScores(backend, n, correct, correct / n if n else None, wilson,
                              float(np.mean(f1s)) if f1s else None, per_label))
    return out


def difference_features(cube: LabelCube, ia: int, ib: int) -> np.ndarray:
    """Per case: [n, correct_a, correct_b] + per gold label [tp_a, pred_a, tp_b, pred_b, support]."""
    gold = _gold_grid(cube)
    a, b = cube.codes[:, :, ia], cube.codes[:, :, ib]
    keep = (a >= 0) & (b >= 0) & (gold >= 0)
    columns = [keep.sum(1), (keep & (a == gold)).sum(1), (keep & (b == gold)).sum(1)]
    for code in gold_codes(cube):
        columns += [(keep & (a == code) & (gold == code)).sum(1), (keep & (a == code)).sum(1),
                    (keep & (b == code) & (gold == code)).sum(1), (keep & (b == code)).sum(1),
                    (keep & (gold == code)).sum(1)]
    return np.column_stack(columns).astype(np.float64)


def _accuracy_and_f1(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sums = np.atleast_2d(sums)
    n = sums[:, 0]
    acc_a, acc_b = ratio(sums[:, 1], n), ratio(sums[:, 2], n)
    per = sums[:, 3:].reshape(sums.shape[0], -1, 5)
    f1_a = ratio(2 * per[:, :, 0], per[:, :, 1] + per[:, :, 4])
    f1_b = ratio(2 * per[:, :, 2], per[:, :, 3] + per[:, :, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where no gold label has any support
        return acc_a, acc_b, np.nanmean(f1_a, axis=1), np.nanmean(f1_b, axis=1)


def difference(a: str, b: str, point: np.ndarray, boot: np.ndarray, confidence: float) -> GoldDifference:
    n = int(point[0])
    if n == 0:
        return GoldDifference(a, b, 0, None, None, None, None, ["no case labelled by both backends has gold"])
    acc_a, acc_b, f1_a, f1_b = (float(v[0]) for v in _accuracy_and_f1(point))
    boot_acc_a, boot_acc_b, boot_f1_a, boot_f1_b = _accuracy_and_f1(boot)
    notes = ["paired bootstrap over cases: both backends are scored on the same resampled cases"]
    if n < 20:
        notes.append(f"only {n} gold-labelled keys: bootstrap intervals from so few cases are unreliable")
    return GoldDifference(a, b, n, acc_a - acc_b, percentile_interval(boot_acc_a - boot_acc_b, confidence),
                          f1_a - f1_b, percentile_interval(boot_f1_a - boot_f1_b, confidence), notes)
