"""Case bootstrap, vectorised. Every statistic here is a function of per-case sums, so a resample is a vector of
case weights and its sums are one matrix product. Cases with identical feature rows are pooled first: drawing
N cases from U distinct rows is a multinomial over U, which is exact and much cheaper when U << N."""

from __future__ import annotations

import numpy as np
import pandas as pd

CHUNK_CELLS = 4_000_000  # resamples x rows per chunk: bounds memory (~32 MB per int64 array)


def resampled_sums(features: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """features: (cases, F) per-case sums. Returns (n_boot, F): the column sums of each case resample."""
    n_cases = features.shape[0]
    if n_cases == 0 or features.shape[1] == 0:
        return np.zeros((n_boot, features.shape[1]))
    rows, multiplicity = _distinct_rows(features)
    pooled = rows is not None and len(rows) * 8 <= n_cases
    if not pooled:
        rows = np.ascontiguousarray(features, dtype=np.float64)
    width = len(rows)
    chunk = max(1, min(n_boot, CHUNK_CELLS // max(width, n_cases if not pooled else 1)))
    out = np.empty((n_boot, features.shape[1]))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        if pooled:
            weights = rng.multinomial(n_cases, multiplicity / n_cases, size=size)
        else:
            picks = rng.integers(0, n_cases, size=(size, n_cases))
            picks += (np.arange(size) * n_cases)[:, None]
            weights = np.bincount(picks.ravel(), minlength=size * n_cases).reshape(size, n_cases)
        out[start:start + size] = weights.astype(np.float64) @ rows
    return out


def _distinct_rows(features: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Distinct rows of a matrix of non-negative integer counts and how often each occurs (None if not counts).
    Columns are folded into one dense row id, re-densified after each column so it never overflows; a hash
    factorize per column is far faster than np.unique(axis=0)."""
    values = np.asarray(features)
    if values.min() < 0 or not np.array_equal(values, np.round(values)):
        return None, None
    ints = values.astype(np.int64)
    row_id = np.zeros(len(ints), dtype=np.int64)
    for column in ints.T:
        radix = int(column.max()) + 1
        if radix * len(ints) >= 2 ** 62:
            return None, None
        row_id = pd.factorize(row_id * radix + column)[0].astype(np.int64)
    _, first, multiplicity = np.unique(row_id, return_index=True, return_counts=True)
    return ints[first].astype(np.float64), multiplicity


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float] | None:
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)
