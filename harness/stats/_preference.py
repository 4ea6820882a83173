"""The preference-study analysis: two backends (or models) rating the same items on an ordinal scale.

Per pair, over the (case_id, repeat) both rated with a number: the share of items whose ratings differ (with its
interval), each rating's share per backend (Wilson intervals; an exact paired McNemar test per rating), the paired
shift (scipy's Wilcoxon signed-rank; statsmodels' Stuart-Maxwell marginal homogeneity) and weighted kappa.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.inter_rater import cohens_kappa

from harness.stats._agreement import proportion_cis, stuart_maxwell
from harness.stats._json import finite
from harness.stats._labels import LabelCube
from harness.stats._results import Confusion, PreferenceStudy, RatingShare

ZERO_METHOD = "wilcox"  # scipy's default: ties (equal ratings) carry no information about the direction


def scale(values: np.ndarray) -> np.ndarray:
    """The rating scale: every integer from the lowest to the highest rating seen (so an unused "2" shows as 0%),
    or the distinct values when they are not all integers."""
    values = np.unique(values)
    if values.size and np.all(values == np.round(values)) and values[-1] - values[0] <= 100:
        return np.arange(values[0], values[-1] + 1)
    return values


def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def studies(cube: LabelCube, confidence: float) -> list[PreferenceStudy]:
    values = cube.numeric[:cube.n_outcomes]
    if not cube.ordinal or set(values[~np.isnan(values)]) <= {0.0, 1.0}:
        return []  # not ratings (0/1 is a binary label, not a scale)
    n_backends = len(cube.backends)
    return [study(cube, ia, ib, confidence) for ia in range(n_backends) for ib in range(ia + 1, n_backends)]


def study(cube: LabelCube, ia: int, ib: int, confidence: float) -> PreferenceStudy:
    a_codes, b_codes = cube.codes[:, :, ia].ravel(), cube.codes[:, :, ib].ravel()
    both = (a_codes >= 0) & (b_codes >= 0)
    x = cube.numeric[a_codes[both]]
    y = cube.numeric[b_codes[both]]
    rated = ~np.isnan(x) & ~np.isnan(y)
    excluded = int((~rated).sum())
    return paired_ratings(cube.backends[ia], cube.backends[ib], x[rated], y[rated], confidence,
                          excluded=excluded, values=cube.numeric[~np.isnan(cube.numeric)],
                          repeats=cube.codes.shape[1] > 1)


def paired_ratings(a: str, b: str, x: np.ndarray, y: np.ndarray, confidence: float, *, excluded: int = 0,
                   values: np.ndarray | None = None, repeats: bool = False) -> PreferenceStudy:
    """The analysis on paired ratings x (backend a) and y (backend b) of the same items."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    notes: list[str] = []
    if excluded:
        notes.append(f"{excluded} matched item(s) with a parse failure on either side are left out")
    if repeats:
        notes.append("repeats are counted as separate items: the paired tests' p-values are optimistic")
    points = scale(np.concatenate([x, y, values if values is not None else []]))
    index = {float(v): i for i, v in enumerate(points)}
    k = len(points)
    table = np.zeros((k, k))
    for xi, yi in zip(x, y, strict=True):
        table[index[float(xi)], index[float(yi)]] += 1
    differ = int((x != y).sum())
    wilson, exact = proportion_cis(differ, n, confidence)
    shares = []
    for i, point in enumerate(points):
        in_a, in_b = x == point, y == point
        count_a, count_b = int(in_a.sum()), int(in_b.sum())
        ci_a, _ = proportion_cis(count_a, n, confidence)
        ci_b, _ = proportion_cis(count_b, n, confidence)
        p = None
        if n and (in_a != in_b).any():
            square = [[int((in_a & in_b).sum()), int((in_a & ~in_b).sum())],
                      [int((~in_a & in_b).sum()), int((~in_a & ~in_b).sum())]]
            p = finite(mcnemar(square, exact=True).pvalue)
        elif n:
            p = 1.0  # no item changes to or from this rating
        shares.append(RatingShare(_label(point), count_a, count_a / n if n else None, ci_a, count_b,
                                  count_b / n if n else None, ci_b,
                                  (count_a - count_b) / n if n else None, p))
    w_stat, w_p = _wilcoxon(x, y, notes)
    sm_stat, sm_dof, sm_p = _stuart_maxwell(table, notes)
    linear, quadratic = _weighted_kappas(table, points, notes)
    if n == 0:
        notes.append("no item rated with a number by both backends")
    return PreferenceStudy(
        a=a, b=b, n=n, excluded=excluded, scale=[_label(v) for v in points], differ=differ,
        differ_share=differ / n if n else None, differ_ci_wilson=wilson, differ_ci_exact=exact,
        a_higher=int((x > y).sum()), b_higher=int((y > x).sum()),
        mean_a=finite(x.mean()) if n else None, mean_b=finite(y.mean()) if n else None,
        mean_difference=finite((x - y).mean()) if n else None,
        median_a=finite(np.median(x)) if n else None, median_b=finite(np.median(y)) if n else None,
        shares=shares, wilcoxon_statistic=w_stat, wilcoxon_p=w_p, wilcoxon_zero_method=ZERO_METHOD,
        stuart_maxwell_statistic=sm_stat, stuart_maxwell_dof=sm_dof, stuart_maxwell_p=sm_p,
        kappa_linear=linear, kappa_quadratic=quadratic,
        confusion=Confusion([_label(v) for v in points], table.astype(int).tolist()), notes=notes)


def _wilcoxon(x: np.ndarray, y: np.ndarray, notes: list[str]) -> tuple[float | None, float | None]:
    if not (x != y).any():
        if len(x):
            notes.append("Wilcoxon undefined: every item got the same rating from both backends")
        return None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = scipy_stats.wilcoxon(x, y, zero_method=ZERO_METHOD)
    return finite(result.statistic), finite(result.pvalue)


def _stuart_maxwell(table: np.ndarray, notes: list[str]) -> tuple[float | None, int | None, float | None]:
    statistic, dof, p, why = stuart_maxwell(table, unit="rating")
    if why:
        notes.append(f"Stuart-Maxwell undefined: {why}")
    return statistic, dof, p


def _weighted_kappas(table: np.ndarray, points: np.ndarray,
                     notes: list[str]) -> tuple[float | None, float | None]:
    n = table.sum()
    if n == 0:
        return None, None
    if (table.sum(1) / n) @ (table.sum(0) / n) >= 1 - 1e-12:
        notes.append("weighted kappa undefined: both backends gave one and the same rating throughout")
        return None, None
    with np.errstate(all="ignore"):
        # the scale values are the category scores: a 1 vs 5 disagreement weighs four times a 1 vs 2
        linear = cohens_kappa(table, weights=points, wt="linear", return_results=False)
        quadratic = cohens_kappa(table, weights=points, wt="quadratic", return_results=False)
    return finite(linear), finite(quadratic)
