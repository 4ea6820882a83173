"""Three or more backends: Fleiss' kappa (statsmodels) over the keys every backend labelled, with a case
bootstrap interval computed from per-case sums; and Krippendorff's alpha with a case-bootstrap interval, which also
uses keys that only some backends labelled: nominal always, ordinal too when the labels are numbers on a scale
(parse failures are then left out, as they have no place on it)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from statsmodels.stats.inter_rater import fleiss_kappa

from harness.stats._bootstrap import percentile_interval, ratio, resampled_sums
from harness.stats._json import finite
from harness.stats._labels import LabelCube


def rating_table(cube: LabelCube) -> tuple[np.ndarray, np.ndarray]:
    """(keys, labels) counts for every (case, repeat) all backends labelled, and each key's case index."""
    codes = cube.codes.reshape(-1, cube.codes.shape[2])
    complete = (codes >= 0).all(1)
    case_of_key = np.repeat(np.arange(cube.codes.shape[0]), cube.codes.shape[1])[complete]
    codes = codes[complete]
    k = len(cube.labels)
    table = np.zeros((codes.shape[0], k), dtype=np.int64)
    for column in codes.T:
        table[np.arange(codes.shape[0]), column] += 1
    return table, case_of_key


def features(cube: LabelCube) -> np.ndarray:
    """Per case: [keys, sum over keys of sum_j n_ij^2, per-label counts] (all integers, so the bootstrap can pool
    identical cases): Fleiss' kappa is a function of these sums."""
    table, case_of_key = rating_table(cube)
    n_cases = cube.codes.shape[0]
    columns = [np.bincount(case_of_key, minlength=n_cases),
               np.bincount(case_of_key, weights=(table ** 2).sum(1), minlength=n_cases)]
    columns += [np.bincount(case_of_key, weights=table[:, j], minlength=n_cases) for j in range(table.shape[1])]
    return np.column_stack(columns).astype(np.float64)


def kappa_from_sums(sums: np.ndarray, m: int) -> np.ndarray:
    sums = np.atleast_2d(sums)
    keys = sums[:, 0]
    p_bar = ratio(sums[:, 1] - keys * m, keys * m * (m - 1))  # mean per-key agreement P_i
    p_j = sums[:, 2:] / np.where(keys > 0, keys * m, 1)[:, None]
    p_e = (p_j ** 2).sum(1)
    defined = (keys > 0) & (p_e < 1 - 1e-12)  # p_e = 1: one label only, kappa is 0/0
    return np.where(defined, (p_bar - p_e) / np.where(defined, 1 - p_e, 1), np.nan)


def fleiss(cube: LabelCube, boot_sums: np.ndarray, confidence: float) -> tuple[int, float | None, tuple | None,
                                                                              list[str]]:
    table, _ = rating_table(cube)
    notes: list[str] = []
    if table.shape[0] == 0:
        return 0, None, None, ["no (case_id, repeat) was labelled by every backend"]
    used = table[:, table.sum(0) > 0]
    if used.shape[1] < 2:
        return table.shape[0], None, None, ["Fleiss' kappa undefined: every backend gave one and the same label"]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        kappa = finite(fleiss_kappa(used, method="fleiss"))
    interval = percentile_interval(kappa_from_sums(boot_sums, cube.codes.shape[2]), confidence)
    if table.shape[0] < cube.codes.shape[0] * cube.codes.shape[1]:
        notes.append("keys not labelled by every backend are left out")
    return table.shape[0], kappa, interval, notes


# Krippendorff's alpha from the coincidence matrix o[c, k] = sum over units u of n_uc * (n_uk - [c == k]) /
# (m_u - 1), a unit being one (case, repeat) with m_u >= 2 labels. Nominal distance: 1 off the diagonal; ordinal:
# (sum of n_g from c to k, minus half of n_c and n_k) squared. The `krippendorff` package is the reference in the
# tests; it is not used here because it holds units x labels^2 at once, which free-text labels make huge. Built
# as a matrix product it takes units x labels. The interval is a case bootstrap (all repeats of a case together)
# over per-case coincidence sums; scaled by lcm(1..backends-1) they are integers, so identical cases pool in
# `resampled_sums`.

MAX_COINCIDENCE_CELLS = 30_000_000  # labels^2 x max(cases, resamples) for the interval: about 240 MB


def krippendorff_alphas(cube: LabelCube) -> tuple[int, float | None, float | None]:
    """(units with at least two labels, nominal alpha, ordinal alpha or None); None when alpha is undefined
    (fewer than two distinct values are pairable) or the labels are not numbers (ordinal)."""
    counts, weight, scale = _unit_counts(cube, alpha_categories(cube, "nominal"))
    n_units = int((weight > 0).sum())
    nominal = _alpha_point(counts, weight, scale, "nominal")
    ordinal = None
    if cube.ordinal:
        counts, weight, scale = _unit_counts(cube, alpha_categories(cube, "ordinal"))
        ordinal = _alpha_point(counts, weight, scale, "ordinal")
    return n_units, nominal, ordinal


def alpha_categories(cube: LabelCube, level: str) -> np.ndarray:
    """Category index per label code (-1: left out): every label for nominal; for ordinal the distinct numbers in
    scale order ("1" and "1.0" are one value), parse failures having no place on the scale."""
    if level == "nominal":
        return np.arange(len(cube.labels))
    numeric = ~np.isnan(cube.numeric)
    ranks = np.full(len(cube.labels), -1)
    ranks[numeric] = np.unique(cube.numeric[numeric], return_inverse=True)[1]
    return ranks


def _unit_counts(cube: LabelCube, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(counts per unit and category, the unit's weight scale / (m_u - 1), 0 when unpairable; scale)."""
    n_backends = cube.codes.shape[2]
    k = int(categories.max()) + 1 if categories.size else 0
    scale = math.lcm(*range(1, max(2, n_backends)))
    mapped = np.where(cube.codes >= 0, categories[np.maximum(cube.codes, 0)], -1).reshape(-1, n_backends)
    counts = np.zeros((mapped.shape[0], max(k, 1)), dtype=np.int64)
    for column in mapped.T:
        present = column >= 0
        counts[np.flatnonzero(present), column[present]] += 1
    m = counts.sum(1)
    weight = np.where(m >= 2, scale // np.maximum(m - 1, 1), 0)
    return counts[:, :k], weight, scale


def _coincidences(counts: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """sum_u weight_u * (n_u n_u^T - diag(n_u)), without a units x k x k array."""
    weighted = (counts * weight[:, None]).astype(np.float64)  # float: BLAS; exact, the entries are small integers
    return weighted.T @ counts.astype(np.float64) - np.diag(weighted.sum(0))


def _alpha_point(counts: np.ndarray, weight: np.ndarray, scale: int, level: str) -> float | None:
    k = counts.shape[1]
    used = counts[weight > 0].sum(0) > 0
    if used.sum() < 2:
        return None  # one value only: alpha is 0/0
    sums = _coincidences(counts, weight).reshape(1, -1)
    return finite(float(alpha_from_sums(sums, k, scale, level)[0]))


def coincidence_features(cube: LabelCube, categories: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(per-case coincidence sums (cases, k*k) scaled by `scale`, k, scale)."""
    counts, weight, scale = _unit_counts(cube, categories)
    n_cases, slots = cube.codes.shape[:2]
    k = counts.shape[1]
    features = np.zeros((n_cases, k * k))
    if n_cases == 0:
        return features, k, scale
    first_unit = np.arange(0, n_cases * slots, slots)  # units are case-major: a case's repeats are adjacent
    for c in range(k):  # one row of the matrix at a time: cases x k, never units x k x k
        row = (counts[:, c] * weight)[:, None] * (counts - np.eye(k, dtype=np.int64)[c])
        features[:, c * k:(c + 1) * k] = np.add.reduceat(row, first_unit, axis=0)
    return features, k, scale


def alpha_from_sums(sums: np.ndarray, k: int, scale: int, level: str) -> np.ndarray:
    """Krippendorff's alpha from coincidence sums, one row per resample (nan where undefined)."""
    o = np.atleast_2d(sums).reshape(-1, k, k) / scale
    n_c = o.sum(2)
    n = n_c.sum(1)
    if level == "nominal":
        delta = np.broadcast_to(1.0 - np.eye(k), o.shape)
    else:  # ordinal: (sum of n_g from c to k, minus half of n_c and n_k) squared
        cumulative = np.cumsum(n_c, axis=1)
        low = np.minimum.outer(np.arange(k), np.arange(k))
        high = np.maximum.outer(np.arange(k), np.arange(k))
        between = cumulative[:, high] - cumulative[:, low] + n_c[:, low]
        delta = (between - (n_c[:, :, None] + n_c[:, None, :]) / 2) ** 2
    observed = (o * delta).sum((1, 2))
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum((1, 2))
    return 1 - (n - 1) * ratio(observed, expected)


def krippendorff_intervals(cube: LabelCube, n_boot: int, rng: np.random.Generator, confidence: float
                           ) -> tuple[tuple | None, tuple | None]:
    """(nominal interval, ordinal interval or None) by case bootstrap; None also when the labels are so many
    that the resampled matrices would not fit in MAX_COINCIDENCE_CELLS."""
    intervals = []
    for level in ("nominal", "ordinal"):
        categories = alpha_categories(cube, level)
        k = int(categories.max()) + 1 if categories.size else 0
        too_big = k * k * max(cube.codes.shape[0], n_boot) > MAX_COINCIDENCE_CELLS
        if (level == "ordinal" and not cube.ordinal) or k < 2 or too_big:
            intervals.append(None)
            continue
        features, k, scale = coincidence_features(cube, categories)
        boot = resampled_sums(features, n_boot, rng)
        intervals.append(percentile_interval(alpha_from_sums(boot, k, scale, level), confidence))
    return intervals[0], intervals[1]
