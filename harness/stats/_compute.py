"""compute_stats: labels table in, StatsResult out."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.stats import _agreement, _distribution, _fine, _gold, _multi, _noise, _preference
from harness.stats._bootstrap import resampled_sums
from harness.stats._labels import LabelCube, build_cube, normalise_labels
from harness.stats._results import MultiRater, PairStats, StatsResult

N_BOOT = 2000


def compute_stats(df: pd.DataFrame, *, confidence: float = 0.95, margin: float = 0.05, seed: int = 0,
                  n_boot: int = N_BOOT) -> StatsResult:
    """Agreement, noise floor, distributions and gold metrics for a `case_id,backend,label[,repeat][,gold]` table.

    Bootstraps resample cases (all repeats of a case together) with a generator seeded by `seed`, so the same
    input and seed always give the same result.
    """
    if not 0 < confidence < 1:
        raise HarnessError(f"confidence must be between 0 and 1 (got {confidence})")
    if not 0 < margin < 1:
        raise HarnessError(f"margin must be between 0 and 1 (got {margin})")
    if n_boot < 1:
        raise HarnessError(f"n_boot must be at least 1 (got {n_boot})")
    df = normalise_labels(df)
    cube = build_cube(df)
    rng = np.random.default_rng(seed)
    n_backends = len(cube.backends)
    pairs = list(combinations(range(n_backends), 2))
    notes: list[str] = []
    if n_backends < 2:
        notes.append("a single backend: no pairs to compare")
    if cube.label_kind == "ordinal":
        notes.append("labels are numbers: kappa_linear weighs disagreements by their distance on the scale")

    self_counts = [_noise.self_counts(cube, ib) for ib in range(n_backends)]
    noise = [s for ib in range(n_backends)
             if (s := _noise.noise_stats(cube.backends[ib], *self_counts[ib], confidence)) is not None]
    pair_results = [_pair(cube, ia, ib, self_counts, rng, confidence, margin, n_boot) for ia, ib in pairs]

    counts = _distribution.label_counts(cube)
    multi = None
    if n_backends >= 3:
        boot = resampled_sums(_multi.features(cube), n_boot, rng)
        n_keys, kappa, interval, fleiss_notes = _multi.fleiss(cube, boot, confidence)
        alpha_n, alpha, alpha_ordinal = _multi.krippendorff_alphas(cube)
        # its own stream: adding these intervals leaves every other bootstrap of a seed as it was
        alpha_ci, ordinal_ci = _multi.krippendorff_intervals(cube, n_boot, np.random.default_rng([seed, 1]),
                                                             confidence)
        multi = MultiRater(list(cube.backends), n_keys, kappa, interval, alpha, alpha_n, alpha_ordinal,
                           alpha_ci if alpha is not None else None, ordinal_ci if alpha_ordinal is not None else None,
                           fleiss_notes)
    gold_differences = []
    if _gold.gold_codes(cube).size:
        for ia, ib in pairs:
            features = _gold.difference_features(cube, ia, ib)
            gold_differences.append(_gold.difference(cube.backends[ia], cube.backends[ib], features.sum(0),
                                                     resampled_sums(features, n_boot, rng), confidence))

    return StatsResult(
        backends=list(cube.backends), n_rows=len(df), n_cases=len(cube.case_ids), confidence=confidence,
        margin=margin, seed=seed, bootstrap_resamples=n_boot, labels=cube.labels[:cube.n_outcomes],
        label_kind=cube.label_kind, pairs=pair_results, noise=noise,
        parse_failures=_distribution.parse_failures(cube, counts, confidence),
        distributions=_distribution.distributions(cube, counts, confidence),
        distribution_test=_distribution.distribution_test(cube, counts), multi=multi,
        gold=_gold.scores(cube, confidence), gold_differences=gold_differences, notes=notes,
        preference=_preference.studies(cube, confidence), fine=_fine.fine_agreement(df, confidence),
    )


def _pair(cube: LabelCube, ia: int, ib: int, self_counts: list, rng: np.random.Generator, confidence: float,
          margin: float, n_boot: int) -> PairStats:
    core = _agreement.pair_core(cube, ia, ib, confidence)
    cross_n, cross_d = _noise.cross_counts(cube, ia, ib)
    features = np.column_stack([cross_n, cross_d, *self_counts[ia], *self_counts[ib]])
    repeats = (self_counts[ia][0].sum() > 0, self_counts[ib][0].sum() > 0)
    source = {(True, True): "both", (True, False): "a", (False, True): "b", (False, False): "none"}[repeats]
    comparison = _noise.compare_to_noise(features.sum(0), resampled_sums(features, n_boot, rng), source,
                                         int((cross_n > 0).sum()), confidence=confidence, margin=margin,
                                         names=(cube.backends[ia], cube.backends[ib]))
    return PairStats(**core, verdict=comparison.verdict, noise_comparison=comparison)
