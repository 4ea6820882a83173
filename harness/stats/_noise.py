"""The noise floor: how often a backend disagrees with itself across repeats, and whether two backends
disagree with each other more than that."""

from __future__ import annotations

import math
import warnings

import numpy as np

from harness.stats._agreement import proportion_cis
from harness.stats._bootstrap import percentile_interval, ratio
from harness.stats._labels import LabelCube
from harness.stats._results import NoiseComparison, NoiseStats


def self_counts(cube: LabelCube, ib: int) -> tuple[np.ndarray, np.ndarray]:
    """Per case: repeat pairs both labelled by backend ib, and how many of them differ."""
    codes = cube.codes[:, :, ib]
    pairs = np.zeros(codes.shape[0], dtype=np.int64)
    flips = np.zeros(codes.shape[0], dtype=np.int64)
    for i in range(codes.shape[1]):
        for j in range(i + 1, codes.shape[1]):
            both = (codes[:, i] >= 0) & (codes[:, j] >= 0)
            pairs += both
            flips += both & (codes[:, i] != codes[:, j])
    return pairs, flips


def cross_counts(cube: LabelCube, ia: int, ib: int) -> tuple[np.ndarray, np.ndarray]:
    """Per case: repeats labelled by both backends, and how many of them disagree."""
    a, b = cube.codes[:, :, ia], cube.codes[:, :, ib]
    both = (a >= 0) & (b >= 0)
    return both.sum(1), (both & (a != b)).sum(1)


def noise_stats(backend: str, pairs: np.ndarray, flips: np.ndarray, confidence: float) -> NoiseStats | None:
    cases = int((pairs > 0).sum())
    if cases == 0:
        return None  # fewer than two repeats everywhere: no noise floor for this backend
    n, k = int(pairs.sum()), int(flips.sum())
    wilson, exact = proportion_cis(k, n, confidence)
    notes = []
    if pairs.max() > 1:
        notes.append("with more than two repeats, the repeat pairs of one case are not independent: "
                     "the binomial intervals are optimistic")
    if k == 0:
        notes.append("no flips: the backend was deterministic on every repeated case")
    return NoiseStats(backend, n, k, k / n, exact, wilson, cases, int((flips > 0).sum()), notes)


def compare_to_noise(point: np.ndarray, boot: np.ndarray, noise_source: str, n_cases: int, *,
                     confidence: float, margin: float, names: tuple[str, str] = ("a", "b")) -> NoiseComparison:
    """point: (6,) sums [cross n, cross disagree, a pairs, a flips, b pairs, b flips]; boot: (B, 6) resampled.

    excess = cross disagreement - mean self-disagreement. Its interval is the wider of the case bootstrap and
    the exact binomial interval of the cross disagreement shifted by the noise floor, so a handful of cases
    never looks certain. Verdict: `equivalent` if the upper bound is below the margin, `different` if the lower
    bound is above zero, else `inconclusive` (with about how many cases would decide).
    """
    notes: list[str] = []
    n, d = int(point[0]), int(point[1])
    if n == 0:
        notes.append("no matched cases: nothing to compare against the noise floor")
        return NoiseComparison(0, None, None, noise_source, None, None, margin, "inconclusive", None, notes)
    cross = d / n
    noise, noise_boot = _noise_floor(point, boot, noise_source)
    if noise_source == "none":
        notes.append("no repeats: the noise floor is taken as 0, so the excess is the raw disagreement")
    elif noise_source != "both":
        only = names[0] if noise_source == "a" else names[1]
        notes.append(f"only {only} has repeats: its flip rate stands for both")
    excess = cross - noise
    excess_boot = ratio(boot[:, 1], boot[:, 0]) - noise_boot
    interval = percentile_interval(excess_boot, confidence)
    _, exact = proportion_cis(d, n, confidence)
    low, high = exact[0] - noise, exact[1] - noise
    if interval is not None:
        low, high = min(low, interval[0]), max(high, interval[1])
    if high < margin:
        verdict, needed = "equivalent", None
    elif low > 0:
        verdict, needed = "different", None
    else:
        verdict, needed = "inconclusive", _cases_needed(excess, low, high, margin, n_cases)
    return NoiseComparison(n_cases, cross, noise, noise_source, excess, (low, high), margin, verdict,
                           needed, notes)


def _noise_floor(point: np.ndarray, boot: np.ndarray, source: str) -> tuple[float, np.ndarray]:
    parts, parts_boot = [], []
    for pairs_col, flips_col, name in ((2, 3, "a"), (4, 5, "b")):
        if source in ("both", name):
            parts.append(point[flips_col] / point[pairs_col])
            parts_boot.append(ratio(boot[:, flips_col], boot[:, pairs_col]))
    if not parts:
        return 0.0, np.zeros(boot.shape[0])
    if len(parts_boot) == 1:
        return parts[0], parts_boot[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample without repeats for one side
        return float(np.mean(parts)), np.nanmean(np.vstack(parts_boot), axis=0)


def _cases_needed(excess: float, low: float, high: float, margin: float, n_cases: int) -> int | None:
    """Half-widths shrink like 1/sqrt(n): scale n until the easier of the two bounds would clear its line."""
    half = (high - low) / 2
    targets = [t for t in (margin - excess, excess) if t > 0]  # room below the margin, room above zero
    if half <= 0 or not targets:
        return None
    return math.ceil(n_cases * (half / max(targets)) ** 2)
