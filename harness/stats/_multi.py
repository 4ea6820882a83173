"""Three or more backends: Fleiss' kappa (statsmodels) over the keys every backend labelled, with a case
bootstrap interval computed from per-case sums; and Krippendorff's alpha (the `krippendorff` package), which also
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


def krippendorff_alphas(cube: LabelCube) -> tuple[int, float | None, float | None]:
    """(units with at least two labels, nominal alpha, ordinal alpha or None). A unit is one (case, repeat);
    alpha is undefined (None) when fewer than two distinct values are pairable."""
    codes = cube.codes.reshape(-1, cube.codes.shape[2])  # units x backends
    pairable = (codes >= 0).sum(1) >= 2
    nominal = _alpha(np.where(codes >= 0, codes, np.nan).T, "nominal")
    ordinal = None
    if cube.ordinal:
        values = np.where(codes >= 0, cube.numeric[np.maximum(codes, 0)], np.nan)  # parse-failure -> nan
        ordinal = _alpha(values.T, "ordinal")
    return int(pairable.sum()), nominal, ordinal


def _alpha(data: np.ndarray, level: str) -> float | None:
    import krippendorff

    pairable = data[:, (~np.isnan(data)).sum(0) >= 2]
    if np.unique(pairable[~np.isnan(pairable)]).size < 2:
        return None  # one value only: alpha is 0/0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return finite(krippendorff.alpha(reliability_data=pairable, level_of_measurement=level))


# Interval: a case bootstrap (all repeats of a case together). Alpha is a function of the coincidence matrix
# o[c, k] = sum over units of n_uc * n_uk (minus n_uc on the diagonal) / (m_u - 1), a sum over cases; scaled by
# lcm(1..backends-1) every entry is an integer, so identical cases pool in `resampled_sums`.

MAX_COINCIDENCE_CELLS = 30_000_000  # units x labels^2 held at once (int64): about 240 MB


def alpha_categories(cube: LabelCube, level: str) -> np.ndarray:
    """Category index per label code (-1: left out): every label for nominal, the numbers in scale order for
    ordinal (parse failures have no place on the scale)."""
    if level == "nominal":
        return np.arange(len(cube.labels))
    numeric = ~np.isnan(cube.numeric)
    ranks = np.full(len(cube.labels), -1)
    order = np.argsort(cube.numeric[numeric], kind="stable")  # labels are already sorted by value
    ranks[np.flatnonzero(numeric)[order]] = np.arange(int(numeric.sum()))
    return ranks


def coincidence_features(cube: LabelCube, categories: np.ndarray) -> tuple[np.ndarray, int, int]:
    """(per-case coincidence sums (cases, k*k) scaled by `scale`, k, scale)."""
    n_cases, slots, n_backends = cube.codes.shape
    k = int(categories.max()) + 1 if categories.size else 0
    scale = math.lcm(*range(1, max(2, n_backends)))
    mapped = np.where(cube.codes >= 0, categories[np.maximum(cube.codes, 0)], -1).reshape(-1, n_backends)
    counts = np.zeros((mapped.shape[0], max(k, 1)), dtype=np.int64)
    for column in mapped.T:
        present = column >= 0
        counts[np.flatnonzero(present), column[present]] += 1
    m = counts.sum(1)
    weight = np.where(m >= 2, scale // np.maximum(m - 1, 1), 0)
    pairs = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(counts.shape[1], dtype=np.int64)
    per_unit = (pairs * weight[:, None, None]).reshape(mapped.shape[0], -1)
    return per_unit.reshape(n_cases, slots, -1).sum(1).astype(np.float64), k, scale


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
    """(nominal interval, ordinal interval or None) by case bootstrap."""
    intervals = []
    for level in ("nominal", "ordinal"):
        if level == "ordinal" and not cube.ordinal:
            intervals.append(None)
            continue
        categories = alpha_categories(cube, level)
        k = int(categories.max()) + 1 if categories.size else 0
        if k * k * cube.codes.shape[0] * cube.codes.shape[1] > MAX_COINCIDENCE_CELLS:  # many labels: no interval
            intervals.append(None)
            continue
        features, k, scale = coincidence_features(cube, categories)
        if k < 2:
            intervals.append(None)
            continue
        boot = resampled_sums(features, n_boot, rng)
        intervals.append(percentile_interval(alpha_from_sums(boot, k, scale, level), confidence))
    return intervals[0], intervals[1]
