"""Agreement statistics: per backend pair, the noise floor across repeats, label distributions, gold metrics,
and output-level token agreement. Plain typed results (`to_json()`); statsmodels and scipy do the math.

    from harness.stats import load_labels_csv, compute_stats
    result = compute_stats(load_labels_csv("labels.csv"), confidence=0.95, margin=0.05, seed=0)
    result.to_json()["pairs"][0]["kappa"]
"""

from harness.stats._compute import compute_stats
from harness.stats._labels import PARSE_FAILURE, load_labels_csv, normalise_labels
from harness.stats._outputs import OutputPairStats, OutputRow, compare_outputs
from harness.stats._results import (
    Confusion,
    Distribution,
    DistributionTest,
    FineAgreement,
    FinePair,
    GoldDifference,
    GoldScores,
    LabelScore,
    LabelShare,
    MultiRater,
    NoiseComparison,
    NoiseStats,
    PairStats,
    ParseFailures,
    PreferenceStudy,
    RatingShare,
    StatsResult,
)

__all__ = [
    "PARSE_FAILURE", "Confusion", "Distribution", "DistributionTest", "FineAgreement", "FinePair", "GoldDifference",
    "GoldScores", "LabelScore", "LabelShare", "MultiRater", "NoiseComparison", "NoiseStats", "OutputPairStats",
    "OutputRow", "PairStats", "ParseFailures", "PreferenceStudy", "RatingShare", "StatsResult", "compare_outputs",
    "compute_stats", "load_labels_csv", "normalise_labels",
]
